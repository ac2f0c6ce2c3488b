"""One problem solved: its rates tabulated, the MILP solved, and the answer in rows and totals; an infeasible problem
is one line naming what binds (from the elastic solve's largest shortfall)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from ..errors import DoesNotFit
from ..units import DAY, HOUR
from .milp import EPOCHS, TIME_LIMIT_S, Inputs, Solution, held_epochs, solve
from .rates import serve_rates, train_options
from .specs import FleetProblem


@dataclass(frozen=True, kw_only=True)
class Outcome:
    """A solved problem: allocation rows, totals, per-pool use and what binds."""

    problem: FleetProblem
    inputs: Inputs
    solution: Solution
    rows: list[dict]
    usd_total: float
    usd_per_hour: float
    """steady-state services, averaged over the day"""
    makespan_s: float | None
    pools: dict[str, dict]
    cost_by_workload: dict[str, float]
    binding: list[dict]


def tabulate(problem: FleetProblem) -> Inputs:
    """Every workload's rate on every pool it may use (cached estimator calls)."""
    return Inputs(problem=problem, train={w.name: train_options(w, problem.pools, problem.horizon_s)
                                          for w in problem.training},
                  serve={w.name: serve_rates(w, problem.pools) for w in problem.serving})


def evaluate(problem: FleetProblem, time_limit_s: float = TIME_LIMIT_S) -> Outcome:
    """Solve ``problem``; DoesNotFit naming the binding constraint when nothing meets every constraint."""
    inputs = tabulate(problem)
    solution = solve(inputs, time_limit_s=time_limit_s)
    if solution is None:
        raise DoesNotFit(f"no allocation meets every constraint: {explain(inputs, time_limit_s)}")
    outcome = summarise(inputs, solution)
    outcome.binding.extend(_relaxed(outcome, time_limit_s))
    return outcome


def _relaxed(outcome: Outcome, time_limit_s: float) -> list[dict]:
    """The site power and the budget bind when lifting them would improve the objective (one more solve each)."""
    problem, out = outcome.problem, []
    known = {c["constraint"] for c in outcome.binding}
    lifts = [("power", dataclasses.replace(problem, site=dataclasses.replace(problem.site, power_watts=None)))
             if problem.site.power_watts is not None and "power" not in known else None,
             ("budget", dataclasses.replace(problem, budget_usd=None))
             if problem.budget_usd is not None and "budget" not in known and problem.objective == "makespan" else None]
    for name, lifted in filter(None, lifts):
        free = solve(dataclasses.replace(outcome.inputs, problem=lifted), time_limit_s=time_limit_s)
        if free is None:
            continue
        other = summarise(dataclasses.replace(outcome.inputs, problem=lifted), free)
        if problem.objective == "makespan" and (other.makespan_s or 0) < (outcome.makespan_s or 0) * (1 - 1e-6):
            gain = f"the runs would all finish by day {other.makespan_s / DAY:,.1f}, not {outcome.makespan_s / DAY:,.1f}"
        elif problem.objective == "cost" and other.usd_total < outcome.usd_total * (1 - 1e-6):
            gain = f"the plan would cost {outcome.usd_total - other.usd_total:,.0f} USD less"
        else:
            continue
        what = f"site power ({problem.site.power_watts / 1e6:,.3g} MW)" if name == "power" else \
            f"budget ({problem.budget_usd:,.0f} USD)"
        out.append({"constraint": name, "name": "site" if name == "power" else "budget",
                    "text": f"{what}: without it {gain}"})
    return out


def _when(inputs: Inputs, k: int, t: int) -> str:
    E = inputs.epoch_s
    text = f"days {k * E / DAY:,.3g}-{(k + 1) * E / DAY:,.3g}"
    if inputs.windows > 1:
        text += f", hours {24 * t / inputs.windows:g}-{24 * (t + 1) / inputs.windows:g} of the day"
    return text


def _users(inputs: Inputs, sol: Solution, pool: str, k: int, t: int) -> list[tuple[str, int, str]]:
    """(workload, devices, kind) on ``pool`` in epoch k, window t."""
    E, out = inputs.epoch_s, []
    for name, (o, s) in sol.runs.items():
        if o.pool == pool and s <= k < s + held_epochs(o.wall_s, E):
            out.append((name, o.devices, "run"))
    for name, by_pool in sol.replicas.items():
        n = by_pool.get(pool, [0] * inputs.windows)[t]
        if n:
            rate = next(r for r in inputs.serve[name] if r.pool == pool)
            out.append((name, n * rate.devices_per_replica, "serve"))
    return out


