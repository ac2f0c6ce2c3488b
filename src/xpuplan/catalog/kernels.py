"""Kernel tables: measured kernel speeds per chip, each row with its source, and the efficiencies derived from them.

A table (``catalog/kernels/<name>.yaml``) holds what kernel benchmarks measured: GEMM throughput at given shapes,
attention forward/backward throughput per kernel kind at given sequence lengths and head widths, and the published
band of large-GEMM efficiency. A chip's efficiency profile that says ``kernels: <name>`` takes its GEMM curve and
its attention efficiencies from the table, derived here, and from nowhere else: they are not fitted to end-to-end
runs (issue 15 item 1). The derivation:

- GEMM: ``eff(f) = gemm_max * f / (f + gemm_half_flops)`` least-squares fitted to the rows (efficiency = achieved
  FLOP/s over the table's dense peak), :func:`fit_efficiency_curve`, where the rows cover three sizes or more; fp8 rows
  (``gemm_fp8``, against ``peak_fp8``) give ``gemm_fp8_max`` and ``gemm_fp8_half_flops`` the same way, fp4 rows
  (``gemm_fp4``: NVFP4/MXFP4 with their block scales, against ``peak_fp4``) ``gemm_fp4_max`` and
  ``gemm_fp4_half_flops``. ``gemm_band`` (``gemm_fp8_band``, ``gemm_fp4_band``) is the published range of large-GEMM
  efficiency the rows' sources span.
- weight streaming (``gemm_stream``: decode-sized GEMMs, m <= 16, whose weights take the time): the rate a row reads its
  weights is ``bytes_per_weight * TFLOP/s / (2 m)`` whatever its n and k (a batched row's FLOPs and bytes scale
  together); ``hbm`` is the median fraction of ``memory_peak_hbm`` over the bf16/fp8/int8 rows, ``hbm_fp4`` over the
  fp4 rows (NVFP4 kernels: 0.5 byte a weight and its block scale's 1/16, ``specs.model.QUANT_FORMATS``, as the
  serving model reads them).
- attention, per kind, from the row at the longest sequence with head width 128 (else the widest): the cost model
  prices a forward at ``attention_fwd * s / (s + attention_block_tokens)`` of peak and a backward as twice the
  forward's FLOPs, so ``fwd = achieved / peak / fill`` and ``bwd = (achieved_bwd / 2.5 * 2) / peak / fill``,
  benchmarks counting the backward as 2.5x the forward's FLOPs (FlashAttention-2's convention).
- memory-bound work, as fractions of the measuring device's HBM bandwidth (``memory_peak_hbm``): ``hbm_elementwise``
  is the harmonic mean of the ``elementwise_mix`` kernels weighted by the bytes each moves in a layer (the time of
  the mix over its bytes), ``hbm_optimizer`` the fused AdamW step's.
- grouped GEMMs (``grouped_gemm``: one MoE layer's experts in one kernel): ``grouped_gemm_max`` and
  ``grouped_gemm_half_flops`` fit the same curve over one group's FLOPs (the whole kernel's efficiency), and
  ``hbm_grouped`` is the median fraction of ``memory_peak_hbm`` at which the rows with the fewest tokens a group read
  their weights (decode-sized batches, where the weights bound the time).
- the fused MoE kernel engines serve with (``fused_moe``: one layer's routed experts in vLLM's Triton kernel, timed by
  its benchmark_moe.py): per weight dtype, the rows the four figures of :mod:`xpuplan.cost.fused_moe` are fitted to
  (in log time, on first use, each inside its physical band and never on its edge).
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path

import numpy as np

from ..cost.fused_moe import MIN_ROWS
from ..cost.weights import scale_bytes
from ..errors import BadInput
from ..specs.serving import WEIGHT_FORMATS
from ..units import parse_quantity
from .files import read_yaml

CATALOG_DIR = Path(__file__).parent

BENCH_BWD_FLOPS_RATIO = 2.5
"""backward / forward FLOPs in attention benchmarks (five matmuls against two)"""
MODEL_BWD_FLOPS_RATIO = 2.0
"""backward / forward FLOPs in the cost model"""
ATTENTION_BLOCK_TOKENS = 256.0
"""the cost model's tile-fill constant (Efficiency.attention_block_tokens)"""
DERIVED_FIELDS = ("gemm_max", "gemm_half_flops", "gemm_fp8_max", "gemm_fp8_half_flops", "gemm_fp4_max",
                  "gemm_fp4_half_flops", "attention_fwd", "attention_bwd", "attention_kernels", "hbm", "hbm_fp4",
                  "hbm_elementwise", "hbm_optimizer", "grouped_gemm_max", "grouped_gemm_half_flops", "hbm_grouped",
                  "fused_moe")
