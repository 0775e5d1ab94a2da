#!/usr/bin/env python3
"""Summarises the raw runs of bench/run.sh.

Reads <out>/raw/<W>.jsonl ("<command index>\\t<json line>" per measured point and run),
<out>/raw/<W>.fail and <out>/commands.txt; prints the table; writes
bench/results/<W>.json (array of {workload, impl, metric, value (median), min, max, unit,
runs, n, command, measured_at}); regenerates docs/benchmarks.md from every
bench/results/*.json (workloads not run this time keep their previous results), and,
with gnuplot, docs/img/<w>.png. Standard library only.
"""
import argparse
import datetime
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys

WORKLOADS = ["W1", "W2", "W3", "W6", "W7"]
IMPL_ORDER = ["coio", "go", "asyncio", "uvloop"]
TITLES = {
    "W1": "W1 switch: two tasks yielding to each other",
    "W2": "W2 spawn: empty tasks spawned and gathered",
    "W3": "W3 sleepers: tasks sleeping a random 0-1 s, gathered",
    "W6": "W6 queue: producer to consumer through a maxsize-1 queue",
    "W7": "W7 lock: 100 tasks contending for one lock",
}


def higher_is_better(unit):
    return unit.endswith("/s")


def fmt(v):
    if v is None:
        return "—"
    a = abs(v)
    if a >= 1e6:
        return f"{v / 1e6:.3g} M"
    if a >= 1e4:
        return f"{v / 1e3:.3g} k"
    if a >= 100:
        return f"{v:.0f}"
    return f"{v:.3g}"


def load_raw(out, w):
    cmds = {}
    try:
        with open(os.path.join(out, "commands.txt")) as f:
            for i, line in enumerate(f, 1):
                parts = line.rstrip("\n").split("\t")
                if len(parts) == 3:
                    cmds[i] = parts[2]
    except FileNotFoundError:
        pass
    groups = {}
    path = os.path.join(out, "raw", f"{w}.jsonl")
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                idx, _, js = line.partition("\t")
                try:
                    d = json.loads(js)
                except json.JSONDecodeError:
                    continue
                k = (d["workload"], d["impl"], d["metric"])
                g = groups.setdefault(k, {"values": [], "unit": d["unit"], "n": d.get("n"),
                                          "command": cmds.get(int(idx), "")})
                g["values"].append(float(d["value"]))
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    rows = []
    for (wl, impl, metric), g in groups.items():
        v = g["values"]
        rows.append({"workload": wl, "impl": impl, "metric": metric,
                     "value": statistics.median(v), "min": min(v), "max": max(v),
                     "unit": g["unit"], "runs": len(v), "n": g["n"],
                     "command": g["command"], "measured_at": now})
    fails = []
    fpath = os.path.join(out, "raw", f"{w}.fail")
    if os.path.exists(fpath):
        with open(fpath) as f:
            for line in f:
                parts = line.rstrip("\n").split("\t")
                if len(parts) != 3:
                    continue
                for f0 in fails:
                    if (f0["impl"], f0["command"], f0["why"]) == tuple(parts):
                        f0["count"] += 1
                        break
                else:
                    fails.append({"workload": w, "impl": parts[0], "command": parts[1],
                                  "why": parts[2], "count": 1})
    return sort_rows(rows), fails


def sort_rows(rows):
    def key(r):
        impl = IMPL_ORDER.index(r["impl"]) if r["impl"] in IMPL_ORDER else 99
        return (r["workload"], r["metric"].split("_")[0], impl, r["metric"])
    return sorted(rows, key=key)


def find(rows, w, impl, metric):
    for r in rows:
        if r["workload"] == w and r["impl"] == impl and r["metric"] == metric:
            return r
    return None


def advantage(rows, r):
    """How many times better coio is than r on r's metric (> 1: coio better)."""
    c = find(rows, r["workload"], "coio", r["metric"])
    if c is None or r["impl"] == "coio" or not c["value"] or not r["value"]:
        return None
    if higher_is_better(r["unit"]):
        return c["value"] / r["value"]
    return r["value"] / c["value"]