def explain(inputs: Inputs, time_limit_s: float = TIME_LIMIT_S) -> str:
    """The one line an infeasible problem gets: the constraint short by the largest share."""
    problem = inputs.problem
    sol = solve(inputs, elastic=True, time_limit_s=time_limit_s)
    if sol is None or not sol.slack:
        return "the solver found no allocation within its time limit; give fewer device counts or workloads"
    def share(item):
        key, value = item
        return value / {"pool": lambda: problem.pool(key[1]).devices, "power": lambda: problem.site.power_watts,
                        "budget": lambda: problem.budget_usd}[key[0]]()
    key, short = max(sol.slack.items(), key=share)
    if key[0] == "budget":
        return (f"budget: the cheapest allocation costs {problem.budget_usd + short:,.0f} USD; --budget-usd is "
                f"{problem.budget_usd:,.0f}")
    if key[0] == "power":
        need = (problem.site.power_watts + short) / 1e6
        return (f"site power: the allocation draws {need:,.1f} MW (TDP x PUE {problem.site.pue:g}) in "
                f"{_when(inputs, key[1], key[2])}; the site has {problem.site.power_watts / 1e6:,.1f} MW")
    _, name, k, t = key
    pool, users = problem.pool(name), _users(inputs, sol, name, k, t)
    if len(users) == 1:
        who, devices, kind = users[0]
        what = f"serving demand {who} needs {devices:,} {pool.chip_name} at the SLO" if kind == "serve" else \
            f"run {who} needs {devices:,} {pool.chip_name} to meet its deadline"
        return f"{what}; pool {name} has {pool.devices:,}"
    listed = ", ".join(f"{who} {devices:,}" for who, devices, _ in sorted(users, key=lambda u: -u[1]))
    return (f"pool {name} is short of {short:,.0f} devices in {_when(inputs, k, t)}: {listed} need "
            f"{pool.devices + short:,.0f} {pool.chip_name}; it has {pool.devices:,}")


def summarise(inputs: Inputs, sol: Solution) -> Outcome:
    """Rows, totals, per-pool use and what binds, from a solution."""
    problem, hours = inputs.problem, inputs.problem.horizon_s / HOUR
    rows = _run_rows(inputs, sol) + _service_rows(inputs, sol)
    by_workload = {w.name: sum(r["usd"] for r in rows if r["workload"] == w.name)
                   for w in problem.training + problem.serving}
    used = {p.name: sum(r["device_hours"] for r in rows if r["pool"] == p.name) for p in problem.pools}
    peaks = _peaks(inputs, sol)
    pools = {p.name: {"chip": p.chip_name, "devices": p.devices, "usd_per_device_hour": p.usd_per_device_hour,
                      "price_source": p.price_source, "device_hours": used[p.name],
                      "utilisation": used[p.name] / (p.devices * hours), "peak_devices": max(peaks[p.name].values()),
                      "usd": sum(r["usd"] for r in rows if r["pool"] == p.name)} for p in problem.pools}
    usd_total = sum(by_workload.values())
    finishes = [r["finish_s"] for r in rows if r["kind"] != "serve"]
    return Outcome(problem=problem, inputs=inputs, solution=sol, rows=rows, usd_total=usd_total,
                   usd_per_hour=sum(r.get("usd_per_hour", 0.0) for r in rows),
                   makespan_s=max(finishes) if finishes else None, pools=pools, cost_by_workload=by_workload,
                   binding=_binding(inputs, sol, peaks, usd_total))


def _run_rows(inputs: Inputs, sol: Solution) -> list[dict]:
    problem, rows = inputs.problem, []
    for w in problem.training:
        o, s = sol.runs[w.name]
        start = s * inputs.epoch_s
        rows.append({"workload": w.name, "kind": w.kind, "pool": o.pool, "chip": problem.pool(o.pool).chip_name,
                     "devices": o.devices, "plan": o.plan, "start_s": start, "finish_s": start + o.wall_s,
                     "usd": o.usd, "utilisation": o.goodput, "tokens_per_s": o.tokens_per_s, "work_s": o.work_s,
                     "wall_s": o.wall_s, "goodput": o.goodput, "deadline_s": w.deadline_s, "source": o.source,
                     "device_hours": o.devices * o.wall_s / HOUR})
    return rows


