"""W2 spawn peer: empty tasks made with create_task and awaited with gather, in batches
(or all at once). Usage: w2_spawn.py asyncio|uvloop batched|all [total=200000] [batch=10000]."""
import asyncio
import resource
import sys
import time

from common import emit, run


async def empty():
    return 0


async def spawn_gather(n):
    await asyncio.gather(*[asyncio.create_task(empty()) for _ in range(n)])


async def main(mode, total, batch):
    chunk = total if mode == "all" else batch
    await spawn_gather(min(chunk, 1000))  # warm-up
    t0 = time.perf_counter_ns()
    for _ in range(0, total, chunk):
        await spawn_gather(chunk)
    return time.perf_counter_ns() - t0


if __name__ == "__main__":
    loop, mode = sys.argv[1], sys.argv[2]
    total = int(sys.argv[3]) if len(sys.argv) > 3 else 200000
    batch = int(sys.argv[4]) if len(sys.argv) > 4 else 10000
    ns = run(main(mode, total, batch), loop)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    emit("W2", loop, f"{mode}_tasks_per_s", total / (ns / 1e9), "tasks/s", total)
    emit("W2", loop, f"{mode}_peak_rss_mib", rss / 1024, "MiB", total)
