"""W9 spawn peer: /bin/true run `total` times with `inflight` children at once through
asyncio.create_subprocess_exec (`inflight` tasks, each spawning and awaiting wait() in a
loop), stdin, stdout and stderr inherited as in the other implementations. `parent_mib`
> 0 first allocates a bytearray of that many MiB and touches each page, so the parent
spawns with that much resident memory.
Usage: w9_spawn.py asyncio|uvloop [total=2000] [inflight=16] [parent_mib=0]."""
import asyncio
import sys
import time

from common import emit, run


async def main(total, inflight):
    started = 0
    failed = []

    async def worker():
        nonlocal started
        while started < total:
            started += 1
            p = await asyncio.create_subprocess_exec("/bin/true")
            if await p.wait() != 0:
                failed.append(p.returncode)

    t0 = time.perf_counter_ns()
    await asyncio.gather(*[worker() for _ in range(inflight)])
    ns = time.perf_counter_ns() - t0
    if failed:
        sys.exit(f"w9_spawn.py: /bin/true exited {failed[0]}")
    return ns


if __name__ == "__main__":
    loop = sys.argv[1]
    total = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
    inflight = int(sys.argv[3]) if len(sys.argv) > 3 else 16
    mib = int(sys.argv[4]) if len(sys.argv) > 4 else 0
    ballast = bytearray(mib << 20)  # zero pages: calloc'd, not yet resident
    if mib:
        ballast[::4096] = b"\1" * len(range(0, mib << 20, 4096))  # one store per page
    ns = run(main(total, inflight), loop)
    metric = f"spawn_per_s_{mib}mib" if mib else "spawn_per_s"
    emit("W9", loop, metric, total / (ns / 1e9), "proc/s", total)