def _service_rows(inputs: Inputs, sol: Solution) -> list[dict]:
    """One row per service and pool it uses: peak devices, cost, load over SLO capacity (averaged over the day)."""
    problem, W, rows = inputs.problem, inputs.windows, []
    hours = problem.horizon_s / HOUR
    for w in problem.serving:
        for pool_name, reps in sorted(sol.replicas.get(w.name, {}).items()):
            if not any(reps):
                continue
            pool = problem.pool(pool_name)
            rate = next(r for r in inputs.serve[w.name] if r.pool == pool_name)
            devices = [n * rate.devices_per_replica for n in reps]
            per_hour = sum(devices) / W * pool.usd_per_device_hour
            loads = [sol.load.get((w.name, pool_name, t), (0.0, 0.0)) for t in range(W)]
            row = {"workload": w.name, "kind": "serve", "pool": pool_name, "chip": pool.chip_name,
                   "devices": max(devices), "plan": {**rate.plan, "replicas": max(reps)}, "start_s": 0.0,
                   "finish_s": problem.horizon_s, "usd": per_hour * hours, "usd_per_hour": per_hour,
                   "utilisation": sum(b for _, b in loads) / max(sum(reps), 1),
                   "requests_per_s": sum(r for r, _ in loads) / W,
                   "buckets": sorted(sol.buckets.get(w.name, {}).get(pool_name, [])), "source": rate.source,
                   "device_hours": sum(devices) / W * hours}
            if W > 1:
                row["devices_by_window"] = devices
            rows.append(row)
    return rows


def _peaks(inputs: Inputs, sol: Solution) -> dict[str, dict[tuple[int, int], int]]:
    """Devices in use per pool, epoch and window (runs held for whole epochs, as the MILP packs them)."""
    return {p.name: {(k, t): sum(n for _, n, _ in _users(inputs, sol, p.name, k, t)) for k in range(EPOCHS)
                     for t in range(inputs.windows)} for p in inputs.problem.pools}


def _binding(inputs: Inputs, sol: Solution, peaks: dict, usd_total: float) -> list[dict]:
    """Constraints the answer presses against: full pools, the site's power, the budget, deadlines that force a
    dearer plan."""
    problem, out = inputs.problem, []
    for p in problem.pools:
        full = [kt for kt, n in peaks[p.name].items() if n >= p.devices]
        if full:
            out.append({"constraint": "pool", "name": p.name,
                        "text": f"pool {p.name}: all {p.devices:,} devices in use in {_when(inputs, *full[0])}"
                        + (f" (and {len(full) - 1} more epochs/windows)" if len(full) > 1 else "")})
    site = problem.site
    if site.power_watts is not None:
        draw = max(sum(n * p.tdp_watts * site.pue for p in problem.pools for n in [peaks[p.name][kt]])
                   for kt in peaks[problem.pools[0].name])
        if draw >= 0.995 * site.power_watts:
            out.append({"constraint": "power", "name": "site", "text": f"site power: {draw / 1e6:,.1f} of "
                        f"{site.power_watts / 1e6:,.1f} MW drawn at the peak (PUE {site.pue:g})"})
    if problem.budget_usd is not None and usd_total >= 0.995 * problem.budget_usd:
        out.append({"constraint": "budget", "name": "budget",
                    "text": f"budget: {usd_total:,.0f} of {problem.budget_usd:,.0f} USD spent"})
    for w in problem.training:
        chosen, _ = sol.runs[w.name]
        cheaper = [o for o in inputs.train[w.name] if o.usd < chosen.usd * (1 - 1e-6) and o.wall_s <= problem.horizon_s
                   and w.deadline_s is not None and o.wall_s > w.deadline_s]
        if cheaper:
            c = min(cheaper, key=lambda o: o.usd)
            out.append({"constraint": "deadline", "name": w.name,
                        "text": f"deadline of {w.name} ({w.deadline_s / DAY:,.3g} days): {c.devices:,} x {c.pool} "
                        f"would cost {c.usd:,.0f} USD instead of {chosen.usd:,.0f} but take {c.wall_s / DAY:,.3g} days"})
    return out
