"""Results to people and programs: rich tables, JSON, Markdown and plots; no modelling here.

* :mod:`.training` — train, compare, plan, why, scaling tables
* :mod:`.serving` — serving tables
* :mod:`.hetero` — one job over two pools
* :mod:`.fleet` — the fleet planner's allocation, costs and baseline; its Gantt and cost plot
* :mod:`.validation` — validation tables and Markdown
* :mod:`.catalog` — catalog listings
* :mod:`.plots` — HTML plots

:func:`as_json` is the one mapping from a result to its ``--json`` object, for the CLI and the HTTP API alike.
"""

from __future__ import annotations

import json
import math

from rich.console import Console
from rich.table import Table

from ..results import DisaggregatedResult, HeteroResult, PlanResult, ServeResult, TrainResult


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


def as_json(result):
    """The ``--json`` object of a command's result (a result, a list of them, or catalog rows)."""
    if isinstance(result, PlanResult):
        return result.to_list()
    if isinstance(result, Exception):
        return {"error": str(result)}
    if isinstance(result, list):
        return [as_json(r) for r in result]
    if hasattr(result, "to_dict"):
        return result.to_dict()
    return result


def print_table(table: Table, min_width: int = 100) -> None:
    Console(width=max(min_width, Console().width)).print(table)


def tables(command: str, result, args: dict) -> list[tuple[Table, int]]:
    """The rich tables a person sees for ``command`` (with the minimum console width each needs)."""
    from .hetero import hetero_tables
    from .serving import disaggregated_table, inference_compare_table, inference_table
    from .training import compare_table, plan_table, scaling_table, train_table, why_table

    if isinstance(result, HeteroResult):
        return [(t, 130) for t in hetero_tables(result)]
    if isinstance(result, PlanResult):
        first = result.plans[0]
        title = (f"best {len(result.plans)} of {result.fitting:,} fitting plans ({result.valid:,} valid, "
                 f"{result.enumerated:,} enumerated) for {first.model.name} on {first.devices} x "
                 f"{first.chip.name}, by {result.objective}")
        if result.objective == "cost":  # price x devices is fixed: the cheapest plan per token is the fastest
            title += " (at one device count, the fastest; give --devices 64,128,256 to trade devices for time)"
        out = [(plan_table(result.plans, title), 150)]
        if len(result.plans) > 1:
            out.append((why_table(result.plans[0], result.plans[1]), 100))
        return out
    if isinstance(result, TrainResult):
        return [(train_table(result), 100)]
    if isinstance(result, DisaggregatedResult):
        return [(disaggregated_table(result), 100)]
    if isinstance(result, ServeResult):
        return [(inference_table(result), 100)]
    if command == "fleet":
        from .fleet import fleet_tables
        return [(t, 140) for t in fleet_tables(result)]
    if command == "rl":
        from .rl import rl_table
        return [(rl_table(result), 100)]
    if command == "compare":
        return [(compare_table(result), 100)]
    if command == "plan":
        return [(scaling_table(result), 130)]
    if command == "inference":
        return [(inference_compare_table(result, f"{args.get('slo_percentile') or 'mean'} TTFT <= {args.get('slo_ttft')}, "
                                                f"TPOT <= {args.get('slo_tpot')}"),
                 120)]
    raise ValueError(f"no table for {command}")
