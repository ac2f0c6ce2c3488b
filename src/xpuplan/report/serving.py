"""Serving results as rich tables: one configuration, a disaggregated pair, the SLO search across chips."""

from __future__ import annotations

from rich.table import Table

from ..catalog.accuracy import serving_bands
from ..results import DisaggregatedResult
from ..units import format_bytes
from ..units import format_duration as fd
from .training import warning_lines


def inference_table(r) -> Table:
    """One serving configuration (inference.ServeResult)."""
    table = Table(title=f"{r.model.name} served on {r.devices} x {r.chip.name} — {r.input_len} in / {r.output_len} out tokens",
                  header_style="bold")
    table.add_column("quantity")
    table.add_column("value", justify="right")
    p = r.plan
    rows = [
        ("plan", f"{_degrees(p)}, weights {p.precision}, KV {p.kv_precision}"),
        ("engine", f"{p.engine.name} {p.engine.version}".strip()),
        ("concurrency", f"{r.concurrency} sequences (max {r.max_concurrency} fit in memory)"),
        ("TTFT", fd(r.ttft_s) + (f" (clients started together; {fd(r.extra['ttft_s_mean_closed_form'])} at random "
                                 f"phases)" if "ttft_s_mean_closed_form" in r.extra and "load" in r.extra else "")),
        ("TPOT", fd(r.tpot_s)),
        ("output tokens/s", f"{r.output_tokens_per_s:,.0f} tokens/s ({r.output_tokens_per_s / r.devices:,.0f} per device)"),
        ("input tokens/s", f"{r.input_tokens_per_s:,.0f} tokens/s"),
        ("memory per device", f"{format_bytes(r.memory_per_device_bytes)} of {format_bytes(r.chip.hbm_bytes)}"),
    ]
    rows += [(f"  {k.removesuffix('_bytes')}", format_bytes(v)) for k, v in r.memory.items()]
    usd = r.usd_per_million_output_tokens
    rows.append(("cost", "— (no price: --usd-per-device-hour)" if usd is None else f"{usd:.3g} USD per 1M output tokens"))
    q = r.extra.get("queueing")
    if q:
        rows.append(("simulated P50/P90/P99", f"TTFT {fd(q['ttft_s_p50'])} / {fd(q['ttft_s_p90'])} / "
                     f"{fd(q['ttft_s_p99'])}, TPOT {fd(q['tpot_s_p50'])} / {fd(q['tpot_s_p90'])} / "
                     f"{fd(q['tpot_s_p99'])} ({q['requests']} requests, seed {q['seed']})"))
    if r.extra.get("tokens_per_decode_step", 1.0) != 1.0:
        rows.append(("speculative decoding", f"{r.extra['tokens_per_decode_step']:.2f} tokens per decode step"))
    for name, value in rows:
        table.add_row(name, value)
    lines = [f"note: {n}" for n in r.extra.get("notes", [])] + ([warning_lines([r])] if r.warnings else [])
    table.caption = "\n".join(lines + [expected_error_line(r.concurrency)])
    return table


def expected_error_line(concurrency: int | None = None) -> str:
    """How far serving estimates (at this concurrency) have landed from published runs they were not fitted on,
    figure by figure."""
    b = serving_bands(concurrency)
    return ("expected error on runs it was not fitted on (median / 90th percentile): " + ", ".join(
        f"{name} ±{b[key].median:.0%} / ±{b[key].p90:.0%}" for key, name in
        (("ttft_s", "TTFT"), ("tpot_s", "TPOT"), ("output_tokens_per_s", "throughput")))
        + f" ({b['ttft_s'].basis})")


def inference_compare_table(results: list, slo: str) -> Table:
    """Cheapest SLO-meeting configuration per chip, side by side."""
    table = Table(title=f"cheapest configuration per chip meeting {slo}", header_style="bold")
    demand = any(not isinstance(r, Exception) and "demand" in r.extra for r in results)
    for col in ("chip", "devices", "plan", "concurrency", "TTFT", "TPOT", "output tokens/s", "per device", "USD / 1M out") \
            + (("devices for demand", "USD / hour") if demand else ()):
        table.add_column(col, justify="left" if col in ("chip", "plan") else "right")
    for r in results:
        if isinstance(r, Exception):
            table.add_row(str(r).split(" on ")[-1].split(" (")[0], "—", f"none: {r}", "", "", "", "", "", "",
                          *(("", "") if demand else ()))
            continue
        usd = r.usd_per_million_output_tokens
        bound = r.extra.get("slo_percentile", "mean")  # the statistic the SLOs bound, shown as searched
        table.add_row(r.chip.name, str(r.devices), f"tp{r.plan.tp} {r.plan.precision} {r.plan.engine.name}",
                      str(r.concurrency),
                      fd(r.extra.get(f"ttft_s_{bound}", r.ttft_s)), fd(r.extra.get(f"tpot_s_{bound}", r.tpot_s)), f"{r.output_tokens_per_s:,.0f}", f"{r.output_tokens_per_s / r.devices:,.0f}",
                      "—" if usd is None else f"{usd:.3g}", *_demand_cells(r) if demand else ())
    means = any(not isinstance(r, Exception) and "slo_percentile" not in r.extra for r in results)
    note = ("note: mean TTFT as steady traffic sees it (clients at random phases); a benchmark's clients started "
            "together measure more: xpuplan inference --concurrency N prices that") if means else ""
    table.caption = "\n".join(part for part in (warning_lines(results), note, expected_error_line()) if part)
    return table


def _demand_cells(r) -> tuple[str, str]:
    d = r.extra.get("demand") or {}
    usd = d.get("usd_per_hour")
    return f"{d.get('devices', 0):,}", "— (no price)" if usd is None else f"{usd:,.0f}"


def _degrees(plan) -> str:
    return f"tp{plan.tp} pp{plan.pp} dp{plan.dp}" + (f" ep{plan.ep}" if plan.ep > 1 else "")


def disaggregated_table(r: DisaggregatedResult) -> Table:
    """Prefill on one pool, decode on another."""
    (p_chip, p_plan, p_devices), (d_chip, d_plan, d_devices) = r.prefill, r.decode
    table = Table(title=f"{r.model.name}: prefill on {p_devices} x {p_chip.name}, decode on {d_devices} x {d_chip.name}",
                  header_style="bold")
    table.add_column("quantity")
    table.add_column("value", justify="right")
    rows = [
        ("prefill plan", f"{_degrees(p_plan)}, {r.prefill_requests_per_s:,.2f} requests/s"),
        ("decode plan", f"{_degrees(d_plan)}, {r.decode_requests_per_s:,.2f} requests/s"),
        ("concurrency", f"{r.concurrency} sequences (max {r.max_concurrency} fit in memory)"),
        ("TTFT", f"{fd(r.ttft_s)} (KV transfer {fd(r.kv_transfer_s)})"),
        ("TPOT", fd(r.tpot_s)),
        ("output tokens/s", f"{r.output_tokens_per_s:,.0f} tokens/s ({r.bound}-bound)"),
        ("input tokens/s", f"{r.input_tokens_per_s:,.0f} tokens/s"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    table.caption = "\n".join(part for part in (warning_lines([r]), expected_error_line(r.concurrency)) if part)
    return table
