#!/usr/bin/env python3
"""Summarises the raw runs of bench/run.sh.

Reads <out>/raw/<W>.jsonl ("<command index>\\t<json line>" per measured point and run),
<out>/raw/<W>.fail and <out>/commands.txt; prints the table; writes
bench/results/<W>.json (array of {workload, impl, metric, value (median), min, max, unit,
runs, n, command, measured_at}); regenerates docs/benchmarks.md from every
bench/results/*.json (workloads not run this time keep their previous results), and,
with gnuplot, docs/img/<w>.png. Standard library only.

W4 (echo), W5 (HTTP), W8e (a static file with sendfile) and W10 (HTTPS) are servers under a
load client; their metrics carry
the load point ("req_per_s c=100 m=64") and are shown per point, ranked by the server's CPU
time per request, with requests/s, latency and the client's CPU use beside it. W8 (files)
has four sub-workloads (W8a-d) whose rate is shown with the CPU time per operation and
the peak thread count of the process.
"""
import argparse
import datetime
import glob
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys

WORKLOADS = ["W1", "W2", "W3", "W4", "W5", "W6", "W7", "W8", "W8e", "W9", "W10"]
SERVER_WORKLOADS = ("W4", "W5", "W8e", "W10")  # a server under a load client, measured per load point
IMPL_ORDER = ["coio", "coio_uring", "coio_uring_pool", "floor", "fio-psync", "fio-io_uring",
              "dd", "libuv", "nginx", "nginx_aio", "go", "tokio", "node", "uvloop", "asyncio", "xargs"]
# One colour per implementation in every chart, so a reader can compare charts at a glance.
COLORS = {"coio": "#7b2cbf", "coio_uring": "#c77dff", "floor": "#8d99ae", "libuv": "#f4a261",
          "nginx": "#2a9d8f", "nginx_aio": "#76c893", "go": "#219ebc", "tokio": "#ffb703", "node": "#8ab17d", "uvloop": "#e63946",
          "asyncio": "#264653", "xargs": "#6c584c", "coio_uring_pool": "#e0aaff",
          "fio-psync": "#6c757d", "fio-io_uring": "#adb5bd", "dd": "#495057"}
TITLES = {
    "W1": "W1 switch: two tasks yielding to each other",
    "W2": "W2 spawn: empty tasks spawned and gathered",
    "W3": "W3 sleepers: tasks sleeping a random 0-1 s, gathered",
    "W4": "W4 echo: C connections, each sending M bytes and waiting for their echo",
    "W5": "W5 HTTP: keep-alive 'Hello, World!' under wrk -t1 with C connections",
    "W6": "W6 queue: producer to consumer through a maxsize-1 queue",
    "W7": "W7 lock: 100 tasks contending for one lock",
    "W8": "W8 files: reads and writes on a warm page cache, 64 in flight",
    "W8e": "W8e static file: 1 MiB sent with sendfile over HTTP keep-alive under wrk -t1 -c100",
    "W9": "W9 spawn: /bin/true run 2,000 times, 16 at once",
    "W10": "W10 HTTPS: 'Hello, World!' over TLS 1.3 under wrk -t1 with C connections",
}
# W8's drivers name coio's rows by backend; run.sh's names are the table's.
W8_IMPLS = {"coio-epoll": "coio", "coio-io_uring": "coio_uring",
            "coio-io_uring-pool": "coio_uring_pool", "fio-psync-fsync": "fio-psync"}
W8_EXTRA = {"cpu_us_per_op": "µs/op", "peak_threads": "threads"}


def normalise(d):
    """The rows one JSON line gives. W8's lines (workload W8a-d) become workload W8 with the
    sub-workload leading the metric ("W8a GB_per_s"), and their CPU time per operation and
    peak thread count rows of their own ("W8a GB_per_s cpu_us_per_op"). W10's handshake
    metrics become W5's names at the point "conn=new" (one request per connection, so a
    request is a handshake), keep-alive ones at "conn=keepalive"."""
    w = d["workload"]
    if w.startswith("W8") and len(w) == 3 and w != "W8e":  # W8e is a workload of its own
        main = f"{w} {d['metric']}"
        impl = W8_IMPLS.get(d["impl"], d["impl"])
        out = [dict(d, workload="W8", impl=impl, metric=main)]
        for k, unit in W8_EXTRA.items():
            if k in d:
                out.append(dict(d, workload="W8", impl=impl, metric=f"{main} {k}",
                                value=d[k], unit=unit))
        return out
    if w == "W10":
        name, point = split_metric(d["metric"])
        new = name in ("handshakes_per_s", "cpu_us_per_handshake")
        name = {"handshakes_per_s": "req_per_s", "cpu_us_per_handshake": "cpu_us_per_req"}.get(
            name, name)
        return [dict(d, metric=f"{name} {point} conn={'new' if new else 'keepalive'}",
                     unit="req/s" if name == "req_per_s" else d["unit"])]
    return [d]


def higher_is_better(unit):
    return unit.endswith("/s")


def neutral(unit):
    """A unit that is neither better high nor low (the load client's CPU use, W8's thread
    count)."""
    return unit in ("%", "threads")


def split_metric(metric):
    """"req_per_s c=100 m=64" -> ("req_per_s", "c=100 m=64"); plain metrics -> (m, "")."""
    name, _, point = metric.partition(" ")
    return name, point


def point_key(point):
    """Sorts "c=100 m=64" numerically by its fields."""
    return [int(v) if v.isdigit() else v
            for v in re.findall(r"=(\w+)", point)] if point else []


def points(rows, w):
    return sorted({split_metric(r["metric"])[1] for r in rows if r["workload"] == w},
                  key=point_key)


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
                    ds = normalise(json.loads(js))
                except (json.JSONDecodeError, KeyError):
                    continue
                for d in ds:
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


def attempted(out, w):
    """The implementations bench/run.sh ran (or tried to run) for w this time."""
    impls = set()
    try:
        with open(os.path.join(out, "commands.txt")) as f:
            for line in f:
                parts = line.rstrip("\n").split("\t")
                if len(parts) == 3 and parts[0] == w:
                    impls.add(parts[1])
    except FileNotFoundError:
        pass
    return impls


def earlier(rows, r):
    """Whether r comes from another run than coio's rows of its workload (kept, not rerun)."""
    c = next((x for x in rows if x["workload"] == r["workload"] and x["impl"] == "coio"), None)
    return bool(c) and r["impl"] != "coio" and r.get("measured_at") != c.get("measured_at")


EARLIER = " (earlier run)"


def sort_rows(rows):
    def key(r):
        impl = IMPL_ORDER.index(r["impl"]) if r["impl"] in IMPL_ORDER else 99
        if r["workload"] in SERVER_WORKLOADS:  # by load point, then implementation
            name, point = split_metric(r["metric"])
            return (r["workload"], point_key(point), impl, name)
        if r["workload"] == "W8":  # by sub-workload and metric, then implementation
            return (r["workload"], w8_main(r["metric"]), impl, r["metric"])
        return (r["workload"], r["metric"].split("_")[0], impl, r["metric"])
    return sorted(rows, key=key)


def w8_main(metric):
    """"W8b files_per_s_read_all cpu_us_per_op" -> "W8b files_per_s_read_all"."""
    return " ".join(metric.split(" ")[:2])


def find(rows, w, impl, metric):
    for r in rows:
        if r["workload"] == w and r["impl"] == impl and r["metric"] == metric:
            return r
    return None


# A peer's second way of doing a workload's step, measured beside the one its target uses
# (Tokio's W1 and W7 with tokio::task::yield_now and with a self-waking yield): its metric
# is the main one plus this suffix, and it is compared with coio's main metric.
VARIANTS = ("_yield_now", "_wake")


