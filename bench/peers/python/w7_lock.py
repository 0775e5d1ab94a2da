"""W7 lock peer: `tasks` tasks (default 100) make `acquisitions` acquisitions of one
asyncio.Lock in total, each holding it across `await asyncio.sleep(0)`.
Usage: w7_lock.py asyncio|uvloop [acquisitions=100000] [tasks=100]."""
import asyncio
import sys
import time

from common import emit, run


async def round_of(acquisitions, tasks):
    lock = asyncio.Lock()
    per = acquisitions // tasks
    done = 0

    async def worker():
        nonlocal done
        for _ in range(per):
            async with lock:
                done += 1
                await asyncio.sleep(0)

    t0 = time.perf_counter_ns()
    await asyncio.gather(*(worker() for _ in range(tasks)))
    return time.perf_counter_ns() - t0, done


async def main(acquisitions, tasks):
    await round_of(2000, tasks)  # warm-up
    return await round_of(acquisitions, tasks)


if __name__ == "__main__":
    loop = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 100000
    tasks = int(sys.argv[3]) if len(sys.argv) > 3 else 100
    ns, done = run(main(n, tasks), loop)
    emit("W7", loop, "acquisitions_per_s", done * 1e9 / ns, "acq/s", done)
    emit("W7", loop, "ns_per_acquisition", ns / done, "ns", done)