"""the efficiency fields a kernel table can set (the GEMM curve always; attention and memory where it has rows); a
profile that names a table may not set the ones it sets"""


def fit_efficiency_curve(flops, efficiency) -> tuple[float, float]:
    """Least-squares fit of ``eff = g * f / (f + h)`` to measured points; returns (g, h).

    For a fixed h the best g is linear least squares, ``g = sum(e x) / sum(x x)`` with ``x = f / (f + h)``; h is
    found by a coarse-to-fine search over log10(h).
    """
    f = np.asarray(flops, dtype=float)
    e = np.asarray(efficiency, dtype=float)
    if f.size == 0 or np.any(f <= 0):
        raise ValueError("fit_efficiency_curve needs at least one row with positive FLOPs")

    def best(log_h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = f[None, :] / (f[None, :] + 10.0 ** log_h[:, None])
        g = (x * e).sum(axis=1) / (x * x).sum(axis=1)
        sse = ((g[:, None] * x - e) ** 2).sum(axis=1)
        return g, sse

    low, high = np.log10(f.min()) - 4.0, np.log10(f.max()) + 1.0
    for _ in range(4):
        grid = np.linspace(low, high, 201)
        g, sse = best(grid)
        i = int(np.argmin(sse))
        step = grid[1] - grid[0]
        low, high = grid[max(i - 1, 0)] - step, grid[min(i + 1, grid.size - 1)] + step
    return float(g[i]), float(10.0 ** grid[i])


def _rows(rows, sources: dict, what: str, where: str, width: int = 5) -> list[list]:
    """``rows`` checked: ``width`` values each, the last naming one of ``sources``."""
    for row in rows or []:
        if not isinstance(row, list) or len(row) != width:
            raise BadInput(f"{where}: every {what} row must be a list of {width} values, got {row!r}", what)
        if row[-1] not in sources:
            raise BadInput(f"{where}: {what} row {row!r} cites {row[-1]!r}, which is not under sources", what)
    return list(rows or [])


@functools.cache
def load_kernel_table(name: str) -> dict:
    """The table ``catalog/kernels/<name>.yaml``, or a table file (``xpuplan probe --kernels FILE.yaml`` writes one),
    as written (rows in TFLOP/s, as benchmarks report them)."""
    given = Path(name)
    path = given if given.suffix in (".yaml", ".yml") and given.is_file() else CATALOG_DIR / "kernels" / f"{name}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in (CATALOG_DIR / "kernels").glob("*.yaml"))
        raise BadInput(f"kernels: {name!r} names no kernel table; known: {', '.join(known)}", "kernels")
    return read_yaml(path)


def _curve(table: dict, key: str, peak_key: str, prefix: str, where: str) -> dict:
    """``{prefix}_max`` and ``{prefix}_half_flops`` fitted to the table's ``key`` rows against its ``peak_key``, where
    they cover three sizes or more (fewer bound the ceiling, the band, only)."""
    rows = _rows(table.get(key), table["sources"], key, where)
    if len({2.0 * m * n * k for m, n, k, _, _ in rows}) < 3:
        return {}
    peak = parse_quantity(table[peak_key], "flops_per_s")
    g, h = fit_efficiency_curve([2.0 * m * n * k for m, n, k, _, _ in rows], [t * 1e12 / peak for *_, t, _ in rows])
    return {f"{prefix}_max": round(g, 4), f"{prefix}_half_flops": float(f"{h:.3g}")}


def _streaming(table: dict, where: str) -> dict:
    """``hbm`` and ``hbm_fp4`` from the ``gemm_stream`` rows (see the module doc)."""
    rows = _rows(table.get("gemm_stream"), table["sources"], "gemm_stream", where, width=6)
    if not rows:
        return {}
    hbm = parse_quantity(table["memory_peak_hbm"], "bytes_per_s")
    fractions: dict[str, list[float]] = {"hbm": [], "hbm_fp4": []}
    for dtype, m, _, _, tflops, _ in rows:
        if dtype not in WEIGHT_FORMATS:
            raise BadInput(f"{where}: gemm_stream row weight format {dtype!r} is none of {', '.join(WEIGHT_FORMATS)}",
                           "gemm_stream")
        # bytes a weight with its block scales: the fp4 rows time NVFP4 kernels (the format's default), 0.5625 bytes
        rate = (WEIGHT_FORMATS[dtype][0] + scale_bytes(dtype)) * tflops * 1e12 / (2.0 * m)
        fractions["hbm_fp4" if dtype == "fp4" else "hbm"].append(rate / hbm)
    return {key: round(float(np.median(v)), 4) for key, v in fractions.items() if v}


@functools.cache
def kernel_efficiency(name: str) -> dict:
    """The efficiency fields derived from kernel table ``name`` (see the module doc), plus ``kernel_table``."""
    where = name if name.endswith((".yaml", ".yml")) else f"catalog/kernels/{name}.yaml"
    table = load_kernel_table(name)
    peak = parse_quantity(table["peak_bf16"], "flops_per_s")
    curve = _curve(table, "gemm", "peak_bf16", "gemm", where)
    kinds = {}
    for kind, rows in (table.get("attention") or {}).items():
        rows = _rows(rows, table["sources"], f"attention {kind}", where)
        widest = max(r[1] for r in rows)
        head_dim = 128 if any(r[1] == 128 for r in rows) else widest
        seq, _, fwd, bwd, _ = max((r for r in rows if r[1] == head_dim), key=lambda r: r[0])
        fill = seq / (seq + ATTENTION_BLOCK_TOKENS)
        kinds[kind] = (min(1.0, fwd * 1e12 / peak / fill),
                       min(1.0, bwd * 1e12 / BENCH_BWD_FLOPS_RATIO * MODEL_BWD_FLOPS_RATIO / peak / fill))
    low = (_curve(table, "gemm_fp8", "peak_fp8", "gemm_fp8", where)
           | _curve(table, "gemm_fp4", "peak_fp4", "gemm_fp4", where))
    attention = {}
    if kinds:
        reference = table.get("reference_attention")
        if reference not in kinds:
            raise BadInput(f"{where}: reference_attention must name one of the attention kinds ({', '.join(kinds)})",
                           "reference_attention")
        attention = {"attention_fwd": round(kinds[reference][0], 4), "attention_bwd": round(kinds[reference][1], 4),
                     "attention_kernels": tuple((k, round(f, 4), round(b, 4)) for k, (f, b) in sorted(kinds.items()))}
    memory = {}
    if table.get("memory"):
        hbm = parse_quantity(table["memory_peak_hbm"], "bytes_per_s")
        memory_rows = _rows(table["memory"], table["sources"], "memory", where)
        rates = {op: tb_per_s * 1e12 / hbm for op, _, _, tb_per_s, _ in memory_rows}
        mix = table.get("elementwise_mix") or {}
        unknown = sorted(set(mix) - set(rates))
        if unknown:
            raise BadInput(f"{where}: elementwise_mix names {', '.join(unknown)}, which no memory row measured",
                           "elementwise_mix")
        if mix:
            memory["hbm_elementwise"] = round(sum(mix.values()) / sum(w / rates[op] for op, w in mix.items()), 4)
        if "adamw_fused" in rates:
            memory["hbm_optimizer"] = round(rates["adamw_fused"], 4)
    grouped = {}
    if table.get("grouped_gemm"):
        rows = _rows(table["grouped_gemm"], table["sources"], "grouped_gemm", where, width=6)
        g_max, g_half = fit_efficiency_curve([2.0 * m * n * k for _, m, n, k, _, _ in rows],
                                             [tflops * 1e12 / peak for _, _, _, _, tflops, _ in rows])
        grouped = {"grouped_gemm_max": round(g_max, 4), "grouped_gemm_half_flops": float(f"{g_half:.3g}")}
        fewest = min(r[1] for r in rows)
        if table.get("memory_peak_hbm"):
            hbm = parse_quantity(table["memory_peak_hbm"], "bytes_per_s")
            # weight bytes of the groups (bf16) over the kernel's time, for the rows at the fewest tokens a group
            stream = [groups * n * k * 2.0 / (groups * 2.0 * m * n * k / (tflops * 1e12)) / hbm
                      for groups, m, n, k, tflops, _ in rows if m == fewest]
            grouped["hbm_grouped"] = round(float(np.median(stream)), 4)
    return (_streaming(table, where) | memory | attention | low | curve | grouped | _fused_moe(table, where)
            | {"kernel_table": name})


def _fused_moe(table: dict, where: str) -> dict:
    """``fused_moe``: per weight dtype with :data:`~xpuplan.cost.fused_moe.MIN_ROWS` rows or more, (dtype, HBM
    bytes/s and peak FLOP/s of the timing device, rows as (experts, n, k, top_k, tokens, seconds)); the cost model
    fits its four figures on first use (:func:`xpuplan.cost.fused_moe.figures`)."""
    rows = _rows(table.get("fused_moe"), table["sources"], "fused_moe", where, width=8)
    if not rows:
        return {}
    hbm = parse_quantity(table["fused_moe_peak_hbm"], "bytes_per_s")
    out = []
    for dtype in sorted({r[5] for r in rows}):
        mine = tuple((float(e), float(n), float(k), float(top_k), float(t), us * 1e-6)
                     for e, n, k, top_k, t, d, us, _ in rows if d == dtype)
        if len(mine) < MIN_ROWS:
            continue
        peak_key = f"peak_{WEIGHT_FORMATS[dtype][1]}" if dtype in WEIGHT_FORMATS else None
        if peak_key not in table:
            raise BadInput(f"{where}: fused_moe rows in {dtype!r} need a weight format with a peak in the table "
                           f"({peak_key or 'bf16 or fp8'})", "fused_moe")
        out.append((dtype, hbm, parse_quantity(table[peak_key], "flops_per_s"), mine))
    return {"fused_moe": tuple(out)} if out else {}


def gemm_band(name: str, key: str = "gemm_band") -> tuple[float, float, str]:
    """(low, high, source) of large-GEMM efficiency the table's published benchmarks span (``gemm_fp8_band`` and
    ``gemm_fp4_band`` for its fp8 and fp4 rows)."""
    low, high, source = load_kernel_table(name)[key]
    return float(low), float(high), str(source)


@functools.cache
def table_of_chip() -> dict[str, str]:
    """Catalog chip id -> the kernel table whose ``chips`` list names it."""
    out = {}
    for path in sorted((CATALOG_DIR / "kernels").glob("*.yaml")):
        for chip in read_yaml(path).get("chips") or ():
            out[str(chip)] = path.stem
    return out


HALF_POINTS = (("gemm_half_flops", "peak_bf16", "bf16"), ("grouped_gemm_half_flops", "peak_bf16", "bf16"),
               ("gemm_fp8_half_flops", "peak_fp8", "fp8"), ("gemm_fp4_half_flops", "peak_fp4", "fp4"))
"""(half-point field, the table's peak it was measured against, the chip's peak it is carried to)"""


def measured_kernels(chip_name: str, efficiency, peaks: dict | None = None):
    """``efficiency`` with the measured figures of the kernel table that describes ``chip_name`` laid over it (the
    profile's own table when it names one), or None when no table describes the chip.

    Fractions carry over as they are. A size curve's half point does not: in FLOPs it is a call's fixed latency times
    the measuring device's rate, so a die of the table's family with another peak (the H20's 148 TFLOP/s against the
    H200's 989, the H100 PCIe's 756) keeps the latency and takes the half point at its own ``peaks`` (bf16, fp8, fp4
    FLOP/s), as the serving model does for chips without a table (cost/serve.py, GEMM_CALL_S)."""
    table = efficiency.kernel_table or table_of_chip().get(chip_name)
    if not table:
        return None
    derived, source = dict(kernel_efficiency(table)), load_kernel_table(table)
    for field, table_peak, chip_peak in HALF_POINTS:
        if derived.get(field) and source.get(table_peak) and (peaks or {}).get(chip_peak):
            derived[field] *= peaks[chip_peak] / parse_quantity(source[table_peak], "flops_per_s")
    return dataclasses.replace(efficiency, **derived)


def kernel_entry(name: str) -> dict:
    """A kernel table as the catalog lists it: what it derives, its band, its rows and its sources."""
    table = load_kernel_table(name)
    low, high, band_source = gemm_band(name)
    return {"name": name, "derived": kernel_efficiency(name), "gemm_band": (low, high), "band_source": band_source,
            "rows": sum(len(table.get(key) or []) for key in ("gemm", "gemm_fp8", "gemm_fp4", "gemm_stream", "memory"))
            + sum(len(v) for v in (table.get("attention") or {}).values()),
            "sources": dict(table.get("sources") or {})}
