"""The fleet planner: which work goes on which pools of a mixed fleet, when, and at what cost.

Pools (FLEET) and workloads (WORKLOADS: pre-training, fine-tuning and RL runs, services) go in; each workload's rate
on each pool comes from xpuplan's own estimators at their best plan (:mod:`.rates`), or from measured tables; a MILP
solved by HiGHS (:mod:`.milp`) picks devices per workload per pool and the runs' start times, minimising cost (or the
makespan) under deadlines, SLOs, pool sizes, site power and budget. The answer is set against the cheapest
single-chip-kind fleet (:mod:`.variants`) and any ``--what-if`` variants.

* :mod:`.specs` — pools, site, workloads · :mod:`.inputs` / :mod:`.workloads` / :mod:`.problem` — the files in
* :mod:`.rates` — rate tables · :mod:`.milp` — the program · :mod:`.outcome` — one solve, rows, what binds
* :mod:`.variants` — baseline and what-if · :mod:`.result` — the ``--json`` object

The model and its sources: docs/fleet.md (after Mélange, Griggs et al., arXiv 2404.14527).
"""

from __future__ import annotations

from .milp import TIME_LIMIT_S
from .result import FleetResult


def plan_fleet(fleet, workloads, *, objective: str = "cost", budget_usd: float | None = None, horizon=None,
               baseline: str | None = None, what_if=(), files: bool = True,
               time_limit_s: float = TIME_LIMIT_S) -> FleetResult:
    """Plan ``workloads`` on ``fleet`` (each a YAML file, inline YAML text, or the mapping itself; ``files=False``
    never opens a file). Everything is read and checked before the first estimate."""
    from .outcome import evaluate
    from .problem import load_problem
    from .variants import apply_what_if, baseline as best_baseline, what_ifs

    problem = load_problem(fleet, workloads, objective=objective, budget_usd=budget_usd, horizon=horizon,
                           files=files)
    texts = [what_if] if isinstance(what_if, str) else list(what_if or ())
    for text in texts:
        apply_what_if(problem, text, files)  # a misspelt variant is refused before the solves
    main = evaluate(problem, time_limit_s)
    notes = [f"pool {p.name}: price {p.usd_per_device_hour:.4g} USD/device-hour ({p.price_source})"
             for p in problem.pools]
    if main.solution.status != "optimal":
        notes.append(f"the solver stopped at its time limit: {main.solution.status}")
    return FleetResult(outcome=main, baseline=best_baseline(problem, baseline, files, time_limit_s),
                       what_if=what_ifs(problem, texts, main, files, time_limit_s), notes=notes)


__all__ = ["FleetResult", "plan_fleet"]