def base_metric(metric):
    for v in VARIANTS:
        if metric.endswith(v):
            return metric[:-len(v)]
    return metric


def advantage(rows, r):
    """How many times better coio is than r on r's metric (> 1: coio better)."""
    c = find(rows, r["workload"], "coio", base_metric(r["metric"]))
    if c is None or r["impl"] == "coio" or not c["value"] or not r["value"] or neutral(r["unit"]):
        return None
    if higher_is_better(r["unit"]):
        return c["value"] / r["value"]
    return r["value"] / c["value"]


def table(rows, markdown):
    head = ["workload", "impl", "metric", "median", "min–max", "unit", "runs", "coio ×better"]
    body = []
    for r in rows:
        a = advantage(rows, r)
        body.append([r["workload"], r["impl"] + (EARLIER if earlier(rows, r) else ""),
                     r["metric"], fmt(r["value"]),
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


def server_table(rows, w, markdown):
    """W4/W5: one block per load point, implementations ranked by server CPU per request
    (lowest first; those without it last)."""
    head = ["rank", "impl", "server CPU µs/req", "min–max", "req/s", "min–max", "p50 µs",
            "p99 µs", "client CPU %", "runs", "coio ×better (CPU/req)"]
    out = []
    for p in points(rows, w):
        def v(impl, name):
            return find(rows, w, impl, f"{name} {p}")
        impls = sorted({r["impl"] for r in rows if r["workload"] == w
                        and split_metric(r["metric"])[1] == p},
                       key=lambda i: ((v(i, "cpu_us_per_req") or {}).get("value", float("inf")),
                                      IMPL_ORDER.index(i) if i in IMPL_ORDER else 99))
        body = []
        for k, i in enumerate(impls, 1):
            cpu, rps = v(i, "cpu_us_per_req"), v(i, "req_per_s")
            p50, p99, cl = v(i, "p50_us"), v(i, "p99_us"), v(i, "client_cpu_pct")
            a = advantage(rows, cpu) if cpu else None
            any_row = next(x for x in (cpu, rps, p50, p99, cl) if x)
            body.append([str(k), i + (EARLIER if earlier(rows, any_row) else ""),
                         fmt(cpu and cpu["value"]),
                         f"{fmt(cpu['min'])} – {fmt(cpu['max'])}" if cpu else "—",
                         fmt(rps and rps["value"]),
                         f"{fmt(rps['min'])} – {fmt(rps['max'])}" if rps else "—",
                         fmt(p50 and p50["value"]), fmt(p99 and p99["value"]),
                         f"{cl['value']:.0f}" if cl else "—",
                         str(max(x["runs"] for x in (cpu, rps, p50, p99, cl) if x)),
                         "1 (ref)" if i == "coio" else (f"{a:.2f}×" if a else "—")])
        if markdown:
            out.append(f"**{p}**\n")
            out.append("| " + " | ".join(head) + " |")
            out.append("|" + "---|" * len(head))
            out += ["| " + " | ".join(b) + " |" for b in body]
            out.append("")
        else:
            widths = [max(len(x[i]) for x in [head] + body) for i in range(len(head))]
            out.append(f"{w} {p}")
            out.append("  " + "  ".join(h.ljust(wd) for h, wd in zip(head, widths)))
            out += ["  " + "  ".join(c.ljust(wd) for c, wd in zip(b, widths)) for b in body]
            out.append("")
    return "\n".join(out).rstrip("\n")


def w8_table(rows, markdown):
    """W8: per sub-workload and metric, every implementation's rate with its CPU time per
    operation and the process's peak thread count beside it."""
    head = ["metric", "impl", "median", "min–max", "unit", "CPU µs/op", "peak threads",
            "runs", "coio ×better"]
    body = []
    for r in rows:
        if r["workload"] != "W8" or r["metric"] != w8_main(r["metric"]):
            continue
        cpu = find(rows, "W8", r["impl"], r["metric"] + " cpu_us_per_op")
        thr = find(rows, "W8", r["impl"], r["metric"] + " peak_threads")
        a = advantage(rows, r)
        body.append([r["metric"], r["impl"] + (EARLIER if earlier(rows, r) else ""),
                     fmt(r["value"]), f"{fmt(r['min'])} – {fmt(r['max'])}", r["unit"],
                     fmt(cpu and cpu["value"]), fmt(thr and thr["value"]), str(r["runs"]),
                     "1 (ref)" if r["impl"] == "coio" else (f"{a:.2f}×" if a else "—")])
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(b) + " |" for b in body]
        return "\n".join(lines)
    widths = [max(len(x[i]) for x in [head] + body) for i in range(len(head))]
    out = ["  ".join(h.ljust(wd) for h, wd in zip(head, widths))]
    out += ["  ".join(c.ljust(wd) for c, wd in zip(b, widths)) for b in body]
    return "\n".join(out)


def any_table(rows, markdown):
    """The generic table for plain workloads, one block per load point for W4/W5/W10, W8's
    own."""
    parts = []
    plain = [r for r in rows if r["workload"] not in SERVER_WORKLOADS + ("W8",)]
    if plain:
        parts.append(table(plain, markdown))
    if any(r["workload"] == "W8" for r in rows):
        parts.append(w8_table(rows, markdown))
    for w in SERVER_WORKLOADS:
        if any(r["workload"] == w for r in rows):
            parts.append(server_table(rows, w, markdown))
    return "\n\n".join(parts)


def server_targets(rows, check):
    """W4 and W5 targets, one line per load point: coio on epoll decides met or missed;
    coio_uring's ratio is given beside it."""
    def val(w, impl, name, p):
        r = find(rows, w, impl, f"{name} {p}")
        return r["value"] if r else None

    def ratio(w, impl, name, p, peer, invert):
        """impl's value over peer's (invert: peer's over impl's); None when one is missing."""
        a, b = val(w, impl, name, p), val(w, peer, name, p)
        if not a or not b:
            return None
        return b / a if invert else a / b

    # (workload, metric, peer, invert, limit, at_most, text)
    spec = [
        ("W4", "cpu_us_per_req", "libuv", False, 0.9, True,
         "coio CPU/request ≤ 0.9× libuv's (coio ÷ libuv)"),
        ("W4", "cpu_us_per_req", "floor", False, 1.05, True,
         "coio CPU/request ≤ 1.05× the epoll floor's (coio ÷ floor)"),
        ("W4", "req_per_s", "libuv", False, 1.0, False,
         "coio requests/s ≥ libuv's (coio ÷ libuv)"),
        ("W4", "cpu_us_per_req", "uvloop", True, 1.2, False,
         "kernel-bound: coio ≥ 1.2× uvloop by CPU/request (uvloop ÷ coio)"),
        ("W4", "req_per_s", "uvloop", False, 1.2, False,
         "kernel-bound: coio ≥ 1.2× uvloop by requests/s (coio ÷ uvloop)"),
        ("W4", "cpu_us_per_req", "tokio", False, 1.0, True,
         "coio CPU/request ≤ Tokio's (coio ÷ tokio)"),
        ("W5", "cpu_us_per_req", "nginx", False, 1.0, True,
         "coio CPU/request ≤ nginx's (coio ÷ nginx)"),
        ("W5", "cpu_us_per_req", "tokio", False, 1.0, True,
         "coio CPU/request ≤ Tokio's (coio ÷ tokio)"),
        ("W5", "p99_us", "nginx", False, 1.0, True,
         "coio p99 latency ≤ nginx's (coio ÷ nginx)"),
        ("W5", "req_per_s", "nginx", False, 1.0, False,
         "coio requests/s ≥ nginx's (coio ÷ nginx)"),
        ("W5", "cpu_us_per_req", "uvloop", True, 1.2, False,
         "kernel-bound: coio ≥ 1.2× uvloop by CPU/request (uvloop ÷ coio)"),
        ("W5", "req_per_s", "uvloop", False, 1.2, False,
         "kernel-bound: coio ≥ 1.2× uvloop by requests/s (coio ÷ uvloop)"),
        ("W8e", "cpu_us_per_req", "nginx", False, 1.0, True,
         "1 MiB static file with sendfile: coio CPU/request ≤ nginx's (coio ÷ nginx)"),
        ("W10", "cpu_us_per_req", "nginx", False, 1.0, True,
         "W10a keep-alive: coio CPU/request ≤ nginx's (coio ÷ nginx)", "conn=keepalive"),
        ("W10", "req_per_s", "nginx", False, 0.95, False,
         "W10b a handshake per request: coio handshakes/s ≥ 0.95× nginx's (coio ÷ nginx)",
         "conn=new"),
    ]
    for w, name, peer, invert, limit, at_most, text, *only in spec:
        pts = [p for p in points(rows, w) if not only or only[0] in p] or ["(every point)"]
        for p in pts:
            r = ratio(w, "coio", name, p, peer, invert)
            u = ratio(w, "coio_uring", name, p, peer, invert)
            measured = f"{r:.3f}×" if r else "not measured"
            if u:
                measured += f" (coio_uring {u:.3f}×)"
            ok = None if r is None else (r <= limit if at_most else r >= limit)
            check(w, f"{text}, {p}", measured, ok, peer, f"{name} {p}")
    # W10 beside Tokio (tokio-rustls on one thread): the issue sets no target, so reported
    for name, conn, text in (
            ("cpu_us_per_req", "conn=keepalive",
             "W10a keep-alive: coio CPU/request ÷ Tokio's (tokio-rustls; no target)"),
            ("req_per_s", "conn=new",
             "W10b a handshake per request: coio handshakes/s ÷ Tokio's (tokio-rustls; no target)")):
        for p in [p for p in points(rows, "W10") if conn in p] or [f"c=100 {conn}"]:
            r = ratio("W10", "coio", name, p, "tokio", False)
            u = ratio("W10", "coio_uring", name, p, "tokio", False)
            if r:
                measured = f"{r:.3f}×" + (f" (coio_uring {u:.3f}×)" if u else "")
            elif not any(x["workload"] == "W10" and x["impl"] == "tokio" for x in rows):
                measured = "not measured: the Tokio peer is not available"
            else:
                measured = "not measured"
            check("W10", f"{text}, {p}", measured, "report" if r else None, "tokio", f"{name} {p}")
    # W8e beside nginx with `aio threads`, which like coio never lets a disk read stop its
    # event loop: reported, the target is plain nginx
    for p in points(rows, "W8e"):
        r = ratio("W8e", "coio", "cpu_us_per_req", p, "nginx_aio", False)
        u = ratio("W8e", "coio_uring", "cpu_us_per_req", p, "nginx_aio", False)
        if r:
            check("W8e", "1 MiB static file: coio CPU/request ÷ nginx's with `aio threads` "
                  f"(sends off its worker, like coio; no target), {p}",
                  f"{r:.3f}×" + (f" (coio_uring {u:.3f}×)" if u else ""), "report",
                  "nginx_aio", f"cpu_us_per_req {p}")


def targets(rows, sysrows):
    """[(workload, text, measured, met or None)] for every stated target."""
    t = []

    def val(w, impl, m):
        r = find(rows, w, impl, m)
        return r["value"] if r else None

    def check(w, text, measured, ok, peer=None, metric=None):
        """ok: True, False, None (not measured) or "cross": coio's row and the peer's come
        from different runs (a peer not rerun is kept), so the ratio decides nothing."""
        c, r = find(rows, w, "coio", metric), find(rows, w, peer, metric)
        if ok is not None and c and r and c.get("measured_at") != r.get("measured_at"):
            measured += (f" — not one run: coio {c.get('measured_at', '?')}, "
                         f"{peer} {r.get('measured_at', '?')}")
            ok = "cross"
        t.append((w, text, measured, ok))

    v = val("W1", "coio", "ns_per_switch")
    check("W1", "coio ≤ 8 ns per switch", f"{fmt(v)} ns" if v else "not measured",
          None if v is None else v <= 8)
    g = val("W1", "go", "ns_per_switch")
    check("W1", "coio ≥ 5× faster than Go (GOMAXPROCS=1, Gosched)",
          f"{g / v:.3f}×" if v and g else "not measured",
          None if not (v and g) else g / v >= 5, "go", "ns_per_switch")
    k = val("W1", "tokio", "ns_per_switch")
    others = [f"{name}: {x / v:.3g}×" for name, x in
              (("yield_now", val("W1", "tokio", "ns_per_switch_yield_now")),
               ("self-waking yield", val("W1", "tokio", "ns_per_switch_wake"))) if v and x]
    check("W1", "coio ≥ 5× faster than Tokio's fair switch (current_thread, a ping-pong over "
          "two tokio::sync::Notify)",
          (f"{k / v:.3f}×" + (f" ({', '.join(others)})" if others else ""))
          if v and k else "not measured",
          None if not (v and k) else k / v >= 5, "tokio", "ns_per_switch")
    for mode, floor in (("batched", 10e6), ("all", 1e6)):
        v = val("W2", "coio", f"{mode}_tasks_per_s")
        check("W2", f"coio ≥ {fmt(floor)} tasks/s {mode}",
              f"{fmt(v)} tasks/s" if v else "not measured", None if v is None else v >= floor)
        for peer, name in (("go", "Go"), ("tokio", "Tokio")):
            g = val("W2", peer, f"{mode}_tasks_per_s")
            check("W2", f"coio ≥ 2× {name}, {mode}",
                  f"{v / g:.3f}×" if v and g else "not measured",
                  None if not (v and g) else v / g >= 2, peer, f"{mode}_tasks_per_s")
    # Task-local values: spawning under 4 set values (a reference taken, none copied)
    # and a child's first set of its own (a copy) against spawning with none.
    v0 = val("W2", "coio", "vars0_ns_per_task")
    for m, bound in (("vars4_ns_per_task", 1.1), ("vars4_child_set_ns_per_task", 2.0)):
        v = val("W2", "coio", m)
        check("W2", f"coio {m.replace('_ns_per_task', '')} ≤ {bound}× vars0 (CPU ns per task)",
              f"{v / v0:.3f}×" if v and v0 else "not measured",
              None if not (v and v0) else v / v0 <= bound)
    for m, bound in (("var_get_ns", 10), ("var_set_ns", 25)):
        v = val("W2", "coio", m)
        check("W2", f"coio {m[:-3]} ≤ {bound} ns", f"{v:.1f} ns" if v else "not measured",
              None if v is None else v <= bound)
    for lb in ("n100k", "n1m"):
        v = val("W3", "coio", f"{lb}_rss_kib_per_task")
        check("W3", f"coio ≤ 4.5 KiB resident per sleeping task ({lb})",
              f"{v:.2f} KiB" if v is not None else "not measured",
              None if v is None else v <= 4.5)
        v = val("W3", "coio", f"{lb}_minflt_per_task")
        check("W3", f"coio ≤ 1.05 page faults per sleeping task ({lb})",
              f"{v:.3f}" if v is not None else "not measured",
              None if v is None else v <= 1.05)
    # "1 s plus the time of their page faults": a sleeper's fault is the first touch of
    # its stack's top page, priced by sys_costs touching pages laid out as stack tops are
    # (they also bring in a page table per ~7.5 stacks); the bound from the sequential
    # first-touch cost (one page table per 512 pages) is shown beside it.
    b = w3_bound(rows, sysrows, "n100k", 100000, "us_per_first_touch_stack_tops")
    bs = w3_bound(rows, sysrows, "n100k", 100000)
    v = val("W3", "coio", "n100k_wall_s")
    check("W3", "coio 100,000 sleepers: wall ≤ 1 s + 0.1 s + faults × first-touch cost of "
          "a stack top (both measured in the same run)"
          + (f" = {b:.3f} s" if b else "")
          + (f"; with the sequential first-touch cost: {bs:.3f} s" if bs else ""),
          f"{v:.3f} s" if v else "not measured", None if not (v and b) else v <= b)
    server_targets(rows, check)
    for w, metric, what in (("W6", "items_per_s", "items/s, mpsc channel of capacity 1"),
                            ("W7", "acquisitions_per_s",
                             "acquisitions/s, tokio::sync::Mutex held across a self-waking "
                             "yield")):
        v, k = val(w, "coio", metric), val(w, "tokio", metric)
        y = val(w, "tokio", metric + "_yield_now")
        check(w, f"coio ≥ 3× Tokio ({what})",
              (f"{v / k:.3f}×" + (f" (with yield_now: {v / y:.3g}×)" if y else ""))
              if v and k else "not measured",
              None if not (v and k) else v / k >= 3, "tokio", metric)
    w8_targets(rows, check)
    w9_targets(rows, check)
    return t


def w8_targets(rows, check):
    """W8: coio on epoll decides; coio_uring's ratio is given beside it. "The best fio
    engine" is the faster of fio's psync and io_uring rows in the same run."""
    def val(impl, metric):
        r = find(rows, "W8", impl, metric)
        return r["value"] if r else None

    def best_fio(metric):
        vs = [(val(e, metric), e) for e in ("fio-psync", "fio-io_uring")]
        vs = [x for x in vs if x[0]]
        return max(vs) if vs else (None, None)

    b = "W8b files_per_s_open_read_close"
    spec = [("W8a GB_per_s", "fio", 0.9, "W8a sequential 128 KiB reads: coio ≥ 0.9× the best "
             "fio engine (coio ÷ best fio)"),
            (b, "libuv", 2.0, "W8b 10,000 small files opened, read, closed: coio ≥ 2× libuv "
             "(coio ÷ libuv)"),
            (b, "tokio", 2.0, "W8b: coio ≥ 2× Tokio (coio ÷ tokio)"),
            (b, "go", 1.0, "W8b: coio ≥ Go (coio ÷ go)"),
            ("W8c iops", "fio", 0.9, "W8c random 4 KiB preads, 64 in flight: coio ≥ 0.9× the "
             "best fio engine (coio ÷ best fio)"),
            ("W8c iops", "libuv", 2.0, "W8c: coio ≥ 2× libuv (coio ÷ libuv)")]
    for metric, peer, limit, text in spec:
        if peer == "fio":
            p, peer = best_fio(metric)
            text += f", best: {peer}" if peer else ""
        else:
            p = val(peer, metric)
        c, u = val("coio", metric), val("coio_uring", metric)
        measured = f"{c / p:.3f}×" if c and p else "not measured"
        if u and p:
            measured += f" (coio_uring {u / p:.3f}×)"
        check("W8", text, measured, None if not (c and p) else c / p >= limit, peer, metric)
    d = "W8d files_per_s"
    for peer in ("libuv", "go"):  # storage bound: reported, no target
        c, u, p = val("coio", d), val("coio_uring", d), val(peer, d)
        measured = f"{c / p:.3f}×" if c and p else "not measured"
        if u and p:
            measured += f" (coio_uring {u / p:.3f}×)"
        t_ok = "report" if c and p else None
        check("W8", f"W8d 1,000 files of 64 KiB written and fsynced: ratio to {peer} "
              f"(coio ÷ {peer}; storage bound, no target)", measured, t_ok, peer, d)


def w9_targets(rows, check):
    """W9: coio on epoll decides, as in W4 and W5; coio_uring's ratio is given beside it."""
    def val(impl, metric):
        r = find(rows, "W9", impl, metric)
        return r["value"] if r else None

    small = "spawn_per_s"
    for peer, limit, text in (("floor", 0.95, "coio ≥ 0.95× the plain C loop of posix_spawn + "
                               "waitpid, 16 in flight (coio ÷ floor)"),
                              ("go", 1.0, "coio ≥ Go os/exec (coio ÷ go)"),
                              ("asyncio", 1.0, "coio ≥ asyncio create_subprocess_exec "
                               "(coio ÷ asyncio)")):
        c, u, p = val("coio", small), val("coio_uring", small), val(peer, small)
        measured = f"{c / p:.3f}×" if c and p else "not measured"
        if u and p:
            measured += f" (coio_uring {u / p:.3f}×)"
        check("W9", text, measured, None if not (c and p) else c / p >= limit,
              peer, small)
    bigs = sorted({r["metric"] for r in rows if r["workload"] == "W9"
                   and r["metric"].startswith(small + "_")}) or [small + "_2048mib"]
    for big in bigs:
        mib = big[len(small) + 1:-len("mib")]
        c, cb = val("coio", small), val("coio", big)
        u, ub = val("coio_uring", small), val("coio_uring", big)
        measured = f"{cb / c:.3f}×" if c and cb else "not measured"
        if u and ub:
            measured += f" (coio_uring {ub / u:.3f}×)"
        check("W9", f"coio from a parent holding {mib} MiB of touched memory ≥ 0.9× its own "
              "rate from a small parent (big ÷ small)", measured,
              None if not (c and cb) else cb / c >= 0.9)


def status(ok, markdown):
    if ok == "cross":
        return "not one run"
    if ok == "report":
        return "reported"
    if ok:
        return "met"
    if ok is False:
        return "**missed**" if markdown else "MISSED"
    return "not measured"


def w3_bound(rows, sysrows, lb, n, cost="us_per_first_touch"):
    f = find(rows, "W3", "coio", f"{lb}_minflt_per_task")
    tc = (f or {}).get("machine_costs", {}).get(cost)
    if tc is None:  # results written before machine costs were kept with them
        r = find(sysrows, "SYS", "machine", cost)
        tc = r["value"] if r else None
    if not f or tc is None:
        return None
    return 1.1 + f["value"] * n * tc * 1e-6


def sh(cmd, stderr=False):
    """cmd's stdout (stderr too when asked: nginx -v and wrk -v print there or fail)."""
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
        return (p.stdout + (p.stderr if stderr else "")).strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def version(cmd, pattern):
    m = re.search(pattern, sh(cmd, stderr=True))
    return m.group(1) if m else "not installed"


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
        ("Rust (Tokio peers: Debian's rustc and crates)", tokio_version()),
        ("Python (asyncio, uvloop peers)", sh(["/usr/bin/python3", "--version"])
         + (f", uvloop {uv}" if uv else ", no uvloop")),
        ("libuv (W4, W8, W9 peers)", sh(["pkg-config", "--modversion", "libuv"]) or "not installed"),
        ("xargs (W9 peer)", sh(["xargs", "--version"]).split("\n")[0] or "not installed"),
        ("Node.js", sh(["node", "--version"]) or "not installed"),
        ("nginx (W5, W8e, W10 peer)", version(["nginx", "-v"], r"nginx/(\S+)")),
        ("wrk (W5, W8e, W10 load generator)", version(["wrk", "-v"], r"wrk (\S+)")),
        ("fio (W8 peer)", sh(["fio", "--version"]) or "not installed"),
        ("OpenSSL (coio's TLS, W10)", sh(["openssl", "version"]) or "not installed"),
    ]


