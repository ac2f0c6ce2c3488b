"""Device memory bandwidth: STREAM-style copy and triad over buffers far larger than caches.

copy  ``a = b``          moves 2 x bytes(a) (one read, one write)
triad ``a = b + s * c``  moves 3 x bytes(a) (two reads, one write), one fused kernel

The best of the two is what streaming (element-wise) kernels can reach, the
figure the cost model calls HBM bandwidth.
"""

from __future__ import annotations

from typing import Callable

from .device import Backend
from .timing import median_seconds

FP32_BYTES = 4


def buffer_bytes(backend: Backend, quick: bool) -> int:
    """Bytes of one buffer: large enough to defeat caches (L2 on GPUs is up to ~100 MB)."""
    if backend.is_cpu:
        return (128 if quick else 512) * 2**20
    return (256 if quick else 1024) * 2**20


def measure_bandwidth(backend: Backend, quick: bool, progress: Callable[[str], None] | None = None) -> dict:
    """{'copy_bytes_per_s', 'triad_bytes_per_s', 'buffer_bytes'} measured on ``backend``."""
    torch = backend.torch
    n = buffer_bytes(backend, quick) // FP32_BYTES
    a = torch.empty(n, device=backend.device)
    b = torch.rand(n, device=backend.device)
    c = torch.rand(n, device=backend.device)
    budget_s = 0.5 if quick else 3.0
    if progress:
        progress("memory bandwidth: copy")
    copy_s = median_seconds(lambda: a.copy_(b), backend, warmup=2, repeats=7, budget_s=budget_s)
    if progress:
        progress("memory bandwidth: triad")
    triad_s = median_seconds(lambda: torch.add(b, c, alpha=1.5, out=a), backend, warmup=2, repeats=7,
                             budget_s=budget_s)
    nbytes = n * FP32_BYTES
    return {"copy_bytes_per_s": 2 * nbytes / copy_s, "triad_bytes_per_s": 3 * nbytes / triad_s,
            "buffer_bytes": nbytes}


def best_bytes_per_s(result: dict) -> float:
    """The higher of the copy and triad bandwidths."""
    return max(result["copy_bytes_per_s"], result["triad_bytes_per_s"])
