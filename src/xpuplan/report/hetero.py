"""One job over two pools, as a rich table: the mixed plans beside each pool alone."""

from __future__ import annotations

from rich.table import Table

from ..results import HeteroResult
from ..units import format_bytes, format_duration


def hetero_tables(result: HeteroResult) -> list[Table]:
    """The mixed plans beside each pool alone."""
    job = result.job
    table = Table(title=f"{result.model.name}: one job over {' + '.join(f'{p.devices} x {p.chip.name}' for p in result.pools)}",
                  header_style="bold")
    for col in ("plan", "how", "step", "tokens/s", "MFU", "time"):
        table.add_column(col, justify="left" if col in ("plan", "how") else "right")
    for p in result.plans:
        if p.strategy == "pipeline split":
            how = "; ".join(f"{q['chip']}: tp{q['tp']} pp{q['pp']}, {q['layers']} layers "
                            f"({q['layers_per_stage']}/stage, {format_bytes(q['memory_per_device_bytes'])})"
                            for q in p.detail["pools"]) + f"; dp{p.detail['dp']} mbs {p.detail['micro_batch']}"
        else:
            how = "; ".join(f"{q['chip']}: tp{q['plan']['tp']} pp{q['plan']['pp']} dp{q['plan']['dp']}, "
                            f"{q['sequences']} seqs/step" for q in p.detail["pools"])
        time = format_duration(job.tokens / p.tokens_per_s) if job.tokens else "—"
        table.add_row(p.strategy, how, f"{p.step_time_s:.3f} s", f"{p.tokens_per_s:,.0f}", f"{p.mfu:.1%}", time)
    for pool, r in zip(result.pools, result.alone):
        if r is None:
            table.add_row(f"{pool.chip.name} alone", "does not fit", "—", "—", "—", "—")
            continue
        time = format_duration(r.total_time_s) if r.total_time_s is not None else "—"
        table.add_row(f"{pool.chip.name} alone ({pool.devices})", f"tp{r.plan.tp} pp{r.plan.pp} dp{r.plan.dp}",
                      f"{r.step_time_s:.3f} s", f"{r.tokens_per_s:,.0f}", f"{r.mfu:.1%}", time)
    table.caption = "\n".join([f"MFU of a mixed plan is against the sum of both pools' "
                               f"{result.plans[0].detail.get('precision', 'bf16')} peaks"]
                              + [f"warning: {w}" for w in result.warnings])
    return [table]
