"""The allocation as a mixed-integer linear program, solved by HiGHS through :func:`scipy.optimize.milp`.

The horizon H is cut into K equal epochs of length E = H / K, and a day into W equal windows (the services' daily
profile; W = 1 for a flat day). Variables:

* y[j,o,s] in {0,1}: training run j takes option o (a pool p(o), n(o) devices, wall time T(o) with failures, cost
  C(o)) and starts at epoch s; only starts with s·E + T(o) <= min(deadline_j, H) exist. Sum over (o,s) = 1.
* x[v,i,p,t] in {0,1}: slice i of service v goes to pool p in window t (Mélange's bin packing: a bucket's rate,
  cut into ``slice_factor`` slices, each served whole by one pool). Sum over p = 1.
* r[v,p,t] in Z+: replicas of service v on pool p in window t, each m(v,p) devices; capacity
  sum_i x·λ_i(t)/τ(v,p,b(i)) <= r, with λ_i(t) the slice's requests/s and τ one replica's SLO-meeting requests/s.

Constraints, per epoch k and window t: the devices in use on pool p (runs whose epochs cover k, plus every service's
m·r) are at most its size; their wall power (TDP x PUE) at most the site's; total cost at most the budget. A run's
devices are held for whole epochs from its start to the epoch its wall time ends in (a conservative packing).

Objective: cost = sum C(o)·y + sum m·r·price·H/W, with a vanishing preference for early starts; or the makespan
max_j (s·E + T) first, then the cheapest allocation with that makespan. With ``elastic``, pool, power and budget
rows get slack columns and only the slack, each as a fraction of its limit, is minimised: an infeasible problem
still solves and the largest slack names what binds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..units import HOUR
from .rates import ServeRate, TrainOption
from .specs import FleetProblem

EPOCHS = 24
"""epochs the horizon is cut into for scheduling runs"""
TIME_LIMIT_S = 60.0
"""HiGHS's wall-clock limit for one solve"""
START_PREFERENCE = 1e-6
"""relative weight of starting earlier when costs tie"""


@dataclass(frozen=True, kw_only=True)
class Inputs:
    """A problem with its rates, as the MILP sees it."""

    problem: FleetProblem
    train: dict[str, list[TrainOption]]
    serve: dict[str, list[ServeRate]]

    @property
    def epoch_s(self) -> float:
        return self.problem.horizon_s / EPOCHS

    @property
    def windows(self) -> int:
        return max((len(w.profile) for w in self.problem.serving), default=1)


@dataclass(kw_only=True)
class Solution:
    """The chosen allocation, in plain numbers."""

    status: str
    """optimal, or 'time limit (gap x%)'"""
    runs: dict[str, tuple[TrainOption, int]] = field(default_factory=dict)
    """training workload -> (option, start epoch)"""
    replicas: dict[str, dict[str, list[int]]] = field(default_factory=dict)
    """service -> pool -> replicas per window"""
    buckets: dict[str, dict[str, list[int]]] = field(default_factory=dict)
    """service -> pool -> buckets it serves (in any window)"""
    load: dict[tuple[str, str, int], tuple[float, float]] = field(default_factory=dict)
    """(service, pool, window) -> (requests/s sent there, replicas that load keeps busy)"""
    slack: dict[tuple, float] = field(default_factory=dict)
    """elastic solves: ('pool', name, k, t) / ('power', k, t) / ('budget',) -> shortfall"""


class _Builder:
    """Columns and rows of a sparse MILP, added one at a time."""

    def __init__(self):
        self.cost, self.low, self.high, self.integer, self.meta = [], [], [], [], []
        self.rows, self.cols, self.vals, self.row_low, self.row_high = [], [], [], [], []

    def var(self, cost: float, high: float, integer: bool, meta) -> int:
        self.cost.append(cost), self.low.append(0.0), self.high.append(high), self.integer.append(integer)
        self.meta.append(meta)
        return len(self.cost) - 1

    def row(self, terms, low: float, high: float) -> None:
        index = len(self.row_low)
        for col, val in terms:
            self.rows.append(index), self.cols.append(col), self.vals.append(val)
        self.row_low.append(low), self.row_high.append(high)

    def solve(self, time_limit_s: float):
        from scipy.optimize import Bounds, LinearConstraint, milp
        from scipy.sparse import csr_array

        n = len(self.cost)
        constraints = ()
        if self.row_low:
            matrix = csr_array((self.vals, (self.rows, self.cols)), shape=(len(self.row_low), n))
            constraints = (LinearConstraint(matrix, self.row_low, self.row_high),)
        return milp(np.array(self.cost), constraints=constraints, integrality=np.array(self.integer, dtype=int),
                    bounds=Bounds(self.low, self.high),
                    options={"time_limit": time_limit_s, "mip_rel_gap": 1e-6, "disp": False})


