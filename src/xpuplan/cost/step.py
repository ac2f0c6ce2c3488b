"""One training step: composes compute, communication, pipeline and memory (the only place that sums).

For each plan (arrays), the slowest pipeline stage runs m micro-batches, each
costing ``T_mb`` = its layers' forward + backward + recompute + the exposed
TP/CP/EP communication; the step adds the pipeline bubble and p2p traffic,
the exposed data-parallel communication and the optimizer update:

    step = m * T_mb + (pp - 1)/vpp * T_mb + pp_comm + dp_comm + optimizer

A vision-language model's encoder and projector run on the first stage (:mod:`.encoder`): they make that stage's
T_mb longer (``encoder_s``), which sets the pace when it is the slowest.
Every term is reported separately (``breakdown``) and the terms sum to the step. ``compose_step`` is that sum;
``step_costs`` prices a plan grid on one chip kind with it, and :mod:`xpuplan.hetero` composes the stages of two
chip kinds with it (``stage_times``, ``pick_stage_times``, ``dp_comm_s`` and ``optimizer_s`` are the per-stage entry).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..plan import PlanGrid
from ..specs import HOST_LINK_BYTES_PER_S, Chip, Framework, Model, TrainJob
from . import pipeline, remat, task
from .comm import collective_parts, collective_s, expert_dispatch_s, latency_s, members_per_domain, p2p_s
from .compute import LayerTimes, layer_times, logits_times, stream_s
from .encoder import EncoderTimes, encoder_times
from .flops import attention_core_flops_per_token, encoder_forward_flops_per_image, layer_shapes, matmul_flops_per_token
from .memory import (MemoryUse, activation_bytes_per_token, expert_dp, memory_use, pick_stage, shard_groups, stage_mix,
                     stage_params, take)

BREAKDOWN_KEYS = ("compute_s", "tp_comm_s", "cp_comm_s", "ep_comm_s", "pp_bubble_s", "pp_comm_s", "dp_comm_s",
                  "optimizer_s", "offload_s", "moe_route_s", "moe_imbalance_s", "reference_s", "encoder_s")


@dataclass(frozen=True, kw_only=True, slots=True)
class StepCosts:
    """Per-plan arrays: the step-time breakdown (seconds), rates and memory."""

    breakdown: dict[str, np.ndarray]
    step_time_s: np.ndarray
    forward_s: np.ndarray
    """a forward of the step's sequences alone (the pace-setting stage's forward per micro-batch): what a log-prob,
    reference or reward pass over the same batch costs"""
    tokens_per_s: np.ndarray
    mfu: np.ndarray
    hfu: np.ndarray
    memory: MemoryUse
    fits: np.ndarray


@dataclass(frozen=True, kw_only=True, slots=True)
class StageTimes:
    """Seconds per micro-batch on one pipeline stage (arrays over plans)."""

    compute_s: np.ndarray
    tp_s: np.ndarray
    cp_s: np.ndarray
    ep_s: np.ndarray
    route_s: np.ndarray
    """MoE routing outside the GEMMs (``LayerTimes.route_s``) of the stage's MoE layers"""
    imbalance_s: np.ndarray
    """what the most loaded expert-parallel rank's extra tokens add to the stage's expert GEMMs"""
    fwd_s: np.ndarray
    """forward compute alone: the window that hides a weight all-gather"""
    bwd_s: np.ndarray
    """backward (+ recompute) compute alone: the window that hides a gradient reduction"""
    encoder_s: np.ndarray | float = 0.0
    """the vision encoder and projector (forward, backward, recompute, their tensor-parallel traffic) on the first
    stage; 0 elsewhere and for text-only models"""

    @property
    def total_s(self) -> np.ndarray:
        return self.compute_s + self.tp_s + self.cp_s + self.ep_s + self.route_s + self.imbalance_s + self.encoder_s


@dataclass(frozen=True, kw_only=True, slots=True)
class LayerCosts:
    """One micro-batch through one layer of each kind, and through the output layer (arrays over plans); every
    pipeline stage of a plan grid is a sum of these, so they are priced once per grid."""

    dense: LayerTimes
    moe: LayerTimes
    tp_dense_s: np.ndarray
    tp_moe_s: np.ndarray
    cp_dense_s: np.ndarray
    cp_moe_s: np.ndarray
    ep_moe_s: np.ndarray
    logits_fwd_s: np.ndarray
    logits_bwd_s: np.ndarray
    encoder: EncoderTimes
    """the vision encoder and projector, on the first stage (zeros for a text-only model)"""


