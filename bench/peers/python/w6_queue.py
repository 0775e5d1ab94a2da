"""W6 queue peer: a producer task puts `items` integers into asyncio.Queue(maxsize=1) and
a consumer task gets them. Usage: w6_queue.py asyncio|uvloop [items=200000]."""
import asyncio
import sys
import time

from common import emit, run


async def round_of(items):
    q = asyncio.Queue(maxsize=1)

    async def producer():
        for i in range(1, items + 1):
            await q.put(i)

    async def consumer():
        s = 0
        for _ in range(items):
            s += await q.get()
        return s

    t0 = time.perf_counter_ns()
    _, s = await asyncio.gather(producer(), consumer())
    ns = time.perf_counter_ns() - t0
    assert s == items * (items + 1) // 2
    return ns


async def main(items):
    await round_of(2000)  # warm-up
    return await round_of(items)


if __name__ == "__main__":
    loop = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 200000
    ns = run(main(n), loop)
    emit("W6", loop, "items_per_s", n * 1e9 / ns, "items/s", n)
    emit("W6", loop, "ns_per_item", ns / n, "ns", n)