def tokio_version():
    """"rustc 1.63.0, Tokio 1.24.2": Debian's compiler and packaged Tokio, which the peers use."""
    rustc = sh(["/usr/bin/rustc", "--version"]).split(" (")[0]
    tokio = sorted(os.path.basename(d)[len("tokio-"):]
                   for d in glob.glob("/usr/share/cargo/registry/tokio-1.*"))
    if not rustc or not tokio:
        return "not installed"
    tls = sorted(os.path.basename(d)[len("tokio-rustls-"):]
                 for d in glob.glob("/usr/share/cargo/registry/tokio-rustls-*"))
    return f"{rustc}, Tokio {', '.join(tokio)}" + (f", tokio-rustls {', '.join(tls)}" if tls else "")


def gq(text):
    """text inside a single-quoted gnuplot string ('' is a quote there)."""
    return text.replace("'", "''")


def color(impl):
    return f" lc rgb '{COLORS[impl]}'" if impl in COLORS else ""


def gnuplot(w, script):
    try:
        subprocess.run(["gnuplot"], input=script, text=True, capture_output=True,
                       timeout=30, check=True)
    except (OSError, subprocess.SubprocessError) as e:
        print(f"gnuplot failed for {w}: {e}", file=sys.stderr)
        return False
    return True


def server_chart(root, w, rows):
    """docs/img/<w>.png for W4/W5: two panels of grouped bars, one group per load point,
    one bar per implementation (min-max error bars): the server's CPU time per request
    (the ranking) above, requests/s below. Returns the relative path or None."""
    rs = [r for r in rows if r["workload"] == w]
    pts = points(rs, w)
    if not pts or not shutil.which("gnuplot"):
        return None
    impls = [i for i in IMPL_ORDER if any(r["impl"] == i for r in rs)]
    img = os.path.join(root, "docs", "img")
    os.makedirs(img, exist_ok=True)
    png = os.path.join(img, f"{w.lower()}.png")
    dats, panels = [], []
    panel_specs = (("cpu_us_per_req", "server CPU µs per request (lower is better)", 1),
                   ("req_per_s", "thousand requests/s (higher is better)", 1e-3))
    for k, (name, label, scale) in enumerate(panel_specs):
        dat = os.path.join(img, f".{w.lower()}.{name}.dat")
        dats.append(dat)
        with open(dat, "w") as f:
            for p in pts:
                cells = [f'"{p}"']
                for i in impls:
                    r = find(rs, w, i, f"{name} {p}")
                    cells += ([f"{r['value'] * scale:g}", f"{r['min'] * scale:g}",
                               f"{r['max'] * scale:g}"] if r else ["-"] * 3)
                f.write("\t".join(cells) + "\n")
        plots = ", ".join(f"'{dat}' using {2 + 3 * j}:{3 + 3 * j}:{4 + 3 * j}"
                          f"{':xtic(1)' if j == 0 else ''} title '{i}'{color(i)}"
                          for j, i in enumerate(impls))
        key = "set key outside top center horizontal" if k == 0 else "unset key"
        panels.append(f"set title '{label}'\nset ylabel '{label.split(' (')[0]}'\n"
                      f"{key}\nplot {plots}\n")
    script = f"""set terminal pngcairo size 960,780 noenhanced
set output '{png}'
set datafile separator '\\t'
set datafile missing '-'
set style data histogram
set style histogram errorbars gap 2 lw 1
set style fill solid 0.8 border -1
set grid ytics
set yrange [0:*]
set xrange [-0.6:{len(pts) - 0.4}]
set multiplot layout 2,1 title '{gq(TITLES[w])} (median of the runs, min-max bars)'
{panels[0]}{panels[1]}unset multiplot
"""
    try:
        ok = gnuplot(w, script)
    finally:
        for d in dats:
            os.unlink(d)
    return f"img/{w.lower()}.png" if ok else None


