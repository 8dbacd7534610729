"""Time routing one call against rendering the same document, and how size affects it.

Usage: ``python bench/bench_routing.py [--quick]``

In one process, the timings interleaved round-robin (best repeat; see ``_timing.py``):
``router.handle(request)`` + ``render`` against ``render`` of the document it returns, for
calls that end in a menu (business hours, then an IVR Gather with a signed callback), in an
AI load balancer (a signed follow-through action) and directly in an AI assistant; the same
call with 10 and with 100,000 DIDs configured; and loading a 10,000-DID configuration.
Prints ratios against the targets (docs/performance.md).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from collections.abc import Callable
from typing import Any

import yaml
from _timing import REPEAT, interleaved

from cxml import CallRequest, render
from flows.routing import EXAMPLE_PBX, Router, load_pbx

NOW = dt.datetime(2026, 11, 23, 15, 0, tzinfo=dt.UTC)  # a Monday, 10:00 in New York


def _config(dids: int) -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load(EXAMPLE_PBX.read_text())
    for i in range(dids):
        config["dids"][f"+1646{i:07d}"] = {"destination": "ai_assistant/support"}
    return config


def _request(to: str) -> CallRequest:
    body = {"CallSid": "CA1", "From": "+12125551234", "To": to, "Direction": "inbound"}
    return CallRequest.from_payload(body)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="fewer loops, rough figures")
    loops = 1_000 if parser.parse_args(argv).quick else 20_000

    small = Router(load_pbx(_config(10)), base_url="https://pbx.example.com/voice",
                   secret="bench-secret-0123456789", clock=lambda: NOW)  # fmt: skip
    calls = (
        ("menu (business hours + IVR, signed)", "+14155550100"),
        ("AI load balancer (signed follow-through)", "+14155550199"),
        ("AI assistant (no callback)", "+16460000003"),
    )
    funcs: list[Callable[[], object]] = []
    for _, to in calls:
        request = _request(to)
        doc = small.handle(request)
        funcs.append(lambda r=request: render(small.handle(r)))  # type: ignore[misc]
        funcs.append(lambda d=doc: render(d))  # type: ignore[misc]
    times = interleaved(funcs, loops)
    rows = [(label, times[2 * i], times[2 * i + 1]) for i, (label, _) in enumerate(calls)]

    print(f"timeit: {REPEAT} repeats (round-robin) x {loops:,} loops; best (median)\n")
    print("| call | handle + render µs | render alone µs | ratio | ratio of medians | target |")
    print("|---|---:|---:|---:|---:|---|")
    for label, routed, alone in rows:
        print(
            f"| {label} | {routed.best * 1e6:.2f} ({routed.median * 1e6:.2f}) "
            f"| {alone.best * 1e6:.2f} ({alone.median * 1e6:.2f}) "
            f"| {routed.best / alone.best:.2f}x | {routed.median / alone.median:.2f}x | <= 3x |"
        )

    start = time.perf_counter()
    big_pbx = load_pbx(_config(100_000))
    big_load = time.perf_counter() - start
    big = Router(big_pbx, base_url="https://pbx.example.com/voice",
                 secret="bench-secret-0123456789", clock=lambda: NOW)  # fmt: skip
    request = _request("+16460000003")
    with_10, with_100k = (
        t.best
        for t in interleaved(
            [lambda: render(small.handle(request)), lambda: render(big.handle(request))], loops
        )
    )
    print(f"\n10 DIDs: {with_10 * 1e6:.2f} µs; 100,000 DIDs: {with_100k * 1e6:.2f} µs; "
          f"ratio {with_100k / with_10:.2f}x (target <= 1.3x)")  # fmt: skip

    config = _config(10_000)
    loads = []
    for _ in range(3):
        start = time.perf_counter()
        load_pbx(config)
        loads.append(time.perf_counter() - start)
    print(f"loading 10,000 DIDs: {min(loads):.3f} s (target < 1 s); "
          f"100,000 DIDs: {big_load:.2f} s")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