def table(rows, markdown):
    head = ["workload", "impl", "metric", "median", "min–max", "unit", "runs", "coio ×better"]
    body = []
    for r in rows:
        a = advantage(rows, r)
        body.append([r["workload"], r["impl"], r["metric"], fmt(r["value"]),
                     f"{fmt(r['min'])} – {fmt(r['max'])}", r["unit"], str(r["runs"]),
                     "1 (ref)" if r["impl"] == "coio" else (f"{a:.2f}×" if a else "—")])
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(b) + " |" for b in body]
        return "\n".join(lines)
    widths = [max(len(x[i]) for x in [head] + body) for i in range(len(head))]
    out = ["  ".join(h.ljust(wd) for h, wd in zip(head, widths))]
    out += ["  ".join(c.ljust(wd) for c, wd in zip(b, widths)) for b in body]
    return "\n".join(out)


def targets(rows, sysrows):
    """[(workload, text, measured, met or None)] for every stated target."""
    t = []

    def val(w, impl, m):
        r = find(rows, w, impl, m)
        return r["value"] if r else None

    def check(w, text, measured, ok):
        t.append((w, text, measured, ok))

    v = val("W1", "coio", "ns_per_switch")
    check("W1", "coio ≤ 8 ns per switch", f"{fmt(v)} ns" if v else "not measured",
          None if v is None else v <= 8)
    g = val("W1", "go", "ns_per_switch")
    check("W1", "coio ≥ 5× faster than Go (GOMAXPROCS=1, Gosched)",
          f"{g / v:.3f}×" if v and g else "not measured",
          None if not (v and g) else g / v >= 5)
    for mode, floor in (("batched", 10e6), ("all", 1e6)):
        v = val("W2", "coio", f"{mode}_tasks_per_s")
        check("W2", f"coio ≥ {fmt(floor)} tasks/s {mode}",
              f"{fmt(v)} tasks/s" if v else "not measured", None if v is None else v >= floor)
        g = val("W2", "go", f"{mode}_tasks_per_s")
        check("W2", f"coio ≥ 2× Go, {mode}", f"{v / g:.3f}×" if v and g else "not measured",
              None if not (v and g) else v / g >= 2)
    for lb in ("n100k", "n1m"):
        v = val("W3", "coio", f"{lb}_rss_kib_per_task")
        check("W3", f"coio ≤ 4.5 KiB resident per sleeping task ({lb})",
              f"{v:.2f} KiB" if v is not None else "not measured",
              None if v is None else v <= 4.5)
        v = val("W3", "coio", f"{lb}_minflt_per_task")
        check("W3", f"coio ≤ 1.05 page faults per sleeping task ({lb})",
              f"{v:.3f}" if v is not None else "not measured",
              None if v is None else v <= 1.05)
    b = w3_bound(rows, sysrows, "n100k", 100000)
    v = val("W3", "coio", "n100k_wall_s")
    check("W3", "coio 100,000 sleepers: wall ≤ 1 s + 0.1 s + faults × first-touch cost "
          "(both measured in the W3 run)"
          + (f" = {b:.3f} s" if b else ""),
          f"{v:.3f} s" if v else "not measured", None if not (v and b) else v <= b)
    return t


def w3_bound(rows, sysrows, lb, n):
    f = find(rows, "W3", "coio", f"{lb}_minflt_per_task")
    tc = (f or {}).get("machine_costs", {}).get("us_per_first_touch")
    if tc is None:  # results written before machine costs were kept with them
        r = find(sysrows, "SYS", "machine", "us_per_first_touch")
        tc = r["value"] if r else None
    if not f or tc is None:
        return None
    return 1.1 + f["value"] * n * tc * 1e-6