def chart(root, w, rows):
    """docs/img/<w>.png: one cluster per metric of the workload's main unit, one bar per
    implementation, error bars from min to max. Returns the relative path or None."""
    if w in SERVER_WORKLOADS:
        return server_chart(root, w, rows)
    unit = {"W1": "ns", "W2": "tasks/s", "W3": "s", "W6": "ns", "W7": "ns", "W9": "proc/s",
            "W8": "rate, unit in each label"}[w]
    if w == "W8":  # the rates of every sub-workload, each cluster its own unit
        rs = [r for r in rows if r["workload"] == w and r["metric"] == w8_main(r["metric"])]
    else:
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
            if w == "W8":  # "W8b files/s read_all": short, the unit first
                sub, name = m.split(" ", 1)
                unit_m = next(r["unit"] for r in rs if r["metric"] == m)
                rest = re.sub(r"^(GB_per_s|files_per_s|iops)_?", "", name)
                cells = [" ".join(x for x in (sub, unit_m, rest) if x)]
            for i in impls:
                r = find(rs, w, i, m)
                cells += [str(r["value"]), str(r["min"]), str(r["max"])] if r else ["-"] * 3
            f.write("\t".join(f'"{c}"' if k == 0 else c for k, c in enumerate(cells)) + "\n")
    png = os.path.join(img, f"{w.lower()}.png")
    plots = ", ".join(f"'{dat}' using {2 + 3 * k}:{3 + 3 * k}:{4 + 3 * k}"
                      f"{':xtic(1)' if k == 0 else ''} title '{i}'{color(i)}"
                      for k, i in enumerate(impls))
    script = f"""set terminal pngcairo size {1000 if w == "W8" else 800},420 noenhanced
set output '{png}'
set datafile separator '\\t'
set datafile missing '-'
set title '{gq(TITLES[w])} (median, min-max bars; log scale)'
set ylabel '{unit}'
set logscale y
set style data histogram
set style histogram errorbars gap 2 lw 1
set style fill solid 0.8 border -1
set key {"outside right top" if w in ("W8", "W9") else "top left"}
{"set xtics rotate by -20" if w == "W8" else ""}
set grid ytics
set yrange [*:*]
plot {plots}
"""
    try:
        ok = gnuplot(w, script)
    finally:
        os.unlink(dat)
    return f"img/{w.lower()}.png" if ok else None


