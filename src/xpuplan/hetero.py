"""One training job over two pools of different chips.

Two ways to split, both priced with the per-stage cost model of ``cost.step``:

* **pipeline split** — pool A runs the first pipeline stages, pool B the rest; the layer counts are
  unequal and chosen so the slowest stage of each pool is as fast as possible while both fit in memory
  (the approach of Metis, Um et al. ATC'24, and HetHub, arXiv 2405.16256). The one stage boundary between
  pools uses the inter-pool link.
* **data-parallel split** — each pool runs whole replicas under its own plan and processes a share of the
  global batch sized so both finish together; gradients are then averaged across pools over the
  inter-pool link (the unequal-batch idea of Whale, ATC'22, and Cephalo).

Each is reported against the best plan on each pool alone, so a user sees what mixing buys.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from rich.table import Table

from . import api
from .catalog import load_chip, load_framework, load_model
from .cost.memory import in_flight_microbatches, stage_memory, stage_params
from .cost.pipeline import bubble_s
from .cost.step import dp_comm_s, layer_costs, stage_times
from .errors import BadInput, DoesNotFit
from .plan import RECOMPUTE, PlanGrid
from .specs import PLAN_MEMORY_MARGIN, Chip, Model, TrainJob
from .units import UnitError, format_bytes, format_duration, parse_quantity


@dataclass(frozen=True, kw_only=True)
class Pool:
    chip: Chip
    devices: int


@dataclass(frozen=True, kw_only=True)
class HeteroPlan:
    """The best split of one kind, in plain numbers."""

    strategy: str
    step_time_s: float
    tokens_per_s: float
    mfu: float
    detail: dict

    def to_dict(self, job: TrainJob) -> dict:
        total = None if job.tokens is None else job.tokens / self.tokens_per_s
        return {"strategy": self.strategy, "step_time_s": self.step_time_s, "tokens_per_s": self.tokens_per_s,
                "mfu": self.mfu, "total_time_s": total, **self.detail}


@dataclass(frozen=True, kw_only=True)
class HeteroResult:
    model: Model
    job: TrainJob
    pools: tuple[Pool, Pool]
    plans: list[HeteroPlan]
    """mixed plans, best first"""
    alone: list[api.TrainResult | None]
    """best plan on each pool alone (None where the job does not fit there)"""

    def to_dict(self) -> dict:
        return {
            "model": self.model.name,
            "pools": [{"chip": p.chip.name, "devices": p.devices} for p in self.pools],
            "plans": [p.to_dict(self.job) for p in self.plans],
            "alone": [None if r is None else r.to_dict() for r in self.alone],
        }


def parse_pool(text: str) -> Pool:
    chip, _, count = text.partition(":")
    if not chip or not count.isdigit() or int(count) <= 0:
        raise BadInput(f"--pool must be CHIP:COUNT (e.g. h800:512), got {text!r}", "pool")
    return Pool(chip=load_chip(chip), devices=int(count))


def _grid(n: int, **fields) -> PlanGrid:
    base = dict(tp=1, pp=1, dp=1, cp=1, ep=1, vpp=1, micro_batch=1, zero=1, recompute=1, fp8=0)
    base.update(fields)
    return PlanGrid(**{k: np.broadcast_to(np.asarray(v, dtype=np.int64), (n,)).copy() if np.ndim(v) == 0 else
                       np.asarray(v, dtype=np.int64) for k, v in base.items()})


def _tps(model: Model, chip: Chip, allow_cross: bool) -> list[int]:
    limit = 64 if allow_cross else max(chip.scale_up_domain, 1)
    return [t for t in (1, 2, 4, 8, 16, 32, 64) if t <= limit and model.heads % t == 0]


def pipeline_split(model: Model, job: TrainJob, a: Pool, b: Pool, link_bytes_per_s: float,
                   allow_cross: bool = False) -> HeteroPlan | None:
    """Best plan with pool A holding the first stages and pool B the rest (unequal layers per stage)."""
    L = model.layers
    cands = []
    for tp_a, tp_b, mb, rc in itertools.product(_tps(model, a.chip, allow_cross), _tps(model, b.chip, allow_cross),
                                                (1, 2, 4), (1, 2)):
        for dp in range(1, min(a.devices // tp_a, b.devices // tp_b) + 1):
            if a.devices % (tp_a * dp) or b.devices % (tp_b * dp) or job.global_batch % (dp * mb):
                continue
            pp_a, pp_b = a.devices // (tp_a * dp), b.devices // (tp_b * dp)
            if pp_a + pp_b <= L:
                cands.append((tp_a, tp_b, dp, pp_a, pp_b, mb, rc))
    if not cands:
        return None
    tp_a, tp_b, dp, pp_a, pp_b, mb, rc = (np.array(c)[:, None] for c in zip(*cands))
    pp = pp_a + pp_b
    ga = _grid(len(cands), tp=tp_a[:, 0], dp=dp[:, 0], pp=pp[:, 0], micro_batch=mb[:, 0], recompute=rc[:, 0])
    gb = _grid(len(cands), tp=tp_b[:, 0], dp=dp[:, 0], pp=pp[:, 0], micro_batch=mb[:, 0], recompute=rc[:, 0])
    m = job.global_batch // (dp * mb)
    layers_a = np.arange(1, L)[None, :]                      # layers on pool A, every split at once
    layers_b = L - layers_a
    n_a = -(-layers_a // pp_a)                                 # layers on pool A's fullest stage
    n_b = -(-layers_b // pp_b)
    dense_total = L - model.moe_layers
    frac_moe_a = np.maximum(layers_a - dense_total, 0) / layers_a
    frac_moe_b = np.minimum(layers_b, model.moe_layers) / layers_b

    def per_stage(pool, g, n, frac_moe, logits):
        costs = layer_costs(model, pool.chip, job, g)
        one_dense = stage_times(model, pool.chip, job, g, 1, 0, False, costs)
        one_moe = stage_times(model, pool.chip, job, g, 0, 1, False, costs) if model.moe else one_dense
        out = stage_times(model, pool.chip, job, g, 0, 0, True, costs)
        layer = (1 - frac_moe) * one_dense.total_s[:, None] + frac_moe * one_moe.total_s[:, None]
        return n * layer + (out.total_s[:, None] if logits else 0.0)

    t_a = per_stage(a, ga, n_a, frac_moe_a, False)
    t_b = per_stage(b, gb, n_b, frac_moe_b, True)
    t = np.maximum(t_a, t_b)
    act_bytes = mb * job.seq_len * model.hidden * 2.0
    boundary = 2 * (m + pp - 1) * (act_bytes / np.minimum(tp_a, tp_b) / link_bytes_per_s)
    step = m * t + bubble_s(t, pp, 1) + boundary

    def fits(pool, g, n, frac_moe, embed, logits, in_flight):
        moe_n = np.round(n * frac_moe)
        mem = stage_memory(model, pool.chip, job, _expand(g), n - moe_n, moe_n, embed, logits, in_flight)
        return mem.total_bytes <= pool.chip.hbm_bytes * (1 - job.memory_margin), mem.total_bytes

    gA, gB = _expand(ga), _expand(gb)
    ok_a, mem_a = fits(a, ga, n_a, frac_moe_a, True, False, in_flight_microbatches(gA, m, 0))
    ok_b, mem_b = fits(b, gb, n_b, frac_moe_b, False, False, in_flight_microbatches(gB, m, pp_a))
    ok_last, _ = fits(b, gb, n_b, frac_moe_b, False, True, 1)
    # data-parallel traffic of each pool's fullest stage, at the same time in both pools
    dp_a = dp_comm_s(model, a.chip, job, gA, stage_params(model, gA, n_a, 0, True, False), n_a,
                     stage_times(model, a.chip, job, gA, n_a, 0, False))
    dp_b = dp_comm_s(model, b.chip, job, gB, stage_params(model, gB, n_b, 0, False, True), n_b,
                     stage_times(model, b.chip, job, gB, n_b, 0, True))
    step = step + np.maximum(dp_a, dp_b)
    step = np.where(ok_a & ok_b & ok_last, step, np.inf)
    if not np.isfinite(step).any():
        return None
    i, j = np.unravel_index(np.argmin(step), step.shape)
    best = float(step[i, j])
    tokens_per_s = job.tokens_per_step / best
    peak = a.devices * a.chip.peak("bf16") + b.devices * b.chip.peak("bf16")
    mfu = float(job.tokens_per_step / best * _flops(model, job) / peak)
    return HeteroPlan(strategy="pipeline split", step_time_s=best, tokens_per_s=tokens_per_s, mfu=mfu, detail={
        "dp": int(dp[i, 0]), "micro_batch": int(mb[i, 0]), "recompute": RECOMPUTE[int(rc[i, 0])],
        "pools": [
            {"chip": a.chip.name, "devices": a.devices, "tp": int(tp_a[i, 0]), "pp": int(pp_a[i, 0]),
             "layers": int(layers_a[0, j]), "layers_per_stage": int(n_a[i, j]), "stage_time_s": float(t_a[i, j]),
             "memory_per_device_bytes": float(mem_a[i, j])},
            {"chip": b.chip.name, "devices": b.devices, "tp": int(tp_b[i, 0]), "pp": int(pp_b[i, 0]),
             "layers": int(layers_b[0, j]), "layers_per_stage": int(n_b[i, j]), "stage_time_s": float(t_b[i, j]),
             "memory_per_device_bytes": float(mem_b[i, j])},
        ]})


def _expand(g: PlanGrid) -> PlanGrid:
    return PlanGrid(**{f: getattr(g, f)[:, None] for f in g.__dataclass_fields__})


def _flops(model: Model, job: TrainJob) -> float:
    from .cost.flops import model_flops_per_token
    return model_flops_per_token(model, job.seq_len)


def data_parallel_split(model: Model, job: TrainJob, a: Pool, b: Pool, link_bytes_per_s: float,
                        alone: list) -> HeteroPlan | None:
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
        t_a = _pool_step(model, ra, m_a)
        t_b = _pool_step(model, rb, m_b)
        # average gradients across pools: each device exchanges its share of the fp32 gradients over the link
        params = min(ra.memory["weights_bytes"], rb.memory["weights_bytes"]) / 2
        exchange = 2 * params * 4 / link_bytes_per_s
        step = max(t_a, t_b) + exchange
        if best is None or step < best[0]:
            best = (step, m_a, m_b, t_a, t_b, exchange)
    if best is None:
        return None
    step, m_a, m_b, t_a, t_b, exchange = best
    peak = a.devices * a.chip.peak("bf16") + b.devices * b.chip.peak("bf16")
    mfu = job.tokens_per_step / step * _flops(model, job) / peak
    return HeteroPlan(strategy="data-parallel split", step_time_s=step, tokens_per_s=job.tokens_per_step / step,
                      mfu=mfu, detail={"cross_pool_sync_s": exchange, "pools": [
                          {"chip": a.chip.name, "devices": a.devices, "plan": ra.plan.to_dict(), "microbatches": m_a,
                           "sequences": m_a * per_rep_a, "step_time_s": t_a},
                          {"chip": b.chip.name, "devices": b.devices, "plan": rb.plan.to_dict(), "microbatches": m_b,
                           "sequences": m_b * per_rep_b, "step_time_s": t_b}]})


def _pool_step(model: Model, r: api.TrainResult, microbatches: int) -> float:
    """A pool's step with ``microbatches`` per replica: per-micro-batch parts scale, the rest stays."""
    m0 = r.job.global_batch // (r.plan.dp * r.plan.micro_batch)
    per_mb = sum(r.breakdown[k] for k in ("compute_s", "tp_comm_s", "cp_comm_s", "ep_comm_s")) / m0
    fixed = r.step_time_s - per_mb * m0
    return per_mb * microbatches + fixed


