#!/usr/bin/env bash
# The scan benchmark: redress side by side with Checkov on the same input.
#
#   bench/run.sh [CORPUS_DIR]      # default: ../shared/corpus, relative to the repository
#
# Builds redress in release mode, generates 50,000 workload objects into bench/out/gen, installs
# Checkov into bench/.venv if it is not there, times both tools on an identical 2,000-object
# subset and on the corpora that exist, times redress alone on the whole generated set (with and
# without rules), profiles one scan of it with perf when perf is installed, and prints a markdown
# report that is also written to docs/benchmark.md. Everything generated stays under bench/out
# (gitignored). Takes a while: every timed scan runs several times.
#
# Environment: RUNS (timed runs per redress measurement, default 3), CHECKOV_RUNS (default 3),
# CHECKOV_TIMEOUT (seconds per Checkov run, default 300), OBJECTS (default 50000), SUBSET
# (objects in the shared subset, default 2000, rounded up to whole files of 100 objects),
# REPORT (default docs/benchmark.md; REPORT=- only prints).
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
corpus="${1:-../shared/corpus}"
objects="${OBJECTS:-50000}"
subset="${SUBSET:-2000}"
report="${REPORT:-docs/benchmark.md}"
out=bench/out
say() { printf '==> %s\n' "$*" >&2; }

if [ ! -x /usr/bin/time ]; then
    say "installing GNU time"
    apt-get install -y time >&2 || { apt-get update >&2 && apt-get install -y time >&2; }
fi

say "building redress (release)"
cargo build --release >&2
cargo build --release --example gen_workloads >&2
# Measure a copy: others working in this checkout may rebuild target/release during the run.
mkdir -p "$out/bin"
cp target/release/redress target/release/examples/gen_workloads "$out/bin/"
# and the rule files it was built with, for counting evaluations.
rm -rf "$out/rules" && cp -r rules "$out/rules"
redress="$repo/$out/bin/redress"
gen="$repo/$out/bin/gen_workloads"

say "generating $objects objects"
rm -rf "$out/gen" "$out/subset" "$out/warmup" "$out/runs"
"$gen" "$objects" "$out/gen" > "$out/gen-summary.json"
# The identical subset both tools scan: the first files of the generated set.
generated=("$out"/gen/part-*.yaml)   # a glob expands sorted
mkdir -p "$out/subset"
cp "${generated[@]:0:$(( (subset + 99) / 100 ))}" "$out/subset/"
# One small object, for Checkov's warm-up run.
mkdir -p "$out/warmup"
printf 'apiVersion: v1\nkind: Pod\nmetadata: {name: warmup}\nspec:\n  containers: [{name: a, image: nginx:1.27}]\n' \
    > "$out/warmup/pod.yaml"

# A rule folder with no rules (the built-in workload kinds still apply) and no mappings: the
# same scan without evaluation, to isolate the rule engine.
rm -rf "$out/norules" "$out/nomappings"
mkdir -p "$out/norules" "$out/nomappings"
cp "$out/rules/kinds.yaml" "$out/norules/"

if [ ! -x bench/.venv/bin/checkov ]; then
    say "installing Checkov into bench/.venv"
    python3 -m venv bench/.venv
    bench/.venv/bin/pip install --quiet --upgrade pip >&2
    bench/.venv/bin/pip install --quiet checkov >&2
fi

say "measuring (this takes several minutes)"
tmp="$(mktemp)"
trap 'rm -f "$tmp"' EXIT
bench/.venv/bin/python bench/bench.py \
    --redress "$redress" \
    --checkov bench/.venv/bin/checkov \
    --out "$out" \
    --corpus "$corpus" \
    --rules-dir "$out/rules" \
    --runs "${RUNS:-3}" \
    --checkov-runs "${CHECKOV_RUNS:-3}" \
    --timeout "${CHECKOV_TIMEOUT:-300}" \
    > "$tmp"
cat "$tmp"
if [ "$report" != "-" ]; then
    cp "$tmp" "$report"
    say "report written to $report"
fi