def commands_md(root, rows):
    seen, out = set(), []
    for r in rows:
        # relative to the repository root, also for rows measured in another checkout
        c = re.sub(r"(?<![\w.])/\S*?/(?=(?:build|bench|examples)/)", "",
                   (r.get("command") or "").replace(root + "/", ""))
        if c and c not in seen:
            seen.add(c)
            out.append(c)
    return "```sh\n" + "\n".join(out) + "\n```" if out else "(commands not recorded)"


def run_duration(out):
    """"12 min 3 s (estimated 11 min 40 s)" from <out>/duration, written by run.sh."""
    try:
        est, real = (int(x) for x in open(os.path.join(out, "duration")).read().split())
    except (OSError, ValueError):
        return None
    return f"{real // 60} min {real % 60} s (estimated {est // 60} min {est % 60} s)"


def write_doc(root, out, ran, all_rows, sysrows, fails, charts):
    sysv = {r["metric"]: r for r in sysrows}
    L = []
    L.append("# Benchmarks\n")
    L.append("<!-- Generated by bench/report.py from bench/results/*.json: run `make bench`"
             " (or `bench/run.sh [W1] ... [W10]`) instead of editing. -->\n")
    L.append("Benchmarks, not tests: they measure and report; a missed target fails nothing. "
             "Every point runs 3 times (`COIO_BENCH_REPS` changes it; the tables' runs column "
             "gives each point's count), bounded by a timeout; tables give the median and "
             "the min–max spread of those runs. W1–W3 and W6–W9 run pinned to CPU 0 with "
             "`taskset -c 0` (W9's children inherit it); W4, W5, W8e and W10 are a server pinned to "
             "CPU 0 and a load client pinned to CPU 1 (their drivers, `bench/w4_echo.sh`, "
             "`bench/w5_http.sh`, `bench/w8e_http.sh` and `bench/w10_https.sh`, pin both). "
             "Peers are measured in the same run as coio. Go runs with GOMAXPROCS=1 (one "
             "runtime thread, like one coio loop); Tokio on its `current_thread` runtime (one "
             "thread too), built in release mode by `bench/peers/tokio/build.sh` with Debian's "
             "cargo and rustc against its packaged crates (`apt-get install cargo rustc "
             "librust-tokio-dev`, offline; W10's Tokio peer, `bench/peers/tokio_tls`, "
             "also needs librust-tokio-rustls-dev and librust-rustls-pemfile-dev); the Python "
             "peers use Debian's "
             "`/usr/bin/python3` with `asyncio` and `uvloop` loops.\n")
    L.append("`coio ×better` is how many times better coio is on that row's metric "
             "(peer/coio for times, sizes and fault counts; coio/peer for rates): above 1 "
             "coio is better, below 1 the peer is.\n")
    L.append("## Machine\n")
    L.append("| | |\n|---|---|")
    for k, v in machine():
        L.append(f"| {k} | {v} |")
    L.append(f"| load average (1, 5, 15 min) during the last run (each workload's section "
             f"gives the run that measured it) | {loadavg(out)} |")
    dur = run_duration(out)
    if dur:
        L.append(f"| duration of the last run (`bench/run.sh {' '.join(ran)}`) | {dur} |")
    L.append("")
    L.append("Other processes on the machine share its 2 CPUs: a load average above ~0.5 "
             "means the numbers below were taken on a busy machine and are pessimistic.\n")
    L.append("Measured by `bench/sys_costs.c` in the same run (median, min–max):\n")
    for m, what in (("ns_per_syscall", "one `getppid()` syscall"),
                    ("us_per_first_touch", "first touch of an anonymous 4 KiB page "
                     "(64 MiB mapping, MADV_NOHUGEPAGE; one minor fault per page)"),
                    ("us_per_first_touch_stack_tops", "first touch of a page laid out as the "
                     "tops of default stacks are, one per 272 KiB (a page table per ~7.5 "
                     "pages); W3's wall bound uses this one"),
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
        L.append(f"| {w} | {text} | {measured} | {status(ok, True)} |")
    L.append("")
    for w in WORKLOADS:
        rows = [r for r in all_rows if r["workload"] == w]
        if not rows and w not in ("W1", "W2", "W3", "W4", "W5"):
            continue
        L.append(f"## {TITLES[w]}\n")
        if not rows:
            L.append("Not measured yet.\n")
            continue
        runs = sorted({(r.get("measured_at", "?"), r.get("run"), r.get("loadavg"))
                       for r in rows}, reverse=True)
        L.append("Measured " + "; ".join(
            f"{when}" + (f" by `{by}`" if by else "")
            + f" (load average, 1 5 15 min: {load or 'not recorded'})"
            for when, by, load in runs)
            + ". Commands, from the repository root (`make bench` builds them, then runs "
            "`bench/run.sh`):\n")
        L.append(commands_md(root, rows) + "\n")
        mc = rows[0].get("machine_costs") or {}
        if mc.get("ns_per_syscall") and mc.get("us_per_first_touch"):
            L.append(f"Machine costs measured in that run: {fmt(mc['ns_per_syscall'])} ns per "
                     f"syscall, {fmt(mc['us_per_first_touch'])} µs per first page touch.\n")
        old = [r for r in rows if earlier(rows, r)]
        if old:
            L.append(f"Rows marked{EARLIER} ({', '.join(sorted({r['impl'] for r in old}))}) "
                     "were not rerun by the run that measured coio here (the peer was not "
                     "installed then); they keep the date, command and load of their own run "
                     "(listed above), and their `coio ×better` compares two runs.\n")
        if w in SERVER_WORKLOADS:
            L.append("Per load point, ranked by the server's CPU time per request (lowest "
                     "first); `coio ×better` compares that CPU time (peer ÷ coio). Client CPU "
                     "near 100 % means the load client, not the server, set requests/s."
                     + (" W10's `conn=keepalive` point is W10a; `conn=new` is W10b, where "
                        "every request is a new TLS connection, so requests/s there are "
                        "handshakes/s and CPU per request is CPU per handshake."
                        if w == "W10" else "") + "\n")
        if w == "W8":
            L.append("Per sub-workload and metric: the rate (median of the runs), the CPU "
                     "time per operation of the whole process (user + system, every thread: "
                     "the worker pool's and io_uring's kernel workers' too) and its peak "
                     "thread count, sampled every 5 ms (coio only). `coio ×better` compares "
                     "the rate (coio ÷ peer).\n")
        L.append(any_table(rows, True) + "\n")
        if w == "W3":
            b = w3_bound(all_rows, sysrows, "n1m", 1000000, "us_per_first_touch_stack_tops")
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
        else:
            L.append("No chart: the run that measured these had no gnuplot (the image an "
                     "earlier run drew would show other numbers).\n")
    analysis = os.path.join(root, "bench", "analysis.md")
    if os.path.exists(analysis):
        L.append(open(analysis).read().rstrip() + "\n")
    L.append("## Notes\n")
    L.append("- W1: a switch is one `coio_yield` (Go: `runtime.Gosched`, Python: "
             "`await asyncio.sleep(0)`); each program first runs a short warm-up round. "
             "Python runs 200,000 switches instead of 5,000,000; the metric is per switch. "
             "Tokio is measured three ways, each two spawned tasks: `ns_per_switch`, the fair "
             "switch W1's target uses, is a ping-pong over two `tokio::sync::Notify` (each "
             "task notifies the other and awaits its own); `ns_per_switch_yield_now` loops on "
             "`tokio::task::yield_now`, which since Tokio 1.23 wakes the task only after the "
             "scheduler has polled the I/O driver (an `epoll_wait` per round of the two tasks; "
             "500,000 switches); `ns_per_switch_wake` loops on a yield that wakes itself and "
             "returns Pending once, the scheduler alone. The `coio ×better` of the last two "
             "compares them with coio's `ns_per_switch`.")
    L.append("- W2: each coio task is `int fn(void *) { return 0; }`; Go stores a result and "
             "calls `WaitGroup.Done`; Python awaits `gather` over `create_task`s of an empty "
             "coroutine, 200,000 tasks in total (rate per task); Tokio `tokio::spawn`s "
             "`async { 0 }` and awaits the JoinHandles in order. Batched and all-at-once run "
             "in separate processes so each peak RSS (`ru_maxrss`, whole process) is its own.")
    L.append("- W3: durations come from one fixed-seed xorshift64 (bench/bench_util.h, copied "
             "in the peers), so every implementation sleeps the same times. RSS per task is "
             "`ru_maxrss` after the gather minus `ru_maxrss` just before spawning, over N; "
             "faults per task likewise from `ru_minflt`. A Go goroutine that has finished "
             "before the last one is spawned gives back its stack, so Go's per-task numbers "
             "are not all-alive numbers when spawning takes longer than the sleeps. Tokio "
             "spawns a task per `tokio::time::sleep` (millisecond timer wheel) and awaits the "
             "JoinHandles. asyncio and uvloop are not run at 1,000,000.")
    L.append("- W4: `bench/w4_echo.sh IMPL C M` starts the server on CPU 0 and "
             "`bench/w4_echo_client.c` (plain epoll, no coio) on CPU 1: C connections, one "
             "M-byte message in flight on each, 1 s of warm-up then 5 s measured. Server CPU "
             "per request is its utime + stime (`/proc/PID/stat`, all threads) over the "
             "measured 5 s divided by the requests; client CPU is the client's own getrusage "
             "over the same window. coio is `bench/w4_echo_server.c` (a `coio_server`, "
             "`coio_recv`/`coio_send_all`) on the epoll backend, coio_uring the same binary on "
             "io_uring; floor is `bench/w4_echo_floor.c`, the least an epoll server can do; "
             "libuv is `bench/peers/libuv_echo.c` (try-write fast path); Go is one goroutine "
             "per connection looping Read/Write (GOMAXPROCS=1); Tokio a task per connection "
             "looping `read`/`write_all` on a 64 KiB buffer (`current_thread`); Node is `net` with each "
             "`data` chunk written back; asyncio and uvloop run one `BufferedProtocol` "
             "(`bench/peers/python/w4_echo.py`: with a plain `Protocol`, Python 3.11 "
             "allocates 256 KiB per `recv`, which glibc maps and unmaps each time, ~10× the "
             "CPU per request here; `w4_echo.py asyncio PORT plain` measures that form). "
             "Every server sets TCP_NODELAY.")
    L.append("- W5: `bench/w5_http.sh IMPL C` starts the server on CPU 0 and, on CPU 1, a "
             "1 s `wrk` warm-up run, then `wrk -t1 -cC -d5s --latency` (keep-alive `GET /`); "
             "req/s, p50 and p99 are wrk's. Server CPU per request counts the server process, "
             "its threads and its children (nginx: the idle master and the one worker) over "
             "the measured run; client CPU is wrk's own. coio is `examples/http_hello.c` "
             "(requests parsed with the stream API) on epoll, coio_uring on io_uring; nginx "
             "has one worker and access_log off; Go is net/http (GOMAXPROCS=1); Tokio a task "
             "per connection parsing requests by hand like the asyncio peer (no hyper: the "
             "peers build from librust-tokio-dev alone); Node its "
             "`http` module; uvloop and asyncio one asyncio Protocol "
             "(`bench/peers/python/w5_http.py`). A run where wrk reports socket errors or "
             "non-2xx answers records no value.")
    L.append("- W6: Go's channel is unbuffered; Tokio has no rendezvous channel, so its peer "
             "is `tokio::sync::mpsc::channel(1)` (asyncio.Queue(maxsize=1) is the same).")
    L.append("- W7: each acquisition holds the lock across one yield (Go: `runtime.Gosched`, "
             "Python: `await asyncio.sleep(0)`). Tokio's `tokio::sync::Mutex` is measured "
             "with the self-waking yield (W7's target: like `coio_yield` and Gosched it only "
             "requeues the task) and with `tokio::task::yield_now` (metrics ending "
             "`_yield_now`, 200,000 acquisitions), which polls the I/O driver once per "
             "acquisition since nothing else is runnable then.")
    L.append("- W9: each implementation runs `/bin/true` 2,000 times with 16 children alive "
             "at once, stdin, stdout and stderr inherited, and reports processes per second "
             "from the first spawn to the last exit; then again from a parent that first "
             "allocates 2 GiB and writes one byte into each of its 4 KiB pages (metric "
             "`spawn_per_s_2048mib`; the allocation is not timed). coio is "
             "`bench/w9_spawn.c coio` (16 tasks, each `coio_process_spawn` + "
             "`coio_process_wait` in a loop) on epoll, coio_uring the same on io_uring; floor "
             "is `bench/w9_spawn.c plain`, a C loop of `posix_spawn` + `waitpid(-1)` keeping 16 "
             "children alive, no event loop: the least this machine needs per process. xargs is "
             "`seq 2000 | xargs -P16 -n1 /bin/true` (`bench/w9_xargs.sh`; small parent only: "
             "xargs cannot hold a heap). Go runs 16 goroutines of `exec.Command(...).Run()` "
             "(GOMAXPROCS=1, ballast a touched `[]byte`); Tokio 16 local tasks of "
             "`tokio::process::Command::status()` (`current_thread`, ballast a touched "
             "`Vec<u8>`); asyncio and uvloop 16 tasks of `create_subprocess_exec` + `wait()` "
             "(ballast a touched `bytearray`); Node refills 16 `child_process.spawn`s from their "
             "`exit` events (ballast a filled `Buffer`); libuv is `bench/peers/libuv_spawn.c`, "
             "`uv_spawn` with the next child started from each close callback. uvloop, Node and "
             "libuv (Debian's 1.44) spawn with `fork()`, which copies the parent's page tables: "
             "from the 2 GiB parent they run 100 children instead of 2,000 (the rate is per "
             "process either way), or one run would take minutes.")
    L.append("- W8: `bench/w8_files.sh prepare` writes a 1 GiB file of random bytes and "
             "10,000 files of 4 KiB, then reads them once so that every run finds them in the "
             "page cache (a warm cache: the numbers are memory copies and system calls, not "
             "the disk). coio is `bench/w8_files.c` on epoll (file operations on the worker "
             "pool), coio_uring on io_uring (native file operations), coio_uring_pool on "
             "io_uring with `COIO_URING_FILES=0` (on the pool). W8a reads the 1 GiB file in "
             "128 KiB pieces, one at a time; W8b opens, reads and closes each small file, 64 "
             "tasks at once (`files_per_s_open_read_close`; `files_per_s_read_all` does the "
             "same with one `coio_file_read_all` per file); W8c makes 200,000 random 4 KiB "
             "preads of the big file, 64 in flight; W8d writes 1,000 files of 64 KiB, each "
             "`coio_file_write_all(..., COIO_FILE_SYNC)` (open, write, fsync, close), 64 in "
             "flight, on this machine's disk (storage bound). fio runs with `--invalidate=0` "
             "(else it drops the file's cache first): W8a `--rw=read --bs=128k` with the psync "
             "engine and with io_uring at `--iodepth=4`; W8c `--rw=randread --bs=4k "
             "--number_ios=200000`, psync and io_uring at `--iodepth=64`; W8d fio-psync is a "
             "`--rw=write --bs=64k --fsync=1` job of 1,000 writes into one file (IOPS, not "
             "files). dd is `dd bs=128k` to /dev/null. libuv is `bench/peers/libuv_files.c`, "
             "`uv_fs_*` requests on its thread pool (4 threads by default), 64 in flight; Go "
             "is `bench/peers/go/w8_files.go`, 64 goroutines of `os.File` calls (GOMAXPROCS=1; "
             "a blocking call holds an OS thread, the runtime starts more); Tokio is "
             "`bench/peers/tokio/src/bin/w8_files.rs`, 64 local tasks of `tokio::fs` calls "
             "(`current_thread`; tokio::fs runs each call on Tokio's blocking pool, and as it "
             "has no pread, W8c is `spawn_blocking(read_at)`, what tokio::fs does inside); "
             "Node is `bench/peers/node/w8_files.js`, 64 async loops of `fs.promises` "
             "FileHandle calls (on libuv's pool); asyncio is `bench/peers/python/w8_files.py`, "
             "64 tasks each awaiting one `asyncio.to_thread` per file (open, I/O and close in "
             "the one thread call) or per pread, W8c with 50,000 preads instead of 200,000 "
             "(the rate is per operation either way).")
    L.append("- W8e: `bench/w8e_http.sh IMPL OPEN` makes a 1 MiB file of random bytes once; "
             "before every point it drops the file from the page cache and reads it back, so "
             "that every point finds the same warm cache, shaped by readahead as when a server "
             "first reads a file from the disk (a file written 4 KiB at a time stays in 256 "
             "pages, and the kernel's per-page work, `cachestat` among it, costs about 3× "
             "more on it). It starts the server on CPU 0, fetches the file "
             "once with curl and compares it with `cmp` (a server sending other bytes records "
             "no value), then on CPU 1 a 1 s `wrk` warm-up and `wrk -t1 -c100 -d5s --latency` "
             "of `GET /file.bin` on keep-alive connections; CPU per request as in W5 (the "
             "server, its threads and children: the worker pool's threads, nginx's master "
             "and worker). coio is `bench/w8e_server.c` (headers with `coio_stream_write`, "
             "the body with `coio_stream_sendfile`) on epoll, coio_uring the same on "
             "io_uring; nginx has one worker, `sendfile on`, access_log off and its other "
             "defaults (tcp_nopush off: neither server corks the headers onto the file); "
             "its worker opens, stats and sends in place, so a disk read blocks every "
             "connection. nginx_aio is the same nginx with `aio threads` (reported, no "
             "target): it sends the file from its thread pool, so that a disk read does not "
             "stop its worker, as none stops coio's loop (its open and stat stay in the "
             "worker). "
             "`open=request`: all open the file, stat it and close it per request, nginx's "
             "default (coio: `coio_file_open` on the worker pool on epoll, native on "
             "io_uring, then `coio_file_statx` on the fd and `coio_file_close`, which run "
             "inline for a read-only file on a local file system: on io_uring, where the "
             "kernel opened it, the statx first asks the VFS for the file system's type, "
             "and the close is native); `open=cached`: the file "
             "stays open (`w8e_server --open-once`; nginx `open_file_cache`), so the send "
             "alone is measured. A range wholly in the page cache (checked with "
             "`cachestat`) is sent from coio's loop thread (docs/files.md).")
    L.append("- W10: `bench/w10_https.sh`: wrk -t1 -c100 over TLS 1.3 (to "
             "`https://localhost:PORT/`, as rustls 0.20 refuses an IP address as SNI) with one "
             "self-signed "
             "ECDSA P-256 certificate made for the run, a 1 s warm-up, then 5 s measured; the "
             "server's CPU time is its utime + stime (all threads and children) over the "
             "measured run. coio is `examples/http_hello --tls-cert --tls-key` on epoll, "
             "coio_uring the same on io_uring; nginx runs one worker with `ssl_protocols "
             "TLSv1.3` and its default session settings; Go is `bench/peers/go/w10_https.go` "
             "(net/http, crypto/tls, GOMAXPROCS=1); Node `bench/peers/node/w10_https.js` (the "
             "https module); Tokio `bench/peers/tokio_tls` (tokio-rustls 0.23 on rustls 0.20 "
             "and ring, `current_thread`, the W5 Tokio server's hand-written HTTP, stateless "
             "session tickets; a cargo project of its own, built by its `build.sh` from "
             "Debian's librust-tokio-rustls-dev and librust-rustls-pemfile-dev, and not "
             "available where they are missing). wrk does not resume sessions, so every "
             "connection of `conn=new` is a full handshake.")
    L.append("- Ratios in the W4, W5, W8, W8e, W9 and W10 targets are decided by coio on the epoll backend; "
             "coio_uring's ratio is given beside it.")
    L.append("")
    with open(os.path.join(root, "docs", "benchmarks.md"), "w") as f:
        f.write("\n".join(L))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--root", required=True)
    ap.add_argument("--doc-only", action="store_true",
                    help="measure nothing: regenerate docs/benchmarks.md from bench/results "
                    "(after an edit of bench/analysis.md, say)")
    ap.add_argument("workloads", nargs="*")
    a = ap.parse_args()
    res = os.path.join(a.root, "bench", "results")
    os.makedirs(res, exist_ok=True)
    ran = [] if a.doc_only else (a.workloads or WORKLOADS)

    sysrows, _ = ([], []) if a.doc_only else load_raw(a.out, "SYS")
    for r in sysrows:
        r["loadavg"], r["run"] = loadavg(a.out), "bench/run.sh " + " ".join(ran)
    if sysrows:
        with open(os.path.join(res, "SYS.json"), "w") as f:
            json.dump(sysrows, f, indent=1)
    else:
        try:
            sysrows = json.load(open(os.path.join(res, "SYS.json")))
        except (OSError, ValueError):
            sysrows = []

    costs = {r["metric"]: r["value"] for r in sysrows}
    # Kept with each row, so that a workload not rerun keeps the load and the command of
    # the run that measured it when docs/benchmarks.md is regenerated.
    run_load = loadavg(a.out)
    run_cmd = "bench/run.sh " + " ".join(ran)
    all_rows, fails = [], []
    for w in WORKLOADS:
        if w in ran:
            rows, fl = load_raw(a.out, w)
            for r in rows:  # the machine costs of the run each row was measured in
                r["machine_costs"] = costs
                r["loadavg"] = run_load
                r["run"] = run_cmd
            fails += fl
            # A peer this run did not try (not installed here, say) keeps its earlier rows,
            # with the date, load and command of the run that measured them: rerunning a
            # workload must not drop them, nor pass them off as measured now.
            tried = attempted(a.out, w) | {r["impl"] for r in rows} | {x["impl"] for x in fl}
            try:
                prev = json.load(open(os.path.join(res, f"{w}.json")))
            except (OSError, ValueError):
                prev = []
            kept = [r for r in prev if r["impl"] not in tried]
            if kept:
                print(f"{w}: kept the earlier results of "
                      f"{', '.join(sorted({r['impl'] for r in kept}))} (not run this time)")
            rows = sort_rows(rows + kept)
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
    print(any_table(shown, False))
    print()
    for w, text, measured, ok in targets(all_rows, sysrows):
        if w in ran:
            print(f"  {w}  {status(ok, False):14} {text}: {measured}")
    for f in fails:
        print(f"  no value (×{f['count']}): {f['workload']} {f['impl']}: {f['command']}: "
              f"{f['why']}")

    # A workload not rerun keeps its chart only if the current document shows it: a run
    # without gnuplot leaves the image of an older run behind, which no longer matches.
    try:
        shown_charts = set(re.findall(r"\]\((img/w\d+e?\.png)\)",
                                      open(os.path.join(a.root, "docs", "benchmarks.md")).read()))
    except OSError:
        shown_charts = set()
    charts = {}
    for w in WORKLOADS:
        p = os.path.join(a.root, "docs", "img", f"{w.lower()}.png")
        if w in ran:  # redrawn, or none
            charts[w] = (chart(a.root, w, all_rows)
                         if os.environ.get("COIO_BENCH_GNUPLOT", "1") == "1" else None)
        elif os.path.exists(p) and f"img/{w.lower()}.png" in shown_charts:
            charts[w] = f"img/{w.lower()}.png"
    last = (sysrows[0].get("run", "").split()[1:] if sysrows else []) if a.doc_only else ran
    write_doc(a.root, a.out, last, all_rows, sysrows, fails, charts)
    print("\nwrote bench/results/*.json and docs/benchmarks.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
