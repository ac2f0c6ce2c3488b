"""A scenario's calls: each one runs :func:`xpuplan.api.run` with a command's options by table name and records the
exact ``xpuplan ...`` line that gives the same answer, and the warnings its result carries; plus the Markdown
formatting every section shares."""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

from .. import api
from ..flags import options
from ..results import PlanResult, merged_warnings


def command_line(command: str, args: dict) -> str:
    """The CLI spelling of ``args`` (option names of :mod:`xpuplan.flags`), in the order given."""
    by_name = {o.name: o for o in options(command)}
    words = ["xpuplan", command]
    for name, value in args.items():
        option = by_name[name]
        if option.kind is bool:
            words += [option.cli_flag] if value else ([option.off_flag] if option.off_flag else [])
            continue
        for v in value if isinstance(value, list) else [value]:
            words += [] if option.argument else [option.cli_flag]
            words.append(str(v))
    return " ".join(shlex.quote(w) for w in words)


def best(result):
    """The estimate a command's result stands for: a plan search's best plan, else the result itself."""
    return result.plans[0] if isinstance(result, PlanResult) else result


@dataclass
class Section:
    """One seed question answered: Markdown blocks, the commands that produced them, the warnings of their results,
    headline numbers (against a published anchor where one exists) and plotly figures."""

    key: str
    """short id (the ``--json`` key)"""
    title: str
    question: str
    blocks: list[str] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    headline: dict = field(default_factory=dict)
    figures: list = field(default_factory=list)

    def run(self, command: str, **args):
        """``api.run(command, args)``, its command line and warnings recorded; a job that does not fit (or a chip
        the command cannot price) comes back as the exception, so a table can say why."""
        self.commands.append(command_line(command, args))
        try:
            result = api.run(command, dict(args))
        except (api.DoesNotFit, api.BadInput) as exc:
            return exc
        items = result if isinstance(result, list) else [best(result)]
        self.warnings.extend(w for w in merged_warnings(items) if w not in self.warnings)
        return result

    def add(self, *blocks: str) -> None:
        self.blocks.extend(blocks)

    def anchor(self, name: str, value: float, unit: str, anchor: float | None = None, source: str = "",
               tolerance: float | None = None, note: str = "") -> None:
        """A headline number; with ``anchor``, the published figure it is checked against and the relative
        ``tolerance`` the test asserts (stated and justified in ``note``)."""
        error = None if anchor is None else value / anchor - 1
        self.headline[name] = {"value": value, "unit": unit, "anchor": anchor, "error": error, "tolerance": tolerance,
                               "source": source, "note": note}


# --------------------------------------------------------------------------------------------- formatting

def table(headers: list[str], rows: list[list]) -> str:
    """A Markdown table; cells are text already."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(c).replace("|", "/") for c in row) + " |" for row in rows]
    return "\n".join(lines)


def pct(x: float | None, digits: int = 1) -> str:
    return "—" if x is None else f"{100 * x:.{digits}f}%"


def signed(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:+.1f}%"


def num(x: float | None, digits: int = 3) -> str:
    """A number to ``digits`` significant figures with thousands separators."""
    if x is None:
        return "—"
    if abs(x) >= 10 ** digits:
        return f"{x:,.0f}"
    return f"{x:,.{digits}g}" if abs(x) >= 1 else f"{x:.{digits}g}"


def days(seconds: float | None) -> str:
    return "—" if seconds is None else f"{seconds / 86400:,.1f} d"


def hours(seconds: float | None) -> str:
    return "—" if seconds is None else f"{seconds / 3600:,.2f} h"


def usd(x: float | None) -> str:
    if x is None:
        return "— (no price)"
    return f"${x / 1e6:,.2f}M" if abs(x) >= 1e6 else f"${x:,.0f}"


def plan_cell(r) -> str:
    """A plan as ``tp8 pp16 dp128 ep64 vpp2 mbs1``."""
    p = r.plan
    parts = [f"tp{p.tp}", f"pp{p.pp}", f"dp{p.dp}"] + [f"{k}{v}" for k, v in (("cp", p.cp), ("ep", p.ep),
                                                                                ("vpp", p.vpp)) if v > 1]
    return " ".join(parts) + f" mbs{p.micro_batch} zero{p.zero} {p.recompute}"


def why_not(exc: Exception) -> str:
    """An exception as a table cell."""
    return str(exc).replace("|", "/")[:160]
