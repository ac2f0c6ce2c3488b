"""One training step: composes compute, communication, pipeline and memory (the only place that sums).

For each plan (arrays), the slowest pipeline stage runs m micro-batches, each
costing ``T_mb`` = its layers' forward + backward + recompute + the exposed
TP/CP/EP communication; the step adds the pipeline bubble and p2p traffic,
the exposed data-parallel communication and the optimizer update:

    step = m * T_mb + (pp - 1)/vpp * T_mb + pp_comm + dp_comm + optimizer

Every term is reported separately (``breakdown``) and the terms sum to the step.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..plan import PlanGrid
from ..specs import Chip, Model, TrainJob
from . import pipeline
from .comm import collective_s, latency_s, members_per_domain, p2p_s
from .compute import layer_times, logits_times, stream_s
from .flops import attention_core_flops_per_token, expert_params, ffn_params_dense, layer_shapes, matmul_flops_per_token, model_flops_per_token
from .memory import MemoryUse, memory_use, stage_layers

BREAKDOWN_KEYS = ("compute_s", "tp_comm_s", "cp_comm_s", "ep_comm_s", "pp_bubble_s", "pp_comm_s", "dp_comm_s", "optimizer_s")
# bytes moved per locally updated parameter by Adam: read grad, master, m, v (16), write master, m, v (12), bf16 weight (2)
ADAM_BYTES_PER_PARAM = 30


@dataclass(frozen=True, kw_only=True, slots=True)
class StepCosts:
    """Per-plan arrays: the step-time breakdown (seconds), rates and memory."""

    breakdown: dict[str, np.ndarray]
    step_time_s: np.ndarray
    tokens_per_s: np.ndarray
    mfu: np.ndarray
    hfu: np.ndarray
    memory: MemoryUse
    fits: np.ndarray


def _stage_mix(model: Model, g: PlanGrid):
    """(dense, moe) layer counts on the fullest stage and on the last stage."""
    full, last = stage_layers(model, g)
    moe_total = model.moe_layers
    moe_full = np.minimum(full, moe_total)
    moe_last = np.where(g.pp > 1, np.minimum(last, moe_total), moe_full)
    return (full - moe_full, moe_full), (last - moe_last, moe_last)


def step_costs(model: Model, chip: Chip, job: TrainJob, g: PlanGrid, devices: int) -> StepCosts:
    """Price every plan of ``g`` for ``job`` on ``devices`` chips."""
    s = layer_shapes(model)
    h = model.hidden
    seq = job.seq_len
    tokens = g.micro_batch * seq / g.cp
    m = g.microbatches(job)
    act_bytes = tokens * h * 2.0  # one micro-batch's activation tensor, bf16, gathered over tp

    # --- per-layer compute and exposed per-layer communication
    passes = np.where(g.recompute == 2, 3.0, 2.0)  # fwd + bwd (+ recompute fwd) for TP collectives
    tp_layer = 2.0 * (collective_s("all_gather", act_bytes, g.tp, 1, chip)
                      + collective_s("reduce_scatter", act_bytes, g.tp, 1, chip))
    tp_layer = passes * tp_layer * (1.0 - job.tp_overlap)
    kv_local = tokens * s.kv_out / g.tp * 2.0
    cp_comm = collective_s("all_gather", kv_local * g.cp, g.cp, g.tp, chip)

    def per_layer(moe: bool):
        t = layer_times(model, chip, g, seq, moe, job.framework)
        compute = t.fwd_s + t.bwd_s + t.recompute_s
        cp_exposed = (np.maximum(0.0, cp_comm - t.attn_core_fwd_s) * np.where(g.recompute == 2, 2, 1)
                      + np.maximum(0.0, 2 * cp_comm - 2 * t.attn_core_fwd_s))
        ep_exposed = 0.0 * compute
        if moe:
            dispatch = tokens / g.tp * model.moe.top_k * h * 2.0
            a2a = collective_s("all_to_all", dispatch, g.ep, g.tp, chip)
            ep_exposed = 2.0 * (passes) * a2a * (1.0 - job.ep_overlap)
        return t, compute, cp_exposed, ep_exposed

    dense_t, dense_c, dense_cp, dense_ep = per_layer(False)
    if model.moe:
        moe_t, moe_c, moe_cp, moe_ep = per_layer(True)
    else:
        moe_t, moe_c, moe_cp, moe_ep = dense_t, dense_c, dense_cp, dense_ep
    logit_f, logit_b = logits_times(model, chip, g, seq, job.framework)

    (d_full, x_full), (d_last, x_last) = _stage_mix(model, g)
    single = g.pp == 1

    def stage(d, x, with_logits):
        comp = d * dense_c + x * moe_c + np.where(with_logits, logit_f + logit_b, 0.0)
        fwd = d * dense_t.fwd_s + x * moe_t.fwd_s
        bwd = d * (dense_t.bwd_s + dense_t.recompute_s) + x * (moe_t.bwd_s + moe_t.recompute_s)
        return comp, (d + x) * tp_layer, d * dense_cp + x * moe_cp, d * dense_ep + x * moe_ep, fwd, bwd

    full_stage = stage(d_full, x_full, single)
    last_stage = stage(d_last, x_last, True)
    full_total = sum(full_stage[:4])
    last_total = sum(last_stage[:4])
    pick = full_total >= last_total
    comp, tp_c, cp_c, ep_c, fwd_w, bwd_w = (np.where(pick, a, b) for a, b in zip(full_stage, last_stage))

    # --- data-parallel traffic of the heaviest stage's parameters
    dpcp = g.dp * g.cp
    edp = np.maximum(dpcp // g.ep, 1)
    layers_here = np.where(pick, d_full + x_full, d_last + x_last)
    moe_here = np.where(pick, x_full, x_last)
    dense_params = (layers_here * s.attn_params + (layers_here - moe_here) * ffn_params_dense(model)) / g.tp
    dense_params = dense_params + model.vocab * h / g.tp
    expert_local = 0.0
    if model.moe:
        dense_params = dense_params + moe_here * model.moe.shared_experts * expert_params(model) / g.tp
        expert_local = moe_here * model.moe.experts / g.ep * expert_params(model) / g.tp

    def sync(kind, nbytes_per_param):
        nbytes = nbytes_per_param / job.framework.dp_bandwidth_scale
        return (collective_s(kind, dense_params * nbytes, dpcp, g.tp, chip)
                + collective_s(kind, expert_local * nbytes, edp, g.tp * g.ep, chip))

    grad_rs, param_ag, grad_ar = sync("reduce_scatter", 4.0), sync("all_gather", 2.0), sync("all_reduce", 4.0)
    fwd_mb, bwd_mb = fwd_w, bwd_w
    overlap = 1.0 if (job.dp_overlap and job.framework.dp_overlap) else 0.0
    dp_once = np.where(g.zero == 0,
                       np.maximum(0.0, grad_ar - overlap * bwd_mb),
                       np.maximum(0.0, grad_rs - overlap * bwd_mb) + np.maximum(0.0, param_ag - overlap * fwd_mb))
    # ZeRO-3 / FSDP gathers weights for every micro-batch (fwd and bwd) and reduce-scatters gradients
    # each layer's weights are gathered by their own collectives: the latency is paid per layer
    extra_calls = np.maximum(layers_here * job.framework.zero3_collectives_per_layer - 1, 0)
    ag_calls = extra_calls * latency_s("all_gather", dpcp, g.tp, chip)
    rs_calls = extra_calls * latency_s("reduce_scatter", dpcp, g.tp, chip)
    gather = param_ag + ag_calls
    dp_zero3 = m * (np.maximum(0.0, gather - overlap * fwd_mb)
                    + np.maximum(0.0, (job.framework.zero3_gathers_per_microbatch - 1) * gather + grad_rs + rs_calls
                                 - overlap * bwd_mb))
    dp_comm = np.where(g.zero == 3, dp_zero3, dp_once)

    # --- pipeline
    per_mb = comp + tp_c + cp_c + ep_c
    bubble = np.where(g.pp > 1, pipeline.bubble_s(per_mb, g.pp, g.vpp), 0.0)
    crosses = members_per_domain(g.tp * g.cp * g.dp, 2, chip.scale_up_domain) < 2
    pp_comm = pipeline.p2p_transfers(g.pp, g.vpp, m) * p2p_s(act_bytes / g.tp, crosses, chip)

    # --- optimizer
    opt_div_d = np.where(g.zero >= 1, dpcp, 1)
    opt_div_e = np.where(g.zero >= 1, edp, 1)
    optimizer = stream_s(ADAM_BYTES_PER_PARAM * (dense_params / opt_div_d + expert_local / opt_div_e), chip)

    breakdown = {
        "compute_s": m * comp,
        "tp_comm_s": m * tp_c,
        "cp_comm_s": m * cp_c,
        "ep_comm_s": m * ep_c,
        "pp_bubble_s": bubble,
        "pp_comm_s": pp_comm,
        "dp_comm_s": dp_comm,
        "optimizer_s": optimizer + 0.0 * comp,
    }
    step = sum(breakdown.values())
    tokens_per_s = job.tokens_per_step / step
    mfpt = model_flops_per_token(model, seq)
    recompute_fpt = (sum(matmul_flops_per_token(model).values()) - matmul_flops_per_token(model)["logits"]
                     + attention_core_flops_per_token(model, seq))
    # MFU is taken against the peak of the GEMM precision in use (fp8 runs against the fp8 peak), so it stays <= 1
    has_fp8 = chip.peak_flops_per_s.get("fp8") is not None
    peak = devices * np.where((g.fp8 == 1) & has_fp8, chip.peak("fp8"), chip.peak("bf16"))
    mfu = mfpt * tokens_per_s / peak
    hfu = (mfpt + np.where(g.recompute == 2, recompute_fpt, 0.0)) * tokens_per_s / peak
    mem = memory_use(model, chip, job, g)
    fits = mem.total_bytes <= chip.hbm_bytes * (1.0 - job.memory_margin)
    return StepCosts(breakdown=breakdown, step_time_s=step, tokens_per_s=tokens_per_s, mfu=mfu, hfu=hfu,
                     memory=mem, fits=fits)