def hetero_plan(*, pools: list[str], model: str, inter_pool_bandwidth=None, seq_len: int = 4096,
                global_batch=None, global_batch_tokens=None, tokens=None, precision: str = "bf16",
                framework: str = "megatron", memory_margin: float = PLAN_MEMORY_MARGIN,
                allow_cross_domain_tp: bool = False, **job_options) -> HeteroResult:
    """Plan one job over exactly two pools and compare with each pool alone."""
    if len(pools) != 2:
        raise BadInput(f"give exactly two --pool CHIP:COUNT, got {len(pools)}", "pool")
    a, b = (parse_pool(p) for p in pools)
    mdl = load_model(model)
    for pool in (a, b):
        pool.chip.require("hbm_bytes", "hbm_bytes_per_s")
    fw = load_framework(framework)
    job = api.make_job(seq_len=seq_len, global_batch=global_batch, global_batch_tokens=global_batch_tokens,
                       tokens=tokens, framework=fw, memory_margin=memory_margin, **job_options)
    if inter_pool_bandwidth is not None:
        try:
            link = parse_quantity(inter_pool_bandwidth, "bytes_per_s")
        except UnitError as exc:
            raise BadInput(f"--inter-pool-bandwidth: {exc}", "inter_pool_bandwidth") from None
        if link <= 0:
            raise BadInput("--inter-pool-bandwidth must be > 0", "inter_pool_bandwidth")
    else:
        outs = [p.chip.scale_out_bytes_per_s for p in (a, b) if p.chip.scale_out_bytes_per_s]
        if not outs:
            raise BadInput("neither pool's chip has a published NIC bandwidth; give --inter-pool-bandwidth", "inter_pool_bandwidth")
        link = min(outs)
    alone = []
    for pool in (a, b):
        try:
            alone.append(api.plan(model=mdl, chip=pool.chip, devices=pool.devices, seq_len=seq_len,
                                  global_batch=job.global_batch, tokens=tokens, precision=precision,
                                  framework=fw, memory_margin=memory_margin, top=1,
                                  allow_cross_domain_tp=allow_cross_domain_tp).plans[0])
        except DoesNotFit:
            alone.append(None)
    plans = [p for p in (pipeline_split(mdl, job, a, b, link, allow_cross_domain_tp),
                         pipeline_split(mdl, job, b, a, link, allow_cross_domain_tp),
                         data_parallel_split(mdl, job, a, b, link, alone)) if p is not None]
    if not plans:
        from .cost.flops import total_params
        state = 18 * total_params(mdl) / (a.devices + b.devices)  # bf16 weights, fp32 grads, Adam: 18 B/param
        raise DoesNotFit(f"no split of {mdl.name} over {a.devices} x {a.chip.name} and {b.devices} x {b.chip.name} fits: "
                         f"its weights, gradients and optimizer state alone need {format_bytes(state)} per device "
                         f"when spread over all {a.devices + b.devices}, before activations; add devices")
    plans.sort(key=lambda p: p.step_time_s)
    return HeteroResult(model=mdl, job=job, pools=(a, b), plans=plans, alone=alone)


