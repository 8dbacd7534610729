"""How every benchmark here times its workloads: repeats interleaved, best and median kept.

Each workload is warmed up, then the repeats go round-robin across all of them, so a passing
slowdown of a shared machine costs each workload one sample rather than one workload all of
its samples, and ratios compare times taken side by side. As in `timeit`, the garbage
collector is off while timing.

The figure a target is judged on is the best repeat. On a machine shared with other jobs a
slower repeat measures the neighbours, not the code; `timeit`'s documentation says the same
("the min() of the result is probably the only number you should be interested in"). The
median is printed beside it, so a reader sees how much the machine moved.
"""

from __future__ import annotations

import statistics
import timeit
from collections.abc import Callable, Sequence
from dataclasses import dataclass

REPEAT = 7


@dataclass(frozen=True)
class Timing:
    """Seconds per call: the best repeat, and the median one."""

    best: float
    median: float


def interleaved(
    funcs: Sequence[Callable[[], object]], loops: int, repeat: int = REPEAT
) -> list[Timing]:
    """Time each of ``funcs`` over ``repeat`` round-robin rounds of ``loops`` calls."""
    timers = [timeit.Timer(func) for func in funcs]
    for timer in timers:
        timer.timeit(number=max(loops // 10, 10))
    samples: list[list[float]] = [[] for _ in funcs]
    for _ in range(repeat):
        for timer, times in zip(timers, samples, strict=True):
            times.append(timer.timeit(number=loops) / loops)
    return [Timing(min(times), statistics.median(times)) for times in samples]
