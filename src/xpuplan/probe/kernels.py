"""Kernel tables: the kernels a transformer step runs, timed one by one at the shapes it runs them.

``xpuplan probe --kernels FILE`` writes one CSV row per measurement, each naming
the device, the library versions and the command, so that a kernel table in the
catalog can cite the probe run it came from. The families:

- ``gemm``: (m x k) @ (k x n) at the shapes of tensor-parallel layers (QKV and
  MLP-up split over n, projections and MLP-down split over k), and decode shapes
  (m of 1 to 256 tokens) where the weights' bytes, not FLOPs, bound the time.
- ``grouped_gemm``: the experts of one MoE layer on one rank, ``groups`` GEMMs of
  ``m`` tokens each, run as one grouped kernel where PyTorch has one and as a
  loop of GEMMs (what an eager MoE layer does) for comparison.
- ``attention``: causal scaled-dot-product attention forward and backward by
  kernel kind (PyTorch's flash, cuDNN and memory-efficient backends) over
  sequence length and head width.
- ``memory``: norms, activations, rotary, token permutation, cross-entropy and
  the fused AdamW step, as achieved bytes per second of the bytes they must move.

Times are per call with calls queued back to back (device events around a loop),
so the launch gap is left out where the device is the bottleneck; the launch gap
itself is measured by :func:`xpuplan.probe.timing.launch_overhead_seconds`.
"""

from __future__ import annotations

import csv
from dataclasses import asdict, dataclass, fields
from typing import Callable

from .device import Backend
from .gemm import gemm_call
from .timing import loop_seconds

TARGET_LOOP_S = 0.02
"""device seconds per timed loop: long enough that event resolution (~µs) is lost in it"""


@dataclass(kw_only=True, slots=True)
class KernelRow:
    """One kernel measurement; shape fields a family does not use stay 0."""

    family: str
    op: str
    dtype: str
    backend: str = ""
    m: int = 0
    n: int = 0
    k: int = 0
    groups: int = 0
    batch: int = 0
    heads: int = 0
    seq_len: int = 0
    head_dim: int = 0
    flops: float = 0.0
    """FLOPs of one call (0 for memory-bound kernels)"""
    bytes: float = 0.0
    """bytes one call must move at least (inputs read once, outputs written once)"""
    seconds: float = 0.0
    """median device seconds of one call"""
    flops_per_s: float = 0.0
    bytes_per_s: float = 0.0
    note: str = ""


def _timed(row: KernelRow, fn: Callable[[], object], backend: Backend) -> KernelRow:
    """``row`` with its time and rates filled in, or with the error in ``note``."""
    try:
        row.seconds = loop_seconds(fn, backend, target_s=TARGET_LOOP_S)
    except (RuntimeError, TypeError, ValueError, NotImplementedError, AttributeError, MemoryError) as exc:
        row.note = f"failed: {type(exc).__name__}: {str(exc).splitlines()[0][:160] if str(exc) else ''}"
        return row
    row.flops_per_s = row.flops / row.seconds if row.flops else 0.0
    row.bytes_per_s = row.bytes / row.seconds if row.bytes else 0.0
    return row


# -------------------------------------------------------------------------------------------------- gemm

def gemm_table_shapes(quick: bool, accelerator: bool) -> list[tuple[int, int, int]]:
    """(m, n, k): tokens x output width x input width of TP-split layers, plus decode shapes."""
    if not accelerator:
        return [(m, n, k) for m in (64, 256) for n in (256, 512) for k in (256, 512)]
    tokens = (2048, 8192) if quick else (1024, 4096, 16384)
    widths = (2048, 8192) if quick else (1024, 2048, 4096, 8192, 16384, 28672)
    inner = (4096,) if quick else (1024, 4096, 8192, 16384)
    shapes = [(m, n, k) for m in tokens for n in widths for k in inner]
    decode = (1, 64) if quick else (1, 16, 64, 256)
    shapes += [(m, n, k) for m in decode for n, k in ((8192, 8192), (28672, 8192))]
    return shapes


