"""One training job over two pools of different chips.

Two ways to split, both priced with the per-stage entry of ``cost.step`` and summed by its ``compose_step``:

* **pipeline split** — pool A runs the first pipeline stages, pool B the rest; the layer counts are
  unequal and chosen so the slowest stage of each pool is as fast as possible while both fit in memory
  (the approach of Metis, Um et al. ATC'24, and HetHub, arXiv 2405.16256). The one stage boundary between
  pools uses the inter-pool link.
* **data-parallel split** — each pool runs whole replicas under its own plan and processes a share of the
  global batch sized so both finish together; gradients are then averaged across pools over the
  inter-pool link (the unequal-batch idea of Whale, ATC'22, and Cephalo).

Each is reported against the best plan on each pool alone, so a user sees what mixing buys. Every plan runs its
GEMMs in the job's precision; MFU is against the sum of both pools' peaks in that precision.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from .cost.flops import model_flops_per_token, total_params
from .cost.memory import in_flight_microbatches, pick_stage, stage_memory, stage_params
from .cost.step import (BREAKDOWN_KEYS, compose_step, dp_comm_s, mfu_peak_flops_per_s, optimizer_s, pick_stage_times,
                        stage_times, total_s)
from .errors import DoesNotFit
from .plan import RECOMPUTE, PlanGrid, tp_candidates
from .results import HeteroPlan, HeteroResult, TrainResult
from .search import SearchSpace, best_plans
from .specs import Model, Pool, TrainJob
from .training import RunOptions
from .units import format_bytes

MICRO_BATCHES = (1, 2, 4)
"""micro-batch sizes the pipeline split tries, sequences"""
RECOMPUTE_MODES = (1, 2)
"""recompute modes the pipeline split tries: selective, full"""
MAX_CROSS_DOMAIN_TP = 64
"""largest tp tried when tp may span scale-up domains"""


def _grid(n: int, **fields) -> PlanGrid:
    base = dict(tp=1, pp=1, dp=1, cp=1, ep=1, vpp=1, micro_batch=1, zero=1, recompute=1, fp8=0)
    base.update(fields)
    return PlanGrid(**{k: np.broadcast_to(np.asarray(v, dtype=np.int64), (n,)).copy() if np.ndim(v) == 0 else
                       np.asarray(v, dtype=np.int64) for k, v in base.items()})


def _expand(g: PlanGrid) -> PlanGrid:
    return PlanGrid(**{f: getattr(g, f)[:, None] for f in g.__dataclass_fields__})


def _tps(model: Model, pool: Pool, allow_cross: bool) -> list[int]:
    return tp_candidates(model, MAX_CROSS_DOMAIN_TP if allow_cross else min(pool.chip.scale_up_domain, MAX_CROSS_DOMAIN_TP))


def _peak_flops_per_s(pools: tuple[Pool, Pool], fp8: int) -> float:
    return float(sum(p.devices * mfu_peak_flops_per_s(p.chip, fp8) for p in pools))


def pipeline_split(model: Model, job: TrainJob, a: Pool, b: Pool, link_bytes_per_s: float, precision: str = "bf16",
                   allow_cross: bool = False) -> HeteroPlan | None:
    """Best plan with pool A holding the first stages and pool B the rest (unequal layers per stage)."""
    L = model.layers
    fp8 = int(precision == "fp8")
    cands = []
    for tp_a, tp_b, mb, rc in itertools.product(_tps(model, a, allow_cross), _tps(model, b, allow_cross),
                                                MICRO_BATCHES, RECOMPUTE_MODES):
        if a.devices % tp_a or b.devices % tp_b:
            continue
        shared = math.gcd(a.devices // tp_a, b.devices // tp_b)  # dp must divide both pools' devices / tp
        for dp in (d for d in range(1, math.isqrt(shared) + 1) if shared % d == 0 for d in {d, shared // d}):
            if job.global_batch % (dp * mb):
                continue
            pp_a, pp_b = a.devices // (tp_a * dp), b.devices // (tp_b * dp)
            if pp_a + pp_b <= L:
                cands.append((tp_a, tp_b, dp, pp_a, pp_b, mb, rc))
    if not cands:
        return None
    tp_a, tp_b, dp, pp_a, pp_b, mb, rc = (np.array(c)[:, None] for c in zip(*cands))
    pp = pp_a + pp_b
    ga = _grid(len(cands), tp=tp_a[:, 0], dp=dp[:, 0], pp=pp[:, 0], micro_batch=mb[:, 0], recompute=rc[:, 0], fp8=fp8)
    gb = _grid(len(cands), tp=tp_b[:, 0], dp=dp[:, 0], pp=pp[:, 0], micro_batch=mb[:, 0], recompute=rc[:, 0], fp8=fp8)
    gA, gB = _expand(ga), _expand(gb)
    m = job.global_batch // (dp * mb)
    layers_a = np.arange(1, L)[None, :]                      # layers on pool A, every split at once
    layers_b = L - layers_a
    n_a = -(-layers_a // pp_a)                                 # layers on pool A's fullest stage
    n_b = -(-layers_b // pp_b)
    dense_total = L - model.moe_layers
    frac_moe_a = np.maximum(layers_a - dense_total, 0) / layers_a
    frac_moe_b = np.minimum(layers_b, model.moe_layers) / layers_b

    # per micro-batch times of each pool's fullest stage: n layers, frac_moe of them MoE (B also holds the output layer)
    t_a = stage_times(model, a.chip, job, gA, n_a * (1 - frac_moe_a), n_a * frac_moe_a, False, embed=True)
    t_b = stage_times(model, b.chip, job, gB, n_b * (1 - frac_moe_b), n_b * frac_moe_b, True)
    pace = pick_stage([t_a.total_s, t_b.total_s])              # the slower pool's stage sets the pace
    t = pick_stage_times([t_a, t_b], pace)
    act_bytes = mb * job.seq_len * model.hidden * 2.0
    boundary = 2 * (m + pp - 1) * (act_bytes / np.minimum(tp_a, tp_b) / link_bytes_per_s)

    def split(n, frac_moe):
        moe_n = np.round(n * frac_moe)
        return n - moe_n, moe_n

    def fits(pool, g, n, frac_moe, embed, logits, in_flight):
        dense_n, moe_n = split(n, frac_moe)
        mem = stage_memory(model, pool.chip, job, g, dense_n, moe_n, embed, logits, in_flight)
        return mem.total_bytes <= pool.chip.hbm_bytes * (1 - job.memory_margin), mem.total_bytes

    ok_a, mem_a = fits(a, gA, n_a, frac_moe_a, True, False, in_flight_microbatches(gA, m, 0))
    ok_b, mem_b = fits(b, gB, n_b, frac_moe_b, False, False, in_flight_microbatches(gB, m, pp_a))
    ok_last, _ = fits(b, gB, n_b, frac_moe_b, False, True, 1)
    # data-parallel traffic and optimizer of each pool's fullest stage (dense and expert weights), both pools at once
    params_a = stage_params(model, gA, *split(n_a, frac_moe_a), True, False)
    params_b = stage_params(model, gB, *split(n_b, frac_moe_b), False, True)
    dp_s = np.maximum(dp_comm_s(model, a.chip, job, gA, params_a, n_a, t_a),
                      dp_comm_s(model, b.chip, job, gB, params_b, n_b, t_b))
    opt_s = np.maximum(optimizer_s(a.chip, job, gA, params_a), optimizer_s(b.chip, job, gB, params_b))
    breakdown = compose_step(t, m, pp, 1, pp_comm_s=boundary, dp_comm_s=dp_s, optimizer_s=opt_s)
    step = np.where(ok_a & ok_b & ok_last, total_s(breakdown), np.inf)
    if not np.isfinite(step).any():
        return None
    i, j = np.unravel_index(np.argmin(step), step.shape)
    best = float(step[i, j])
    mfu = float(job.tokens_per_step / best * model_flops_per_token(model, job.seq_len) / _peak_flops_per_s((a, b), fp8))
    return HeteroPlan(strategy="pipeline split", step_time_s=best, tokens_per_s=job.tokens_per_step / best, mfu=mfu,
                      detail={
        "dp": int(dp[i, 0]), "micro_batch": int(mb[i, 0]), "recompute": RECOMPUTE[int(rc[i, 0])], "precision": precision,
        "breakdown": {k: float(np.broadcast_to(breakdown[k], step.shape)[i, j]) for k in BREAKDOWN_KEYS},
        "pools": [
            {"chip": a.chip.name, "devices": a.devices, "tp": int(tp_a[i, 0]), "pp": int(pp_a[i, 0]),
             "layers": int(layers_a[0, j]), "layers_per_stage": int(n_a[i, j]), "stage_time_s": float(t_a.total_s[i, j]),
             "memory_per_device_bytes": float(mem_a[i, j])},
            {"chip": b.chip.name, "devices": b.devices, "tp": int(tp_b[i, 0]), "pp": int(pp_b[i, 0]),
             "layers": int(layers_b[0, j]), "layers_per_stage": int(n_b[i, j]), "stage_time_s": float(t_b.total_s[i, j]),
             "memory_per_device_bytes": float(mem_b[i, j])},
        ]})


def data_parallel_split(model: Model, job: TrainJob, a: Pool, b: Pool, link_bytes_per_s: float,
                        alone: list[TrainResult | None], precision: str = "bf16") -> HeteroPlan | None:
    """Each pool keeps its own best plan shape; the global batch is split so both pools finish together."""
    if any(r is None for r in alone):
        return None
    ra, rb = alone
    per_rep_a = ra.plan.dp * ra.plan.micro_batch    # sequences per micro-batch slot, whole pool
    per_rep_b = rb.plan.dp * rb.plan.micro_batch
    best = None
    for m_a in range(1, job.global_batch // per_rep_a + 1):
        rest = job.global_batch - m_a * per_rep_a
        if rest <= 0 or rest % per_rep_b:
            continue
        m_b = rest // per_rep_b
        t_a = _pool_step(ra, m_a)
        t_b = _pool_step(rb, m_b)
        # average gradients across pools: each device exchanges its share of the fp32 gradients over the link
        params = min(ra.memory["weights_bytes"], rb.memory["weights_bytes"]) / 2
        exchange = 2 * params * 4 / link_bytes_per_s
        step = max(t_a, t_b) + exchange
        if best is None or step < best[0]:
            best = (step, m_a, m_b, t_a, t_b, exchange)
    if best is None:
        return None
    step, m_a, m_b, t_a, t_b, exchange = best
    mfu = job.tokens_per_step / step * model_flops_per_token(model, job.seq_len) / _peak_flops_per_s(
        (a, b), int(precision == "fp8"))
    return HeteroPlan(strategy="data-parallel split", step_time_s=step, tokens_per_s=job.tokens_per_step / step,
                      mfu=mfu, detail={"cross_pool_sync_s": exchange, "precision": precision, "pools": [
                          {"chip": a.chip.name, "devices": a.devices, "plan": ra.plan.to_dict(), "microbatches": m_a,
                           "sequences": m_a * per_rep_a, "step_time_s": t_a},
                          {"chip": b.chip.name, "devices": b.devices, "plan": rb.plan.to_dict(), "microbatches": m_b,
                           "sequences": m_b * per_rep_b, "step_time_s": t_b}]})


def _pool_step(r: TrainResult, microbatches: int) -> float:
    """A pool's step with ``microbatches`` per replica: per-micro-batch parts scale, the rest stays."""
    m0 = r.job.global_batch // (r.plan.dp * r.plan.micro_batch)
    per_mb = sum(r.breakdown[k] for k in ("compute_s", "tp_comm_s", "cp_comm_s", "ep_comm_s", "moe_route_s",
                                          "moe_imbalance_s", "encoder_s")) / m0
    fixed = r.step_time_s - per_mb * m0
    return per_mb * microbatches + fixed


