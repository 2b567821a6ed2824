#!/usr/bin/env python3
"""Measurements and the markdown report of the scan benchmark; run by bench/run.sh.

Runs each command under GNU time (`/usr/bin/time -v`) for CPU time and peak RSS and takes the
wall time around it; for commands that fork workers (Checkov) it also samples the summed RSS of
the whole process tree. Records the load average (`uptime`) before every measurement. Counts
the (rule, subject) evaluations the rule set performs on the generated input from the rules'
`match` blocks, and, when `perf` is available, attributes CPU samples of one profiled scan to
the stages of the pipeline. Progress goes to standard error; the report to standard output.
"""

from __future__ import annotations

import argparse
import collections
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import yaml


def log(message: str) -> None:
    print(f"==> {message}", file=sys.stderr, flush=True)


def sh(*cmd: str) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        return ""


def loadavg() -> str:
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


# ---------------------------------------------------------------------------------------------
# Running and timing


def tree_rss_kib(root: int) -> int:
    """Summed RSS of `root` and all its descendants, from /proc."""
    children: dict[int, list[int]] = collections.defaultdict(list)
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
            with open(f"/proc/{entry}/statm") as f:
                pages = int(f.read().split()[1])
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children[ppid].append(int(entry))
        rss[int(entry)] = pages * (os.sysconf("SC_PAGE_SIZE") // 1024)
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        total += rss.get(pid, 0)
        stack.extend(children.get(pid, []))
    return total


def parse_gnu_time(text: str) -> dict:
    out = {}
    for line in text.splitlines():
        key, _, value = line.strip().rpartition(": ")
        if key == "User time (seconds)":
            out["user"] = float(value)
        elif key == "System time (seconds)":
            out["sys"] = float(value)
        elif key == "Maximum resident set size (kbytes)":
            out["maxrss_kib"] = int(value)
        elif key == "Exit status":
            out["exit"] = int(value)
    return out


def kill_tree(root: int) -> None:
    """Kills `root` and its descendants (a run that went over its time limit)."""
    children: dict[int, list[int]] = collections.defaultdict(list)
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    children[int(f.read().rsplit(")", 1)[1].split()[1])].append(int(entry))
            except OSError:
                continue
    stack, found = [root], []
    while stack:
        pid = stack.pop()
        found.append(pid)
        stack.extend(children.get(pid, []))
    for pid in reversed(found):
        try:
            os.kill(pid, 9)
        except OSError:
            pass


def run_once(cmd: list[str], stdout_path: str, sample_tree: bool, timeout: float) -> dict:
    with tempfile.NamedTemporaryFile("r", suffix=".time") as timefile:
        full = ["/usr/bin/time", "-v", "-o", timefile.name, *cmd]
        with open(stdout_path, "wb") as stdout, open(stdout_path + ".stderr", "wb") as stderr:
            start = time.perf_counter()
            proc = subprocess.Popen(full, stdout=stdout, stderr=stderr)
            peak_tree = 0
            timed_out = False
            if sample_tree:
                while proc.poll() is None:
                    peak_tree = max(peak_tree, tree_rss_kib(proc.pid))
                    if time.perf_counter() - start > timeout:
                        timed_out = True
                        kill_tree(proc.pid)
                        break
                    time.sleep(0.1)
            else:
                try:
                    proc.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    timed_out = True
                    kill_tree(proc.pid)
            proc.wait()
            wall = time.perf_counter() - start
        result = parse_gnu_time(timefile.read())
    if timed_out:
        # GNU time was killed too: no resource figures, only the limit that was hit.
        result = {"user": 0.0, "sys": 0.0, "maxrss_kib": 0, "exit": -9}
    result["timed_out"] = timed_out
    result["wall"] = wall
    if sample_tree:
        result["tree_rss_kib"] = peak_tree
    return result


def measure(
    label: str, cmd: list[str], runs: int, out_dir: Path, sample_tree: bool = False, timeout: float = 3600
) -> dict:
    """Runs `cmd` `runs` times; keeps every run, the load before each, and the output of the last.
    A run over `timeout` seconds is killed, and the measurement stops there."""
    stdout_path = str(out_dir / f"{label}.out")
    results = []
    for i in range(runs):
        load = loadavg()
        up = sh("uptime")
        log(f"{label}: run {i + 1}/{runs} (load {load})")
        result = run_once(cmd, stdout_path, sample_tree, timeout)
        result["load"] = load
        result["uptime"] = up
        results.append(result)
        if result["timed_out"]:
            log(f"{label}: killed after {timeout:.0f} s")
            break
    completed = [r for r in results if not r["timed_out"]] or results
    walls = [r["wall"] for r in completed]
    cpus = [r["user"] + r["sys"] for r in completed]
    return {
        "label": label,
        "cmd": cmd,
        "runs": results,
        "wall": statistics.median(walls),
        "wall_min": min(walls),
        "wall_max": max(walls),
        "cpu": statistics.median(cpus),
        "maxrss_kib": max(r["maxrss_kib"] for r in completed),
        "tree_rss_kib": max((r.get("tree_rss_kib", 0) for r in completed), default=0),
        "exit": completed[-1]["exit"],
        "stdout": stdout_path,
        # True when no run finished: the figures above are then only the time limit.
        "timed_out": all(r["timed_out"] for r in results),
        "timeout": timeout,
    }


# ---------------------------------------------------------------------------------------------
# What the tools said


def redress_summary(redress: str, path: str, out_dir: Path, label: str, extra: list[str]) -> dict:
    """One untimed run writing the JSON report (also warms the page cache)."""
    target = out_dir / f"{label}.report.json"
    subprocess.run(
        [redress, "scan", path, "--format", "json", "-o", str(target), *extra],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=False,
    )
    try:
        with open(target) as f:
            document = json.load(f)
    except (OSError, ValueError):
        return {}
    finally:
        target.unlink(missing_ok=True)  # hundreds of MiB for the generated set
    summary = document.get("summary", {})
    summary["evaluationErrors"] = len(document.get("evaluationErrors", []))
    summary["notes"] = len(document.get("notes", []))
    return summary


def checkov_summary(stdout_path: str) -> dict:
    try:
        with open(stdout_path) as f:
            document = json.load(f)
    except (OSError, ValueError):
        return {}
    reports = document if isinstance(document, list) else [document]
    total: dict = collections.Counter()
    for report in reports:
        for key, value in report.get("summary", {}).items():
            if isinstance(value, int):
                total[key] += value
    return dict(total)


# ---------------------------------------------------------------------------------------------
# Counting evaluations


def api_group(api_version: str) -> str:
    return api_version.rsplit("/", 1)[0] if "/" in api_version else ""


def pointer_get(value, pointer: str):
    if pointer == "":
        return value
    for segment in pointer.lstrip("/").split("/"):
        if isinstance(value, dict):
            value = value.get(segment)
        elif isinstance(value, list) and segment.isdigit() and int(segment) < len(value):
            value = value[int(segment)]
        else:
            return None
    return value


def count_evaluations(rules_dir: Path, objects: list[dict]) -> tuple[int, int, dict]:
    """(rule, subject) evaluations, following the engine's matching: object rules once per
    object of a listed kind; pod rules once per workload; container rules once per container of
    the listed container lists; namespace rules once per namespace; `each` once per item."""
    kinds = yaml.safe_load((rules_dir / "kinds.yaml").read_text())["workloads"]
    templates = {(k["group"], k["kind"]): k["template"] for k in kinds}
    rules = []
    for path in sorted(rules_dir.glob("*.y*ml")):
        if path.name == "kinds.yaml":
            continue
        rules.append(yaml.safe_load(path.read_text()))
    namespaces = set()
    subjects = []  # (group, kind, object, pod spec or None)
    for obj in objects:
        group, kind = api_group(obj.get("apiVersion", "")), obj.get("kind", "")
        meta = obj.get("metadata") or {}
        if meta.get("namespace"):
            namespaces.add(meta["namespace"])
        if (group, kind) == ("", "Namespace"):
            namespaces.add(meta.get("name"))
        template = templates.get((group, kind))
        pod = pointer_get(obj, template + "/spec") if template is not None else None
        subjects.append((group, kind, obj, pod))
    per_scope: dict = collections.Counter()

    def each_count(subject, each):
        if not each:
            return 1
        items = pointer_get(subject, "/" + each)
        return len(items) if isinstance(items, list) else 0

    total = 0
    for rule in rules:
        match = rule.get("match", {})
        scope, each = match.get("scope"), match.get("each")
        n = 0
        if scope == "object":
            wanted = set()
            for k in match.get("kinds", []):
                g, _, name = k.rpartition("/")
                wanted.add((g, name))
            for group, kind, obj, _ in subjects:
                if (group, kind) in wanted or ("*", kind) in wanted:
                    n += each_count(obj, each)
        elif scope == "pod":
            n = sum(each_count(pod, each) for *_, pod in subjects if isinstance(pod, dict))
        elif scope == "container":
            lists = match.get("containers") or ["containers", "initContainers", "ephemeralContainers"]
            for *_, pod in subjects:
                if isinstance(pod, dict):
                    for field in lists:
                        for container in pod.get(field) or []:
                            n += each_count(container, each)
        elif scope == "namespace":
            n = len(namespaces)
        per_scope[scope] += n
        total += n
    return total, len(rules), dict(per_scope)


# ---------------------------------------------------------------------------------------------
# Where the time goes


CATEGORIES = [
    ("startup: loading and compiling the rules",
     lambda fs: any("redress::engine::RuleSet::load" in f for f in fs)),
    ("CEL `matches()`: regex compiled on every call",
     lambda fs: any(f.startswith("cel::") for f in fs)
     and any("Regex::new" in f or "regex_automata::meta::regex::Builder::build" in f for f in fs)),
    ("line numbers of findings (`inventory::lines`)",
     lambda fs: any("redress::inventory::lines::" in f for f in fs)),
    ("reading and parsing the YAML (`inventory::files`)",
     lambda fs: any("redress::inventory::files::" in f for f in fs)),
    ("rule evaluation (`engine::eval`: CEL, values, findings, fixes)",
     lambda fs: any("redress::engine::eval::" in f for f in fs)),
    ("rendering the JSON output (`report`)",
     lambda fs: any("redress::report::" in f for f in fs)),
    ("sorting, exceptions, score (`scan::scan`)",
     lambda fs: any("redress::scan::scan" in f for f in fs)),
]


def profile(redress: str, path: str, out_dir: Path) -> dict | None:
    if not shutil.which("perf"):
        return None
    data = out_dir / "perf.data"
    log(f"profiling one scan of {path} with perf")
    record = subprocess.run(
        ["perf", "record", "-q", "-F", "49", "--call-graph", "dwarf,65528", "-o", str(data), "--",
         redress, "scan", path, "--format", "json", "-o", "/dev/null"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=False,
    )
    if not data.exists():
        log(f"perf record failed: {record.stderr.strip()[:300]}")
        return None
    script = subprocess.run(
        ["perf", "script", "--no-inline", "-i", str(data), "-F", "ip,sym"],
        capture_output=True, text=True, check=False,
    )
    counts: collections.Counter = collections.Counter()
    leaves: collections.Counter = collections.Counter()

    cel_samples = 0

    def flush(frames):
        nonlocal cel_samples
        if not frames:
            return
        # The cel crate (parser, and interpreter if used) or redress's own CEL evaluator.
        if any(f.startswith(("cel::", "<cel::")) or "redress::engine::cel::" in f for f in frames):
            cel_samples += 1
        for name, test in CATEGORIES:
            if test(frames):
                counts[name] += 1
                return
        counts["unattributed: no redress frame on the stack (closures inlined into rayon workers, allocator, runtime)"] += 1
        leaves[frames[0]] += 1

    frames: list[str] = []
    for line in script.stdout.splitlines():
        if not line.strip():
            flush(frames)
            frames = []
            continue
        parts = line.strip().split(None, 1)
        if len(parts) == 2:
            frames.append(parts[1])
    flush(frames)
    data.unlink(missing_ok=True)
    total = sum(counts.values())
    if total == 0:
        return None
    return {
        "samples": total,
        "categories": counts.most_common(),
        "cel_samples": cel_samples,
        "other_leaves": leaves.most_common(5),
    }


# ---------------------------------------------------------------------------------------------
# The report


def mib(kib: int) -> str:
    return f"{kib / 1024:,.0f} MiB"


def secs(s: float) -> str:
    return f"{s:.3f} s" if s < 10 else f"{s:.1f} s"


def wall_text(m: dict) -> str:
    if m["timed_out"]:
        return f"did not finish in {m['timeout']:.0f} s (killed)"
    if len(m["runs"]) == 1:
        return secs(m["wall"])
    return f"{secs(m['wall'])} ({secs(m['wall_min'])}–{secs(m['wall_max'])})"


def rate(objects: int, m: dict) -> str:
    if m["timed_out"]:
        return f"< {objects / m['timeout']:,.1f}"
    per_second = objects / m["wall"]
    return f"{per_second:,.0f}" if per_second >= 100 else f"{per_second:,.1f}"


def cpu_text(m: dict) -> str:
    return "n/a" if m["timed_out"] else f"{m['cpu']:.2f} s"


def rss_text(m: dict) -> str:
    if m["timed_out"]:
        return "n/a"
    text = mib(m["maxrss_kib"])
    if m["tree_rss_kib"]:
        text += f" (tree {mib(m['tree_rss_kib'])})"
    return text


def plural(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def loads(m: dict) -> str:
    return "; ".join(r["load"].split()[0] for r in m["runs"])


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--redress", required=True)
    parser.add_argument("--checkov", required=True)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--corpus", required=True, type=Path)
    parser.add_argument("--rules-dir", required=True, type=Path)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--checkov-runs", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=300, help="seconds allowed per Checkov run")
    args = parser.parse_args()
    out: Path = args.out
    runs_dir = out / "runs"
    runs_dir.mkdir(parents=True, exist_ok=True)
    redress, checkov = args.redress, args.checkov
    gen, subset = out / "gen", out / "subset"
    gen_summary = json.loads((out / "gen-summary.json").read_text())
    started = datetime.datetime.now(datetime.timezone.utc)
    uptime_start = sh("uptime")

    # Machine and versions.
    cpu_model = ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem_kib = int(f.readline().split()[1])
    revision = sh("git", "rev-parse", "--short", "HEAD")
    dirty = " (with uncommitted changes in the working tree)" if sh("git", "status", "--porcelain") else ""
    rules_line = sh(redress, "rules").splitlines()[-1] if sh(redress, "rules") else "?"
    rule_count = int(rules_line.split()[0]) if rules_line[:1].isdigit() else 0
    checkov_version = sh(checkov, "--version")
    rustc = sh("rustc", "--version")
    binary_hash = sh("sha256sum", redress).split()[0][:16] if sh("sha256sum", redress) else "?"

    red_cmd = lambda path, *extra: [redress, "scan", str(path), "--format", "json", "-o", "/dev/null", *extra]  # noqa: E731
    # --skip-download: the sandbox cannot reach Prisma Cloud; without it Checkov waits on retries.
    ck_cmd = lambda path: [checkov, "-d", str(path), "--framework", "kubernetes", "-o", "json", "--quiet", "--skip-download"]  # noqa: E731

    # Inputs: the generated set, the shared subset, and the corpora that exist.
    inputs = [("generated 50k" if gen_summary["objects"] == 50000 else f"generated {gen_summary['objects']}", gen, False),
              ("generated subset", subset, True)]
    corpus_names = ["plain/kubernetes-examples"]
    gitops = args.corpus / "gitops"
    if gitops.is_dir():
        corpus_names += [f"gitops/{p.name}" for p in sorted(gitops.iterdir()) if p.is_dir()]
    corpus_names.append("polaris-checks")
    skipped = []
    for name in corpus_names:
        path = args.corpus / name
        if path.is_dir():
            inputs.append((name, path, True))
        else:
            skipped.append(name)

    rows = []
    for name, path, with_checkov in inputs:
        key = name.replace("/", "_").replace(" ", "_")
        summary = redress_summary(redress, str(path), runs_dir, key, [])
        red = measure(f"redress_{key}", red_cmd(path), args.runs, runs_dir)
        row = {"input": name, "path": str(path), "summary": summary, "redress": red}
        if with_checkov:
            # Warm-up on a tiny input so imports come from the page cache in the timed runs.
            subprocess.run(ck_cmd(out / "warmup"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
            ck = measure(f"checkov_{key}", ck_cmd(path), args.checkov_runs, runs_dir, sample_tree=True,
                         timeout=args.timeout)
            ck["summary"] = checkov_summary(ck["stdout"])
            row["checkov"] = ck
        rows.append(row)

    # The rule engine: the same scan with no rules, and the evaluations the rule set performs.
    log("counting evaluations")
    gen_objects = []
    for path in sorted(gen.glob("*.yaml")):
        gen_objects.extend(d for d in yaml.load_all(path.read_text(), Loader=yaml.CSafeLoader) if d)
    evaluations, rule_files, per_scope = count_evaluations(args.rules_dir, gen_objects)
    del gen_objects
    norules = measure(
        "redress_generated_norules",
        red_cmd(gen, "--rules", str(out / "norules"), "--mappings", str(out / "nomappings")),
        args.runs, runs_dir,
    )
    prof = profile(redress, str(gen), runs_dir)

    # ----- the report -----
    p = print
    gen_row, subset_row = rows[0], rows[1]
    g = gen_row["redress"]
    g_objects = gen_row["summary"].get("objects", gen_summary["objects"])
    s_objects = subset_row["summary"].get("objects", 0)
    s_red, s_ck = subset_row["redress"], subset_row["checkov"]
    cores = os.cpu_count() or 1

    p("# Scan benchmark")
    p()
    p(f"Written by `bench/run.sh` on {started:%Y-%m-%d %H:%M} UTC from its own measurements on this machine;")
    p("nothing here is extrapolated. Re-run the script to refresh this file.")
    p()
    p("## Goals from the issue")
    p()
    p("| goal | measured | met |")
    p("|---|---|---|")
    p(f"| the full rule set over {g_objects:,} objects in under 2 s on this {cores}-core machine | "
      f"{secs(g['wall'])} wall (median of {len(g['runs'])}), {g['cpu']:.1f} s CPU, {rule_count} rules | "
      f"{'yes' if g['wall'] < 2 else 'no'} |")
    p(f"| under 1 GiB peak memory on that scan | {mib(g['maxrss_kib'])} peak RSS | "
      f"{'yes' if g['maxrss_kib'] < 1024 * 1024 else 'no'} |")
    red_rate = s_objects / s_red["wall"]
    if s_ck["timed_out"]:
        ck_rate = s_objects / s_ck["timeout"]
        p(f"| at least 100 times Checkov's throughput | more than {red_rate / ck_rate:,.1f}× on the identical "
          f"{s_objects:,}-object subset (Checkov did not finish in {s_ck['timeout']:.0f} s) | "
          f"{'yes' if red_rate >= 100 * ck_rate else 'not shown'} |")
    else:
        ck_rate = s_objects / s_ck["wall"]
        p(f"| at least 100 times Checkov's throughput | {red_rate / ck_rate:,.1f}× on the identical "
          f"{s_objects:,}-object subset ({red_rate:,.0f} vs {ck_rate:,.1f} objects/s, median wall times) | "
          f"{'yes' if red_rate >= 100 * ck_rate else 'no'} |")
    p()
    p(f"The CPU time bounds the wall time from below: with the {cores} cores to itself, the {g_objects:,}-object")
    p(f"scan could not take less than {g['cpu'] / cores:.1f} s (CPU time / cores). Redress's throughput on all")
    p(f"{g_objects:,} objects was {g_objects / g['wall']:,.0f} objects/s; Checkov was not run on the full set.")
    p()
    p("## Machine and versions")
    p()
    p(f"- CPU: {cpu_model}; `nproc` {cores}; memory {mem_kib / 1024 / 1024:.1f} GiB; Linux {platform.release()}")
    p(f"- redress: revision `{revision}`{dirty}; release build (`cargo build --release`, copied before measuring,")
    p(f"  sha256 `{binary_hash}`); {rustc}")
    p(f"- rules: {rules_line.split('.')[0]} (`redress rules`); {rule_files} rule files in `rules/` when it was built")
    p(f"- Checkov {checkov_version} (pip, in `bench/.venv`); Python {platform.python_version()}")
    p(f"- `uptime` at the start: `{uptime_start}`")
    p()
    p("The machine is shared with other work. The 1-minute load average before each run is in the tables.")
    p("It includes the benchmark's own previous run (runs follow each other, so about 1 is the benchmark")
    p(f"itself); on {cores} cores, clearly more than that means the scan competed for CPU, which inflates its")
    p("wall time (CPU time much less so).")
    p()
    p("## Commands")
    p()
    p("```sh")
    p(f"cargo run --release --example gen_workloads -- {gen_summary['objects']} bench/out/gen   # seed {gen_summary['seed']}")
    p("# each timed under /usr/bin/time -v, with the wall time taken around it:")
    p("redress scan DIR --format json -o /dev/null")
    p("checkov -d DIR --framework kubernetes -o json --quiet --skip-download > FILE")
    p("```")
    p()
    p("`--skip-download` keeps Checkov from trying to reach Prisma Cloud, which is unreachable here: without it")
    p("every run waits on network retries. redress builds and serialises its whole JSON report and writes it")
    p("to `/dev/null`; Checkov's JSON goes to a file.")
    p(f"redress: {plural(args.runs, 'timed run')} per input after one untimed run (which gives the object and")
    p(f"finding counts); Checkov: {plural(args.checkov_runs, 'timed run')} per input after a warm-up on a one-object input, each")
    p(f"killed after {args.timeout:.0f} s. Wall times are medians, with the range in brackets. Peak RSS is GNU time's")
    p("maximum resident set size, which is that of the largest single process; Checkov forks workers, so")
    p("for it the summed RSS of its whole process tree (sampled every 0.1 s) is given too.")
    p()
    p(f"The generated input: {gen_summary['objects']:,} objects in {gen_summary['files']} files, "
      + ", ".join(f"{v:,} {k}" for k, v in gen_summary["kinds"].items())
      + f"; {gen_summary['workloads']:,} workloads with {gen_summary['containers']:,} containers and "
      f"{gen_summary['initContainers']:,} init containers, hardened, partly hardened, default and risky. "
      f"The subset is its first {len(list(subset.glob('*.yaml')))} files; both tools scan that same folder.")
    p()
    p("## Side by side")
    p()
    p("*objects* is the number of Kubernetes objects redress read from the input (files that do not parse,")
    p("such as Helm templates, and documents that are not Kubernetes objects do not count); *objects/s*")
    p("divides that same number by each tool's median wall time.")
    p()
    p("| input | objects (files) | tool | wall | CPU user+sys | peak RSS | objects/s | result | load before |")
    p("|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        summary = row["summary"]
        objects = summary.get("objects", 0)
        r = row["redress"]
        findings = summary.get("findings")
        result = f"{findings:,} findings" if isinstance(findings, int) else "no report"
        if summary.get("inputErrors"):
            result += f", {summary['inputErrors']} input errors"
        if summary.get("evaluationErrors"):
            result += f", {summary['evaluationErrors']} evaluation errors"
        p(f"| {row['input']} | {objects:,} ({summary.get('files', '?')}) | redress | {wall_text(r)} | "
          f"{cpu_text(r)} | {rss_text(r)} | {rate(objects, r)} | {result} | {loads(r)} |")
        if "checkov" in row:
            c = row["checkov"]
            cs = c["summary"]
            if c["timed_out"]:
                ck_result = "no report"
            else:
                ck_result = (f"{cs.get('failed', 0):,} failed and {cs.get('passed', 0):,} passed checks on "
                             f"{cs.get('resource_count', 0):,} resources")
                if cs.get("parsing_errors"):
                    ck_result += f", {cs['parsing_errors']} parsing errors"
            p(f"| | | Checkov | {wall_text(c)} | {cpu_text(c)} | {rss_text(c)} | {rate(objects, c)} | "
              f"{ck_result} | {loads(c)} |")
    if skipped:
        p()
        p("Corpora not found, so not measured: " + ", ".join(skipped) + ".")
    p()
    p("Checkov's `resource_count` counts its own entities (it splits containers out of their workloads), not")
    p("objects. Checkov's checks and redress's rules are different sets, so the result columns are not")
    p("comparable with each other.")
    p()
    p("## The rule engine")
    p()
    nr = norules
    p(f"The same {g_objects:,}-object scan with no rules (`--rules` naming a folder that holds only `kinds.yaml`,")
    p("and an empty `--mappings` folder) reads, parses and reports without evaluating anything:")
    p()
    p("| scan | wall | CPU user+sys | CPU / wall | peak RSS | load before |")
    p("|---|---|---|---|---|---|")
    for label, m in ((f"{rule_count} rules", g), ("no rules", nr)):
        p(f"| {label} | {wall_text(m)} | {cpu_text(m)} | {m['cpu'] / m['wall']:.2f} | {rss_text(m)} | {loads(m)} |")
    p()
    added_wall = g["wall"] - nr["wall"]
    added_cpu = g["cpu"] - nr["cpu"]
    p(f"The rules add {added_wall:.1f} s of wall time, {added_cpu:.1f} s of CPU time and "
      f"{mib(g['maxrss_kib'] - nr['maxrss_kib'])} of peak memory: evaluation, findings")
    p("and their fixes, the line numbers of findings, and the larger report.")
    p()
    p(f"The rule set performs {evaluations:,} evaluations (rule, subject) on the generated input, counted by")
    p("`bench/bench.py` from the rule files' `match` blocks the way the engine applies them: object rules once")
    p("per object of their kinds, pod rules per workload, container rules per container, namespace rules per")
    p("namespace, `each` once per list item (" + ", ".join(f"{k} {v:,}" for k, v in sorted(per_scope.items())) + ").")
    if added_cpu > 0 and added_wall > 0:
        p(f"Over the time the rules add, that is {evaluations / added_cpu:,.0f} evaluations per CPU-second "
          f"({added_cpu / evaluations * 1e6:,.1f} µs each)")
        p(f"and {evaluations / added_wall:,.0f} per second of wall time. Since that time also pays for findings,")
        p("line numbers and output, the cost of an evaluation alone is at most this.")
    p()
    if prof:
        p(f"### Where the CPU time goes (perf, one more scan of the {g_objects:,} generated objects)")
        p()
        p(f"`perf record -F 49 --call-graph dwarf`: {prof['samples']:,} samples over all threads, each counted")
        p("under the first stage of this list found on its stack (functions the compiler inlined have no frame")
        p("of their own, so their time counts under their caller):")
        p()
        p("| stage | share of CPU samples |")
        p("|---|---|")
        for name, n in prof["categories"]:
            p(f"| {name} | {n / prof['samples'] * 100:.1f}% |")
        p()
        share = prof["cel_samples"] / prof["samples"]
        p("CEL evaluation itself (samples with a function of the `cel` crate or of `redress::engine::cel`")
        p("anywhere on the stack) accounts for")
        p(f"{share * 100:.1f}% of the samples. Applied to the median CPU time of the timed scans ({g['cpu']:.1f} s), that is")
        p(f"about {share * g['cpu']:.1f} CPU-seconds for {evaluations:,} evaluations, roughly "
          f"{evaluations / max(share * g['cpu'], 1e-9):,.0f} evaluations per CPU-second")
        p("spent in CEL. This is a sampling estimate (a profiled run is a different run, and few samples carry")
        p("a few percent of error), not a timing.")
        p()
    p("## Every run")
    p()
    p("| measurement | run | wall | user | sys | max RSS | load (1, 5, 15 min) |")
    p("|---|---|---|---|---|---|---|")
    measurements = [r["redress"] for r in rows] + [r["checkov"] for r in rows if "checkov" in r] + [norules]
    for m in measurements:
        for i, run in enumerate(m["runs"], 1):
            if run["timed_out"]:
                p(f"| {m['label']} | {i} | killed after {run['wall']:.0f} s | | | | {run['load']} |")
            else:
                p(f"| {m['label']} | {i} | {run['wall']:.3f} s | {run['user']:.2f} s | {run['sys']:.2f} s | "
                  f"{mib(run['maxrss_kib'])} | {run['load']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