def held_epochs(wall_s: float, epoch_s: float) -> int:
    """Epochs a run starting at an epoch boundary holds its devices for."""
    return max(1, math.ceil(wall_s / epoch_s - 1e-9))


def _slices(w, windows: int):
    """(slice, bucket, window, requests/s) of a service."""
    out, profile = [], w.profile if len(w.profile) > 1 else w.profile * windows
    for t in range(windows):
        for b, share in enumerate(w.shares):
            load = w.rate * share * profile[t] / w.slice_factor
            if load > 0:
                out += [(b * w.slice_factor + c, b, t, load) for c in range(w.slice_factor)]
    return out


def build(inputs: Inputs, *, elastic: bool = False, makespan_cap_s: float | None = None,
          objective: str = "cost") -> _Builder:
    """The MILP of ``inputs`` (see the module docstring). ``elastic``: only the relative shortfalls are minimised."""
    m = _Builder()
    priced = objective == "cost" and not elastic
    use = {(p.name, k, t): [] for p in inputs.problem.pools for k in range(EPOCHS) for t in range(inputs.windows)}
    cost_terms, finish_rows = _runs(m, inputs, use, priced)
    cost_terms += _services(m, inputs, use, priced, elastic)
    _limits(m, inputs, use, cost_terms, elastic)
    if objective == "makespan":
        span = m.var(1.0, np.inf, False, ("makespan",))
        for finish in finish_rows:
            m.row(finish + [(span, -1.0)], -np.inf, 0.0)
    if makespan_cap_s is not None:
        for finish in finish_rows:
            m.row(finish, -np.inf, makespan_cap_s * (1 + 1e-9))
    return m


def _runs(m: _Builder, inputs: Inputs, use: dict, priced: bool) -> tuple[list, list]:
    """y[j,o,s] with their choice rows; returns the cost terms and each run's finish-time terms."""
    problem, E = inputs.problem, inputs.epoch_s
    scale = max([o.usd for opts in inputs.train.values() for o in opts] + [1.0])
    cost_terms, finish_rows = [], []
    for w in problem.training:
        limit = min(w.deadline_s or problem.horizon_s, problem.horizon_s) * (1 + 1e-9)
        choice, finish = [], []
        for o in inputs.train[w.name]:
            for s in range(EPOCHS):
                if s * E + o.wall_s > limit:
                    break
                col = m.var(o.usd + START_PREFERENCE * scale * s if priced else 0.0, 1, True, ("run", w.name, o, s))
                choice.append((col, 1.0)), finish.append((col, s * E + o.wall_s)), cost_terms.append((col, o.usd))
                for k in range(s, min(EPOCHS, s + held_epochs(o.wall_s, E))):
                    for t in range(inputs.windows):
                        use[(o.pool, k, t)].append((col, o.devices))
        m.row(choice, 1.0, 1.0)
        finish_rows.append(finish)
    return cost_terms, finish_rows


