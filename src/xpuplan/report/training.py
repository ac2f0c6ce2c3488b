"""Training results as rich tables: one estimate, chips side by side, the top plans, why #1 wins, scaling."""

from __future__ import annotations

from rich.table import Table

from ..results import MEMORY_KEYS, TrainResult, merged_warnings
from ..units import format_bytes, format_duration


BREAKDOWN_LABELS = {
    "compute_s": "compute",
    "tp_comm_s": "TP communication (exposed)",
    "cp_comm_s": "CP communication (exposed)",
    "ep_comm_s": "EP all-to-all (exposed)",
    "moe_route_s": "MoE routing (router, permute, sync)",
    "moe_imbalance_s": "MoE imbalance (hottest expert rank)",
    "pp_bubble_s": "pipeline bubble",
    "pp_comm_s": "pipeline p2p",
    "dp_comm_s": "DP communication (exposed)",
    "optimizer_s": "optimizer step",
    "offload_s": "activation offload (exposed)",
    "reference_s": "DPO reference forward",
    "encoder_s": "vision encoder (first stage)",
}


def warning_lines(results) -> str:
    """The results' figure warnings, one line each (the footer every estimate table ends with)."""
    return "\n".join(f"warning: {w}" for w in merged_warnings(results))


def _with_warnings(caption: str, results) -> str:
    lines = warning_lines(results)
    return "\n".join(part for part in (caption, lines) if part)


def _ep_cell(p) -> str:
    """Expert parallelism, with the expert tensor-parallel degree where tp is folded into the expert groups."""
    return str(p.ep) if p.expert_tp == p.tp else f"{p.ep} (etp {p.expert_tp})"


def plan_text(r: TrainResult) -> str:
    p = r.plan
    text = f"tp{p.tp} pp{p.pp} dp{p.dp}"
    if p.cp > 1:
        text += f" cp{p.cp}"
    if p.ep > 1:
        text += f" ep{p.ep}"
    if p.expert_tp != p.tp:
        text += f" etp{p.expert_tp}"
    if p.vpp > 1:
        text += f" vpp{p.vpp}"
    return f"{text}, mbs {p.micro_batch}, zero {p.zero}, recompute {p.recompute}, {p.precision}"


def _rows(r: TrainResult) -> list[tuple[str, str]]:
    step = r.step_time_s
    rows = [("plan", plan_text(r))]
    if r.plan.pp > 1 and r.pipeline_layers["split"] != "even":
        layers = r.pipeline_layers
        middle = f" | {r.plan.pp - 2} x {layers['middle']}" if r.plan.pp > 2 else ""
        rows.append(("  layers a rank", f"{layers['first']}{middle} | {layers['last']} ({layers['split']})"))
    rows.append(("step time", f"{step:.3f} s"))
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
            ("wall-clock time, failure-free", format_duration(r.total_time_s)),
            ("device-hours, failure-free", f"{r.device_hours:,.0f} device-h"),
        ]
    rel, cost = r.extra.get("reliability"), r.extra.get("cost")
    if rel:
        rows += [
            ("failures", f"{rel['failures_per_device_day']:.2g} /device-day → job MTBF "
                         f"{format_duration(rel['job_mtbf_s'])}, {rel['expected_interruptions']:,.0f} expected"),
            ("checkpoint", f"{rel['checkpoint_bytes'] / 1e12:.3g} TB at {rel['checkpoint_bytes_per_s'] / 1e9:,.0f} GB/s, "
                           f"blocks {format_duration(rel['checkpoint_block_s'])}"
                           f"{' (async)' if rel['async_checkpoint'] else ''}, every {format_duration(rel['checkpoint_interval_s'])}"),
            ("restart", f"{format_duration(rel['restart_s'])}; one interruption loses "
                        f"{format_duration(rel['lost_s_per_interruption'])} of the whole job"),
            ("goodput", f"{rel['goodput']:.1%}"),
            ("wall-clock time with failures", f"{format_duration(rel['total_time_s'])} (P10 "
                                              f"{format_duration(rel['total_time_s_p10'])}, P90 {format_duration(rel['total_time_s_p90'])})"),
        ]
    if cost:
        usd = cost["usd"]
        rows += [
            ("device-hours with failures", f"{cost['device_hours']:,.0f} device-h"),
            ("energy", "—" if cost["energy_kwh"] is None else f"{cost['energy_kwh'] / 1e3:,.0f} MWh"),
            ("cost", "—" if usd is None else f"{usd / 1e6:,.2f} M USD ({cost['assumptions']['mode']}), "
                                             f"{cost['usd_per_million_tokens']:.3g} USD/1M tokens"),
        ]
        if cost.get("usd_per_interruption") is not None:
            rows += [("cost of failures", f"{cost['usd_per_interruption']:,.0f} USD per interruption, "
                                          f"{cost['usd_lost_to_failures'] / 1e6:,.2f} M USD over the run")]
    return rows