def layer_costs(model: Model, chip: Chip, job: TrainJob, g: PlanGrid) -> LayerCosts:
    """Compute and exposed TP/CP/EP seconds of one dense layer, one MoE layer and the output layer."""
    s = layer_shapes(model)
    tokens = g.micro_batch * job.seq_len / g.cp
    act_bytes = tokens * model.hidden * 2.0  # one micro-batch's activation tensor, bf16, gathered over tp
    passes = np.where(g.recompute == 2, 3.0, 2.0)  # fwd + bwd (+ recompute fwd) for TP collectives and all-to-all
    def gather_scatter(nbytes, size):  # one all-gather + one reduce-scatter of a sequence-parallel tensor
        return collective_s("all_gather", nbytes, size, 1, chip) + collective_s("reduce_scatter", nbytes, size, 1, chip)

    # distributed saved activations: the layer input is gathered back before its recompute, no overlap (Megatron's
    # CheckpointFunction gathers it synchronously in the backward)
    regather = np.where(g.recompute == 2, collective_s("all_gather", act_bytes, g.tp, 1, chip), 0.0) \
        if job.distribute_saved_activations else 0.0
    tp_layer = passes * 2.0 * gather_scatter(act_bytes, g.tp) * (1.0 - job.tp_overlap) + regather
    # a MoE layer's attention gathers over tp; its experts only over the expert-TP group (etp = tp: the same)
    tp_moe_layer = passes * (gather_scatter(act_bytes, g.tp) + gather_scatter(act_bytes * g.etp / g.tp, g.etp)) \
        * (1.0 - job.tp_overlap) + regather
    kv_local = tokens * s.kv_out / g.tp * 2.0
    cp_comm = collective_s("all_gather", kv_local * g.cp, g.cp, g.tp, chip)

    # ring attention: each of the cp - 1 extra steps launches a block kernel and merges its partial output
    # into an fp32 accumulator (read + write of tokens x heads x d_v), which no overlap hides
    merge = stream_s(tokens * model.heads / g.tp * s.d_v * 8.0, chip) + 3 * chip.efficiency.kernel_overhead_s
    cp_steps = (g.cp - 1) * merge

    def per_layer(moe: bool):
        t = layer_times(model, chip, g, job, moe)
        # ring attention hides K/V transfers behind the attention kernel; the backward moves K, V and their grads
        fwd_passes = np.where(g.recompute == 2, 2, 1)
        cp_exposed = (np.maximum(0.0, cp_comm - t.attn_core_fwd_s) * fwd_passes
                      + np.maximum(0.0, 2 * cp_comm - 2 * t.attn_core_fwd_s) + (fwd_passes + 2) * cp_steps)
        ep_exposed = 0.0 * cp_exposed
        if moe:
            token_bytes = tokens / g.tp * model.hidden * 2.0
            # the all-to-all ends when the most loaded rank has received its tokens
            a2a = 2.0 * passes * expert_dispatch_s(token_bytes, model.moe, g.ep, g.etp, chip, job.ep_dedup) * t.load_factor
            # overlapped with another micro-batch's compute of this layer: that compute runs on the compute units the
            # dispatch kernels leave free, so it slows by 1 / (1 - share); at most the slowed compute hides the a2a
            busy = t.fwd_s + t.bwd_s + t.recompute_s
            share = job.framework.overlap_compute_share if job.ep_overlap > 0 else 0.0
            slowed = busy / (1.0 - share)
            ep_exposed = a2a - np.minimum(job.ep_overlap * a2a, slowed) + (slowed - busy)
        return t, cp_exposed, ep_exposed

    dense_t, dense_cp, _ = per_layer(False)
    moe_t, moe_cp, moe_ep = per_layer(True) if model.moe else (dense_t, dense_cp, 0.0 * dense_cp)
    logit_f, logit_b = logits_times(model, chip, g, job)
    return LayerCosts(dense=dense_t, moe=moe_t, tp_dense_s=tp_layer, tp_moe_s=tp_moe_layer, cp_dense_s=dense_cp,
                      cp_moe_s=moe_cp, ep_moe_s=moe_ep, logits_fwd_s=logit_f, logits_bwd_s=logit_b,
                      encoder=encoder_times(model, chip, job, g))


