"""W8 files peer: asyncio.to_thread around os calls (the default executor's threads;
asyncio has no file I/O of its own), 64 tasks, as bench/w8_files.c does with coio:
  w8_files.py asyncio b DIR [N=10000]     DIR/b/fNNNNN: open, read (8 KiB), close -> files/s
  w8_files.py asyncio c DIR [OPS=200000]  random 4 KiB os.pread of DIR/w8.dat -> IOPS
  w8_files.py asyncio d DIR [N=1000]      DIR/d/fNNNNN: open, write 64 KiB, fsync, close -> files/s
Each file of b and d is one to_thread call doing its open, I/O and close (one thread hop
per file, the least a thread-pool design needs). Prints one JSON line in w8_files.c's
schema (cpu_us_per_op)."""
import asyncio
import json
import os
import sys
import time


def read_small(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        return len(os.read(fd, 8192))
    finally:
        os.close(fd)


def write_sync(path, data):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


async def main(mode, d, n):
    nxt = 0
    big = blocks = None
    if mode == "c":
        big = os.open(f"{d}/w8.dat", os.O_RDONLY)
        blocks = os.fstat(big).st_size // 4096
    elif mode == "d":
        os.makedirs(f"{d}/d", exist_ok=True)
    data = b"\x01" * 65536
    mask = (1 << 64) - 1

    async def worker(k):
        nonlocal nxt
        rng = 0x9E3779B97F4A7C15 + k
        while nxt < n:
            i = nxt
            nxt += 1
            if mode == "b":
                await asyncio.to_thread(read_small, f"{d}/b/f{i:05d}")
            elif mode == "c":
                rng ^= (rng << 13) & mask
                rng ^= rng >> 7
                rng ^= (rng << 17) & mask
                b = await asyncio.to_thread(os.pread, big, 4096, (rng % blocks) * 4096)
                if len(b) != 4096:
                    sys.exit("w8_files.py: short pread")
            else:
                await asyncio.to_thread(write_sync, f"{d}/d/f{i:05d}", data)

    c0, t0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*[worker(k) for k in range(64)])
    s, cpu = time.perf_counter() - t0, time.process_time() - c0
    w, m, u = {"b": ("W8b", "files_per_s_open_read_close", "files/s"),
               "c": ("W8c", "iops", "ops/s"), "d": ("W8d", "files_per_s", "files/s")}[mode]
    print(json.dumps({"workload": w, "impl": "asyncio", "metric": m, "value": round(n / s, 1),
                      "unit": u, "n": n, "cpu_us_per_op": round(cpu * 1e6 / n, 3)}))


if __name__ == "__main__":
    if len(sys.argv) < 4 or sys.argv[1] != "asyncio" or sys.argv[2] not in ("b", "c", "d"):
        sys.exit("usage: w8_files.py asyncio b|c|d DIR [N]")
    mode = sys.argv[2]
    n = int(sys.argv[4]) if len(sys.argv) > 4 else {"b": 10000, "c": 200000, "d": 1000}[mode]
    asyncio.run(main(mode, sys.argv[3], n))
