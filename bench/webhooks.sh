#!/usr/bin/env bash
# The webhook load benchmark of `redress serve`: a bounded burst of signed GitHub push
# deliveries on loopback, all answered, rescans coalesced, latency percentiles.
#
#   bench/webhooks.sh            # COUNT=1000 LOAD_SECONDS=10 CONCURRENCY=32 by default
#
# Builds redress and the webhook_load example in release mode, writes a temporary
# configuration for the bundled demo (cluster snapshot examples/gitops-live.yaml, repository
# examples/gitops with a GitHub forge demo/gitops whose token, GITHUB_TOKEN, is unset: every
# sweep only plans), then twice, each time on a fresh server:
# 1. examples/webhook_load.rs: COUNT deliveries over SECONDS seconds, one connection each,
#    5% replays (expected 200, duplicate) and 5% wrong signatures (expected 401);
# 2. the peer, wrk (Debian package, installed if missing), driven by a Lua script that the
#    example writes: the same signed body, a fresh delivery id per request, connections paced
#    to the same rate over the same time, keep-alive connections.
# For each: starts `redress serve`, waits for /readyz, runs the load, waits until the queued
# rescans are done, scrapes /metrics (accepted deliveries against webhook sweeps and
# coalesced rescans), reads the server's peak RSS (VmHWM), stops it with SIGTERM and checks
# that it exits 0. Writes docs/benchmark-webhooks.md (REPORT=- only prints).
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
count="${COUNT:-1000}"
seconds="${LOAD_SECONDS:-10}"
concurrency="${CONCURRENCY:-32}"
report="${REPORT:-docs/benchmark-webhooks.md}"
out="$repo/bench/out/webhooks"
say() { printf '==> %s\n' "$*" >&2; }
rm -rf "$out"
mkdir -p "$out"

if ! command -v wrk >/dev/null; then
    say "installing wrk"
    apt-get install -y wrk >&2 || { apt-get update >&2 && apt-get install -y wrk >&2; } || true
fi
.ci/install-tools >&2
export REDRESS_HELM="$repo/.ci/bin/helm" REDRESS_KUBECTL="$repo/.ci/bin/kubectl"

say "building redress and webhook_load (release)"
cargo build --release >&2
cargo build --release --example webhook_load >&2
cp target/release/redress target/release/examples/webhook_load "$out/"

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
url="$base/webhooks/github"
REDRESS_WEBHOOK_SECRET="$(python3 -c 'import secrets; print(secrets.token_hex(32))')"
export REDRESS_WEBHOOK_SECRET
unset GITHUB_TOKEN

cat >"$out/redress.yaml" <<EOF
# Written by bench/webhooks.sh: the bundled demo, served.
clusters:
  - name: demo
    snapshot: $repo/examples/gitops-live.yaml
repositories:
  - name: gitops
    path: $repo/examples/gitops
    branch: main
    forge:
      github:
        owner: demo
        repo: gitops
        token: {env: GITHUB_TOKEN}
serve:
  listen: 127.0.0.1:$port
  schedule: "0 3 * * *"
  jitterSeconds: 0
  webhook: {secret: {env: REDRESS_WEBHOOK_SECRET}, maxBodyBytes: 1048576}
EOF

# metric FILE NAME [LABEL=VALUE...]: the sum of NAME's samples whose labels include each pair.
metric() {
    python3 - "$@" <<'PY'
import re, sys
path, name, *want = sys.argv[1:]
want = [w.split("=", 1) for w in want]
total = 0.0
for line in open(path):
    m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)', line)
    if not m or m.group(1) != name:
        continue
    labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
    if all(labels.get(k) == v for k, v in want):
        total += float(m.group(4))
print(f"{total:g}")
PY
}

scrape() { curl -fsS "$base/metrics" >"$1"; }