def stage_times(model: Model, chip: Chip, job: TrainJob, g: PlanGrid, dense_n, moe_n, logits,
                costs: LayerCosts | None = None, embed=False) -> StageTimes:
    """One micro-batch through ``dense_n`` dense and ``moe_n`` MoE layers (+ the output layer if ``logits``, + a vision
    encoder if ``embed``: the first stage); ``costs`` from :func:`layer_costs` for the same grid, when the caller
    prices several stages of it."""
    c = costs if costs is not None else layer_costs(model, chip, job, g)
    heads = 1 + model.mtp_layers  # the output head and loss run once more for each multi-token prediction module
    fwd = dense_n * c.dense.fwd_s + moe_n * c.moe.fwd_s + np.where(logits, heads * c.logits_fwd_s, 0.0) \
        + job.framework.microbatch_overhead_s
    bwd = (dense_n * (c.dense.bwd_s + c.dense.recompute_s) + moe_n * (c.moe.bwd_s + c.moe.recompute_s)
           + np.where(logits, heads * c.logits_bwd_s, 0.0))
    enc = c.encoder
    first = np.asarray(embed) & (model.encoder is not None)
    return StageTimes(compute_s=fwd + bwd, tp_s=dense_n * c.tp_dense_s + moe_n * c.tp_moe_s,
                      cp_s=dense_n * c.cp_dense_s + moe_n * c.cp_moe_s, ep_s=moe_n * c.ep_moe_s + 0.0 * fwd,
                      route_s=moe_n * c.moe.route_s + 0.0 * fwd, imbalance_s=moe_n * c.moe.imbalance_s + 0.0 * fwd,
                      fwd_s=fwd + np.where(first, enc.fwd_s, 0.0),
                      bwd_s=bwd + np.where(first, enc.bwd_s + enc.recompute_s, 0.0),
                      encoder_s=np.where(first, enc.total_s, 0.0) + 0.0 * fwd)


def pick_stage_times(times: list[StageTimes], pick: np.ndarray) -> StageTimes:
    """Per plan, the picked stage's times."""
    return StageTimes(**{k: take([getattr(x, k) for x in times], pick)
                         for k in ("compute_s", "tp_s", "cp_s", "ep_s", "route_s", "imbalance_s", "fwd_s", "bwd_s",
                                   "encoder_s")})


def dp_buckets(fw: Framework, params, ranks) -> np.ndarray:
    """Data-parallel collectives one pass over ``params`` takes in ``fw``'s buckets over ``ranks`` ranks (at least 1)."""
    bucket = np.maximum(fw.dp_bucket_params, fw.dp_bucket_params_per_rank * ranks)
    params = np.asarray(params, dtype=float)
    return np.where(bucket > 0, np.maximum(np.ceil(params / np.where(bucket > 0, bucket, 1.0)), 1.0), 1.0)