def _gemm_call(backend: Backend, dtype: str, m: int, n: int, k: int) -> Callable[[], object]:
    call = gemm_call(backend, dtype, m, n, k)
    if call is None:
        raise NotImplementedError(f"{dtype} GEMMs are not timed on {backend.kind}")
    return call


def measure_gemm_table(backend: Backend, quick: bool, dtypes: tuple[str, ...],
                       say: Callable[[str], None]) -> list[KernelRow]:
    rows = []
    for dtype in dtypes:
        in_bytes = 1 if dtype == "fp8" else 2
        for m, n, k in gemm_table_shapes(quick, not backend.is_cpu):
            say(f"kernel table: gemm {dtype} {m}x{n}x{k}")
            row = KernelRow(family="gemm", op="matmul" if dtype != "fp8" else "scaled_mm", dtype=dtype, m=m, n=n,
                            k=k, flops=2.0 * m * n * k, bytes=float(in_bytes * (m * k + k * n) + 2 * m * n))
            try:
                call = _gemm_call(backend, dtype, m, n, k)
            except (RuntimeError, NotImplementedError, MemoryError) as exc:
                row.note = f"failed: {type(exc).__name__}"
                rows.append(row)
                break
            rows.append(_timed(row, call, backend))
    return rows


# ------------------------------------------------------------------------------------------ grouped gemm

def grouped_shapes(quick: bool, accelerator: bool) -> list[tuple[int, int, int, int]]:
    """(groups, m per group, n, k): experts on one rank, tokens per expert, expert up/down widths."""
    if not accelerator:
        return [(4, 32, 128, 256)]
    # widths: DeepSeek-V3 (hidden 7168, expert 2048, up+gate fused 4096) and a small-expert MoE
    # (hidden 2048, expert 768, as in Qwen3-30B-A3B-class models)
    widths = ((4096, 7168), (7168, 2048), (1536, 2048), (2048, 768))
    groups = (8,) if quick else (4, 8, 32)
    per_group = (256,) if quick else (64, 256, 1024, 4096)
    return [(g, m, n, k) for g in groups for m in per_group for n, k in widths]


def measure_grouped_table(backend: Backend, quick: bool, say: Callable[[str], None]) -> list[KernelRow]:
    torch = backend.torch
    dev = backend.device
    grouped = getattr(torch, "_grouped_mm", None)
    rows = []
    for g, m, n, k in grouped_shapes(quick, not backend.is_cpu):
        say(f"kernel table: grouped gemm {g}x({m}x{n}x{k})")
        a = torch.randn(g * m, k, device=dev, dtype=torch.bfloat16)
        w = torch.randn(g, n, k, device=dev, dtype=torch.bfloat16)  # experts' weights, (out, in) as nn.Linear
        base = dict(family="grouped_gemm", dtype="bf16", m=m, n=n, k=k, groups=g, flops=2.0 * g * m * n * k,
                    bytes=2.0 * (g * m * k + g * k * n + g * m * n))
        chunks = a.split(m)
        rows.append(_timed(KernelRow(op="loop", **base),
                           lambda: [torch.matmul(x, w[i].t()) for i, x in enumerate(chunks)], backend))
        if grouped is not None and not backend.is_cpu:
            offs = torch.arange(m, g * m + 1, m, device=dev, dtype=torch.int32)
            wt = w.transpose(-2, -1)
            rows.append(_timed(KernelRow(op="grouped_mm", **base),
                               lambda: grouped(a, wt, offs=offs, out_dtype=torch.bfloat16), backend))
    return rows


# --------------------------------------------------------------------------------------------- attention