# serve_run LABEL CMD...: starts a fresh server, runs CMD as the load, waits for the queue to
# drain, and leaves in $out/LABEL/: metrics.before/after, load.out, server.log, rss, exit.
serve_run() {
    local label="$1"; shift
    local dir="$out/$label"
    mkdir -p "$dir"
    say "$label: starting redress serve on port $port"
    local started
    started=$(date +%s.%N)
    "$out/redress" serve --config "$out/redress.yaml" >"$dir/server.log" 2>&1 &
    local pid=$!
    local ready=""
    for _ in $(seq 1 600); do
        if curl -fsS -o /dev/null "$base/readyz" 2>/dev/null; then ready=yes; break; fi
        if ! kill -0 "$pid" 2>/dev/null; then break; fi
        sleep 0.1
    done
    if [ -z "$ready" ]; then
        say "$label: the server did not become ready; its log:"
        cat "$dir/server.log" >&2
        kill -TERM "$pid" 2>/dev/null || true
        exit 1
    fi
    python3 -c "print(f'{$(date +%s.%N) - $started:.2f}')" >"$dir/ready_s"
    # Let the start-up sweep finish so the figures count only the load's sweeps.
    wait_idle "$dir/idle-before"
    scrape "$dir/metrics.before"
    say "$label: load"
    local rc=0
    "$@" >"$dir/load.out" 2>&1 || rc=$?
    echo "$rc" >"$dir/load.rc"
    cat "$dir/load.out" >&2
    wait_idle "$dir/idle-after"
    scrape "$dir/metrics.after"
    awk '/VmHWM/ {printf "%.0f\n", $2/1024}' "/proc/$pid/status" >"$dir/rss_mib"
    say "$label: SIGTERM"
    kill -TERM "$pid"
    local code=0
    wait "$pid" || code=$?
    echo "$code" >"$dir/exit"
}

# wait_idle FILE: waits until redress_sweeps_total has not moved for 3 s (at most 180 s);
# writes the seconds waited to FILE.
wait_idle() {
    local start last now same=0
    start=$(date +%s)
    last=""
    while [ $(( $(date +%s) - start )) -lt 180 ]; do
        scrape "$out/probe" || true
        now=$(metric "$out/probe" redress_sweeps_total)
        if [ "$now" = "$last" ]; then same=$((same + 1)); else same=0; fi
        last="$now"
        if [ "$same" -ge 3 ]; then break; fi
        sleep 1
    done
    echo $(( $(date +%s) - start )) >"$1"
}

serve_run ours "$out/webhook_load" --url "$url" --secret-env REDRESS_WEBHOOK_SECRET \
    --repo demo/gitops --count "$count" --seconds "$seconds" --concurrency "$concurrency" \
    --replays 0.05 --bad-signatures 0.05 --json "$out/ours/load.json"

wrk_ran=""
if command -v wrk >/dev/null; then
    "$out/webhook_load" --url "$url" --secret-env REDRESS_WEBHOOK_SECRET --repo demo/gitops \
        --count "$count" --seconds "$seconds" --wrk-lua "$out/push.lua" \
        --wrk-connections "$concurrency" >&2
    serve_run wrk wrk -t2 -c"$concurrency" -d"${seconds}s" --timeout 10s --latency \
        -s "$out/push.lua" "$url"
    wrk_ran=yes
fi

# delta LABEL NAME [LABEL=VALUE...]: the change of a metric over LABEL's load.
delta() {
    local label="$1"; shift
    python3 -c "print(f'{$(metric "$out/$label/metrics.after" "$@") - $(metric "$out/$label/metrics.before" "$@"):g}')"
}

server_row() {
    local label="$1"
    local accepted sweeps coalesced
    accepted=$(delta "$label" redress_webhook_deliveries_total result=accepted)
    sweeps=$(delta "$label" redress_sweeps_total trigger=webhook)
    coalesced=$(delta "$label" redress_rescans_coalesced_total)
    printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$(name "$label")" \
        "$accepted" "$(delta "$label" redress_webhook_deliveries_total result=duplicate)" \
        "$(delta "$label" redress_webhook_deliveries_total result=unauthorized)" \
        "$sweeps" "$coalesced" "$(cat "$out/$label/rss_mib")" "$(cat "$out/$label/ready_s")" \
        "$(cat "$out/$label/exit")"
}