def sh(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=20).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def loadavg(out):
    def rd(name):
        try:
            return open(os.path.join(out, name)).read().strip()
        except OSError:
            return "?"
    return f"{rd('loadavg.start')} at the start, {rd('loadavg.end')} at the end"


def machine():
    cpu = ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = ""
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 1048576:.1f} GiB"
    thp = ""
    try:
        thp = re.search(r"\[(\w+)\]",
                        open("/sys/kernel/mm/transparent_hugepage/enabled").read()).group(1)
    except (OSError, AttributeError):
        pass
    uv = sh(["/usr/bin/python3", "-c", "import uvloop; print(uvloop.__version__)"])
    return [
        ("CPUs (nproc)", str(os.cpu_count())),
        ("CPU model", cpu),
        ("kernel", platform.release()),
        ("memory", mem),
        ("transparent huge pages", thp),
        ("C compiler", sh(["cc", "--version"]).split("\n")[0]),
        ("Go", sh(["go", "version"]) or "not installed"),
        ("Python (asyncio, uvloop peers)", sh(["/usr/bin/python3", "--version"])
         + (f", uvloop {uv}" if uv else ", no uvloop")),
    ]


def chart(root, w, rows):
    """docs/img/<w>.png: one cluster per metric of the workload's main unit, one bar per
    implementation, error bars from min to max. Returns the relative path or None."""
    unit = {"W1": "ns", "W2": "tasks/s", "W3": "s", "W6": "ns", "W7": "ns"}[w]
    rs = [r for r in rows if r["workload"] == w and r["unit"] == unit]
    if not rs or not shutil.which("gnuplot"):
        return None
    metrics = sorted({r["metric"] for r in rs})
    impls = [i for i in IMPL_ORDER if any(r["impl"] == i for r in rs)]
    img = os.path.join(root, "docs", "img")
    os.makedirs(img, exist_ok=True)
    dat = os.path.join(img, f".{w.lower()}.dat")
    with open(dat, "w") as f:
        for m in metrics:
            cells = [m.replace("_", " ")]
            for i in impls:
                r = find(rs, w, i, m)
                cells += [str(r["value"]), str(r["min"]), str(r["max"])] if r else ["-"] * 3
            f.write("\t".join(f'"{c}"' if k == 0 else c for k, c in enumerate(cells)) + "\n")
    png = os.path.join(img, f"{w.lower()}.png")
    plots = ", ".join(f"'{dat}' using {2 + 3 * k}:{3 + 3 * k}:{4 + 3 * k}"
                      f"{':xtic(1)' if k == 0 else ''} title '{i}'"
                      for k, i in enumerate(impls))
    script = f"""set terminal pngcairo size 800,420 noenhanced
set output '{png}'
set datafile separator '\\t'
set datafile missing '-'
set title '{TITLES[w]} (median, min-max bars; log scale)'
set ylabel '{unit}'
set logscale y
set style data histogram
set style histogram errorbars gap 2 lw 1
set style fill solid 0.8 border -1
set key top left
set grid ytics
set yrange [*:*]
plot {plots}
"""
    try:
        subprocess.run(["gnuplot"], input=script, text=True, capture_output=True,
                       timeout=30, check=True)
    except (OSError, subprocess.SubprocessError) as e:
        print(f"gnuplot failed for {w}: {e}", file=sys.stderr)
        return None
    finally:
        os.unlink(dat)
    return f"img/{w.lower()}.png"


def commands_md(root, rows):
    seen, out = set(), []
    for r in rows:
        c = (r.get("command") or "").replace(root + "/", "")
        if c and c not in seen:
            seen.add(c)
            out.append(c)
    return "```sh\n" + "\n".join(out) + "\n```" if out else "(commands not recorded)"