def train_table(r: TrainResult) -> Table:
    title = (f"{r.model.name} on {r.devices} x {r.chip.name} — seq {r.job.seq_len} tokens, "
             f"batch {r.job.global_batch} sequences")
    table = Table(title=title, show_header=True, header_style="bold")
    table.add_column("quantity")
    table.add_column("value", justify="right")
    for name, value in _rows(r):
        table.add_row(name, value)
    notes = "".join(f"\nnote: {n}" for n in r.extra.get("notes", []) + (r.extra.get("cost") or {}).get("notes", []))
    if r.extra.get("cost"):
        a = r.extra["cost"]["assumptions"]
        notes += "\ncost assumptions: " + ", ".join(f"{k}={v}" for k, v in a.items() if v is not None)
    assumed = f"\n{r.extra['assumed']}" if r.extra.get("assumed") else ""
    table.caption = _with_warnings(f"chip figures: {r.chip.confidence} confidence; efficiency profile: "
                                   f"{r.chip.efficiency.source}{assumed}{notes}\n{r.expected_error.text()}", [r])
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
    table.caption = warning_lines(results) or None
    return table


def plan_table(results: list[TrainResult], title: str) -> Table:
    """The top plans, one row each, with every degree and the figures a planner compares."""
    table = Table(title=title, header_style="bold")
    for col in ("#", "tp", "pp", "dp", "cp", "ep", "vpp", "mbs", "zero", "recompute", "step", "tokens/s", "MFU",
                "memory", "headroom", "time", "with failures", "device-h"):
        table.add_column(col, justify="left" if col == "recompute" else "right")
    for i, r in enumerate(results, 1):
        p = r.plan
        headroom = r.chip.hbm_bytes - r.memory_per_device_bytes
        time = format_duration(r.total_time_s) if r.total_time_s is not None else "—"
        rel = r.extra.get("reliability")
        with_failures = format_duration(rel["total_time_s"]) if rel else "—"
        hours = f"{r.device_hours:,.0f}" if r.device_hours is not None else "—"
        table.add_row(str(i), str(p.tp), str(p.pp), str(p.dp), str(p.cp), _ep_cell(p), str(p.vpp), str(p.micro_batch),
                      str(p.zero), p.recompute, f"{r.step_time_s:.3f} s", f"{r.tokens_per_s:,.0f}", f"{r.mfu:.1%}",
                      format_bytes(r.memory_per_device_bytes), format_bytes(headroom), time, with_failures, hours)
    if results:
        table.caption = _with_warnings(f"searched under {results[0].job.framework.space_summary()}\n"
                                       f"{results[0].expected_error.text()}", results)
    return table


def why_table(best: TrainResult, runner_up: TrainResult) -> Table:
    """The best plan's step breakdown beside the runner-up's: where the time goes differently."""
    table = Table(title="why #1 wins: step time by part", header_style="bold")
    table.add_column("part")
    table.add_column(f"#1 {plan_text(best).split(',')[0]}", justify="right")
    table.add_column(f"#2 {plan_text(runner_up).split(',')[0]}", justify="right")
    table.add_column("#2 − #1", justify="right")
    for key, label in BREAKDOWN_LABELS.items():
        a, b = best.breakdown[key], runner_up.breakdown[key]
        if a or b:
            table.add_row(label, f"{a:.3f} s", f"{b:.3f} s", f"{b - a:+.3f} s")
    table.add_row("step", f"{best.step_time_s:.3f} s", f"{runner_up.step_time_s:.3f} s",
                  f"{runner_up.step_time_s - best.step_time_s:+.3f} s")
    return table


def scaling_table(results: list[TrainResult]) -> Table:
    """Best plan per device count: how throughput, MFU and time scale with the cluster."""
    table = Table(title="best plan per cluster size", header_style="bold")
    for col in ("devices", "plan", "tokens/s", "tokens/s per device", "MFU", "time", "device-h"):
        table.add_column(col, justify="left" if col == "plan" else "right")
    for r in results:
        time = format_duration(r.total_time_s) if r.total_time_s is not None else "—"
        hours = f"{r.device_hours:,.0f}" if r.device_hours is not None else "—"
        table.add_row(str(r.devices), plan_text(r), f"{r.tokens_per_s:,.0f}", f"{r.tokens_per_s_per_device:,.0f}",
                      f"{r.mfu:.1%}", time, hours)
    table.caption = warning_lines(results) or None
    return table