# name LABEL: the load generator's name for a run.
name() { if [ "$1" = ours ]; then echo webhook_load; else echo "$1"; fi; }

# coalescing LABEL: one sentence on LABEL's accepted deliveries, sweeps and coalesced rescans.
coalescing() {
    local label="$1"
    local accepted sweeps coalesced n sum
    accepted=$(delta "$label" redress_webhook_deliveries_total result=accepted)
    sweeps=$(delta "$label" redress_sweeps_total trigger=webhook)
    coalesced=$(delta "$label" redress_rescans_coalesced_total)
    n=$(delta "$label" redress_sweep_duration_seconds_count)
    sum=$(delta "$label" redress_sweep_duration_seconds_sum)
    python3 -c "
n, s = $n, $sum
mean = f'{s / n:.2f} s' if n else 'n/a'
print(f'- $(name "$label"): $accepted accepted deliveries became $sweeps webhook sweeps; '
      f'$coalesced requests were coalesced into a pending rescan; a sweep took {mean} on average.')"
}

ours=$(python3 - "$out/ours/load.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
by = {}
for c in d["counts"]:
    by.setdefault(c["kind"], []).append(f'{c["count"]} x {c["status"]}')
kinds = "; ".join(f"{k}: {', '.join(v)}" for k, v in sorted(by.items()))
l = d["latency_ms"]
print(f'| webhook_load (new connection each) | {d["count"]} | {d["wall_seconds"]:.2f} | '
      f'{d["rate_achieved"]:.0f} | {l["p50"]:.2f} | {l["p90"]:.2f} | {l["p99"]:.2f} | '
      f'{l["max"]:.2f} | {d["unanswered"]} | {d["unexpected"]} |')
print(f"KINDS {kinds}")
PY
)
ours_row=$(printf '%s\n' "$ours" | grep -v '^KINDS')
ours_kinds=$(printf '%s\n' "$ours" | sed -n 's/^KINDS //p')

wrk_row="| wrk (not run: not installed) | | | | | | | | | |"
wrk_text="wrk was not available, so there is no peer run."
if [ -n "$wrk_ran" ]; then
    wrk_row=$(python3 - "$out/wrk/load.out" <<'PY'
import re, sys
t = open(sys.argv[1]).read()
def ms(v, unit):
    return float(v) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]
n = re.search(r"(\d+) requests in ([\d.]+)(\w+)", t)
rate = re.search(r"Requests/sec:\s+([\d.]+)", t)
lat = re.search(r"latency ms: p50 ([\d.]+)\s+p90 ([\d.]+)\s+p99 ([\d.]+)\s+max ([\d.]+)", t)
st = re.search(r"statuses: 202 (\d+), 200 (\d+), 401 (\d+), other (\d+)", t)
errors = re.search(r"Socket errors: (.*)", t)
wall = float(n.group(2)) * {"ms": 0.001, "s": 1.0, "m": 60.0}[n.group(3)]
total = int(n.group(1))
unexpected = total - int(st.group(1))
print(f"| wrk (keep-alive, paced) | {total} | {wall:.2f} | {float(rate.group(1)):.0f} | "
      f"{float(lat.group(1)):.2f} | {float(lat.group(2)):.2f} | {float(lat.group(3)):.2f} | "
      f"{float(lat.group(4)):.2f} | {errors.group(1) if errors else 0} | {unexpected} |")
PY
)
    wrk_text="wrk's own summary:

\`\`\`
$(cat "$out/wrk/load.out")
\`\`\`"
fi

machine="$(nproc) cores ($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), Linux $(uname -r), load before the run $(cut -d' ' -f1-3 /proc/loadavg)"
text=$(cat <<EOF
# redress serve: webhook load benchmark

Produced by \`bench/webhooks.sh\` on $(date -u +%Y-%m-%d) ($machine);
$(rustc --version), release build. Client, server and the sweeps' renders share the machine's cores, and other
builds were running on it (the load average above), so the tail latencies are pessimistic.

The server is the bundled demo served (\`redress serve --config\` a temporary copy of
\`examples/redress.yaml\` with absolute paths and a \`serve\` section: listen on loopback,
schedule \`0 3 * * *\`, no jitter, the webhook secret from the environment). \`GITHUB_TOKEN\` is
unset, so every sweep renders, scans and plans its pull requests without writing anywhere.
Every delivery is a signed \`push\` to \`refs/heads/main\` of \`demo/gitops\`, the demo
repository's GitHub name, so every accepted one asks for a rescan of that repository.

## The load

- **webhook_load** (\`examples/webhook_load.rs\`): $count deliveries due at an even pace
  over $seconds s (open loop: a slow answer does not delay the next request), at most
  $concurrency in flight, each on its own connection as GitHub sends them; 5% replay a
  delivery id already answered (expected 200, duplicate), 5% are signed with a wrong secret
  (expected 401), the rest are new (expected 202). Latency is from connecting to the last byte
  of the answer.
- **wrk** (the peer; Debian's wrk $(wrk --version 2>&1 | head -1 | awk '{print $2}')): the same
  signed push body written by \`webhook_load --wrk-lua\`, a fresh delivery id per request,
  $concurrency keep-alive connections each paced by wrk's \`delay()\` to the same overall rate
  for $seconds s (closed loop per connection, so the rate falls a little below the asked one
  by the answer time).

\`\`\`
$(printf '%q ' "$out/webhook_load" --url "$url" --secret-env REDRESS_WEBHOOK_SECRET --repo demo/gitops --count "$count" --seconds "$seconds" --concurrency "$concurrency" --replays 0.05 --bad-signatures 0.05 | sed -e "s#$repo/bench/out/webhooks/#target/release/examples/#" -e "s/ $//")
wrk -t2 -c$concurrency -d${seconds}s --timeout 10s --latency -s push.lua $url
\`\`\`

## Client side

| Load generator | Requests | Wall (s) | Rate (/s) | p50 (ms) | p90 (ms) | p99 (ms) | max (ms) | No answer | Unexpected status |
|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|
$ours_row
$wrk_row

webhook_load's answers by kind: $ours_kinds.

## Server side (from /metrics, the change over the load)

Each load ran against a fresh server. Peak RSS is the server process's \`VmHWM\`; the
\`helm\` and \`kubectl\` processes a sweep starts to render are not in it. "Ready after" is
from starting the process to the first 200 from \`/readyz\`.

| Run | Deliveries accepted | Duplicates | Unauthorized | Webhook sweeps | Rescans coalesced | Peak RSS (MiB) | Ready after (s) | Exit on SIGTERM |
|---|---:|---:|---:|---:|---:|---:|---:|---:|
$(server_row ours)
$( [ -n "$wrk_ran" ] && server_row wrk )

## Coalescing

A delivery is answered before any work is done; the rescan it asks for is queued. While a
rescan of a repository runs, further pushes to it do not queue sweeps of their own: they are
folded into the one pending rescan (\`redress_rescans_coalesced_total\`).

$(coalescing ours)
$( [ -n "$wrk_ran" ] && coalescing wrk )

$wrk_text
EOF
)
if [ "$report" != "-" ]; then
    printf '%s\n' "$text" >"$report"
fi
printf '%s\n' "$text"
fail=0
for label in ours ${wrk_ran:+wrk}; do
    if [ "$(cat "$out/$label/exit")" != 0 ]; then say "$label: server exit code $(cat "$out/$label/exit")"; fail=1; fi
done
if [ "$(cat "$out/ours/load.rc")" != 0 ]; then say "webhook_load reported unanswered or unexpected answers"; fail=1; fi
exit "$fail"
