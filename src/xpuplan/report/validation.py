"""Validation reports: predicted against published, as a rich table or Markdown (benchmarks/results/)."""

from __future__ import annotations

import dataclasses

from rich.table import Table

from ..validate import INFERENCE_TARGET_MEDIAN, TARGET_MEDIAN, TARGET_P90, ServeCheck, ValidationReport, inference_summary
from ..validate.serve import by_source


def validation_table(report: ValidationReport) -> Table:
    table = Table(title="Published training runs: predicted vs reported throughput", header_style="bold")
    for col in ("run", "role", "chip", "devices", "plan", "reported tokens/s", "predicted tokens/s", "error", "pred. MFU"):
        table.add_column(col, justify="right" if col not in ("run", "role", "chip", "plan") else "left")
    for r in report.runs:
        flag = "" if r.fits else " (OOM)"
        table.add_row(r.id, r.role, r.chip, str(r.devices), r.plan, f"{r.reported_tokens_per_s:,.0f}",
                      f"{r.predicted_tokens_per_s:,.0f}", f"{r.error:+.1%}{flag}", f"{r.predicted_mfu:.1%}")
    table.caption = " | ".join(summary_lines(report))
    return table


def summary_lines(report: ValidationReport) -> list[str]:
    """Median and p90 |error| per role, and the target."""
    lines = []
    for role in ("main", "holdout", None):
        s = report.summary(role)
        if s["runs"]:
            lines.append(f"{role or 'all'}: {s['runs']} runs, median |error| {s['median_abs_error']:.1%}, "
                         f"p90 |error| {s['p90_abs_error']:.1%}")
    m = report.memory_summary()
    if m["runs"]:
        lines.append(f"memory per device: {m['runs']} runs with a published reading, median |error| "
                     f"{m['median_abs_error']:.1%}, p90 |error| {m['p90_abs_error']:.1%}")
    return lines + [f"target (main): median <= {TARGET_MEDIAN:.0%}, p90 <= {TARGET_P90:.0%}"]


def validation_markdown(report: ValidationReport) -> str:
    """The report as a Markdown table, for benchmarks/results/validation.md."""
    lines = ["| run | role | framework | chip | devices | plan | reported tokens/s | predicted tokens/s | error |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in report.runs:
        lines.append(f"| {r.id} | {r.role} | {r.framework} | {r.chip} | {r.devices} | {r.plan} | "
                     f"{r.reported_tokens_per_s:,.0f} | {r.predicted_tokens_per_s:,.0f} | {r.error:+.1%}"
                     f"{'' if r.fits else ' (OOM)'} |")
    memory = [r for r in report.runs if r.reported_memory_gib is not None]
    if memory:
        lines += ["", "Memory per device, where the source publishes it:", "",
                  "| run | role | framework | plan | reported GiB | predicted GiB | error |", "|---|---|---|---|---|---|---|"]
        lines += [f"| {r.id} | {r.role} | {r.framework} | {r.plan} | {r.reported_memory_gib:.1f} | "
                  f"{r.predicted_memory_gib:.1f} | {r.memory_error:+.1%} |" for r in memory]
    lines += [""] + [f"- {line}" for line in summary_lines(report)]
    return "\n".join(lines) + "\n"


def inference_markdown(checks: list[ServeCheck]) -> str:
    lines = ["| run | role | chip | devices | scenario | metric | reported | predicted | error |",
             "|---|---|---|---|---|---|---|---|---|"]
    for c in checks:
        lines.append(f"| {c.id} | {c.role} | {c.chip} | {c.devices} | {c.scenario} | {c.metric} | {c.reported:,.4g} | "
                     f"{c.predicted:,.4g} | {c.error:+.1%} |")
    lines.append("")
    for role in ("main", "holdout"):
        for kind, s in inference_summary(checks, role).items():
            if s["runs"]:
                lines.append(f"- {role}, {kind}: {s['runs']} runs, median |error| {s['median_abs_error']:.1%}")
    lines.append(f"- target (main, throughput and TPOT): median <= {INFERENCE_TARGET_MEDIAN:.0%}")
    lines += ["", "By publisher (nothing is fitted, so each is also its leave-one-publisher-out error):", "",
              "| source | runs | median abs error |", "|---|---|---|"]
    lines += [f"| {src} | {s['runs']} | {s['median_abs_error']:.1%} |" for src, s in by_source(checks).items()]
    return "\n".join(lines) + "\n"


def inference_json(checks: list[ServeCheck]) -> dict:
    """The ``validate --inference --json`` object: summaries per role and every run with its error."""
    return {"summary": {"main": inference_summary(checks, "main"), "holdout": inference_summary(checks, "holdout")},
            "by_source": by_source(checks),
            "runs": [dataclasses.asdict(c) | {"error": c.error} for c in checks]}


def cv_json(cv) -> dict:
    """The ``validate --cv --json`` object: fitted and cross-validated summaries, dense and MoE apart, every run."""
    subsets = (None, "main", "holdout", "dense", "moe")
    return {"summary": {which: {subset or "all": cv.summary(which, subset) for subset in subsets}
                        for which in ("fitted", "cv")},
            "target": {"median_abs_error": 0.08, "p90_abs_error": 0.20},
            "by_source": cv.by_source(),
            "runs": [dataclasses.asdict(c) | {"error": c.error, "fitted_error": f.error, "moe": c.id in cv.moe}
                     for c, f in zip(cv.checks, cv.fitted)]}


def cv_markdown(cv) -> str:
    """Leave-one-source-out against fitted error, as Markdown (benchmarks/results/validation.md)."""
    lines = ["| runs | n | fitted median | fitted p90 | leave-one-source-out median | leave-one-source-out p90 |",
             "|---|---|---|---|---|---|"]
    for subset in (None, "main", "holdout", "dense", "moe"):
        f, c = cv.summary("fitted", subset), cv.summary("cv", subset)
        if c["runs"]:
            lines.append(f"| {subset or 'all'} | {c['runs']} | {f['median_abs_error']:.1%} | {f['p90_abs_error']:.1%} | "
                         f"{c['median_abs_error']:.1%} | {c['p90_abs_error']:.1%} |")
    lines += ["", "Target (issue 15): leave-one-source-out median <= 8%, p90 <= 20%.", "",
              "| source | role | runs | fitted median | leave-one-source-out median | signed |", "|---|---|---|---|---|---|"]
    lines += [f"| {src} | {s['role']} | {s['runs']} | {s['fitted_median_abs_error']:.1%} | {s['median_abs_error']:.1%} | "
              f"{s['median_error']:+.1%} |" for src, s in cv.by_source().items()]
    lines += ["", "| run | source | role | fitted error | leave-one-source-out error |", "|---|---|---|---|---|"]
    lines += [f"| {c.id} | {c.source} | {c.role} | {f.error:+.1%} | {c.error:+.1%} |"
              for c, f in zip(cv.checks, cv.fitted) if c.role == "main"]
    return "\n".join(lines) + "\n"