def hetero_plan(model: Model, job: TrainJob, pools: tuple[Pool, Pool], link_bytes_per_s: float,
                precision: str = "bf16", allow_cross_domain_tp: bool = False) -> HeteroResult:
    """Plan one job over exactly two pools and compare with each pool alone."""
    a, b = pools
    for pool in pools:
        pool.chip.require("hbm_bytes", "hbm_bytes_per_s")
    space = SearchSpace(allow_cross_domain_tp=allow_cross_domain_tp, precision=precision)
    alone = []
    for pool in pools:
        try:
            alone.append(best_plans(model, pool.chip, job, pool.devices, space, "time", None, RunOptions(), 1).plans[0])
        except DoesNotFit:
            alone.append(None)
    plans = [p for p in (pipeline_split(model, job, a, b, link_bytes_per_s, precision, allow_cross_domain_tp),
                         pipeline_split(model, job, b, a, link_bytes_per_s, precision, allow_cross_domain_tp),
                         data_parallel_split(model, job, a, b, link_bytes_per_s, alone, precision)) if p is not None]
    if not plans:
        state = 18 * total_params(model) / (a.devices + b.devices)  # bf16 weights, fp32 grads, Adam: 18 B/param
        raise DoesNotFit(f"no split of {model.name} over {a.devices} x {a.chip.name} and {b.devices} x {b.chip.name} fits: "
                         f"its weights, gradients and optimizer state alone need {format_bytes(state)} per device "
                         f"when spread over all {a.devices + b.devices}, before activations; add devices")
    plans.sort(key=lambda p: p.step_time_s)
    return HeteroResult(model=model, job=job, pools=(a, b), plans=plans, alone=alone)
