"""Results to rich tables and JSON; no modelling here."""

from __future__ import annotations

import json
import math

from rich.console import Console
from rich.table import Table

from .api import MEMORY_KEYS, TrainResult
from .units import GiB, format_bytes, format_duration

BREAKDOWN_LABELS = {
    "compute_s": "compute",
    "tp_comm_s": "TP communication (exposed)",
    "cp_comm_s": "CP communication (exposed)",
    "ep_comm_s": "EP all-to-all (exposed)",
    "pp_bubble_s": "pipeline bubble",
    "pp_comm_s": "pipeline p2p",
    "dp_comm_s": "DP communication (exposed)",
    "optimizer_s": "optimizer step",
}


def to_json(obj) -> str:
    """JSON with NaN/inf written as null."""
    def clean(x):
        if isinstance(x, float) and not math.isfinite(x):
            return None
        if isinstance(x, dict):
            return {k: clean(v) for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            return [clean(v) for v in x]
        return x
    return json.dumps(clean(obj), indent=2)


def plan_text(r: TrainResult) -> str:
    p = r.plan
    text = f"tp{p.tp} pp{p.pp} dp{p.dp}"
    if p.cp > 1:
        text += f" cp{p.cp}"
    if p.ep > 1:
        text += f" ep{p.ep}"
    if p.vpp > 1:
        text += f" vpp{p.vpp}"
    return f"{text}, mbs {p.micro_batch}, zero {p.zero}, recompute {p.recompute}, {p.precision}"


def _rows(r: TrainResult) -> list[tuple[str, str]]:
    step = r.step_time_s
    rows = [
        ("plan", plan_text(r)),
        ("step time", f"{step:.3f} s"),
    ]
    for key, label in BREAKDOWN_LABELS.items():
        value = r.breakdown[key]
        if value > 0 or key == "compute_s":
            rows.append((f"  {label}", f"{value:.3f} s ({value / step:.1%})"))
    rows += [
        ("tokens/s", f"{r.tokens_per_s:,.0f} tokens/s"),
        ("tokens/s per device", f"{r.tokens_per_s_per_device:,.0f} tokens/s"),
        ("MFU / HFU", f"{r.mfu:.1%} / {r.hfu:.1%}"),
        ("memory per device", f"{format_bytes(r.memory_per_device_bytes)} of {format_bytes(r.chip.hbm_bytes)}"
                              f" ({'fits' if r.fits else 'DOES NOT FIT'})"),
    ]
    for key in MEMORY_KEYS:
        rows.append((f"  {key.removesuffix('_bytes')}", format_bytes(r.memory[key])))
    if r.total_time_s is not None:
        rows += [
            ("tokens", f"{r.job.tokens:.3g} tokens"),
            ("wall-clock time", f"{format_duration(r.total_time_s)} (failure-free)"),
            ("device-hours", f"{r.device_hours:,.0f} device-h"),
        ]
    return rows


def train_table(r: TrainResult) -> Table:
    title = (f"{r.model.name} on {r.devices} x {r.chip.name} — seq {r.job.seq_len} tokens, "
             f"batch {r.job.global_batch} sequences")
    table = Table(title=title, show_header=True, header_style="bold")
    table.add_column("quantity")
    table.add_column("value", justify="right")
    for name, value in _rows(r):
        table.add_row(name, value)
    notes = "".join(f"\nnote: {n}" for n in r.extra.get("notes", []))
    table.caption = f"chip figures: {r.chip.confidence} confidence; efficiency profile: {r.chip.efficiency.source}{notes}"
    return table


def compare_table(results: list[TrainResult]) -> Table:
    first = results[0]
    table = Table(title=f"{first.model.name}, {first.devices} devices, {first.job.tokens or 0:.3g} tokens — side by side",
                  header_style="bold")
    table.add_column("quantity")
    for r in results:
        table.add_column(f"{r.chip.name} ({r.chip.confidence})", justify="right")
    columns = [dict(_rows(r)) for r in results]
    for name in columns[0]:
        table.add_row(name, *[c.get(name, "") for c in columns])
    return table


def print_table(table: Table, min_width: int = 100) -> None:
    Console(width=max(min_width, Console().width)).print(table)


def gib(value_bytes: float) -> float:
    return value_bytes / GiB