def write_doc(root, out, reps, all_rows, sysrows, fails, charts):
    sysv = {r["metric"]: r for r in sysrows}
    L = []
    L.append("# Benchmarks\n")
    L.append("<!-- Generated by bench/report.py from bench/results/*.json: run `make bench`"
             " (or `bench/run.sh [W1] [W2] [W3]`) instead of editing. -->\n")
    L.append("Benchmarks, not tests: they measure and report; a missed target fails nothing. "
             f"Every point runs {reps} times, pinned to CPU 0 with `taskset -c 0` and bounded "
             "by a timeout; tables give the median and the min–max spread of those runs. "
             "Peers are measured in the same run as coio. Go runs with GOMAXPROCS=1 (one "
             "runtime thread, like one coio loop); the Python peers use Debian's "
             "`/usr/bin/python3` with `asyncio` and `uvloop` loops.\n")
    L.append("`coio ×better` is how many times better coio is on that row's metric "
             "(peer/coio for times, sizes and fault counts; coio/peer for rates): above 1 "
             "coio is better, below 1 the peer is.\n")
    L.append("## Machine\n")
    L.append("| | |\n|---|---|")
    for k, v in machine():
        L.append(f"| {k} | {v} |")
    L.append(f"| load average (1, 5, 15 min) during the last run | {loadavg(out)} |")
    L.append("")
    L.append("Other processes on the machine share its 2 CPUs: a load average above ~0.5 "
             "means the numbers below were taken on a busy machine and are pessimistic.\n")
    L.append("Measured by `bench/sys_costs.c` in the same run (median, min–max):\n")
    for m, what in (("ns_per_syscall", "one `getppid()` syscall"),
                    ("us_per_first_touch", "first touch of an anonymous 4 KiB page "
                     "(64 MiB mapping, MADV_NOHUGEPAGE; one minor fault per page)"),
                    ("us_per_page_populated", "the same per page when a whole 64 MiB mapping "
                     "is populated by one `madvise(MADV_POPULATE_WRITE)` (no fault per page)")):
        r = sysv.get(m)
        if r:
            L.append(f"- {what}: **{fmt(r['value'])} {r['unit']}** "
                     f"({fmt(r['min'])} – {fmt(r['max'])})")
    L.append("")
    L.append("## Targets\n")
    L.append("| workload | target | measured (median) | |\n|---|---|---|---|")
    for w, text, measured, ok in targets(all_rows, sysrows):
        L.append(f"| {w} | {text} | {measured} | "
                 f"{'met' if ok else ('**missed**' if ok is False else 'not measured')} |")
    L.append("")
    for w in WORKLOADS:
        rows = [r for r in all_rows if r["workload"] == w]
        if not rows and w not in ("W1", "W2", "W3"):
            continue
        L.append(f"## {TITLES[w]}\n")
        if not rows:
            L.append("Not measured yet.\n")
            continue
        when = sorted({r.get("measured_at", "") for r in rows})
        L.append(f"Measured {', '.join(x for x in when if x)}. Commands, from the repository "
                 "root (`make bench` builds them, then runs `bench/run.sh`):\n")
        L.append(commands_md(root, rows) + "\n")
        mc = rows[0].get("machine_costs") or {}
        if mc.get("ns_per_syscall") and mc.get("us_per_first_touch"):
            L.append(f"Machine costs measured in that run: {fmt(mc['ns_per_syscall'])} ns per "
                     f"syscall, {fmt(mc['us_per_first_touch'])} µs per first page touch.\n")
        L.append(table(rows, True) + "\n")
        if w == "W3":
            b = w3_bound(all_rows, sysrows, "n1m", 1000000)
            if b:
                L.append(f"For reference, the same bound at 1,000,000 sleepers: {b:.2f} s.\n")
        fl = [f for f in fails if f["workload"] == w]
        if fl:
            L.append("Runs that recorded no value:\n")
            L += [f"- {f['impl']}: `{f['command'].replace(root + '/', '')}`: {f['why']}"
                  + (f" (×{f['count']})" if f["count"] > 1 else "") for f in fl]
            L.append("")
        if charts.get(w):
            L.append(f"![{w}]({charts[w]})\n")
    analysis = os.path.join(root, "bench", "analysis.md")
    if os.path.exists(analysis):
        L.append(open(analysis).read().rstrip() + "\n")
    L.append("## Notes\n")
    L.append("- W1: a switch is one `coio_yield` (Go: `runtime.Gosched`, Python: "
             "`await asyncio.sleep(0)`); each program first runs a short warm-up round. "
             "Python runs 200,000 switches instead of 5,000,000; the metric is per switch.")
    L.append("- W2: each coio task is `int fn(void *) { return 0; }`; Go stores a result and "
             "calls `WaitGroup.Done`; Python awaits `gather` over `create_task`s of an empty "
             "coroutine, 200,000 tasks in total (rate per task). Batched and all-at-once run "
             "in separate processes so each peak RSS (`ru_maxrss`, whole process) is its own.")
    L.append("- W3: durations come from one fixed-seed xorshift64 (bench/bench_util.h, copied "
             "in the peers), so every implementation sleeps the same times. RSS per task is "
             "`ru_maxrss` after the gather minus `ru_maxrss` just before spawning, over N; "
             "faults per task likewise from `ru_minflt`. A Go goroutine that has finished "
             "before the last one is spawned gives back its stack, so Go's per-task numbers "
             "are not all-alive numbers when spawning takes longer than the sleeps. asyncio "
             "and uvloop are not run at 1,000,000.")
    L.append("")
    with open(os.path.join(root, "docs", "benchmarks.md"), "w") as f:
        f.write("\n".join(L))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--root", required=True)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("workloads", nargs="*")
    a = ap.parse_args()
    res = os.path.join(a.root, "bench", "results")
    os.makedirs(res, exist_ok=True)
    ran = a.workloads or WORKLOADS

    sysrows, _ = load_raw(a.out, "SYS")
    if sysrows:
        with open(os.path.join(res, "SYS.json"), "w") as f:
            json.dump(sysrows, f, indent=1)
    else:
        try:
            sysrows = json.load(open(os.path.join(res, "SYS.json")))
        except (OSError, ValueError):
            sysrows = []

    costs = {r["metric"]: r["value"] for r in sysrows}
    all_rows, fails = [], []
    for w in WORKLOADS:
        if w in ran:
            rows, fl = load_raw(a.out, w)
            for r in rows:  # the machine costs of the run each row was measured in
                r["machine_costs"] = costs
            fails += fl
            with open(os.path.join(res, f"{w}.json"), "w") as f:
                json.dump(rows, f, indent=1)
        else:
            try:
                rows = json.load(open(os.path.join(res, f"{w}.json")))
            except (OSError, ValueError):
                rows = []
        all_rows += rows

    try:
        la = float(open(os.path.join(a.out, "loadavg.start")).read().split()[0])
        if la > 1.0:
            print(f"\nWARNING: load average {la} at the start: other processes shared the "
                  "CPUs, so times are pessimistic and noisy")
    except (OSError, ValueError, IndexError):
        pass
    print()
    print(table(sysrows, False))
    shown = [r for r in all_rows if r["workload"] in ran]
    print()
    print(table(shown, False))
    print()
    for w, text, measured, ok in targets(all_rows, sysrows):
        if w in ran:
            status = "met" if ok else ("MISSED" if ok is False else "not measured")
            print(f"  {w}  {status:12} {text}: {measured}")
    for f in fails:
        print(f"  no value (×{f['count']}): {f['workload']} {f['impl']}: {f['command']}: "
              f"{f['why']}")

    charts = {}
    for w in WORKLOADS:
        p = os.path.join(a.root, "docs", "img", f"{w.lower()}.png")
        if w in ran and os.environ.get("COIO_BENCH_GNUPLOT", "1") == "1":
            charts[w] = chart(a.root, w, all_rows)
        elif os.path.exists(p):
            charts[w] = f"img/{w.lower()}.png"
    write_doc(a.root, a.out, a.reps, all_rows, sysrows, fails, charts)
    print("\nwrote bench/results/*.json and docs/benchmarks.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
