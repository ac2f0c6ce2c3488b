"""Plan search: enumerate every valid parallel plan, price them all at once, rank them.

The candidates are the Cartesian product of tp, pp, cp, ep, vpp, micro-batch, ZeRO stage, recompute
mode and, for MoE models, expert tensor parallelism (etp = tp, or 1 with tp folded into the expert
groups); dp follows from the device count. Structural rules (``plan.validity``) and the placement
rule (tp and the expert groups inside one scale-up domain unless allowed across) are boolean masks; the
survivors are priced by the same vectorised cost model as ``train`` (``cost.step.step_costs``) in
chunks, and plans that do not fit in memory are dropped. Nothing is pruned by heuristics.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from .cost.step import step_costs
from .errors import BadInput, DoesNotFit
from .plan import RECOMPUTE, RULES, ParallelPlan, PlanGrid, framework_allows, tp_candidates, validity
from .results import PlanResult, TrainResult
from .specs import Chip, Model, TrainJob
from .specs.job import GRAPHED_MOE_ROUTER
from .training import RunOptions, estimate
from .units import HOUR, format_bytes

OBJECTIVES = ("time", "cost", "devices")
CHUNK = 8192  # plans priced per vectorised call: arrays that stay in cache price ~2x faster than 1M-long ones


@dataclass(frozen=True, kw_only=True, slots=True)
class SearchSpace:
    """Which degrees the planner may choose; a fixed value restricts that axis."""

    allow_cross_domain_tp: bool = False
    """let tp, and the expert groups (etp * ep), span more than one scale-up domain"""
    precision: str = "bf16"
    """GEMM precision of every plan (the planner does not change numerics on its own)"""
    micro_batches: tuple[int, ...] | None = None
    """micro-batch sizes to try, sequences; None: every divisor of the global batch up to ``max_micro_batch``
    (a micro-batch must divide the per-replica batch, so no other size can be valid)"""
    max_micro_batch: int = 16
    """largest micro-batch tried when ``micro_batches`` is None, sequences"""
    zero: tuple[int, ...] = (0, 1, 2, 3)
    """ZeRO stages to try"""
    recompute: tuple[int, ...] = (0, 1, 2)
    """recompute modes to try: 0 none, 1 selective, 2 full"""
    vpp: tuple[int, ...] = (1, 2, 4, 8)
    """virtual pipeline stages to try"""
    max_cp: int = 32
    """largest context-parallel degree to try"""
    include: ParallelPlan | None = None
    """a plan whose degrees are added to every axis (to rank a published plan among the rest)"""
    moe_options: tuple[str, ...] = ()
    """MoE options to try besides the job's own (``dedup``, ``overlap``, ``graphs``; see Framework.moe_options)"""


def _powers_of_two(limit: int) -> list[int]:
    return [1 << i for i in range(int(np.log2(max(limit, 1))) + 1)]


def _divisors(n: int, limit: int) -> list[int]:
    return [d for d in range(1, min(n, limit) + 1) if n % d == 0]


