"""Device memory of a training plan: weights, gradients, optimizer state, activations, buffers.

Mixed precision with Adam, as Megatron-LM and FSDP keep it: bf16 weights
(2 bytes/param), fp32 gradients (4; 2 where the job reduces them in bf16, ``TrainJob.grad_bytes``), fp32 master
weights + two moments (12; less where the job keeps them in lower precision, ``TrainJob.optimizer_state_bytes``:
10, 8 or 6); under FSDP's full sharding
the sharded fp32 parameter is the master copy, so no separate bf16 shard is kept.
ZeRO stage z shards optimizer state (z >= 1), gradients (z >= 2) and weights
(z = 3) over the data-parallel group (dp * cp for dense weights, dp * cp / ep
for expert weights).

Activations per layer follow Korthikanti et al. 2022 ("Reducing Activation
Recomputation in Large Transformer Models", §4), re-derived per tensor so GQA,
MLA, SwiGLU and MoE fit, with a flash-attention kernel (no s^2 score matrix)
and no dropout. With tp > 1 sequence parallelism is assumed, so every term is
divided by tp (frameworks without it keep the norm and GEMM-input activations
whole on every tensor-parallel rank). The pipeline's first stage holds the most micro-batches in
flight: min(m, pp) under 1F1B; under interleaving, warm-up holds
pp*(vpp+1)-1 model chunks (Megatron's schedule). A vision encoder and its projector live on the first stage
(:mod:`.encoder`): their weights, gradients and optimizer state (a frozen encoder's weights only) and their
activations for each micro-batch in flight (:func:`encoder_activation_bytes`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..plan import PlanGrid
from ..specs import Chip, Model, TrainJob
from ..specs.job import BF16_BYTES_PER_PARAM
from . import pipeline, remat, task
from .flops import encoder_model, encoder_param_count, expert_params, ffn_copies, ffn_params_dense, layer_shapes

WEIGHT_BYTES = BF16_BYTES_PER_PARAM


@dataclass(frozen=True, kw_only=True, slots=True)
class MemoryUse:
    """Bytes per device on the pipeline stage that needs the most (arrays over plans)."""

    weights_bytes: np.ndarray
    gradients_bytes: np.ndarray
    optimizer_bytes: np.ndarray
    activations_bytes: np.ndarray
    buffers_bytes: np.ndarray

    @property
    def total_bytes(self) -> np.ndarray:
        return self.weights_bytes + self.gradients_bytes + self.optimizer_bytes + self.activations_bytes + self.buffers_bytes


def stage_layers(model: Model, g: PlanGrid) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Layers on the first, on each middle and on the last pipeline stage (:func:`pipeline.model_split`)."""
    first, middle, last, _ = pipeline.model_split(model, g.pp, g.vpp)
    return first, middle, last


