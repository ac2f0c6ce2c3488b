"""Where a published plan ranks among the plans the planner would offer for the same job.

For a validation run (``data/validation``) the planner searches every valid plan for the run's model, chip, device
count, batch and framework, under the planner's default memory margin (or the published plan's, where it kept less
free), and the published plan is placed among the plans that fit by predicted step time. Issue 3 asks for the
published plan in the top 10%: rank <= ceil(0.10 x plans), so in a space of fewer than ten plans only the best counts.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from ..training import estimate
from ..plan import ParallelPlan
from ..search import SearchSpace, search
from ..specs import PLAN_MEMORY_MARGIN, RECOMPUTE
from .train import run_setup

TOP_SHARE = 0.10
AXES = ("tp", "pp", "cp", "ep", "etp", "vpp", "micro_batch", "zero", "recompute")  # etp: None = as tp


@dataclass(frozen=True, kw_only=True, slots=True)
class PublishedRank:
    """A published plan against the planner's search for the same job."""

    id: str
    framework: str
    """the training framework profile the run was priced with"""
    published: ParallelPlan
    published_step_s: float
    """predicted step time of the published plan"""
    fits: bool
    """whether the published plan fits in the memory model (a plan that does not cannot be ranked)"""
    published_memory_bytes: float
    best: ParallelPlan | None = None
    best_step_s: float | None = None
    rank: int | None = None
    """1-based place among the fitting plans by step time"""
    plans: int = 0
    """plans that fit under the planner's memory margin"""
    cutoff_step_s: float | None = None
    """predicted step time of the last plan inside the top 10%"""

    @property
    def cutoff(self) -> int:
        return top_count(self.plans)

    @property
    def in_top(self) -> bool:
        return self.rank is not None and self.rank <= self.cutoff

    @property
    def gap_to_top(self) -> float | None:
        """How much faster the published plan would need to be predicted to enter the top 10% (0 when it is in)."""
        if self.cutoff_step_s is None:
            return None
        return max(0.0, 1.0 - self.cutoff_step_s / self.published_step_s)

    @property
    def differs(self) -> list[str]:
        """Plan axes on which the planner's best plan differs from the published one."""
        return [] if self.best is None else [a for a in AXES if getattr(self.best, a) != getattr(self.published, a)]


def top_count(plans: int) -> int:
    """How many of ``plans`` make the top 10% (at least the best one)."""
    return math.ceil(TOP_SHARE * plans)


def rank_published(run: dict, where: str, memory_margin: float = PLAN_MEMORY_MARGIN) -> PublishedRank:
    """Rank one validation run's published plan among the planner's plans for the same job.

    The alternatives keep ``memory_margin`` free, as ``xpuplan plan`` does by default, or as little as the published
    plan kept where it ran closer to the limit (the source took that risk, so its alternatives may too)."""
    s, pub, planner_job = _published(run, where, memory_margin)
    head = {"id": run["id"], "framework": s.job.framework.name, "published": s.plan, "published_step_s": pub.step_time_s, "fits": pub.fits,
            "published_memory_bytes": pub.memory_per_device_bytes}
    if not pub.fits:
        return PublishedRank(**head)
    found = search(s.model, s.chip, planner_job, s.devices, SearchSpace(precision=s.precision, include=s.plan))
    plans = len(found.grid)
    return PublishedRank(**head, best=found.plan(0), best_step_s=float(found.step_time_s[0]),
                         rank=found.rank_of(pub.step_time_s), plans=plans,
                         cutoff_step_s=float(found.step_time_s[top_count(plans) - 1]))


def _published(run: dict, where: str, memory_margin: float):
    """The run's setup, its published plan's estimate, and the job the planner searches for it: ``memory_margin``
    free, or as little as the published plan kept where it ran closer to the limit (the source took that risk, so
    its alternatives may too)."""
    s = run_setup(run, where)
    pub = estimate(s.model, s.chip, s.job, s.devices, s.plan)
    kept_free = max(0.0, 1.0 - pub.memory_per_device_bytes / s.chip.hbm_bytes)
    return s, pub, dataclasses.replace(s.job, memory_margin=min(memory_margin, kept_free))


PINNABLE = ("recompute", "micro_batch", "zero", "vpp")
"""plan choices :func:`best_pinned` can hold at the published value (the search's own restrictable axes)"""


def best_pinned(run: dict, where: str, axis: str, memory_margin: float = PLAN_MEMORY_MARGIN) -> float | None:
    """The planner's best predicted step for ``run``'s job with ``axis`` (one of :data:`PINNABLE`) held at the
    published plan's value and every other choice free, under the same memory rule as :func:`rank_published`; None
    when the published plan does not fit. Where pinning one axis takes most of the planner's gain over the measured
    run away, that choice of the published plan is where the planner claims its advantage."""
    s, pub, planner_job = _published(run, where, memory_margin)
    if not pub.fits:
        return None
    pin = {"recompute": {"recompute": (RECOMPUTE.index(s.plan.recompute),)},
           "micro_batch": {"micro_batches": (s.plan.micro_batch,)},
           "zero": {"zero": (s.plan.zero,)}, "vpp": {"vpp": (s.plan.vpp,)}}[axis]
    found = search(s.model, s.chip, planner_job, s.devices, SearchSpace(precision=s.precision, include=s.plan, **pin))
    return float(found.step_time_s[0])


def describe(p: ParallelPlan) -> str:
    """One-line plan text: every degree, micro-batch, ZeRO stage and recompute."""
    etp = f" etp{p.expert_tp}" if p.expert_tp != p.tp else ""
    return f"tp{p.tp} pp{p.pp} dp{p.dp} cp{p.cp} ep{p.ep}{etp} v{p.vpp} mb{p.micro_batch} z{p.zero} {p.recompute}"
