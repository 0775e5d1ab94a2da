#!/usr/bin/env python3
"""Summarises a coio execution trace (COIO_TRACE=path, or coio_trace_start).

Usage: tools/coio-trace-summary.py TRACE.json [--top N] [--hog-ms MS]

Prints four sections:
  top waits            what tasks waited on (sleep, read fd, lock, queue, to_thread...),
                       by total time waited, with the count, mean and longest wait
  longest run slices   the longest times a task ran without suspending
  never yielded        tasks that ran once, start to finish, in a slice of at least
                       --hog-ms (default 1 ms): they held the loop for all that time
  failed tasks         tasks that finished with an error (not -ECANCELED)

Only the Python standard library is used.
"""
import argparse
import collections
import json
import sys


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("trace")
    ap.add_argument("--top", type=int, default=10, help="rows per section (10)")
    ap.add_argument("--hog-ms", type=float, default=1.0,
                    help="shortest slice that counts as never yielding (1 ms)")
    args = ap.parse_args()
    with open(args.trace) as f:
        data = json.load(f)
    events = data["traceEvents"] if isinstance(data, dict) else data

    names = {}
    slices = collections.defaultdict(list)  # tid -> [(ts, dur, end)]
    waits = collections.defaultdict(list)   # what -> [dur]
    finished = {}                           # tid -> result
    failed = []
    for e in events:
        ph, tid = e.get("ph"), e.get("tid", 0)
        cat, a = e.get("cat"), e.get("args", {})
        if ph == "M" and e.get("name") == "thread_name":
            names[tid] = a.get("name", str(tid))
        elif ph == "X" and cat == "run":
            slices[tid].append((e["ts"], e["dur"], a.get("end", "")))
        elif ph == "X" and cat == "wait":
            waits[a.get("what", "?")].append(e["dur"])
        elif ph == "i" and e.get("name") == "finish":
            finished[tid] = a.get("result", 0)
        elif ph == "i" and cat == "failed":
            failed.append((e["ts"], tid, a.get("name", ""), a.get("error", "?"),
                           a.get("result", 0)))

    def who(tid):
        return names.get(tid, "task #%d" % tid)

    other = data.get("otherData", {}) if isinstance(data, dict) else {}
    if other.get("overwritten"):
        print("note: the ring wrapped; the oldest %d of %d events are gone\n"
              % (other["overwritten"], other["events"]))

    print("top waits (by total time)")
    print("  %-26s %8s %12s %10s %10s" % ("waiting on", "count", "total ms", "mean us", "max us"))
    rows = sorted(waits.items(), key=lambda kv: -sum(kv[1]))[:args.top]
    for what, durs in rows:
        print("  %-26s %8d %12.3f %10.1f %10.1f" % (what, len(durs), sum(durs) / 1e3,
                                                     sum(durs) / len(durs), max(durs)))
    if not rows:
        print("  (none)")

    print("\nlongest run slices")
    print("  %-30s %12s %12s  %s" % ("task", "ms", "at ms", "ended by"))
    allslices = [(dur, ts, tid, end) for tid, ss in slices.items() for ts, dur, end in ss]
    allslices.sort(reverse=True)
    for dur, ts, tid, end in allslices[:args.top]:
        print("  %-30s %12.3f %12.3f  %s" % (who(tid), dur / 1e3, ts / 1e3, end))
    if not allslices:
        print("  (none)")

    print("\nnever yielded (one slice, start to finish, >= %g ms)" % args.hog_ms)
    hogs = []
    for tid, ss in slices.items():
        if len(ss) == 1 and ss[0][2] == "finish" and tid in finished \
                and ss[0][1] >= args.hog_ms * 1e3:
            hogs.append((ss[0][1], tid))
    hogs.sort(reverse=True)
    for dur, tid in hogs[:args.top]:
        print("  %-30s %12.3f ms" % (who(tid), dur / 1e3))
    if not hogs:
        print("  (none)")

    print("\nfailed tasks")
    for ts, tid, name, err, res in sorted(failed):
        print("  %-30s %-14s %6d  at %.3f ms" % (who(tid), err, res, ts / 1e3))
    if not failed:
        print("  (none)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