def hetero_tables(result: HeteroResult) -> list[Table]:
    """The mixed plans beside each pool alone."""
    job = result.job
    table = Table(title=f"{result.model.name}: one job over {' + '.join(f'{p.devices} x {p.chip.name}' for p in result.pools)}",
                  header_style="bold")
    for col in ("plan", "how", "step", "tokens/s", "MFU", "time"):
        table.add_column(col, justify="left" if col in ("plan", "how") else "right")
    for p in result.plans:
        if p.strategy == "pipeline split":
            how = "; ".join(f"{q['chip']}: tp{q['tp']} pp{q['pp']}, {q['layers']} layers "
                            f"({q['layers_per_stage']}/stage, {format_bytes(q['memory_per_device_bytes'])})"
                            for q in p.detail["pools"]) + f"; dp{p.detail['dp']} mbs {p.detail['micro_batch']}"
        else:
            how = "; ".join(f"{q['chip']}: tp{q['plan']['tp']} pp{q['plan']['pp']} dp{q['plan']['dp']}, "
                            f"{q['sequences']} seqs/step" for q in p.detail["pools"])
        time = format_duration(job.tokens / p.tokens_per_s) if job.tokens else "—"
        table.add_row(p.strategy, how, f"{p.step_time_s:.3f} s", f"{p.tokens_per_s:,.0f}", f"{p.mfu:.1%}", time)
    for pool, r in zip(result.pools, result.alone):
        if r is None:
            table.add_row(f"{pool.chip.name} alone", "does not fit", "—", "—", "—", "—")
            continue
        time = format_duration(r.total_time_s) if r.total_time_s is not None else "—"
        table.add_row(f"{pool.chip.name} alone ({pool.devices})", f"tp{r.plan.tp} pp{r.plan.pp} dp{r.plan.dp}",
                      f"{r.step_time_s:.3f} s", f"{r.tokens_per_s:,.0f}", f"{r.mfu:.1%}", time)
    table.caption = "MFU of a mixed plan is against the sum of both pools' bf16 peaks"
    return [table]