def activation_bytes_per_token(model: Model, moe: bool, gemm_share: float = 0.0, fp8_cache: str = "none",
                               frozen: frozenset = frozenset()) -> np.ndarray:
    """Bytes per token one layer keeps for its backward, by recompute mode (none, selective, full), before tp.

    ``gemm_share`` > 0 is a per-op selective policy (``Framework.selective_gemm_share``): it keeps the layer input,
    the attention output and the outputs of the GEMMs it does not run again. ``fp8_cache`` (for an fp8 job,
    ``Framework.fp8_activation_cache``) keeps the inputs of the Linear layers (``linear``), and of the SwiGLU too
    (``linear_swiglu``, DeepSeek-V3 report §3.3.3), in one byte instead of two; residuals and norm inputs stay bf16.
    ``frozen`` names the linear layers of a frozen base without an adapter (``qkv``, ``mlp``; :func:`frozen_layers`):
    their inputs serve only their weight gradient, which is never computed, so they are not kept (the attention
    output stays: the attention kernel's backward reads it)."""
    s = layer_shapes(model)
    h = model.hidden
    copies, width = ffn_copies(model, moe)
    ffn_out = (2 if model.ffn_act == "swiglu" else 1) * width * copies
    act_out = width * copies
    permuted = h * model.moe.top_k if moe else 0
    residual = 2 * h            # inputs of the two norms
    norm_out = 2 * h            # inputs of the qkv and fc1 GEMMs
    linear = 1.0 if fp8_cache != "none" else 2.0     # bytes per cached Linear input
    swiglu = 1.0 if fp8_cache == "linear_swiglu" else 2.0
    qkv = s.q_out + s.kv_out                         # q, k, v for the attention kernel's backward: bf16
    if "qkv" in frozen:
        norm_out -= h
    if "mlp" in frozen:
        norm_out, act_out, permuted = norm_out - h, 0, 0
    none = 2 * residual + linear * (norm_out + s.attn_out_in + act_out + permuted) + 2 * qkv + swiglu * ffn_out
    selective = 2 * residual + linear * (s.attn_out_in + permuted) + 2 * qkv + swiglu * ffn_out
    if gemm_share > 0:
        gemm_outputs = s.q_out + s.kv_out + h + ffn_out + permuted + h
        selective = 2 * (h + s.attn_out_in + (1.0 - gemm_share) * gemm_outputs)
    full = 2 * h                                                     # layer input only
    return np.array([none, selective, full], dtype=float)


def replicated_bytes_per_token(model: Model, frozen: frozenset = frozenset()) -> np.ndarray:
    """Of ``activation_bytes_per_token``, the part tensor parallelism alone does not split (norm inputs and the
    inputs of the qkv and fc1 GEMMs, Korthikanti et al. 2022 §4.2.2); sequence parallelism splits it too. A frozen
    layer's input is not kept (``frozen``, as there)."""
    h = model.hidden
    gemm_inputs = 2 * h - h * len(frozen & {"qkv", "mlp"})
    return np.array([2 * (2 * h + gemm_inputs), 2 * (2 * h), 2 * h], dtype=float)


def frozen_layers(job: TrainJob) -> frozenset:
    """The linear layers whose inputs a job keeps for nothing: under lora/qlora, ``qkv`` and ``mlp`` when they carry no
    adapter (their weight gradients are never computed; an adapter's own gradient needs the input)."""
    return frozenset({"qkv", "mlp"} - set(job.lora_targets)) if job.adapters else frozenset()


def stage_params(model: Model, g: PlanGrid, dense_n, moe_n, embed, logits) -> tuple[np.ndarray, np.ndarray]:
    """Parameters per device of one stage: (replicated over dp*cp, expert weights sharded over ep).

    ``dense_n``/``moe_n`` layers of each kind; ``embed``/``logits`` whether the stage holds the input
    embedding / the output layer (one shared matrix when tied and on the same stage).
    """
    tp = g.tp
    vocab_params = model.vocab * model.hidden / tp
    attn = (layer_shapes(model).attn_params + 2 * model.hidden) / tp
    dense = (dense_n + moe_n) * attn + dense_n * ffn_params_dense(model) / tp
    dense = dense + np.where(embed, vocab_params, 0.0)
    if model.encoder is not None:  # the vision encoder and projector sit with the embedding on the first stage
        dense = dense + np.where(embed, sum(encoder_param_count(model).values()) / tp, 0.0)
    dense = dense + np.where(logits & ~(embed & model.tied_embeddings), vocab_params, 0.0)
    experts = 0.0 * dense
    e = model.moe
    if e:
        dense = dense + moe_n * (e.shared_experts * expert_params(model) / tp + e.experts * model.hidden)
        experts = moe_n * (e.experts / g.ep) * expert_params(model) / g.etp
    return dense, experts


