"""Timing device work correctly: warm-up, synchronisation or events, median of repeats.

Accelerators run kernels asynchronously, so a host clock read right after a
launch measures the launch, not the kernel. Every timed run here is bracketed
by device events where the runtime has them (recorded on the stream, read
after a synchronise) and otherwise by a synchronise before and after a host
clock read. The first calls pay for allocation, autotuning and caches, so they
are run and thrown away. The median of the repeats resists outliers (a
background task, a clock change).
"""

from __future__ import annotations

import statistics
import time
from typing import Callable

from .device import Backend


def _run_seconds(fn: Callable[[], object], backend: Backend, use_events: bool) -> float:
    """Seconds of one call of ``fn`` on the device."""
    event = backend.event_class() if use_events else None
    if event is not None:
        start, end = event(enable_timing=True), event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        return start.elapsed_time(end) / 1e3  # elapsed_time is in milliseconds
    backend.synchronize()
    t0 = time.perf_counter()
    fn()
    backend.synchronize()
    return time.perf_counter() - t0


def median_seconds(fn: Callable[[], object], backend: Backend, *, warmup: int = 2, repeats: int = 5,
                   budget_s: float | None = None, use_events: bool = True) -> float:
    """Median seconds of ``fn`` over ``repeats`` timed calls after ``warmup`` untimed ones.

    With ``budget_s``, a slow ``fn`` gets fewer warm-ups and repeats (at least one of
    each) so that the whole measurement stays near the budget.
    """
    first_s = _run_seconds(fn, backend, use_events=False)  # also the first warm-up
    if budget_s is not None:
        per_call = max(first_s, 1e-9)
        repeats = max(1, min(repeats, int(budget_s / per_call)))
        warmup = max(1, min(warmup, int(budget_s / per_call) - repeats))
    for _ in range(warmup - 1):
        fn()
    samples = [_run_seconds(fn, backend, use_events) for _ in range(repeats)]
    return statistics.median(samples)


def loop_seconds(fn: Callable[[], object], backend: Backend, *, target_s: float = 0.02, repeats: int = 3) -> float:
    """Median seconds of one call of ``fn`` with calls queued back to back: the device times a loop of n calls
    (n set so a loop takes about ``target_s``, at most 200), so launch gaps hide wherever the device is the
    bottleneck."""
    fn()  # warm-up
    one_s = max(_run_seconds(fn, backend, use_events=False), 1e-7)
    calls = int(min(200, max(1, target_s / one_s)))

    def loop() -> None:
        for _ in range(calls):
            fn()

    return statistics.median(_run_seconds(loop, backend, use_events=True) for _ in range(repeats)) / calls


def launch_overhead_seconds(backend: Backend, calls: int = 200) -> float:
    """Host cost of one small kernel launch when launches are queued back to back, seconds.

    Runs ``calls`` tiny element-wise ops between two synchronisations; the device
    work is negligible, so the time per call is the launch gap eager frameworks pay.
    """
    torch = backend.torch
    x = torch.rand(16, device=backend.device)

    def burst() -> None:
        for _ in range(calls):
            x.mul_(1.0)

    return median_seconds(burst, backend, warmup=2, repeats=5, use_events=False) / calls
