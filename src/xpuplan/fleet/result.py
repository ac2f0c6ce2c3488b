"""The answer of ``xpuplan fleet``; ``to_dict`` is its ``--json`` object (DESIGN.md §3, "fleet --json keys")."""

from __future__ import annotations

from dataclasses import dataclass, field

from .milp import EPOCHS
from .outcome import Outcome


@dataclass(frozen=True, kw_only=True)
class FleetResult:
    """The chosen allocation, its cost, the single-chip-kind baseline and any what-if variants."""

    outcome: Outcome
    baseline: dict
    """``fleet``, ``chip``, ``usd_total``, ``usd_per_hour``, ``candidates`` (None figures when no candidate is
    feasible)"""
    what_if: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def usd_total(self) -> float:
        return self.outcome.usd_total

    @property
    def usd_per_hour(self) -> float:
        return self.outcome.usd_per_hour

    @property
    def saving_fraction(self) -> float | None:
        base = self.baseline.get("usd_total")
        return None if not base else 1.0 - self.usd_total / base

    def to_dict(self) -> dict:
        o, problem = self.outcome, self.outcome.problem
        return {
            "allocation": [dict(r) for r in o.rows],
            "usd_total": o.usd_total,
            "usd_per_hour": o.usd_per_hour,
            "utilisation": {name: info["utilisation"] for name, info in o.pools.items()},
            "baseline": dict(self.baseline),
            "saving_fraction": self.saving_fraction,
            "binding_constraints": list(o.binding),
            "objective": problem.objective,
            "makespan_s": o.makespan_s,
            "horizon_s": problem.horizon_s,
            "budget_usd": problem.budget_usd,
            "pools": {name: dict(info) for name, info in o.pools.items()},
            "cost_by_pool": {name: info["usd"] for name, info in o.pools.items()},
            "cost_by_workload": dict(o.cost_by_workload),
            "site": {"power_watts": problem.site.power_watts, "pue": problem.site.pue},
            "what_if": [dict(v) for v in self.what_if],
            "solver": {"status": o.solution.status, "epochs": EPOCHS,
                       "epoch_s": o.inputs.epoch_s, "windows_per_day": o.inputs.windows},
            "notes": list(self.notes),
        }

