"""Causal attention throughput: torch scaled_dot_product_attention forward and backward.

FLOPs of causal attention over b sequences of s tokens, h heads of width d:
QK^T and AV are 2 * 2 * b * h * s^2 * d, halved by the mask, so the forward is
``4 b h s^2 d / 2``. The backward does 2.5x that (FlashAttention-2 convention:
five matmuls instead of two); achieved FLOP/s are reported with that count.

The cost model (cost/compute.py) prices the forward as
``F / (peak * attention_fwd * s / (s + attention_block_tokens))`` and the backward as twice the
forward's FLOPs at ``attention_bwd``; the efficiencies written to the profile
are solved from those formulas so the model reproduces the measured times.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..specs import Efficiency
from .device import Backend
from .timing import median_seconds

BWD_FLOPS_RATIO = 2.5  # backward / forward FLOPs of a flash kernel
MODEL_BWD_RATIO = 2.0  # backward / forward FLOPs in the cost model


@dataclass(frozen=True, kw_only=True, slots=True)
class AttentionRow:
    """One timed causal attention call."""

    batch: int
    heads: int
    seq_len: int
    head_dim: int
    fwd_s: float
    """median seconds of the forward"""
    bwd_s: float
    """median seconds of the backward (gradients of q, k and v)"""

    @property
    def fwd_flops(self) -> float:
        return causal_attention_flops(self.batch, self.heads, self.seq_len, self.head_dim)

    @property
    def fwd_flops_per_s(self) -> float:
        return self.fwd_flops / self.fwd_s

    @property
    def bwd_flops_per_s(self) -> float:
        return BWD_FLOPS_RATIO * self.fwd_flops / self.bwd_s


def causal_attention_flops(batch: int, heads: int, seq_len: int, head_dim: int) -> float:
    """Forward FLOPs of causal attention: 4 b h s^2 d / 2."""
    return 4.0 * batch * heads * seq_len**2 * head_dim / 2.0


def attention_shapes(quick: bool, accelerator: bool) -> list[tuple[int, int, int, int]]:
    """(batch, heads, seq_len, head_dim), a constant token count per call."""
    if not accelerator:
        seqs, tokens, heads, d = ((256, 512) if quick else (512, 1024, 2048)), 1024 if quick else 4096, 4, 64
    else:
        seqs, tokens, heads, d = ((1024, 2048) if quick else (1024, 2048, 4096, 8192)), 16384, 16, 128
    return [(max(1, tokens // s), heads, s, d) for s in seqs]


def measure_attention(backend: Backend, dtype: str, shapes: list[tuple[int, int, int, int]], *, budget_s: float,
                      progress: Callable[[str], None] | None = None) -> list[AttentionRow]:
    """Time causal SDPA forward and backward for each shape in ``dtype``."""
    torch = backend.torch
    sdpa = torch.nn.functional.scaled_dot_product_attention
    torch_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}[dtype]
    rows = []
    for b, h, s, d in shapes:
        if progress:
            progress(f"attention {dtype} b={b} h={h} s={s} d={d}")
        q, k, v = (torch.randn(b, h, s, d, device=backend.device, dtype=torch_dtype, requires_grad=True)
                   for _ in range(3))
        fwd_s = median_seconds(lambda: sdpa(q, k, v, is_causal=True), backend, budget_s=budget_s)
        out = sdpa(q, k, v, is_causal=True)
        grad = torch.randn_like(out)
        bwd_s = median_seconds(lambda: torch.autograd.grad(out, (q, k, v), grad, retain_graph=True), backend,
                               budget_s=budget_s)
        rows.append(AttentionRow(batch=b, heads=h, seq_len=s, head_dim=d, fwd_s=fwd_s, bwd_s=bwd_s))
    return rows


def attention_efficiency(rows: list[AttentionRow], peak_flops_per_s: float) -> tuple[float, float]:
    """(attention_fwd, attention_bwd) for the cost model, from the longest sequence measured.

    Undoes the model's ``s / (s + attention_block_tokens)`` tile-fill factor (the
    Efficiency default, the one the written profile carries) and its 2x backward count;
    clipped to (0, 1].
    """
    row = max(rows, key=lambda r: r.seq_len)
    block = Efficiency.__dataclass_fields__["attention_block_tokens"].default
    fill = row.seq_len / (row.seq_len + block)
    fwd = row.fwd_flops / (row.fwd_s * peak_flops_per_s * fill)
    bwd = MODEL_BWD_RATIO * row.fwd_flops / (row.bwd_s * peak_flops_per_s * fill)
    return min(1.0, max(fwd, 1e-3)), min(1.0, max(bwd, 1e-3))