def encoder_activation_bytes(model: Model, job: TrainJob, g: PlanGrid) -> np.ndarray:
    """Bytes one micro-batch's images leave on a device of the first stage for the backward: every encoder layer keeps
    what a language-model layer of its widths keeps per token (:func:`activation_bytes_per_token` under the job's
    recompute mode) for its T_e / tp patch tokens, and the projector its input (projector_params / h values per token
    handed over). A frozen encoder (or a LoRA job's) runs without gradients and keeps none of its layers'."""
    e = model.encoder
    if e is None:
        return 0.0 * g.micro_batch
    tokens, handed = g.micro_batch * e.images * e.patches, g.micro_batch * e.images * e.tokens_per_image
    projector = 0.0 if job.adapters else handed * e.projector_params / model.hidden * WEIGHT_BYTES / g.tp
    if e.frozen or job.adapters:
        return projector + 0.0 * tokens
    per_token = activation_bytes_per_token(encoder_model(model), False)[g.recompute]
    return e.layers * tokens / g.tp * per_token + projector


def expert_dp(g: PlanGrid) -> np.ndarray:
    """Ranks that hold the same expert shard (expert data parallelism): tp*dp*cp / (etp*ep)."""
    return np.maximum(g.tp * g.dp * g.cp // (g.etp * g.ep), 1)


def shard_ranks(job: TrainJob, ranks) -> np.ndarray:
    """Ranks a ZeRO/FSDP shard group spans among ``ranks`` data-parallel ranks: all of them, or the job's
    ``zero_shard`` group (hybrid sharding) where it is smaller."""
    ranks = np.asarray(ranks)
    return np.where(job.zero_shard > 0, np.minimum(job.zero_shard, ranks), ranks)


def shard_groups(job: TrainJob, g: PlanGrid) -> tuple[np.ndarray, np.ndarray]:
    """The shard group's ranks for dense weights (among dp*cp) and for expert weights (among the expert-DP ranks)."""
    return shard_ranks(job, g.dp * g.cp), shard_ranks(job, expert_dp(g))


def in_flight_microbatches(g: PlanGrid, microbatches, stage_index) -> np.ndarray:
    """Micro-batches whose activations a stage holds at its peak (1F1B: pp - i; interleaved: Megatron's warm-up)."""
    ahead = g.pp - stage_index
    return np.where(g.vpp > 1,
                    np.minimum(microbatches * g.vpp, ahead * (g.vpp + 1) - 1) / g.vpp,
                    np.minimum(microbatches, ahead))


@dataclass(frozen=True, kw_only=True, slots=True)
class _PlanTerms:
    """The parts of a stage's memory that do not depend on which stage it is (arrays over plans)."""

    dpcp: np.ndarray
    edp: np.ndarray
    tokens: np.ndarray
    per_tok_dense: np.ndarray
    per_tok_moe: np.ndarray
    working: np.ndarray
    whole: np.ndarray | None
    replicated: np.ndarray | None
    prefetch: np.ndarray


def _plan_terms(model: Model, job: TrainJob, g: PlanGrid) -> _PlanTerms:
    dpcp, edp = shard_groups(job, g)
    tokens = g.micro_batch * job.seq_len / g.cp
    # without a flash kernel the s x s softmax output, its dropout mask and probabilities are kept
    # (Korthikanti et al. 2022: 5 a s / h of the 34 + 5 a s / h bytes per token-hidden), unless recomputed
    scores = 0.0 if job.framework.flash_attention else 5.0 * model.heads * job.seq_len
    scores = np.where(g.recompute == 0, scores, 0.0)
    share = job.framework.selective_gemm_share
    cache = job.framework.fp8_activation_cache
    fp8 = g.fp8 == 1
    frozen = frozen_layers(job)
    per_tok_dense = np.where(fp8, activation_bytes_per_token(model, False, share, cache, frozen)[g.recompute],
                             activation_bytes_per_token(model, False, share, frozen=frozen)[g.recompute]) + scores
    per_tok_moe = np.where(fp8, activation_bytes_per_token(model, True, share, cache, frozen)[g.recompute],
                           activation_bytes_per_token(model, True, share, frozen=frozen)[g.recompute]) + scores \
        if model.moe else 0.0
    if job.remat_policy:  # the job names what selective recompute keeps on the device
        per_tok_dense = np.where(g.recompute == 1, remat.bytes_per_token(model, False, job)[0], per_tok_dense)
        if model.moe:
            per_tok_moe = np.where(g.recompute == 1, remat.bytes_per_token(model, True, job)[0], per_tok_moe)
    # full recompute rebuilds one layer's activations at a time during the backward
    working = np.where(g.recompute == 2, tokens / g.tp * activation_bytes_per_token(model, bool(model.moe))[0], 0.0)
    whole = replicated = None
    if not job.framework.sequence_parallel:  # every tensor-parallel rank keeps the replicated part whole
        whole = tokens * (1.0 - 1.0 / g.tp)
        replicated = replicated_bytes_per_token(model, frozen)
        working = working + np.where(g.recompute == 2, whole * replicated[0], 0.0)
    attn_p = (layer_shapes(model).attn_params + 2 * model.hidden) / g.tp
    prefetch = np.where(g.zero >= 3, 2 * WEIGHT_BYTES * (attn_p + ffn_params_dense(model) / g.tp), 0.0)
    return _PlanTerms(dpcp=dpcp, edp=edp, tokens=tokens, per_tok_dense=per_tok_dense, per_tok_moe=per_tok_moe,
                      working=working, whole=whole, replicated=replicated, prefetch=prefetch)


def stage_memory(model: Model, chip: Chip, job: TrainJob, g: PlanGrid, dense_n, moe_n, embed, logits,
                 in_flight, terms: _PlanTerms | None = None, params=None) -> MemoryUse:
    """Bytes per device of one pipeline stage holding ``in_flight`` micro-batches of activations (``terms``: the
    grid's stage-independent parts, and ``params`` the stage's :func:`stage_params`, where the caller has them)."""
    t = _plan_terms(model, job, g) if terms is None else terms
    dpcp, edp, tokens = t.dpcp, t.edp, t.tokens
    dense, experts = stage_params(model, g, dense_n, moe_n, embed, logits) if params is None else params
    trained = task.trainable(model, job, g, (dense, experts), dense_n, moe_n, embed)

    def sharded(nbytes, stage, which=trained):
        d, e = which
        return nbytes * (d / np.where(g.zero >= stage, dpcp, 1) + e / np.where(g.zero >= stage, edp, 1))

    per_mb = tokens / g.tp * (dense_n * t.per_tok_dense + moe_n * t.per_tok_moe)
    if job.offload_layers:  # offloaded layers' activations wait in host memory
        layers_here = np.maximum(dense_n + moe_n, 1)
        per_mb = per_mb * (1.0 - np.minimum(job.offload_layers, layers_here) / layers_here)
    if model.encoder is not None:
        per_mb = per_mb + np.where(embed, encoder_activation_bytes(model, job, g), 0.0)
    if t.whole is not None:  # every tensor-parallel rank keeps the replicated part whole
        kept = t.whole * t.replicated[g.recompute]
        if job.distribute_saved_activations:  # full recompute's saved inputs split over the tensor-parallel ranks
            kept = np.where(g.recompute == 2, 0.0, kept)
        per_mb = per_mb + (dense_n + moe_n) * kept
    logits_act = np.where(logits, tokens / job.vocab_tiles * model.vocab / g.tp * job.framework.loss_bytes_per_logit,
                          0.0)  # one chunk's logits at a time when the loss is tiled
    fw = job.framework
    # a rank's whole experts that FSDP leaves alone (expert-DP group of one): plain bf16 weights and gradients
    loose = fw.fsdp & fw.fsdp_ignores_local_experts & (edp <= 1)
    # FSDP keeps one sharded fp32 parameter (counted with the optimizer state as the master copy); its bf16
    # weights exist only while a unit is gathered (the prefetch buffer), unlike ZeRO's separate bf16 partition.
    # Without a master (bf16-no-master) the sharded parameter is the bf16 weight itself, updated in place.
    fsdp_weights = sharded(WEIGHT_BYTES, 3, (dense, experts)) if job.optimizer_state_name == "bf16-no-master" \
        else np.where(loose, WEIGHT_BYTES * experts, 0.0)
    weights = np.where((g.zero >= 3) & fw.fsdp, fsdp_weights, sharded(WEIGHT_BYTES, 3, (dense, experts)))
    if job.adapters:  # the frozen base (bf16, or NF4 under qlora), sharded only at ZeRO-3, beside the adapters
        weights = sharded(task.base_bytes_per_param(job), 3, (dense, experts)) + sharded(WEIGHT_BYTES, 3)
    if job.task == "dpo" and job.reference == "live":  # the frozen reference model, laid out as the policy
        weights = weights + sharded(WEIGHT_BYTES, 3, (dense, experts))
    if fw.pipeline_schedule == "dualpipe":  # each rank holds its stages of both directions
        weights = np.where(g.pp > 1, 2 * weights, weights)
    # with a pipeline, FSDP keeps each stage's weights gathered (no per-micro-batch all-gathers) and accumulates
    # unsharded fp32 gradients until the last micro-batch (torchtitan: reshard_after_forward off when pp > 1); a
    # framework that reduce-scatters every micro-batch holds the gathered bf16 weights alone (at the interleaved
    # warm-up every local chunk waits for its backward), and experts FSDP leaves alone have no unsharded copy
    managed = dense + np.where(loose, 0.0, experts)
    held_bytes = WEIGHT_BYTES + (0.0 if fw.fsdp_pipeline_reshard else job.grad_bytes)
    unsharded = np.where(fw.fsdp & (g.pp > 1) & (g.zero >= 2), held_bytes * managed, 0.0)
    gradients = sharded(job.grad_bytes, 2) - np.where(loose, (job.grad_bytes - WEIGHT_BYTES) * trained[1], 0.0)
    if fw.low_precision_grads_kept and job.grad_bytes == 4:  # bf16 .grad beside the fp32 buffer, every parameter
        gradients = gradients + np.where((g.zero <= 1) & (g.pp > 1), WEIGHT_BYTES * (trained[0] + trained[1]), 0.0)
    counted = dict(weights_bytes=weights, gradients_bytes=gradients,
                   optimizer_bytes=sharded(job.optimizer_state_bytes, 1),
                   activations_bytes=per_mb * in_flight + t.working + logits_act)
    buffers = t.prefetch + unsharded + 0.0 * per_mb
    held = job.framework.memory_overhead * (sum(counted.values()) + buffers)  # the allocator's unusable cached blocks
    return MemoryUse(**counted, buffers_bytes=chip.efficiency.reserve_bytes + buffers + held)


@dataclass(frozen=True, kw_only=True, slots=True)
class Stage:
    """One pipeline stage that may set the pace or the memory peak (arrays over plans)."""

    dense_n: np.ndarray
    moe_n: np.ndarray
    embed: np.ndarray
    """holds the input embedding (the first stage, or the only one)"""
    logits: np.ndarray
    """holds the output layer (the last stage, or the only one)"""
    index: np.ndarray
    """0-based position in the pipeline (sets the micro-batches held in flight under 1F1B)"""


def stage_mix(model: Model, g: PlanGrid) -> list[Stage]:
    """The stages that can be the slowest or the fullest: the first (with the embedding and the leading dense layers),
    the last (with the output layer), the second where a middle rank holds more layers than the first (an uneven split,
    :func:`stage_layers`: it holds the most micro-batches in flight of the middle ranks) and, for a MoE model with
    pp >= 3, the last middle stage (index pp - 2): no embedding or output layer, and the most MoE layers of any middle
    stage, since dense layers lead. A MoE layer's expert weights and all-to-all can make that stage the pipeline's
    bottleneck."""
    first, middle, last = stage_layers(model, g)
    dense_total = model.layers - model.moe_layers
    single = g.pp == 1
    dense_first = np.minimum(first, dense_total)
    moe_last = np.where(single, first - dense_first, np.minimum(last, model.moe_layers))
    dense_last = np.where(single, dense_first, last - moe_last)
    # multi-token prediction modules sit with the output head on the last stage, one decoder layer each
    mtp_moe, mtp_dense = (model.mtp_layers, 0) if model.moe else (0, model.mtp_layers)
    stages = [Stage(dense_n=dense_first + np.where(single, mtp_dense, 0), moe_n=first - dense_first
                    + np.where(single, mtp_moe, 0), embed=np.ones_like(single), logits=single,
                    index=np.zeros_like(g.pp)),
              Stage(dense_n=dense_last + mtp_dense, moe_n=moe_last + mtp_moe, embed=single, logits=np.ones_like(single),
                    index=np.maximum(g.pp - 1, 0))]
    fuller = (g.pp >= 3) & (middle > first)
    if fuller.any():  # elsewhere the first stage stands in (a duplicate changes no maximum)
        dense_second = np.clip(dense_total - first, 0, middle)
        stages.append(Stage(dense_n=np.where(fuller, dense_second, dense_first),
                            moe_n=np.where(fuller, middle - dense_second, first - dense_first),
                            embed=~fuller, logits=single, index=np.where(fuller, 1, 0)))
    if model.moe:
        inner = g.pp >= 3
        dense_mid = np.clip(dense_total - first - (g.pp - 3) * middle, 0, middle)
        stages.append(Stage(dense_n=np.where(inner, dense_mid, dense_first),
                            moe_n=np.where(inner, middle - dense_mid, first - dense_first),
                            embed=~inner, logits=single, index=np.where(inner, g.pp - 2, 0)))
    return stages


def pick_stage(values: list[np.ndarray]) -> np.ndarray:
    """Index (per plan) of the stage with the largest value; ties go to the earlier stage."""
    best, pick = values[0], np.zeros(np.shape(values[0]), dtype=np.int64)
    for i, v in enumerate(values[1:], start=1):
        pick = np.where(v > best, i, pick)
        best = np.maximum(best, v)
    return pick


def take(stages_values: list, pick: np.ndarray):
    """Per plan, the value of the picked stage."""
    out = stages_values[0]
    for i, v in enumerate(stages_values[1:], start=1):
        out = np.where(pick == i, v, out)
    return out


def memory_use(model: Model, chip: Chip, job: TrainJob, g: PlanGrid, stages: list[Stage] | None = None,
               params: list | None = None) -> MemoryUse:
    """Per-device memory of each plan on its most loaded stage (first, last or a middle one; ``stages``: the grid's
    :func:`stage_mix`, and ``params`` each stage's :func:`stage_params`, where the caller has them)."""
    m = g.microbatches(job)
    single = g.pp == 1
    dualpipe = job.framework.pipeline_schedule == "dualpipe"  # pp + 1 in flight on every rank (DeepSeek-V3 Table 2)
    terms = _plan_terms(model, job, g)
    stages = stage_mix(model, g) if stages is None else stages
    per_stage = [stage_memory(model, chip, job, g, st.dense_n, st.moe_n, st.embed, st.logits,
                              np.where(single, 1, np.minimum(m, g.pp + 1) if dualpipe
                                       else in_flight_microbatches(g, m, st.index)), terms,
                              None if params is None else params[i])
                 for i, st in enumerate(stages)]
    pick = pick_stage([u.total_bytes for u in per_stage])
    return MemoryUse(**{k: take([getattr(u, k) for u in per_stage], pick)
                        for k in ("weights_bytes", "gradients_bytes", "optimizer_bytes", "activations_bytes",
                                  "buffers_bytes")})
