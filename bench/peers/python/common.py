"""Shared by the Python peers: loop selection, JSON output, the W3 sleep distribution."""
import asyncio
import json
import sys

MASK = (1 << 64) - 1


def durations(n):
    """n values in [0, 1) from the fixed-seed xorshift64 of bench/bench_util.h."""
    s = 0x9E3779B97F4A7C15
    out = []
    for _ in range(n):
        s ^= (s << 13) & MASK
        s ^= s >> 7
        s ^= (s << 17) & MASK
        out.append((s >> 11) * (1.0 / 9007199254740992.0))
    return out


def run(coro, loop_name):
    """Runs coro on a fresh asyncio or uvloop event loop."""
    if loop_name == "uvloop":
        import uvloop
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    elif loop_name != "asyncio":
        sys.exit(f"unknown loop {loop_name!r} (asyncio or uvloop)")
    return asyncio.run(coro)


def emit(workload, impl, metric, value, unit, n):
    print(json.dumps({"workload": workload, "impl": impl, "metric": metric,
                      "value": float(f"{value:.6g}"), "unit": unit, "n": n}), flush=True)


def label(n):
    if n % 1000000 == 0:
        return f"n{n // 1000000}m"
    if n % 1000 == 0:
        return f"n{n // 1000}k"
    return f"n{n}"