def _axes(model: Model, job: TrainJob, devices: int, chip: Chip, space: SearchSpace) -> list[list[int]]:
    """The values each axis of the search takes: tp, pp, cp, ep, vpp, micro-batch, zero, recompute, etp option."""
    domain = chip.scale_up_domain
    tps = tp_candidates(model, min(devices, 64 if space.allow_cross_domain_tp else domain))
    pps = _divisors(devices, model.layers)
    cps = [c for c in _powers_of_two(min(space.max_cp, devices)) if job.seq_len % c == 0 and job.seq_len // c >= 512]
    eps = [e for e in _powers_of_two(min(devices, model.moe.experts)) if model.moe.experts % e == 0] if model.moe else [1]
    # expert tensor parallelism: 0 = as tp; 1 = experts unsplit, tp folded into the expert groups (MoE only)
    etps = [0, 1] if model.moe else [0]
    mbs = list(space.micro_batches) if space.micro_batches is not None else _divisors(job.global_sequences, space.max_micro_batch)
    axes = [tps, pps, cps, eps, list(space.vpp), mbs, list(space.zero), list(space.recompute), etps]
    if space.include is not None:
        p = space.include
        extra = (p.tp, p.pp, p.cp, p.ep, p.vpp, p.micro_batch, p.zero, RECOMPUTE.index(p.recompute),
                 0 if p.etp is None else p.etp)
        axes = [sorted(set(axis) | {value}) for axis, value in zip(axes, extra)]
    return axes


def candidate_count(model: Model, job: TrainJob, devices: int, chip: Chip, space: SearchSpace) -> int:
    """How many plans :func:`candidate_grid` would enumerate, without building them (to refuse a search early)."""
    return int(np.prod([len(axis) for axis in _axes(model, job, devices, chip, space)], dtype=float))


def candidate_grid(model: Model, job: TrainJob, devices: int, chip: Chip, space: SearchSpace) -> tuple[PlanGrid, int, np.ndarray]:
    """Every structurally valid plan as a PlanGrid, the number enumerated, and the rule counts of the rejects."""
    domain = chip.scale_up_domain
    axes = _axes(model, job, devices, chip, space)
    # the Cartesian product in itertools.product's order (last axis fastest), built by numpy, not tuple by tuple
    mesh = np.stack(np.meshgrid(*(np.asarray(a, dtype=np.int64) for a in axes), indexing="ij")).reshape(len(axes), -1)
    tp, pp, cp, ep, vpp, mb, zero, rc, etp_option = mesh
    etp = np.where(etp_option == 0, tp, etp_option)
    canonical = (etp_option == 0) | (etp_option != tp)  # etp written out as tp is the default layout: price it once
    enumerated = tp.size
    fw = job.framework
    keep = (devices % (tp * pp * cp) == 0) & ((vpp == 1) | (pp > 1))
    keep &= canonical
    keep &= framework_allows(fw, dict(tp=tp, pp=pp, cp=cp, vpp=vpp, ep=ep, zero=zero, recompute=rc))
    if not space.allow_cross_domain_tp:  # tp and the expert groups (etp * ep) inside one scale-up domain
        keep &= (tp <= max(domain, 1)) & (etp * ep <= max(domain, 1))
    if space.include is not None:  # the included plan is ranked even where it breaks the placement rule
        p = space.include
        keep |= (tp == p.tp) & (pp == p.pp) & (cp == p.cp) & (ep == p.ep) & (vpp == p.vpp) & (mb == p.micro_batch) \
            & (zero == p.zero) & (rc == RECOMPUTE.index(p.recompute)) & (etp == p.expert_tp) \
            & canonical
    tp, pp, cp, ep, vpp, mb, zero, rc, etp = (a[keep] for a in (tp, pp, cp, ep, vpp, mb, zero, rc, etp))
    fp8 = np.full(tp.shape, int(space.precision == "fp8"))
    grid = PlanGrid(tp=tp, pp=pp, dp=devices // (tp * pp * cp), cp=cp, ep=ep, vpp=vpp, micro_batch=mb, zero=zero,
                    recompute=rc, fp8=fp8, etp=etp)
    ok, first_bad = validity(model, job, devices, grid)
    rejected = np.bincount(first_bad[~ok], minlength=len(RULES))
    return _subset(grid, ok), enumerated, rejected


def _subset(g: PlanGrid, mask) -> PlanGrid:
    return PlanGrid(**{f: getattr(g, f)[mask] for f in g.__dataclass_fields__})


@dataclass(frozen=True, kw_only=True)
class SearchResult:
    """Priced plans that fit, best first, with what was searched."""

    grid: PlanGrid
    """fitting plans, best first"""
    step_time_s: np.ndarray
    memory_bytes: np.ndarray
    score: np.ndarray
    """the objective's value per plan (seconds or USD), best first"""
    enumerated: int
    valid: int
    precision: str = "bf16"
    """the GEMM format searched (the grid keeps only fp8 or not)"""

    def plan(self, i: int) -> ParallelPlan:
        """The i-th plan, in the format searched: a 16-bit plan is fp16 where fp16 was asked for (priced at bf16's
        tensor-core rate, with the job's 2-byte fp16 gradients)."""
        plan = self.grid.plan(i)
        return dataclasses.replace(plan, precision="fp16") if self.precision == "fp16" else plan

    def rank_of(self, step_time_s: float) -> int:
        """1-based rank a plan with this step time would take among the fitting plans (by time)."""
        return int(np.sum(np.sort(self.step_time_s) < step_time_s * (1 - 1e-9))) + 1


def search(model: Model, chip: Chip, job: TrainJob, devices: int, space: SearchSpace = SearchSpace(),
           objective: str = "time", usd_per_hour: float | None = None) -> SearchResult:
    """Price every valid plan on ``devices`` chips; keep those that fit; sort by the objective."""
    if objective not in ("time", "cost"):
        raise BadInput(f"--objective must be time or cost for one device count, got {objective!r}", "objective")
    if objective == "cost" and usd_per_hour is None:
        raise BadInput(f"--objective cost needs a price: {chip.name} has none in the catalog; give --usd-per-device-hour", "usd_per_device_hour")
    chip.require("hbm_bytes", "hbm_bytes_per_s")
    grid, enumerated, rejected = candidate_grid(model, job, devices, chip, space)
    if len(grid) == 0:
        rule = RULES[int(np.argmax(rejected))] if rejected.sum() else "no degree combination divides the device count"
        raise DoesNotFit(f"no valid plan for {model.name} on {devices} devices: {rule}")
    parts = [step_costs(model, chip, job, _subset(grid, slice(i, i + CHUNK)), devices) for i in range(0, len(grid), CHUNK)]
    step = np.concatenate([p.step_time_s for p in parts])
    memory = np.concatenate([p.memory.total_bytes for p in parts])
    fits = np.concatenate([p.fits for p in parts])
    if not fits.any():
        capacity = chip.hbm_bytes * (1 - job.memory_margin)
        raise DoesNotFit(f"does not fit: needs {format_bytes(memory.min())} per device at the smallest plan, "
                         f"{chip.name} has {format_bytes(capacity)} usable; add devices or pick a chip with more memory")
    score = step if objective == "time" else step / job.tokens_per_step * devices * usd_per_hour / HOUR  # USD per token
    # ties (e.g. cp and micro-batch trading places) go to the simpler plan, then to the smaller footprint
    simplicity = grid.cp * 1000 + grid.vpp * 10 + grid.ep
    rounded = np.round(score, 12)
    order = np.flatnonzero(fits)[np.lexsort((memory[fits], simplicity[fits], rounded[fits]))]
    # plans the model cannot tell apart (same score) are one choice: keep the simplest of each
    order = order[np.r_[True, rounded[order][1:] != rounded[order][:-1]]]
    return SearchResult(
        grid=_subset(grid, order), step_time_s=step[order], memory_bytes=memory[order], score=score[order],
        enumerated=enumerated, valid=len(grid), precision=space.precision,
    )


def best_plans(model: Model, chip: Chip, job: TrainJob, devices: int, space: SearchSpace, objective: str,
               usd_per_hour: float | None, run: RunOptions, top: int) -> PlanResult:
    """The best ``top`` plans for one device count, each as a full estimate with the run's reliability and cost."""
    jobs = moe_variants(model, job, space, chip.host_time_factor)
    founds, failure = [], None
    for variant in jobs:
        try:
            founds.append((variant, search(model, chip, variant, devices, space, objective, usd_per_hour)))
        except DoesNotFit as exc:
            failure = exc
    if not founds:
        raise failure
    ranked, seen = [], set()
    for score, n, i in sorted((float(found.score[i]), n, i) for n, (_, found) in enumerate(founds)
                              for i in range(min(top, len(found.grid)))):
        key = (round(score, 12), founds[n][1].plan(i))  # an option that changes nothing is not another plan
        if key not in seen:
            seen.add(key)
            ranked.append((score, n, i))
    ranked = ranked[:top]
    best = [estimate(model, chip, founds[n][0], devices, founds[n][1].plan(i), run) for _, n, i in ranked]
    return PlanResult(plans=best, enumerated=sum(f.enumerated for _, f in founds), valid=sum(f.valid for _, f in founds),
                      fitting=sum(len(f.grid) for _, f in founds), objective=objective)


def moe_variants(model: Model, job: TrainJob, space: SearchSpace, host_time_factor: float = 1.0) -> list[TrainJob]:
    """The job under each MoE option the search may try (the job's own first); the router replayed from CUDA graphs
    only where the host is slower than the x86 servers its routing figures come from (elsewhere it changes nothing)."""
    if model.moe is None or not space.moe_options:
        return [job]
    dedups = {job.ep_dedup, True} if "dedup" in space.moe_options else {job.ep_dedup}
    overlaps = {job.ep_overlap, job.framework.ep_overlap_efficiency} if "overlap" in space.moe_options else {job.ep_overlap}
    graphs = {job.cuda_graphs}
    if "graphs" in space.moe_options and host_time_factor > 1.0 and not job.moe_host_graphed:
        graphs.add(tuple(dict.fromkeys(job.cuda_graphs + GRAPHED_MOE_ROUTER)))
    variants = [job] + [dataclasses.replace(job, ep_dedup=d, ep_overlap=o, cuda_graphs=c) for d in sorted(dedups)
                        for o in sorted(overlaps) for c in sorted(graphs)
                        if (d, o, c) != (job.ep_dedup, job.ep_overlap, job.cuda_graphs)]
    return variants


def best_per_count(model: Model, chip: Chip, job: TrainJob, counts: list[int], space: SearchSpace, objective: str,
                   usd_per_hour: float | None, run: RunOptions, deadline_s: float | None = None) -> list[TrainResult]:
    """Best plan at each device count, ordered by the objective (fastest, cheapest, or fewest devices in time).

    ``objective="devices"`` returns, first, the smallest count whose best plan finishes within ``deadline_s``.
    """
    def best_at(n: int) -> TrainResult:
        return best_plans(model, chip, job, n, space, "cost" if objective == "cost" else "time", usd_per_hour,
                          run, 1).plans[0]

    best = []
    for n in counts:
        try:
            best.append(best_at(n))
        except DoesNotFit:
            continue  # too few devices for this model: the next count may fit
    if not best:
        return [best_at(counts[-1])]  # raises the reason for the largest count
    if objective == "devices":
        meeting = [r for r in best if r.total_time_s <= deadline_s]
        if not meeting:
            fastest = min(best, key=lambda r: r.total_time_s)
            raise DoesNotFit(f"no device count in {counts[0]}..{counts[-1]} meets the deadline: the fastest takes "
                             f"{fastest.total_time_s / 86400:.1f} days on {fastest.devices} devices")
        return sorted(meeting, key=lambda r: r.devices) + [r for r in best if r not in meeting]
    if objective == "cost":
        return sorted(best, key=lambda r: r.step_time_s * r.devices / r.job.tokens_per_step)
    return sorted(best, key=lambda r: r.step_time_s)
