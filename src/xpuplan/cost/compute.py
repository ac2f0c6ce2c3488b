"""Compute time of one micro-batch through one layer on one device: roofline per operation.

Each GEMM costs ``max(flops / (peak * eff(flops)), bytes / (hbm_bw * eff_hbm))``
with ``eff(f) = eff_max * f / (f + f_half)`` (size-dependent efficiency, data per
chip in ``catalog/efficiency``). Attention runs as a flash-style kernel at its
own efficiency; element-wise work (norms, residuals, activations, rotary) is
priced as HBM traffic; every kernel pays a fixed launch gap.
Backward = 2x forward for GEMMs (data and weight gradients).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..plan import PlanGrid
from ..specs import Chip, Framework, Model, TrainJob
from . import remat, task
from .imbalance import hottest_rank_factor
from .flops import expert_params, ffn_copies, ffn_params_dense, layer_shapes, mean_keys_per_layer

BF16_BYTES = 2
FP8_CAST_BYTES = 4
"""HBM bytes per element of a bf16 tensor cast to fp8 for a GEMM: read 2, write the fp8 copy (1) and its transpose
(1) for the weight-gradient GEMM (Transformer Engine's fused cast-transpose)"""
FP8_TRANSPOSE_BYTES = 2
"""HBM bytes per element of an fp8 tensor a fused norm already wrote, transposed for the weight gradient"""
FP8_CAST_NO_TRANSPOSE_BYTES = 3
"""HBM bytes per element of a bf16 tensor cast to fp8 when no weight gradient needs its transpose: read 2, write 1"""
# unfused attention, per score element in the forward: bmm writes scores (2), softmax reads/writes (2+2),
# dropout writes its mask (1) and the probabilities (2), AV reads them (2)
UNFUSED_SCORE_BYTES_FWD = 11


@dataclass(frozen=True, kw_only=True, slots=True)
class LayerTimes:
    """Seconds for one micro-batch through one layer on one device (arrays over plans)."""

    fwd_s: np.ndarray
    bwd_s: np.ndarray
    recompute_s: np.ndarray
    """extra forward work done in the backward by activation recompute"""
    attn_core_fwd_s: np.ndarray
    """the attention kernel alone, the window ring attention (cp) hides its transfers in"""
    route_s: np.ndarray
    """a MoE layer's routing outside its GEMMs (router, permutation, unpermutation, host sync) over forward,
    backward and any recompute: :func:`moe_route_s`; 0 for a dense layer"""
    load_factor: np.ndarray | float
    """the most loaded expert-parallel rank's routed tokens over the mean (:mod:`.imbalance`); 1 for a dense layer"""
    imbalance_s: np.ndarray | float
    """what the expert GEMMs of the most loaded rank add over forward, backward and any recompute (its extra
    tokens); 0 for a dense layer"""


def roofline_s(flops, nbytes, flops_per_s, bytes_per_s) -> np.ndarray:
    """The one roofline kernel, for training and serving alike: a kernel takes as long as its slower side, its
    FLOPs at the achieved compute rate or its bytes at the achieved memory rate (arrays broadcast)."""
    return np.maximum(np.asarray(flops, dtype=float) / flops_per_s, np.asarray(nbytes, dtype=float) / bytes_per_s)


def _gemm_curve(chip: Chip, fp8):
    """(peak FLOP/s, ceiling fraction, half-point FLOPs, bytes per element) of the chip's bf16 or fp8 size curve (fp8
    only where the chip has an fp8 peak; arrays broadcast)."""
    eff = chip.efficiency
    fp8 = fp8 * int(chip.peak_flops_per_s.get("fp8") is not None)
    peak = np.where(fp8 == 1, chip.peak("fp8"), chip.peak("bf16"))
    eff_max = np.where(fp8 == 1, eff.gemm_fp8_max, eff.gemm_max)
    half = np.where(fp8 == 1, eff.gemm_half_flops if eff.gemm_fp8_half_flops is None else eff.gemm_fp8_half_flops,
                    eff.gemm_half_flops)
    return peak, eff_max, half, np.where(fp8 == 1, 1, BF16_BYTES)


def gemm_s(tokens, k, n, chip: Chip, fp8) -> np.ndarray:
    """Roofline time of a (tokens x k) @ (k x n) GEMM, bf16 or fp8 (arrays broadcast)."""
    peak, eff_max, half, elem_bytes = _gemm_curve(chip, fp8)
    flops = 2.0 * tokens * k * n
    eff_now = eff_max * flops / (flops + half)
    moved = elem_bytes * (tokens * k + k * n + tokens * n)
    return roofline_s(flops, moved, peak * np.maximum(eff_now, 1e-9), chip.hbm_bytes_per_s * chip.efficiency.hbm)


def grouped_gemm_s(groups, tokens, k, n, chip: Chip, fp8) -> np.ndarray:
    """Roofline time of ``groups`` (tokens x k) @ (k x n) GEMMs launched as one grouped kernel (a MoE layer's local
    experts: Megatron-Core's ``moe_grouped_gemm``, Transformer Engine's GroupedLinear, DeepGEMM, MegaBlox).

    One launch pays the size curve's fixed cost, ``half / (peak * eff_max)``, once, not once a group. Each group
    fills the device's tiles only as far as its own size allows: where the chip's kernel table measured grouped GEMMs
    (torch._grouped_mm on an H200, catalog/kernels/h100-sxm.yaml), its FLOPs run at ``fill = f / (f +
    grouped_gemm_half_flops)`` of the ceiling, f one group's FLOPs; elsewhere at the ceiling. So
    ``t = (groups * f / fill + half) / (peak * eff_max)``, or the bytes (every expert's weights read once) at HBM
    speed if slower."""
    peak, eff_max, half, elem_bytes = _gemm_curve(chip, fp8)
    one = 2.0 * np.asarray(tokens, dtype=float) * k * n
    table = chip.kernels
    group_half = table.grouped_gemm_half_flops if table is not None and table.grouped_gemm_half_flops else 0.0
    fill = one / (one + group_half)
    compute = (groups * one / np.maximum(fill, 1e-9) + half) / (peak * eff_max)
    moved = elem_bytes * groups * (tokens * k + k * n + tokens * n)
    return np.maximum(compute, moved / (chip.hbm_bytes_per_s * chip.efficiency.hbm))


def sequential_gemm_s(groups, tokens, k, n, chip: Chip, fp8) -> np.ndarray:
    """``groups`` (tokens x k) @ (k x n) GEMMs launched one after another, as a loop over a rank's local experts
    runs them (Megatron-Core's SequentialMLP without ``--moe-grouped-gemm``, DeepSpeed-MoE's ``Experts``): each
    expert's GEMM pays the size curve's fixed cost at its own size and its own launch gap
    (``Efficiency.kernel_overhead_s``), where :func:`grouped_gemm_s` pays them once for all of them."""
    return groups * (gemm_s(tokens, k, n, chip, fp8) + chip.efficiency.kernel_overhead_s)


def stream_s(nbytes, chip: Chip) -> np.ndarray:
    """Time of memory-bound streaming work moving ``nbytes`` through HBM."""
    return nbytes / (chip.hbm_bytes_per_s * chip.efficiency.hbm)


def elementwise_s(nbytes, chip: Chip) -> np.ndarray:
    """Time of a layer's fused element-wise kernels (norms, residual adds, activation) moving ``nbytes``: they
    reach less of the bandwidth than a copy (``Efficiency.hbm_elementwise``, from the kernel table)."""
    return nbytes / (chip.hbm_bytes_per_s * chip.efficiency.elementwise_hbm)


def attention_fwd_s(model: Model, chip: Chip, g: PlanGrid, seq_len: int, framework: Framework,
                    attend_len: int | None = None) -> np.ndarray:
    """Attention forward for one micro-batch on one device (causal, cp-balanced); with ``attend_len`` < seq_len the
    rows hold packed examples of that length, each attending within itself (varlen kernels).

    Flash kernel: causal FLOPs at the chip's attention efficiency. Without one (frameworks before 2022),
    QK^T and AV run as batched GEMMs over the full s x s scores (the mask does not save work) and the
    softmax, mask and dropout stream ``UNFUSED_SCORE_BYTES_FWD`` bytes per score through HBM.
    """
    s = layer_shapes(model)
    tokens = g.micro_batch * seq_len / g.cp
    heads = model.heads / g.tp
    span = seq_len if attend_len is None else attend_len
    causal_flops = tokens * 2.0 * heads * (s.d_qk + s.d_v) * mean_keys_per_layer(model, span)
    if framework.flash_attention:
        # Short blocks keep the kernel's tiles from filling the device; with cp each call sees s/cp queries.
        block = np.minimum(span, seq_len / g.cp)
        kernel_fwd, _ = chip.efficiency.attention(framework.attention_kernel)
        eff = kernel_fwd * framework.attention_scale * block / (block + chip.efficiency.attention_block_tokens)
        return causal_flops / (chip.peak("bf16") * eff)
    batched = g.micro_batch * heads
    scores = gemm_s(batched * seq_len / g.cp, s.d_qk, seq_len, chip, 0) + gemm_s(batched * seq_len / g.cp, seq_len, s.d_v, chip, 0)
    softmax = stream_s(batched * seq_len / g.cp * seq_len * UNFUSED_SCORE_BYTES_FWD, chip)
    return scores + softmax


def elementwise_bytes_fwd(model: Model, moe: bool) -> tuple[float, float]:
    """HBM bytes per token of one layer's element-wise work in the forward, unsharded, as (the part on the full
    hidden state, the part inside the tensor-parallel GEMMs).

    On the hidden state: 2 norms (read + write h) and 2 residual adds (read 2h, write h); tensor parallelism
    splits these only with sequence parallelism (Korthikanti et al. 2022 §4.2.2), otherwise every rank runs them
    whole. Inside: rotary on q and k (read + write), activation (SwiGLU reads 2F writes F; GELU reads F writes F).
    """
    s = layer_shapes(model)
    h = model.hidden
    copies, width = ffn_copies(model, moe)
    act = (3 if model.ffn_act == "swiglu" else 2) * width * copies
    return BF16_BYTES * (4 * h + 6 * h), BF16_BYTES * (2 * (s.q_out + s.kv_out) + act)


def fp8_cast_bytes(model: Model, moe: bool, weight_grads: bool = True) -> tuple[float, float]:
    """HBM bytes per token (unsharded) of one layer's fp8 casts in the forward and in the backward.

    Forward: the inputs of the attention output projection and of the second FFN GEMM (and, in a MoE layer, of the
    experts' first GEMM, fed by the permutation) are cast with their transposes (``FP8_CAST_BYTES``); the inputs of
    QKV and of a dense first FFN GEMM come from the fused norm already in fp8 and are only transposed
    (``FP8_TRANSPOSE_BYTES``). Backward: every GEMM's output gradient is cast with its transpose. Weights are cast once
    per step and left out. MoE widths count the top-k routed copies and the shared experts.

    Without ``weight_grads`` (a frozen base under LoRA) no weight-gradient GEMM runs, so no transpose is written:
    Transformer Engine makes the transposed copies only for the weight gradient (its linear saves and transposes
    its input only when the weight requires a gradient), so each cast reads 2 bytes and writes 1."""
    s = layer_shapes(model)
    h = model.hidden
    copies, width = ffn_copies(model, moe)
    # a MoE layer's expert inputs come from the permutation, not from the norm: cast rather than only transposed
    cast_in = s.attn_out_in + copies * width + (copies * h if moe else 0)
    transposed = h if moe else 2 * h
    grads = (s.q_out + s.kv_out) + h + copies * ((s.ffn_mats - 1) * width + h)
    if not weight_grads:
        return FP8_CAST_NO_TRANSPOSE_BYTES * cast_in, FP8_CAST_NO_TRANSPOSE_BYTES * grads
    return FP8_CAST_BYTES * cast_in + FP8_TRANSPOSE_BYTES * transposed, FP8_CAST_BYTES * grads


def moe_route_s(model: Model, chip: Chip, g: PlanGrid, seq_len: int, framework: Framework,
                host_factor: float = 1.0) -> np.ndarray:
    """One MoE layer's routing on one device for one micro-batch in one direction (forward; the backward runs the
    same kernels the other way round): ``moe_layer_fixed_s`` (router softmax and top-k, sort by expert, the host
    sync of token counts, their launch gaps) plus the permutation's bytes. The rank's ``rows`` (tokens x top_k
    routed copies) are gathered by expert (read + write) and their expert outputs added back to their tokens: eager
    PyTorch does that with a bf16 scatter-add (atomics, ``hbm_scatter_add``), fused kernels at gather speed, and an
    all-to-all that lays tokens out by expert and combines them (DeepEP) leaves no pass at all. Kernel-measured:
    benchmarks/results/probe-h200.md. A framework whose dispatcher does more host work adds its
    ``moe_layer_overhead_s``. Both are host-bound work measured or fitted on x86 server hosts: ``host_factor``
    (``Chip.host_time_factor``, a Grace's 2.75) stretches them where the ops are dispatched one by one from the host,
    and is 1 where the router and preprocessing replay from a CUDA graph (``TrainJob.moe_host_graphed``)."""
    eff = chip.efficiency
    tokens = g.micro_batch * seq_len / g.cp / g.tp
    rows = tokens * g.etp * model.moe.top_k
    h = model.hidden
    gather_bytes = 2.0 * rows * h * BF16_BYTES
    scatter_bytes = rows * h * BF16_BYTES + 2.0 * tokens * h * BF16_BYTES
    hbm = chip.hbm_bytes_per_s
    if framework.moe_permute == "in_dispatch":
        moved = 0.0
    elif framework.moe_permute == "fused":
        moved = (gather_bytes + scatter_bytes) / (hbm * eff.hbm_gather)
    else:
        moved = gather_bytes / (hbm * eff.hbm_gather) + scatter_bytes / (hbm * eff.hbm_scatter_add)
    return (eff.moe_layer_fixed_s + framework.moe_layer_overhead_s) * host_factor + moved + 0.0 * tokens


def local_weight_params(model: Model, moe: bool, g: PlanGrid):
    """The matrix weights one device holds of one dense (moe=False) or MoE layer: attention and dense FFN split over
    tp, a MoE layer's local experts over etp and its shared experts over tp (norms and the router left out)."""
    s = layer_shapes(model)
    if moe:
        e = model.moe
        ffn = (e.experts / g.ep) * expert_params(model) / g.etp + e.shared_experts * expert_params(model) / g.tp
    else:
        ffn = ffn_params_dense(model) / g.tp
    return s.attn_params / g.tp + ffn


def layer_times(model: Model, chip: Chip, g: PlanGrid, job: TrainJob, moe: bool) -> LayerTimes:
    """Forward, backward and recompute seconds of one dense (moe=False) or MoE layer under ``job``: its framework, a
    named selective-recompute policy (:mod:`.remat`) and its task (:mod:`.task`: frozen base weights skip their
    weight-gradient GEMMs and add the adapters'; a packed example attends within itself)."""
    framework, seq_len = job.framework, job.seq_len
    remat_again = remat.recomputed(model, moe, job) if job.remat_policy else None
    s = layer_shapes(model)
    h, tp = model.hidden, g.tp
    tokens = g.micro_batch * seq_len / g.cp
    gemm = gemm_s(tokens, h, (s.q_out + s.kv_out) / tp, chip, g.fp8) + gemm_s(tokens, s.attn_out_in / tp, h, chip, g.fp8)
    if moe:
        e = model.moe
        fe = e.expert_ffn_hidden
        local_experts = e.experts / g.ep
        # an expert-TP group gathers its sequence shards (etp of the tp shards); the all-to-all then brings every
        # expert the tokens routed to it from the ep ranks (etp = tp: all of the micro-batch's tokens, as before)
        per_expert_tokens = tokens * g.etp / tp * e.top_k * g.ep / e.experts
        load_factor = hottest_rank_factor(job.moe_balancing or e.balancing, e.experts, g.ep,
                                          tokens * g.etp / tp * e.top_k * g.ep)
        experts_gemm = grouped_gemm_s if job.grouped_experts else sequential_gemm_s
        expert = (experts_gemm(local_experts, per_expert_tokens, h, (s.ffn_mats - 1) * fe / g.etp, chip, g.fp8)
                  + experts_gemm(local_experts, per_expert_tokens, fe / g.etp, h, chip, g.fp8))
        shared = 0.0
        if e.shared_experts:
            width = fe * e.shared_experts
            shared = gemm_s(tokens, h, (s.ffn_mats - 1) * width / tp, chip, g.fp8) + gemm_s(tokens, width / tp, h, chip, g.fp8)
        router = gemm_s(tokens, h, e.experts, chip, 0)
        gemm = gemm + expert + shared + router
    else:
        expert, load_factor = 0.0, 1.0
        f = model.ffn_hidden
        gemm = gemm + gemm_s(tokens, h, (s.ffn_mats - 1) * f / tp, chip, g.fp8) + gemm_s(tokens, f / tp, h, chip, g.fp8)
    # LoRA: x A then (x A) B for each adapted matrix (A and B split over tp like the matrix), added to the base output
    adapter = 0.0 * gemm
    for m in task.adapted_matrices(model, moe, job):
        adapter = adapter + task.adapter_s(chip, tokens * m.per_token, m.d_in / tp, m.d_out / tp, job.lora_rank)
    attn = attention_fwd_s(model, chip, g, seq_len, framework, job.attend_len)
    kernel_fwd, kernel_bwd = chip.efficiency.attention(framework.attention_kernel)
    bwd_ratio = kernel_fwd / kernel_bwd if framework.flash_attention else 1.0
    attn_bwd = attn * 2.0 * bwd_ratio
    on_hidden, inside = elementwise_bytes_fwd(model, moe)
    hidden_split = tp if framework.sequence_parallel else 1.0
    elementwise = elementwise_s(tokens * (on_hidden / hidden_split + inside / tp) * framework.elementwise_passes, chip)
    has_fp8 = int(chip.peak_flops_per_s.get("fp8") is not None)
    cast_fwd_bytes, cast_bwd_bytes = fp8_cast_bytes(model, moe, weight_grads=not job.adapters)
    cast_fwd = np.where(g.fp8 * has_fp8 == 1, elementwise_s(tokens * cast_fwd_bytes / tp, chip), 0.0)
    cast_bwd = np.where(g.fp8 * has_fp8 == 1, elementwise_s(tokens * cast_bwd_bytes / tp, chip), 0.0)
    kernels = framework.kernels_per_layer * chip.efficiency.kernel_overhead_s
    scale = framework.compute_scale
    # a frozen base (lora, qlora) runs only the activation-gradient GEMM of each matmul in the backward
    weight_grads = 0.0 if job.adapters else 1.0
    weights = local_weight_params(model, moe, g)
    dequant = 0.0 * gemm
    if job.task == "qlora":  # every use of a base matrix dequantises it from NF4 first
        dequant = task.dequant_s(chip, weights)
    # without gradient-accumulation fusion a backward hook adds each weight's bf16 gradient to the main gradients
    accumulate = weight_grads * stream_s(job.grad_accumulation_bytes * weights, chip)
    fwd = (gemm + attn + elementwise + cast_fwd + adapter) / scale + dequant + kernels
    bwd = ((1.0 + weight_grads) * gemm + 2.0 * (elementwise + adapter) + attn_bwd + cast_bwd) / scale + dequant \
        + accumulate + 2.0 * kernels
    # selective recompute re-runs the element-wise work and, without a flash kernel, the attention core
    # (Korthikanti et al. 2022 §5); a flash kernel already recomputes its scores inside its backward
    # a per-op policy (torchtitan) also runs a share of the forward GEMMs again
    selective = (elementwise + (0.0 if framework.flash_attention else attn) + framework.selective_gemm_share * gemm) / scale
    if remat_again is not None:  # a named per-tensor policy: what the backward needs and does not find
        gemm_share, attention_again = remat_again
        selective = (elementwise + (attn if attention_again else 0.0) + gemm_share * gemm) / scale
    if framework.recompute_mla_up and model.attention == "mla":  # the latent -> per-head projections, run again
        up_q = gemm_s(tokens, model.q_lora_rank, model.heads * s.d_qk / tp, chip, g.fp8) if model.q_lora_rank else 0.0
        up_kv = gemm_s(tokens, model.kv_lora_rank, model.heads * (model.qk_nope_head_dim + s.d_v) / tp, chip, g.fp8)
        selective = selective + (up_q + up_kv) / scale
    recompute = np.where(g.recompute == 2, fwd, np.where(g.recompute == 1, selective, 0.0))
    host = 1.0 if job.moe_host_graphed else chip.host_time_factor
    route = moe_route_s(model, chip, g, seq_len, framework, host) * np.where(g.recompute == 2, 3.0, 2.0) if moe else 0.0 * fwd
    imbalance = 0.0  # a dense layer (and one expert-parallel rank) waits for nobody
    if moe:
        expert_passes = 2.0 + weight_grads + np.where(g.recompute == 2, 1.0, 0.0)
        imbalance = (load_factor - 1.0) * expert * expert_passes / scale
    return LayerTimes(fwd_s=fwd, bwd_s=bwd, recompute_s=recompute, attn_core_fwd_s=attn, route_s=route,
                      load_factor=load_factor, imbalance_s=imbalance)


CROSS_ENTROPY_BYTES_PER_LOGIT = {"unfused": 52.0, "native": 28.0, "te": 10.0}
"""HBM bytes per logit (fp32 after the upcast, per tensor-parallel slice) Megatron-Core's cross-entropy moves over
forward and backward, by implementation (``cross_entropy`` on a run; megatron/core/tensor_parallel/cross_entropy.py and
fusions/fused_cross_entropy.py):

- ``unfused`` (``cross_entropy_loss_fusion`` False, Megatron-Core's default and the only code before June 2024):
  forward ``.float()`` reads 2 writes 4, max reads 4, the in-place subtract 8, exp 8, sum 4, divide 8 (38); backward
  the in-place scaling 8 and the cast back to bf16 reads 4 writes 2 (14): 52.
- ``native`` (``cross_entropy_loss_fusion`` True with ``cross_entropy_fusion_impl`` 'native', what NeMo 2 and
  Megatron-Bridge set): four jit-fused functions, each writing its output once: the upcast with the max 6, shift and
  exp 8, normalise 8, the gradient read 4 written as bf16 2: 28.
- ``te`` (Transformer Engine's parallel cross-entropy, Megatron-Bridge's DeepSeek and Kimi providers): one kernel reads
  the bf16 logits and writes their bf16 gradient in the forward, the backward scales it: about 10."""


def logits_times(model: Model, chip: Chip, g: PlanGrid, job: TrainJob) -> tuple[np.ndarray, np.ndarray]:
    """Forward and backward seconds of the output layer and the loss (bf16) for one micro-batch (a frozen output layer,
    under lora/qlora, computes no weight gradient; a tiled loss, ``vocab_tiles`` > 1, runs its forward again in the
    backward, one chunk at a time)."""
    framework = job.framework
    tokens = g.micro_batch * job.seq_len / g.cp
    fwd = gemm_s(tokens, model.hidden, model.vocab / g.tp, chip, 0)
    loss = stream_s(tokens * model.vocab / g.tp * framework.loss_traffic_bytes_per_logit, chip)
    scale = framework.compute_scale
    # the output layer is a linear layer too: without accumulation fusion its gradient is added to the main one
    accumulate = 0.0 if job.adapters else stream_s(job.grad_accumulation_bytes * model.hidden * model.vocab / g.tp, chip)
    again = fwd + loss / 2 if job.vocab_tiles > 1 else 0.0  # each chunk's logits and cross-entropy forward again
    return (fwd + loss / 2) / scale, ((1.0 if job.adapters else 2.0) * fwd + again + loss / 2) / scale + accumulate
