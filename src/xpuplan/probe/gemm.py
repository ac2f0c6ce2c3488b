"""GEMM throughput over shapes and dtypes, and the size-to-efficiency fit.

A GEMM (m x k) @ (k x n) does ``2 m n k`` FLOPs. The sweep covers square and
rectangular shapes (the skinny ones are what small micro-batches and tensor
parallelism produce) from small to large. The best FLOP/s over the sweep is the
measured peak; the rows are fitted to the cost model's curve

    eff(f) = gemm_max * f / (f + gemm_half_flops),   eff = (FLOP/s) / peak,

so that small GEMMs are priced as slowly as this device runs them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..catalog.kernels import fit_efficiency_curve
from .device import Backend
from .timing import median_seconds

__all__ = ["DTYPES", "GemmRow", "fit_efficiency_curve", "fit_rows", "gemm_call", "gemm_shapes", "measure_gemms",
           "peak_flops_per_s"]

DTYPES = ("bf16", "fp16", "fp8")


@dataclass(frozen=True, kw_only=True, slots=True)
class GemmRow:
    """One timed GEMM."""

    dtype: str
    m: int
    n: int
    k: int
    flops: float
    """FLOPs of one call, 2 m n k"""
    seconds: float
    """median seconds of one call"""

    @property
    def flops_per_s(self) -> float:
        return self.flops / self.seconds


def gemm_shapes(quick: bool, accelerator: bool) -> list[tuple[int, int, int]]:
    """(m, n, k) shapes, smallest first: squares plus skinny and wide rectangles."""
    if quick:
        top = 2048 if accelerator else 512
    else:
        top = 16384 if accelerator else 2048
    sizes = [s for s in (128, 256, 512, 1024, 2048, 4096, 8192, 16384) if s <= top]
    shapes = {(s, s, s) for s in sizes}
    for s in sizes[1:]:
        shapes |= {(s // 4, s, s), (s, s // 4, s), (s, s, s // 4)}  # micro-batch-, tp- and k-skinny
    return sorted(shapes, key=lambda shape: (shape[0] * shape[1] * shape[2], shape))


def gemm_call(backend: Backend, dtype: str, m: int, n: int, k: int) -> Callable[[], object]:
    """A zero-argument callable running one GEMM on random inputs (None if the dtype is unsupported)."""
    torch = backend.torch
    dev = backend.device
    if dtype == "fp8":
        if backend.kind != "cuda" or not hasattr(torch, "_scaled_mm") or not hasattr(torch, "float8_e4m3fn"):
            return None
        a = torch.randn(m, k, device=dev).to(torch.float8_e4m3fn)
        b = torch.randn(n, k, device=dev).to(torch.float8_e4m3fn).t()  # column-major, as _scaled_mm wants
        one = torch.ones((), device=dev)
        return lambda: torch._scaled_mm(a, b, scale_a=one, scale_b=one, out_dtype=torch.bfloat16)
    torch_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}[dtype]
    a = torch.randn(m, k, device=dev, dtype=torch_dtype)
    b = torch.randn(k, n, device=dev, dtype=torch_dtype)
    return lambda: torch.matmul(a, b)


def supported(backend: Backend, dtype: str) -> bool:
    """Whether a small GEMM in ``dtype`` runs on the device."""
    try:
        call = gemm_call(backend, dtype, 64, 64, 64)
        if call is None:
            return False
        call()
        backend.synchronize()
        return True
    except (RuntimeError, TypeError, ValueError, NotImplementedError):
        return False


def measure_gemms(backend: Backend, dtype: str, shapes: list[tuple[int, int, int]], *, max_call_s: float,
                  budget_s: float, progress: Callable[[str], None] | None = None) -> list[GemmRow]:
    """Time ``shapes`` in ``dtype``, smallest first; stops early once one call exceeds ``max_call_s``."""
    rows = []
    for m, n, k in shapes:
        if progress:
            progress(f"gemm {dtype} {m}x{n}x{k}")
        try:
            call = gemm_call(backend, dtype, m, n, k)
            seconds = median_seconds(call, backend, warmup=2, repeats=5, budget_s=budget_s)
        except (RuntimeError, MemoryError):  # out of device memory or an unsupported shape
            break
        rows.append(GemmRow(dtype=dtype, m=m, n=n, k=k, flops=2.0 * m * n * k, seconds=seconds))
        if seconds > max_call_s:
            break
    return rows


def peak_flops_per_s(rows: list[GemmRow]) -> float:
    """Best FLOP/s over ``rows`` (0.0 when empty)."""
    return max((r.flops_per_s for r in rows), default=0.0)


def fit_rows(rows: list[GemmRow], peak: float) -> tuple[float, float]:
    """(gemm_max, gemm_half_flops) of ``rows`` relative to ``peak`` FLOP/s."""
    flops = np.array([r.flops for r in rows])
    eff = np.array([r.flops_per_s / peak for r in rows])
    return fit_efficiency_curve(flops, eff)
