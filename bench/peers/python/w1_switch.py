"""W1 switch peer: two tasks hand control to each other with `await asyncio.sleep(0)`.
A switch is one sleep(0). Usage: w1_switch.py asyncio|uvloop [switches=200000]."""
import asyncio
import sys
import time

from common import emit, run


async def pinger(n):
    for _ in range(n):
        await asyncio.sleep(0)


async def round_of(switches):
    per = switches // 2
    t0 = time.perf_counter_ns()
    await asyncio.gather(pinger(per), pinger(per))
    return time.perf_counter_ns() - t0, per * 2


async def main(switches):
    await round_of(2000)  # warm-up
    return await round_of(switches)


if __name__ == "__main__":
    loop = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 200000
    ns, sw = run(main(n), loop)
    emit("W1", loop, "ns_per_switch", ns / sw, "ns", sw)