def attention_table_shapes(quick: bool, accelerator: bool) -> list[tuple[int, int, int, int]]:
    """(batch, heads, seq_len, head_dim) at a constant token count per call."""
    if not accelerator:
        return [(max(1, 1024 // s), 4, s, 64) for s in (256, 512)]
    seqs = (2048, 8192) if quick else (1024, 2048, 4096, 8192, 16384, 32768)
    dims = (128,) if quick else (64, 128)
    tokens, heads = 32768, 16
    return [(max(1, tokens // s), heads if d == 128 else 2 * heads, s, d) for s in seqs for d in dims]


def _sdpa_backends(torch) -> list[tuple[str, object]]:
    """(name, context manager factory) for each SDPA backend PyTorch names; [('default', None)] otherwise."""
    try:
        from torch.nn.attention import SDPBackend, sdpa_kernel
    except ImportError:
        return [("default", None)]
    found = []
    for name in ("FLASH_ATTENTION", "CUDNN_ATTENTION", "EFFICIENT_ATTENTION"):
        if hasattr(SDPBackend, name):
            found.append((name.lower().replace("_attention", ""), lambda b=getattr(SDPBackend, name): sdpa_kernel(b)))
    return found or [("default", None)]


def measure_attention_table(backend: Backend, quick: bool, say: Callable[[str], None]) -> list[KernelRow]:
    torch = backend.torch
    sdpa = torch.nn.functional.scaled_dot_product_attention
    kinds = _sdpa_backends(torch) if not backend.is_cpu else [("default", None)]
    rows = []
    for b, h, s, d in attention_table_shapes(quick, not backend.is_cpu):
        q, k, v = (torch.randn(b, h, s, d, device=backend.device, dtype=torch.bfloat16, requires_grad=True)
                   for _ in range(3))
        fwd_flops = 2.0 * b * h * s * s * d  # causal: 4 b h s^2 d, halved by the mask
        io_bytes = 2.0 * 4 * b * h * s * d  # q, k, v read, o written
        for name, context in kinds:
            say(f"kernel table: attention {name} b={b} h={h} s={s} d={d}")
            base = dict(family="attention", dtype="bf16", backend=name, batch=b, heads=h, seq_len=s, head_dim=d)

            def fwd():
                if context is None:
                    return sdpa(q, k, v, is_causal=True)
                with context():
                    return sdpa(q, k, v, is_causal=True)

            row = _timed(KernelRow(op="fwd", flops=fwd_flops, bytes=io_bytes, **base), fwd, backend)
            rows.append(row)
            if row.note:
                continue
            out = fwd()
            grad = torch.randn_like(out)
            rows.append(_timed(KernelRow(op="bwd", flops=2.5 * fwd_flops, bytes=2.0 * io_bytes, **base),
                               lambda: torch.autograd.grad(out, (q, k, v), grad, retain_graph=True), backend))
            del out, grad
    return rows


# ------------------------------------------------------------------------------------------ memory-bound

def measure_memory_table(backend: Backend, quick: bool, say: Callable[[str], None]) -> list[KernelRow]:
    """Element-wise and reduction kernels of a layer at (tokens x hidden), bf16, and the fused AdamW step."""
    torch = backend.torch
    F = torch.nn.functional
    dev = backend.device
    tokens, hidden = (1024, 1024) if backend.is_cpu else ((8192, 4096) if quick else (16384, 8192))
    bf = torch.bfloat16
    x = torch.randn(tokens, hidden, device=dev, dtype=bf)
    y = torch.randn(tokens, hidden, device=dev, dtype=bf)
    w = torch.ones(hidden, device=dev, dtype=bf)
    n = tokens * hidden
    cos = torch.randn(tokens, hidden // 2, device=dev, dtype=bf)
    sin = torch.randn(tokens, hidden // 2, device=dev, dtype=bf)
    perm = torch.randperm(tokens, device=dev)

    def rotary():
        a, b = x[:, 0::2], x[:, 1::2]
        return torch.cat((a * cos - b * sin, a * sin + b * cos), dim=-1)

    cases = [
        ("rms_norm", lambda: F.rms_norm(x, (hidden,), w), 2 * 2 * n),
        ("layer_norm", lambda: F.layer_norm(x, (hidden,), w), 2 * 2 * n),
        ("swiglu", lambda: F.silu(x) * y, 3 * 2 * n),
        ("gelu", lambda: F.gelu(x, approximate="tanh"), 2 * 2 * n),
        ("rotary_eager", rotary, 2 * 2 * n + 2 * 2 * n // 2 * 2),
        ("permute_tokens", lambda: x.index_select(0, perm), 2 * 2 * n),
        ("add_residual", lambda: x + y, 3 * 2 * n),
    ]
    rows = []
    for op, fn, nbytes in cases:
        say(f"kernel table: memory {op}")
        rows.append(_timed(KernelRow(family="memory", op=op, dtype="bf16", m=tokens, n=hidden, bytes=float(nbytes)),
                           fn, backend))

    vocab = 4096 if backend.is_cpu else 32768
    vt = tokens // 4 if not backend.is_cpu else 256
    logits = torch.randn(vt, vocab, device=dev, dtype=bf)
    target = torch.randint(0, vocab, (vt,), device=dev)
    say("kernel table: memory cross_entropy")
    rows.append(_timed(KernelRow(family="memory", op="cross_entropy_fp32", dtype="bf16", m=vt, n=vocab,
                                 bytes=float(2 * vt * vocab)),
                       lambda: F.cross_entropy(logits.float(), target), backend))

    params = 2**20 if backend.is_cpu else (2**26 if quick else 2**28)
    p = torch.zeros(params, device=dev, requires_grad=True)
    p.grad = torch.randn(params, device=dev)
    for fused in ((False,) if backend.is_cpu else (True, False)):
        kwargs = {"fused": True} if fused else {"foreach": True}
        try:
            opt = torch.optim.AdamW([p], lr=1e-4, **kwargs)
        except (RuntimeError, TypeError, ValueError) as exc:
            rows.append(KernelRow(family="memory", op="adamw_fused", dtype="fp32", m=params,
                                  note=f"failed: {type(exc).__name__}"))
            continue
        say(f"kernel table: memory adamw ({'fused' if fused else 'foreach'})")
        # reads param, grad, exp_avg, exp_avg_sq; writes param, exp_avg, exp_avg_sq: 7 fp32 words a parameter
        rows.append(_timed(KernelRow(family="memory", op="adamw_fused" if fused else "adamw_foreach", dtype="fp32",
                                     m=params, bytes=float(7 * 4 * params)), opt.step, backend))
    return rows


# ----------------------------------------------------------------------------------------------- driver

def measure_kernel_tables(backend: Backend, quick: bool, gemm_dtypes: tuple[str, ...],
                          say: Callable[[str], None]) -> list[KernelRow]:
    """Every family's rows; a family that fails as a whole leaves one row naming the error."""
    rows: list[KernelRow] = []
    for family, measure in (("gemm", lambda: measure_gemm_table(backend, quick, gemm_dtypes, say)),
                            ("grouped_gemm", lambda: measure_grouped_table(backend, quick, say)),
                            ("attention", lambda: measure_attention_table(backend, quick, say)),
                            ("memory", lambda: measure_memory_table(backend, quick, say))):
        try:
            rows += measure()
        except (RuntimeError, TypeError, ValueError, NotImplementedError, AttributeError, MemoryError) as exc:
            rows.append(KernelRow(family=family, op="all", dtype="", note=f"failed: {type(exc).__name__}: {exc}"[:200]))
        backend.synchronize()
        if hasattr(backend.module, "empty_cache"):
            backend.module.empty_cache()
    return rows


ATTENTION_KINDS = {"flash": "flash2", "cudnn": "cudnn", "efficient": "mem_efficient", "default": "default"}
"""PyTorch SDPA backends by the kernel-kind names framework profiles use (``Framework.attention_kernel``)"""
ELEMENTWISE_MIX = {"rms_norm": 4, "add_residual": 6, "swiglu": 10}
"""a layer's fused element-wise kernels weighted by the bytes each moves in the forward (see catalog/kernels.py)"""


def kernel_table_data(rows: list[KernelRow], *, device_name: str, peak_bf16_flops_per_s: float,
                      peak_fp8_flops_per_s: float | None, hbm_bytes_per_s: float, source: str) -> dict:
    """The rows as a kernel table in the catalog's schema (catalog/kernels/*.yaml), every row citing ``probe``.

    Fractions are taken against ``peak_bf16_flops_per_s`` (the datasheet peak where the probe was given ``--like``,
    else the measured one) and ``hbm_bytes_per_s``; failed rows are left out."""
    ok = [r for r in rows if not r.note and r.seconds > 0]
    tflops = lambda r: round(r.flops_per_s / 1e12, 2)  # noqa: E731
    table: dict = {
        "peak_bf16": f"{peak_bf16_flops_per_s / 1e12:.4g}TFLOPS",
        "sources": {"probe": f"{source} on {device_name}"},
        "gemm": [[r.m, r.n, r.k, tflops(r), "probe"] for r in ok if r.family == "gemm" and r.dtype == "bf16"
                 and r.m >= 256],
    }
    big = [r.flops_per_s / peak_bf16_flops_per_s for r in ok if r.family == "gemm" and r.dtype == "bf16"
           and r.m >= 1024 and r.k >= 4096]
    if big:
        table["gemm_band"] = [round(min(big), 3), round(max(big), 3),
                              "probe: the GEMMs with m >= 1024 and k >= 4096 it measured"]
    fp8 = [[r.m, r.n, r.k, tflops(r), "probe"] for r in ok if r.family == "gemm" and r.dtype == "fp8" and r.m >= 256]
    if fp8 and peak_fp8_flops_per_s:
        table |= {"peak_fp8": f"{peak_fp8_flops_per_s / 1e12:.4g}TFLOPS", "gemm_fp8": fp8}
    attention: dict[str, dict] = {}
    for r in ok:
        if r.family == "attention":
            kind = ATTENTION_KINDS.get(r.backend, r.backend)
            attention.setdefault(kind, {}).setdefault((r.seq_len, r.head_dim), {})[r.op] = tflops(r)
    table["attention"] = {kind: [[s, d, v["fwd"], v["bwd"], "probe"] for (s, d), v in sorted(cells.items())
                                 if "fwd" in v and "bwd" in v]
                          for kind, cells in attention.items()}
    table["attention"] = {k: v for k, v in table["attention"].items() if v}
    if table["attention"]:
        table["reference_attention"] = "flash2" if "flash2" in table["attention"] else next(iter(table["attention"]))
    memory = [[r.op, r.m, r.n, round(r.bytes_per_s / 1e12, 3), "probe"] for r in ok if r.family == "memory"]
    if memory:
        table |= {"memory_peak_hbm": f"{hbm_bytes_per_s / 1e12:.4g}TB/s", "memory": memory}
        if all(op in {m[0] for m in memory} for op in ELEMENTWISE_MIX):
            table["elementwise_mix"] = dict(ELEMENTWISE_MIX)
    return table


def write_kernel_table(rows: list[KernelRow], path: str, *, device_name: str, peak_flops_per_s: float,
                       memory_bytes_per_s: float, source: str) -> None:
    """CSV of ``rows`` plus efficiency columns (of the measured GEMM peak and copy bandwidth) and the source."""
    names = [f.name for f in fields(KernelRow)]
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(names + ["flops_efficiency", "bytes_efficiency", "device", "source"])
        for row in rows:
            data = {name: (float(f"{value:.5g}") if isinstance(value, float) else value)
                    for name, value in asdict(row).items()}
            writer.writerow([data[name] for name in names] + [
                round(row.flops_per_s / peak_flops_per_s, 4) if peak_flops_per_s and row.flops_per_s else "",
                round(row.bytes_per_s / memory_bytes_per_s, 4) if memory_bytes_per_s and row.bytes_per_s else "",
                device_name, source])
