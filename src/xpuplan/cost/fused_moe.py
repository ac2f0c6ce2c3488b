"""A served MoE layer's routed experts as the fused kernel engines run them (vLLM's Triton ``fused_moe``, which SGLang
runs too): one kernel over every touched expert, its weights read once for the tokens routed to it.

The kernel is priced as a roofline with a fixed call time, four figures per weight dtype fitted to the kernel's own
measured times on the chip (a kernel table's ``fused_moe`` rows, vLLM's ``benchmarks/kernels/benchmark_moe.py``;
:func:`figures` fits them on first use), never to end-to-end runs::

    t = max(call_s + bytes / (hbm x HBM bandwidth),  FLOPs / (peak x eff_max x m / (m + half_tokens)))

``bytes`` are the touched experts' weights and the routed rows' bf16 activations in and out of both GEMMs, ``FLOPs``
the routed rows' (2 x rows x mats x n x k), and ``m`` the tokens each touched expert gets: the kernel pads every
expert's rows to its tile, so its compute rate grows with them (16-token tiles at decode, 64 and more at prefill).
Where a table has no such rows the serving model keeps its grouped-GEMM pricing (:mod:`.serve`)."""

from __future__ import annotations

import functools

import numpy as np

from ..errors import BadInput

PARAMS = ("hbm", "call_s", "eff_max", "half_tokens")
"""the fitted figures of one weight dtype, in this order (:func:`figures`)"""
BOUNDS = {"hbm": (0.05, 1.0), "call_s": (0.0, 2e-4), "eff_max": (0.005, 1.0), "half_tokens": (0.5, 1e5)}
"""the physical band each fitted figure must fall inside, strictly (a fit on its edge is a bug: the rows cannot
place it)"""
MIN_ROWS = 6
"""timed rows a weight dtype needs before its figures are fitted"""


def routing(tokens, experts: float, top_k: float) -> tuple[np.ndarray, np.ndarray]:
    """(experts touched, tokens each gets) when ``tokens`` tokens each pick ``top_k`` of ``experts`` uniformly at
    random, as the benchmark routes them."""
    tokens = np.asarray(tokens, dtype=float)
    hit = np.maximum(1.0 - (1.0 - top_k / experts) ** tokens, 1e-12)
    return experts * hit, tokens * top_k / (experts * hit)


def fused_moe_s(per_expert, touched, k: float, n: float, mats: int, weight_bytes: float, hbm_bytes_per_s: float,
                peak_flops_per_s: float, hbm: float, call_s: float, eff_max: float, half_tokens: float) -> np.ndarray:
    """Seconds of one fused MoE layer on one device: ``touched`` experts of ``mats`` (k x n) weight matrices
    (gate and up, then down: n the expert's intermediate width this device holds, k the hidden width), each run for
    ``per_expert`` tokens (module docstring)."""
    m = np.asarray(per_expert, dtype=float)
    rows = touched * m
    nbytes = touched * mats * n * k * weight_bytes + 2.0 * rows * (2.0 * k + mats * n)
    flops = 2.0 * rows * mats * n * k
    rate = peak_flops_per_s * eff_max * m / (m + half_tokens)
    return np.maximum(call_s + nbytes / (hbm_bytes_per_s * hbm), flops / np.maximum(rate, 1.0))


@functools.lru_cache(maxsize=32)
def figures(weight_bytes: float, hbm_bytes_per_s: float, peak_flops_per_s: float,
            rows: tuple[tuple[float, ...], ...]) -> tuple[float, float, float, float]:
    """(hbm, call_s, eff_max, half_tokens) least-squares fitted in log time to ``rows`` of one weight dtype, each
    (experts, n, k, top_k, tokens, seconds) timed on a device of ``hbm_bytes_per_s`` and ``peak_flops_per_s`` with
    random routing (SwiGLU experts: three matrices). Fitted on first use, not when a chip loads (scipy's optimiser
    costs a start 0.4 s); a figure on the edge of its band (:data:`BOUNDS`) is an error naming it."""
    from scipy.optimize import least_squares

    e, n, k, top_k, tokens, seconds = np.array(rows, dtype=float).T
    touched, per_expert = routing(tokens, e, top_k)
    low, high = (np.array([BOUNDS["hbm"][i], BOUNDS["call_s"][i] * 1e6, BOUNDS["eff_max"][i],
                           np.log10(BOUNDS["half_tokens"][i])]) for i in (0, 1))

    def residual(x):  # the call in microseconds and the half point in log10, for a well-scaled problem
        t = fused_moe_s(per_expert, touched, k, n, 3, weight_bytes, hbm_bytes_per_s, peak_flops_per_s, x[0],
                        x[1] * 1e-6, x[2], 10.0 ** x[3])
        return np.log(t / seconds)

    x = least_squares(residual, [0.8, 20.0, 0.1, 1.5], bounds=(low, high)).x
    edge = np.isclose(x, low, rtol=1e-3, atol=1e-6) | np.isclose(x, high, rtol=1e-3, atol=1e-6)
    fitted = (float(x[0]), float(x[1]) * 1e-6, float(x[2]), float(10.0 ** x[3]))
    if edge.any():
        raise BadInput(f"fused_moe rows put {', '.join(p for p, on in zip(PARAMS, edge) if on)} on the edge of its "
                       f"band ({', '.join(f'{p} {v:.3g}' for p, v in zip(PARAMS, fitted))}); the rows cannot place it",
                       "fused_moe")
    return fitted
