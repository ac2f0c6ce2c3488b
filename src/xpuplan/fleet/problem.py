"""The options of ``xpuplan fleet`` and its two documents into one checked :class:`FleetProblem`."""

from __future__ import annotations

import dataclasses

from ..errors import BadInput
from ..units import DAY
from .inputs import document, parse_fleet, parse_horizon
from .rates import DEFAULT_COUNTS
from .specs import OBJECTIVES, FleetPool, FleetProblem, allowed_pools
from .workloads import measured_chips, parse_workloads

MAX_OPTIONS = 2000
"""most (workload, pool, device count or bucket) rates one plan may price (about 0.25 s each, cold)"""
MAX_OPTIONS_HTTP = 256
"""the same over HTTP: about a minute of estimates"""
DEFAULT_HORIZON_S = 180 * DAY
"""the span planned when neither --horizon nor the workloads file sets one (longer when a deadline is later)"""


def load_problem(fleet, workloads, *, objective: str = "cost", budget_usd: float | None = None, horizon=None,
                 files: bool = True) -> FleetProblem:
    """Read and check everything before any estimate is made."""
    if objective not in OBJECTIVES:
        raise BadInput(f"--objective must be cost or makespan for fleet, got {objective!r}", "objective")
    if budget_usd is not None and not (isinstance(budget_usd, (int, float)) and 0 < budget_usd < 1e15):
        raise BadInput(f"--budget-usd must be > 0, got {budget_usd!r}", "budget_usd")
    flag_horizon = parse_horizon(horizon, "--horizon") if horizon is not None else None
    fleet_data, fleet_where = document(fleet, "fleet", files)
    work_data, work_where = document(workloads, "workloads", files)
    try:
        pools, site = parse_fleet(fleet_data, fleet_where, files, measured_chips(work_data))
        training, serving, file_horizon = parse_workloads(work_data, work_where, pools, files)
    except BadInput:
        raise
    except (TypeError, ValueError, AttributeError, KeyError, IndexError, OverflowError) as exc:
        raise BadInput(f"{work_where}: a field has the wrong type or shape ({type(exc).__name__}: {str(exc)[:120]}); "
                       "see docs/fleet.md", "workloads") from None
    deadlines = [w.deadline_s for w in training if w.deadline_s is not None]
    horizon_s = flag_horizon or file_horizon or max([DEFAULT_HORIZON_S] + deadlines)
    problem = FleetProblem(pools=pools, site=site, training=training, serving=serving, horizon_s=horizon_s,
                           objective=objective, budget_usd=None if budget_usd is None else float(budget_usd),
                           files=(fleet_where, work_where))
    _check(problem, files)
    return problem


def _check(problem: FleetProblem, files: bool) -> None:
    """What the parts cannot see alone: daily profiles that line up, power figures the site limit needs, and a
    pool for every workload."""
    windows = {len(w.profile) for w in problem.serving if len(w.profile) > 1}
    if len(windows) > 1:
        w = next(w for w in problem.serving if len(w.profile) == max(windows))
        raise BadInput(f"{w.where}.profile: every daily profile must have the same number of windows "
                       f"({', '.join(map(str, sorted(windows)))} given)", "profile")
    if problem.site.power_watts is not None:
        for i, p in enumerate(problem.pools):
            if p.tdp_watts is None:
                raise BadInput(f"{problem.files[0]}: pools[{i}].tdp: the site has a power limit and {p.chip_name} has "
                               "no catalog TDP; give tdp", "tdp")
    for w in problem.training + problem.serving:
        if not w.pools:
            raise BadInput(f"{w.where}.chips: no pool in the fleet can run it (a chip outside the catalog needs a "
                           "measured table)", "chips")
    sizes = {p.name: p.devices for p in problem.pools}
    options = sum(len([n for n in w.counts if n <= sizes[name]]) if w.counts else DEFAULT_COUNTS + 1
                  for w in problem.training for name in w.pools)
    options += sum(len(w.pools) * len(w.shares) for w in problem.serving)
    limit = MAX_OPTIONS if files else MAX_OPTIONS_HTTP
    if options > limit:
        raise BadInput(f"{problem.files[1]}: the plan would price {options:,} (workload, pool, size) options, over "
                       f"the limit of {limit:,}{'' if files else ' over HTTP (use the CLI)'}; allow fewer chips per "
                       "workload or give fewer device counts", "workloads")


def with_pools(problem: FleetProblem, pools: tuple[FleetPool, ...]) -> FleetProblem:
    """The same workloads on other pools: each workload keeps its ``chips`` restriction."""
    def moved(w):
        return dataclasses.replace(w, pools=allowed_pools(w.chips, w.measured, pools))

    return dataclasses.replace(problem, pools=pools, training=tuple(moved(w) for w in problem.training),
                               serving=tuple(moved(w) for w in problem.serving))
