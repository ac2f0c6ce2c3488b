"""The fleet plan for people: the allocation (workload x pool), cost by pool and by workload, the baseline and the
saving, what-if variants, what binds; and an HTML plot (a Gantt chart by pool, cost bars)."""

from __future__ import annotations

from rich.table import Table

from ..units import DAY, format_duration


def _usd(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.2f}"


def plan_text(row: dict) -> str:
    """One line for an allocation's plan."""
    plan = row.get("plan") or {}
    if row["kind"] == "serve":
        if plan.get("source") == "measured":
            how = f"measured table, {plan.get('replicas', 0)} replicas"
        else:
            how = f"tp{plan.get('tp')} {plan.get('precision')}, {plan.get('replicas', 0)} replicas"
        return f"{how}; buckets {', '.join(map(str, row.get('buckets', [])))}"
    if "tokens_per_s_per_device" in plan:
        return f"measured {plan['tokens_per_s_per_device']:,.0f} tokens/s per device"
    if "train" in plan:
        t, r = plan["train"], plan["rollout"]
        return f"train tp{t['tp']} pp{t['pp']} dp{t['dp']}; rollouts tp{r['tp']} x {r.get('replicas', '?')}"
    text = f"tp{plan.get('tp')} pp{plan.get('pp')} dp{plan.get('dp')}"
    for key in ("cp", "ep"):
        if plan.get(key, 1) > 1:
            text += f" {key}{plan[key]}"
    if plan.get("mfu") is not None:
        text += f", MFU {plan['mfu']:.0%}"
    return text


def allocation_table(d: dict) -> Table:
    table = Table(title=f"fleet plan by {d['objective']}: {_usd(d['usd_total'])} USD over "
                        f"{format_duration(d['horizon_s'])}, services {_usd(d['usd_per_hour'])} USD/h",
                  header_style="bold")
    for col in ("workload", "kind", "pool", "devices", "plan", "start", "finish", "utilisation", "USD"):
        table.add_column(col, justify="left" if col in ("workload", "kind", "pool", "plan") else "right")
    for r in d["allocation"]:
        serve = r["kind"] == "serve"
        devices = f"{r['devices']:,}" + (" (peak)" if r.get("devices_by_window") else "")
        table.add_row(r["workload"], r["kind"], r["pool"], devices, plan_text(r),
                      "always" if serve else f"day {r['start_s'] / DAY:,.1f}",
                      "—" if serve else f"day {r['finish_s'] / DAY:,.1f}", f"{r['utilisation']:.0%}",
                      _usd(r["usd"]) + (f" ({_usd(r['usd_per_hour'])}/h)" if serve else ""))
    table.caption = ("utilisation: a run's goodput (time not lost to failures), a service's load over its replicas' "
                     "SLO capacity")
    return table


def cost_table(d: dict) -> Table:
    table = Table(title="cost by pool and by workload", header_style="bold")
    for col in ("pool", "chip", "devices", "peak in use", "device-hours", "utilisation", "USD/device-h", "USD"):
        table.add_column(col, justify="left" if col in ("pool", "chip") else "right")
    for name, p in d["pools"].items():
        table.add_row(name, p["chip"], f"{p['devices']:,}", f"{p['peak_devices']:,}", f"{p['device_hours']:,.0f}",
                      f"{p['utilisation']:.1%}", f"{p['usd_per_device_hour']:.3g}", _usd(p["usd"]))
    table.add_section()
    for name, usd in d["cost_by_workload"].items():
        table.add_row(name, "", "", "", "", "", "", _usd(usd))
    return table


def baseline_table(d: dict) -> Table:
    b = d["baseline"]
    table = Table(title="against a fleet of one chip kind, and what-if variants", header_style="bold")
    for col in ("fleet", "devices", "USD", "USD/h (services)", "saving of the plan"):
        table.add_column(col, justify="left" if col == "fleet" else "right")
    table.add_row("this plan", f"{sum(p['peak_devices'] for p in d['pools'].values()):,} peak", _usd(d["usd_total"]),
                  _usd(d["usd_per_hour"]), "")
    for c in b.get("candidates") or []:
        best = c["chip"] == b.get("chip")
        if c.get("usd_total") is None:
            table.add_row(f"all {c['chip']}", "—", "infeasible", "", c.get("reason", "")[:90])
            continue
        devices = sum(f["devices"] for f in b["fleet"]) if best else None
        saving = 1 - d["usd_total"] / c["usd_total"] if c["usd_total"] else None
        table.add_row(f"all {c['chip']}" + (" (baseline)" if best else ""),
                      "—" if devices is None else f"{devices:,} peak", _usd(c["usd_total"]),
                      _usd(c.get("usd_per_hour")), "—" if saving is None else f"{saving:.1%}")
    for v in d.get("what_if") or []:
        if not v["feasible"]:
            table.add_row(f"what if: {v['what_if']}", "—", "infeasible", "", v["reason"][:90])
            continue
        table.add_row(f"what if: {v['what_if']}", "", _usd(v["usd_total"]), _usd(v["usd_per_hour"]),
                      f"{v['change_usd']:+,.0f} USD vs the plan")
    lines = [f"binding: {c['text']}" for c in d["binding_constraints"]] or ["binding: nothing presses against a limit"]
    table.caption = "\n".join(lines + [f"note: {n}" for n in d.get("notes", [])])
    return table


def fleet_tables(result) -> list[Table]:
    d = result.to_dict()
    return [allocation_table(d), cost_table(d), baseline_table(d)]


def fleet_plot(result, path: str) -> None:
    """A Gantt chart of the allocation by pool and the cost per workload and pool, as self-contained HTML."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    d = result.to_dict()
    fig = make_subplots(rows=2, cols=1, row_heights=[0.6, 0.4], vertical_spacing=0.15,
                        subplot_titles=("allocation by pool (days)", "cost by workload (USD)"))
    for r in d["allocation"]:
        start, finish = r["start_s"] / DAY, r["finish_s"] / DAY
        fig.add_trace(go.Bar(y=[r["pool"]], x=[finish - start], base=[start], orientation="h", name=r["workload"],
                             text=f"{r['workload']} ({r['devices']:,})", hovertext=plan_text(r),
                             showlegend=False), row=1, col=1)
    rows = d["allocation"]
    fig.add_trace(go.Bar(x=[f"{r['workload']} on {r['pool']}" for r in rows], y=[r["usd"] for r in rows],
                         showlegend=False), row=2, col=1)
    fig.update_layout(barmode="overlay", title=f"fleet plan: {d['usd_total']:,.0f} USD"
                      + (f", {d['saving_fraction']:.1%} below the all-{d['baseline']['chip']} baseline"
                         if d["saving_fraction"] is not None else ""))
    fig.update_xaxes(title_text="days", row=1, col=1)
    fig.write_html(path, include_plotlyjs=True)
