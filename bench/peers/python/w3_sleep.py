"""W3 sleepers peer: n tasks each sleeping a [0, 1) s duration from the shared fixed-seed
xorshift64, gathered. Usage: w3_sleep.py asyncio|uvloop [n=100000]."""
import asyncio
import resource
import sys
import time

from common import durations, emit, label, run


async def main(dur):
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter_ns()
    await asyncio.gather(*[asyncio.create_task(asyncio.sleep(d)) for d in dur])
    ns = time.perf_counter_ns() - t0
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    return ns, ru1.ru_maxrss - ru0.ru_maxrss, ru1.ru_minflt - ru0.ru_minflt


if __name__ == "__main__":
    loop = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 100000
    ns, drss, dflt = run(main(durations(n)), loop)
    lb = label(n)
    emit("W3", loop, f"{lb}_wall_s", ns / 1e9, "s", n)
    emit("W3", loop, f"{lb}_rss_kib_per_task", drss / n, "KiB", n)
    emit("W3", loop, f"{lb}_minflt_per_task", dflt / n, "faults", n)
