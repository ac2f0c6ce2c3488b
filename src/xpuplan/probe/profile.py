"""Assemble the measured chip profile (DESIGN.md chip schema) and write it as YAML.

Peaks are the best measured rates, not datasheet figures, so the efficiency
block is relative to them: ``gemm_max`` near 1, ``hbm: 1.0`` (the bandwidth is
already what streaming kernels reach). Figures the probe cannot measure on one
device (links, power, price) come from ``--like CHIP`` when given.
"""

from __future__ import annotations

import math
import socket
from datetime import datetime, timezone
from pathlib import Path

import yaml

from ..specs import DTYPES

MIN_PEAK_FLOPS_PER_S = 1e9  # Chip rejects slower peaks as absurd


def flops_text(flops_per_s: float) -> str:
    """'812.3TFLOPS' or '41.27GFLOPS' (4 significant digits; parsed back by units.py)."""
    return f"{flops_per_s / 1e12:.4g}TFLOPS" if flops_per_s >= 1e12 else f"{flops_per_s / 1e9:.4g}GFLOPS"


def bandwidth_text(bytes_per_s: float) -> str:
    """'3.012TB/s' or '41.27GB/s'."""
    return f"{bytes_per_s / 1e12:.4g}TB/s" if bytes_per_s >= 1e12 else f"{bytes_per_s / 1e9:.4g}GB/s"


def profile_name(out: str, device_name: str) -> str:
    """Chip id: the stem of the output file, else the device name lower-cased with dashes."""
    stem = Path(out).stem if out else ""
    return stem or "-".join(device_name.lower().split()) or "probed-chip"


def usable_peaks(peaks: dict[str, float]) -> tuple[dict[str, str], list[str]]:
    """peak_flops entries (as text) for the dtypes measured fast enough to be a chip figure, and notes."""
    kept, notes = {}, []
    for dtype in DTYPES:
        value = peaks.get(dtype)
        if value is None:
            continue
        if value >= MIN_PEAK_FLOPS_PER_S:
            kept[dtype] = flops_text(value)
        else:
            notes.append(f"{dtype} GEMMs ran at only {value:.3g} FLOP/s (emulated?); left out of peak_flops")
    return kept, notes


def like_figures(like) -> dict:
    """scale_up, scale_out, tdp and price copied from a catalog Chip (``--like``); {} for None."""
    if like is None:
        return {}
    out: dict = {}
    if like.scale_up_bytes_per_s:
        out["scale_up"] = {"name": like.scale_up_name or "unknown", "bandwidth": float(like.scale_up_bytes_per_s),
                           "domain": int(like.scale_up_domain)}
    if like.scale_out_bytes_per_s:
        out["scale_out"] = {"bandwidth": float(like.scale_out_bytes_per_s)}
    if like.tdp_watts:
        out["tdp"] = float(like.tdp_watts)
    price = {k: getattr(like, k) for k in ("purchase_usd", "usd_per_hour") if getattr(like, k) is not None}
    if price:
        out["price"] = price
    if like.failures_per_device_day is not None:
        out["failures_per_device_day"] = float(like.failures_per_device_day)
    return out


def network_figures(collectives: dict, kind: str, like, memory_bytes_per_s: float) -> tuple[dict, list[str]]:
    """Scale-up (measured when collectives ran) or the --like figures; with notes."""
    figures, notes = like_figures(like), []
    best = collectives.get("best_bus_bytes_per_s", {})
    if best.get("all_reduce"):
        figures["scale_up"] = {"name": f"measured {collectives['backend']}", "bandwidth": float(best["all_reduce"]),
                               "domain": int(collectives["devices"])}
        notes.append(f"scale_up bandwidth is the best {collectives['backend']} all-reduce bus bandwidth over "
                     f"{collectives['devices']} {kind} devices")
    elif "skipped" in collectives:
        notes.append(collectives["skipped"])
    if like is not None:
        notes.append(f"links, power and price copied from catalog chip {like.name}")
    elif "scale_up" not in figures:
        notes.append("no link was measured (one device): single-device estimates work; for several devices "
                     "give --like CHIP to copy a catalog chip's links, or probe with several devices visible")
    return figures, notes


def efficiency_block(*, gemm_max: float, gemm_half_flops: float, attention: tuple[float, float],
                     kernel_overhead_s: float, fp8_max: float | None, scale_up_measured: bool) -> dict:
    """The ``efficiency:`` mapping, relative to the measured peaks (fractions clipped to (0, 1])."""
    def frac(x: float) -> float:
        return round(min(1.0, max(x, 1e-3)), 4)

    block = {
        "gemm_max": frac(gemm_max),
        "gemm_half_flops": float(f"{gemm_half_flops:.4g}"),
        "attention_fwd": frac(attention[0]),
        "attention_bwd": frac(attention[1]),
        "hbm": 1.0,
        "kernel_overhead_s": float(f"{kernel_overhead_s:.3g}"),
        "source": "xpuplan probe (measured on this device)",
    }
    if fp8_max is not None:
        block["gemm_fp8_max"] = frac(fp8_max)
    if scale_up_measured:
        block["scale_up"] = 1.0
    return block


def measured_block(*, backend, command: str, gemm_rows, membw: dict, attention_rows, collectives: dict) -> dict:
    """Provenance and raw figures of the probe (the ``measured:`` mapping)."""
    torch = backend.torch
    block = {
        "device_name": backend.device_name,
        "device": backend.kind,
        "runtime_version": backend.runtime_version,
        "torch_version": str(torch.__version__),
        "date": datetime.now(timezone.utc).replace(microsecond=0).isoformat(),
        "command": command,
        "hostname": socket.gethostname(),
        "gemm_rows": [[r.dtype, r.m, r.n, r.k, round(r.flops_per_s / 1e12, 5)] for r in gemm_rows],
        "gemm_rows_columns": "dtype, m, n, k, TFLOP/s",
        "memory_bandwidth": {k: float(v) for k, v in membw.items()},
        "attention_rows": [[r.seq_len, r.batch, r.heads, r.head_dim, round(r.fwd_flops_per_s / 1e12, 5),
                            round(r.bwd_flops_per_s / 1e12, 5)] for r in attention_rows],
        "attention_rows_columns": "seq_len, batch, heads, head_dim, fwd TFLOP/s, bwd TFLOP/s (bwd = 2.5x fwd FLOPs)",
    }
    if "rows" in collectives:
        block["collectives"] = {"devices": collectives["devices"], "backend": collectives["backend"],
                                "best_bus_bytes_per_s": collectives["best_bus_bytes_per_s"],
                                "rows": collectives["rows"], "rows_columns": "op, message bytes, seconds"}
    else:
        block["collectives"] = {"skipped": collectives.get("skipped", "not measured")}
    return block


def write_profile(profile: dict, out: str) -> Path:
    """Write ``profile`` as YAML to ``out`` (parent folders created); returns the path."""
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    clean = plain_data(profile)
    path.write_text(yaml.safe_dump(clean, sort_keys=False, default_flow_style=None, width=120))
    return path


def plain_data(value):
    """Numbers as plain Python floats/ints (numpy and torch scalars do not safe_dump)."""
    if isinstance(value, dict):
        return {str(k): plain_data(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain_data(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, (str, int)):
        return value
    number = float(value)
    return number if math.isfinite(number) else None
