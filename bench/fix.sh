#!/usr/bin/env bash
# The `redress fix` benchmark: the cost per finding of locating, editing and verifying, with
# the number of renders it took.
#
#   bench/fix.sh [CORPUS_DIR]      # default: ../shared/corpus, relative to the repository
#
# Builds redress and the gitops_corpus example in release mode, then:
# - times `redress fix` on the bundled demo (examples/gitops against examples/gitops-live.yaml)
#   RUNS times under /usr/bin/time -v (wall time, peak memory), and reads the render counts
#   from its JSON report;
# - runs the corpus measurement (examples/gitops_corpus.rs) on the GitOps repositories of the
#   corpus, which writes docs/gitops-corpus.md, timed the same way.
# Prints a markdown report, also written to docs/benchmark-fix.md (REPORT=- only prints).
# No other tool goes from a live finding to a verified edit, so there is no peer to run side
# by side; the report sets redress's time against the time its own renders took (the part
# any tool that renders Kustomize and Helm must pay).
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
corpus="${1:-../shared/corpus}"
runs="${RUNS:-3}"
report="${REPORT:-docs/benchmark-fix.md}"
out=bench/out/fix
say() { printf '==> %s\n' "$*" >&2; }
mkdir -p "$out"

if [ ! -x /usr/bin/time ]; then
    say "installing GNU time"
    apt-get install -y time >&2 || { apt-get update >&2 && apt-get install -y time >&2; }
fi
.ci/install-tools >&2
export REDRESS_HELM="$repo/.ci/bin/helm" REDRESS_KUBECTL="$repo/.ci/bin/kubectl"

say "building redress (release)"
cargo build --release >&2
cargo build --release --example gitops_corpus >&2
cp target/release/redress target/release/examples/gitops_corpus "$out/"

# timed LABEL CMD...: runs CMD under /usr/bin/time -v; prints "wall_s max_rss_mib".
timed() {
    local label="$1"; shift
    local start end
    start=$(date +%s.%N)
    /usr/bin/time -v -o "$out/$label.time" "$@" >"$out/$label.out" 2>"$out/$label.err" || true
    end=$(date +%s.%N)
    local rss
    rss=$(awk -F: '/Maximum resident set size/ {gsub(/ /, "", $2); print $2}' "$out/$label.time")
    python3 -c "print(f'{$end - $start:.2f} {int($rss) / 1024:.0f}')"
}

say "demo: $runs runs"
demo_rows=""
for i in $(seq 1 "$runs"); do
    read -r wall rss < <(timed "demo-$i" "$out/redress" fix --repo examples/gitops \
        --snapshot examples/gitops-live.yaml --format json)
    demo_rows+="| $i | $wall | $rss |"$'\n'
done
demo_stats=$(python3 - "$out/demo-1.out" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
items = d["items"]
fixable = [i for i in items if i["classification"] in ("source-fix", "git-only")]
verified = [i for i in items if i["remediation"] and i["remediation"]["verified"]]
distinct = [i for i in verified if i["remediation"]["sameAs"] is None]
r = d["renders"]
print(f"{len(items)} findings, {len(fixable)} to fix in Git, {len(verified)} with a verified edit "
      f"({len(distinct)} distinct edits); renders: {r['renders']} "
      f"({r['baseline']} of the roots, {r['probes']} Helm probes, {r['verification']} to verify), "
      f"{r['cache_hits']} answered from the cache, {r['seconds']:.2f} s rendering")
PY
)

say "corpus"
corpus_line="(corpus not found at $corpus)"
if [ -d "$corpus/gitops/podinfo" ]; then
    read -r cwall crss < <(timed corpus "$out/gitops_corpus" \
        "$corpus/gitops/podinfo" "$corpus/gitops/flux2-kustomize-helm-example" \
        --vendor-chart "podinfo=$corpus/gitops/podinfo/charts/podinfo" -o docs/gitops-corpus.md)
    corpus_line="both repositories measured in $cwall s wall, $crss MiB peak (including building the live views)"
fi

machine="$(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), load $(cut -d' ' -f1-3 /proc/loadavg)"
text=$(cat <<EOF
# redress fix benchmark

Produced by \`bench/fix.sh\` on $(date -u +%Y-%m-%d) ($machine); helm $("$REDRESS_HELM" version --short),
kubectl $("$REDRESS_KUBECTL" version --client 2>/dev/null | head -1 | awk '{print $3}'). Release build.

No other tool goes from a live finding to a verified edit of its Git source, so there is no
peer to run side by side. What a verified edit costs is set against what its renders cost:
every verification re-renders the roots that read the edited file (\`kubectl kustomize\`,
\`helm template\`), and those subprocesses are most of the time.

## The bundled demo

\`redress fix --repo examples/gitops --snapshot examples/gitops-live.yaml --format json\`:
$demo_stats.

| Run | Wall (s) | Peak memory (MiB) |
|---:|---:|---:|
$demo_rows
## Real repositories

\`examples/gitops_corpus.rs\` on podinfo and flux2-kustomize-helm-example: $corpus_line.
Its report, with the cost per finding and the renders of each repository, is
\`docs/gitops-corpus.md\`:

$(grep -E '^(## |Cost:)' docs/gitops-corpus.md 2>/dev/null || true)
EOF
)
if [ "$report" != "-" ]; then
    printf '%s\n' "$text" >"$report"
fi
printf '%s\n' "$text"