def _services(m: _Builder, inputs: Inputs, use: dict, priced: bool, elastic: bool) -> list:
    """r[v,p,t] and x[v,i,p,t] with the slice and capacity rows; returns the cost terms."""
    problem, W = inputs.problem, inputs.windows
    hours, cost_terms = problem.horizon_s / HOUR, []
    for w in problem.serving:
        rates, capacity = inputs.serve[w.name], {}
        for r in rates:
            pool = problem.pool(r.pool)
            for t in range(W):
                usd = r.devices_per_replica * pool.usd_per_device_hour * hours / W
                most = np.inf if elastic else pool.devices // r.devices_per_replica  # elastic: the pool row's slack
                col = m.var(usd if priced else 0.0, most, True, ("replicas", w.name, r.pool, t))
                capacity[(r.pool, t)] = [(col, -1.0)]
                cost_terms.append((col, usd))
                for k in range(EPOCHS):
                    use[(r.pool, k, t)].append((col, r.devices_per_replica))
        for _, b, t, load in _slices(w, W):
            choice = []
            for r in rates:
                if r.requests_per_s[b] > 0:
                    col = m.var(0.0, 1, True, ("slice", w.name, r.pool, t, b, load, r.requests_per_s[b]))
                    choice.append((col, 1.0))
                    capacity[(r.pool, t)].append((col, load / r.requests_per_s[b]))
            m.row(choice, 1.0, 1.0)
        for terms in capacity.values():
            m.row(terms, -np.inf, 0.0)
    return cost_terms


def _limits(m: _Builder, inputs: Inputs, use: dict, cost_terms: list, elastic: bool) -> None:
    """Pool sizes and site power per epoch and window, and the budget; ``elastic`` adds their slack columns, each
    weighted by the limit so the shortfalls compare as fractions."""
    problem, site = inputs.problem, inputs.problem.site
    windows = [(k, t) for k in range(EPOCHS) for t in range(inputs.windows)]
    for p in problem.pools:
        for k, t in windows:
            terms = list(use[(p.name, k, t)])
            if terms and elastic:
                terms.append((m.var(1.0 / p.devices, np.inf, False, ("slack", "pool", p.name, k, t)), -1.0))
            if terms:
                m.row(terms, -np.inf, p.devices)
    if site.power_watts is not None:
        for k, t in windows:
            terms = [(col, n * p.tdp_watts * site.pue) for p in problem.pools for col, n in use[(p.name, k, t)]]
            if terms and elastic:
                terms.append((m.var(1.0 / site.power_watts, np.inf, False, ("slack", "power", k, t)), -1.0))
            if terms:
                m.row(terms, -np.inf, site.power_watts)
    if problem.budget_usd is not None:
        terms = list(cost_terms)
        if elastic:
            terms.append((m.var(1.0 / problem.budget_usd, np.inf, False, ("slack", "budget")), -1.0))
        m.row(terms, -np.inf, problem.budget_usd)


def solve(inputs: Inputs, *, elastic: bool = False, time_limit_s: float = TIME_LIMIT_S) -> Solution | None:
    """The cheapest allocation (or the shortest makespan, then the cheapest), or None when infeasible."""
    cap = None
    if inputs.problem.objective == "makespan" and inputs.problem.training and not elastic:
        first = build(inputs, objective="makespan")
        res = first.solve(time_limit_s)
        if res.x is None:
            return None
        cap = float(res.x[next(i for i, meta in enumerate(first.meta) if meta[0] == "makespan")])
    m = build(inputs, elastic=elastic, makespan_cap_s=cap)
    res = m.solve(time_limit_s)
    if res.x is None:
        return None
    status = "optimal" if res.status == 0 else f"time limit (gap {getattr(res, 'mip_gap', float('nan')):.2%})"
    return _read(m, res.x, status, inputs.windows)


def _read(m: _Builder, x: np.ndarray, status: str, windows: int) -> Solution:
    sol = Solution(status=status)
    for value, meta in zip(x, m.meta):
        if meta[0] == "run" and value > 0.5:
            sol.runs[meta[1]] = (meta[2], meta[3])
        elif meta[0] == "replicas":
            _, name, pool, t = meta
            sol.replicas.setdefault(name, {}).setdefault(pool, [0] * windows)[t] = int(round(value))
        elif meta[0] == "slice" and value > 0.5:
            _, name, pool, t, b, load, tau = meta
            served = sol.buckets.setdefault(name, {}).setdefault(pool, [])
            if b not in served:
                served.append(b)
            rps, busy = sol.load.get((name, pool, t), (0.0, 0.0))
            sol.load[(name, pool, t)] = (rps + load, busy + load / tau)
        elif meta[0] == "slack" and value > 1e-6:
            sol.slack[meta[1:]] = float(value)
    return sol