def dp_comm_s(model: Model, chip: Chip, job: TrainJob, g: PlanGrid, params: tuple, layers_n, times: StageTimes,
              trained: tuple | None = None):
    """Exposed data-parallel seconds per step for a stage holding ``params`` = (dense, experts) per device, of which
    ``trained`` (default: all) have gradients, optimizer state and updated weights to gather (a frozen base under
    LoRA is only gathered, at ZeRO-3).

    Gradients are reduced (and, from ZeRO-1 on, weights gathered) in the framework's buckets, each paying the
    collective's latency (:func:`dp_buckets`). With a ``zero_shard`` group smaller than the data-parallel ranks, the
    reduce-scatter and all-gather run inside the group and the replicas of each shard all-reduce it across groups."""
    m = g.microbatches(job)
    fw = job.framework
    dense_shard, expert_shard = shard_groups(job, g)

    def over(kind, nbytes_per_param, among, which=trained or params):
        """One pass of ``kind`` over ``which`` of the stage's parameters among ``all`` the data-parallel ranks, within
        the ``shard`` group, or across the ``replicas`` of one shard (1 / shard of each parameter), as (one collective
        moving all the bytes, the latency the framework's further buckets add)."""
        nbytes = nbytes_per_param / np.where(g.zero == 3, fw.zero3_bandwidth_scale, fw.dp_bandwidth_scale)
        dense, experts = which
        # (parameters, all data-parallel ranks, the shard group's ranks, the ranks' spacing), dense and expert weights
        groups = ((dense, g.dp * g.cp, dense_shard, g.tp), (experts, expert_dp(g), expert_shard, g.etp * g.ep))
        whole, buckets = 0.0, 0.0
        for n_params, ranks, shard, stride in groups[:2 if model.moe else 1]:  # a dense model has no expert group
            size, step, part = {"all": (ranks, stride, 1.0), "shard": (shard, stride, 1.0),
                                "replicas": (ranks // shard, stride * shard, 1.0 / shard)}[among]
            transfer, latency = collective_parts(kind, n_params * part * nbytes, size, step, chip)
            whole = whole + transfer + latency
            buckets = buckets + (dp_buckets(fw, n_params * part, ranks) - 1) * latency
        return whole, buckets

    grad = float(job.grad_bytes)
    (rs, rs_buckets), (ag, ag_buckets) = over("reduce_scatter", grad, "shard"), over("all_gather", 2.0, "shard")
    grad_rs, param_ag = rs + rs_buckets, ag + ag_buckets
    grad_ar, replica_ar = (sum(over("all_reduce", grad, among)) for among in ("all", "replicas"))
    overlap = fw.dp_overlap_efficiency if (job.dp_overlap and fw.dp_overlap) else 0.0
    fwd_w, bwd_w = overlap * times.fwd_s, overlap * times.bwd_s
    share = fw.overlap_compute_share

    def exposed(comm, window):
        """What a collective adds to the step when it overlaps ``window`` seconds of compute: the part the window does
        not hide, plus the compute its kernels slow while hidden (they hold ``share`` of the compute units)."""
        return np.maximum(0.0, comm - window) + share * np.minimum(comm, window)

    once = np.where(g.zero == 0, exposed(grad_ar, bwd_w),
                    exposed(grad_rs + replica_ar, bwd_w) + exposed(param_ag, fwd_w))
    # ZeRO-2 keeps only its shard of the gradients, so it cannot accumulate them over micro-batches: every
    # micro-batch's backward reduce-scatters its gradients (DeepSpeed: "ZeRO stage >= 2 communicates during non
    # gradient accumulation boundaries as well", engine.allreduce_gradients; FSDP2 and Megatron-FSDP optim_grads
    # likewise); the replicas' all-reduce and the weights' all-gather stay once a step
    once = np.where(g.zero == 2, m * exposed(grad_rs, bwd_w) + exposed(replica_ar, bwd_w)
                    + exposed(param_ag, fwd_w), once)
    # ZeRO-3 / FSDP gathers weights for every micro-batch (fwd and bwd), frozen ones too, and reduce-scatters
    # gradients; each layer's weights are gathered by their own collectives, so the latency is paid per layer
    extra_calls = np.maximum(layers_n * fw.zero3_collectives_per_layer - 1, 0)
    # (ZeRO-3 and FSDP units pay their latency per layer, not per bucket)
    all_weights = ag
    if trained:  # with frozen weights: all of them (LoRA: the frozen base, and the adapters beside it)
        base = over("all_gather", task.base_bytes_per_param(job), "shard", params)[0]
        all_weights = base + (ag if job.adapters else 0.0)
    gather = all_weights + extra_calls * latency_s("all_gather", dense_shard, g.tp, chip)
    scatter = rs + extra_calls * latency_s("reduce_scatter", dense_shard, g.tp, chip)
    replicas = exposed(replica_ar, bwd_w)  # hybrid sharding: once a step, after the last micro-batch
    zero3 = m * (exposed(gather, fwd_w) + exposed((fw.zero3_gathers_per_microbatch - 1) * gather + scatter, bwd_w)) \
        + replicas
    if fw.fsdp:  # SHARD_GRAD_OP: one gather per micro-batch (kept for the backward), one reduce-scatter
        per_microbatch = exposed(gather, fwd_w) + exposed(scatter, bwd_w)
        once = np.where(g.zero == 2, m * per_microbatch + replicas, once)
        # with a pipeline, FSDP keeps each stage's weights gathered over the step's micro-batches and reduce-scatters
        # the accumulated gradients after the last (torchtitan: reshard_after_forward off when pp > 1; the memory
        # model holds those unsharded weights and gradients): one gather and one reduce-scatter a step. A framework
        # that reshards after every backward under a pipeline (``fsdp_pipeline_reshard``) gathers once a micro-batch
        # (kept from its forward to its backward) and reduce-scatters each micro-batch's gradients
        staged = (m if fw.fsdp_pipeline_reshard else 1) * per_microbatch + replicas
        zero3 = np.where((g.pp > 1) & (g.zero >= 2), staged, zero3)
        once = np.where((g.pp > 1) & (g.zero >= 2), staged, once)
    return np.where(g.zero == 3, zero3, once)


GRAD_NORM_BYTES_PER_PARAM = 4
"""HBM bytes the global gradient-norm (clipping) pass reads per owned parameter: its fp32 gradient"""


def optimizer_s(chip: Chip, job: TrainJob, g: PlanGrid, params: tuple) -> np.ndarray:
    """The step's work on the gradients and the optimizer state, at HBM bandwidth: Adam's update of the locally owned
    parameters (sharded over the shard group, all of dp*cp unless the job's ``zero_shard`` is smaller, from ZeRO-1 on)
    at the traffic of the job's state precision (``TrainJob.optimizer_traffic_bytes``: 30 bytes a parameter for fp32
    master weights and moments). A framework with Megatron's persistent gradient buffer
    (``Framework.grad_buffer_zeroed``) also zeroes the whole buffer of the local gradients every step (a shard of it
    under ZeRO-2/3), copies its owned shard to fp32 main gradients where it reduces bf16 ones (read 2, write 4), and
    reads them once more for the global gradient norm its default clipping needs (Megatron-LM's --clip-grad 1.0)."""
    dense, experts = params
    dpcp, edp = shard_groups(job, g)
    owned = dense / np.where(g.zero >= 1, dpcp, 1) + experts / np.where(g.zero >= 1, edp, 1)
    nbytes = job.optimizer_traffic_bytes * owned
    if job.framework.grad_buffer_zeroed:
        buffer = np.where(g.zero >= 2, owned, dense + experts)
        to_fp32 = 2.0 + 4.0 if job.grad_bytes < 4 else 0.0
        nbytes = nbytes + job.grad_bytes * buffer + (to_fp32 + GRAD_NORM_BYTES_PER_PARAM) * owned
    return nbytes / (chip.hbm_bytes_per_s * chip.efficiency.optimizer_hbm)


def mfu_peak_flops_per_s(chip: Chip, fp8) -> np.ndarray:
    """The peak MFU is taken against: that of the GEMM precision in use (fp8 runs against the fp8 peak, where the
    chip has one), so MFU stays <= 1."""
    has_fp8 = chip.peak_flops_per_s.get("fp8") is not None
    return np.where((np.asarray(fp8) == 1) & has_fp8, chip.peak("fp8"), chip.peak("bf16"))


def rates(model: Model, chip: Chip, job: TrainJob, g: PlanGrid, devices: int, step_s):
    """(tokens/s, MFU, HFU) of a step time."""
    tokens_per_s = job.tokens_per_step / step_s
    mfpt = task.model_flops_per_token(model, job)
    recompute_fpt = (sum(matmul_flops_per_token(model).values()) - matmul_flops_per_token(model)["logits"]
                     + attention_core_flops_per_token(model, job.seq_len))
    if model.encoder is not None and not model.encoder.frozen and not job.adapters:  # its layers run forward again
        recompute_fpt += model.encoder.images * encoder_forward_flops_per_image(model)[0] / job.seq_len
    peak = devices * mfu_peak_flops_per_s(chip, g.fp8)
    hfu = (mfpt + np.where(g.recompute == 2, recompute_fpt, 0.0)) * tokens_per_s / peak
    return tokens_per_s, mfpt * tokens_per_s / peak, hfu


def offload_exposed_s(model: Model, chip: Chip, job: TrainJob, g: PlanGrid, layers_n, t: StageTimes):
    """Per micro-batch: the activation offload's copies to host and back that the stage's compute does not hide."""
    if not job.offload_layers and not job.remat_offloaded:
        return 0.0 * t.compute_s
    offloaded = np.minimum(job.offload_layers, layers_n)
    tokens = g.micro_batch * job.seq_len / g.cp / g.tp
    nbytes = offloaded * tokens * activation_bytes_per_token(model, bool(model.moe))[g.recompute]
    if job.remat_offloaded:  # a named selective policy's host tensors, every layer of the stage
        host = remat.bytes_per_token(model, bool(model.moe), job)[1]
        nbytes = nbytes + np.where(g.recompute == 1, (layers_n - offloaded) * tokens * host, 0.0)
    link = chip.host_link_bytes_per_s or HOST_LINK_BYTES_PER_S
    return np.maximum(0.0, 2.0 * nbytes / link - t.compute_s)


def compose_step(t: StageTimes, microbatches, pp, vpp, pp_comm_s, dp_comm_s, optimizer_s,
                 schedule: str = "1f1b", offload_s=0.0, reference_s=0.0) -> dict[str, np.ndarray]:
    """The step's parts (``BREAKDOWN_KEYS``) when the pace-setting stage takes ``t`` per micro-batch under the
    pipeline ``schedule``; the step is their sum (:func:`total_s`)."""
    m = microbatches
    return {
        "compute_s": m * t.compute_s,
        "tp_comm_s": m * t.tp_s,
        "cp_comm_s": m * t.cp_s,
        "ep_comm_s": m * t.ep_s,
        "pp_bubble_s": np.where(pp > 1, pipeline.bubble_s(t.total_s, pp, vpp, schedule), 0.0),
        "pp_comm_s": pp_comm_s + 0.0 * t.compute_s,
        "dp_comm_s": dp_comm_s + 0.0 * t.compute_s,
        "optimizer_s": optimizer_s + 0.0 * t.compute_s,
        "offload_s": offload_s + 0.0 * t.compute_s,
        "moe_route_s": m * t.route_s,
        "moe_imbalance_s": m * t.imbalance_s,
        "reference_s": reference_s + 0.0 * t.compute_s,
        "encoder_s": m * t.encoder_s + 0.0 * t.compute_s,
    }


def total_s(breakdown: dict[str, np.ndarray]) -> np.ndarray:
    """The step: the sum of its parts."""
    return sum(breakdown[k] for k in BREAKDOWN_KEYS)


def step_costs(model: Model, chip: Chip, job: TrainJob, g: PlanGrid, devices: int) -> StepCosts:
    """Price every plan of ``g`` for ``job`` on ``devices`` chips."""
    m = g.microbatches(job)
    stages = stage_mix(model, g)
    costs = layer_costs(model, chip, job, g)
    times = [stage_times(model, chip, job, g, st.dense_n, st.moe_n, st.logits, costs, st.embed) for st in stages]
    pick = pick_stage([t.total_s for t in times])  # the slowest stage sets the pace
    t = pick_stage_times(times, pick)
    per_stage = [stage_params(model, g, st.dense_n, st.moe_n, st.embed, st.logits) for st in stages]
    params = tuple(take(list(p), pick) for p in zip(*per_stage))
    trained = tuple(take(list(p), pick) for p in zip(
        *(task.trainable(model, job, g, p, st.dense_n, st.moe_n, st.embed) for p, st in zip(per_stage, stages))))
    frozen = job.adapters or (model.encoder is not None and model.encoder.frozen)
    layers_here = take([st.dense_n + st.moe_n for st in stages], pick)

    crosses = members_per_domain(g.tp * g.cp * g.dp, 2, chip.scale_up_domain) < 2
    act_bytes = g.micro_batch * job.seq_len / g.cp * model.hidden * 2.0
    breakdown = compose_step(
        t, m, g.pp, g.vpp,
        pp_comm_s=pipeline.p2p_exposed_s(g.pp, g.vpp, m, p2p_s(act_bytes / g.tp, crosses, chip),
                                         t.compute_s / (2.0 * g.vpp), job.framework.p2p_overlap),
        dp_comm_s=dp_comm_s(model, chip, job, g, params, layers_here, t, trained if frozen else None),
        optimizer_s=optimizer_s(chip, job, g, trained), schedule=job.framework.pipeline_schedule,
        offload_s=m * offload_exposed_s(model, chip, job, g, layers_here, t),
        reference_s=m * t.fwd_s if (job.task == "dpo" and job.reference == "live") else 0.0)
    step = total_s(breakdown)
    tokens_per_s, mfu, hfu = rates(model, chip, job, g, devices, step)
    mem = memory_use(model, chip, job, g, stages, per_stage)
    fits = mem.total_bytes <= chip.hbm_bytes * (1.0 - job.memory_margin)
    return StepCosts(breakdown=breakdown, step_time_s=step, forward_s=m * t.fwd_s, tokens_per_s=tokens_per_s, mfu=mfu,
                     hfu=hfu, memory=mem, fits=fits)
