"""Serving costs of one replica: one engine iteration (pure numpy); what the replica holds in memory is
:mod:`.serve_memory`'s.

Per device of one replica (tp · pp devices; dp replicas side by side), an iteration over T tokens is priced kernel
by kernel from the chip's kernel table (``Chip.kernels``, its efficiency profile where no table describes it); no
engine-wide efficiency is fitted (issue 22):

* every weight matmul is one GEMM on the training model's roofline: its FLOPs at the table's GEMM curve for its
  size, its bytes (weights in the serving format plus activations) at the streaming bandwidth — so a small decode
  batch is bound by the weights and a large one by the curve;
* a MoE layer's touched experts (E · (1 − (1 − k/E)^T)) run as the engines' fused MoE kernel where the table timed
  it (:mod:`.fused_moe`), else as one grouped GEMM at the table's grouped rows;
* the layers' element-wise kernels at their measured bandwidth, the output layer for the sampled tokens only;
* prefill attention at the engine's attention kernel's measured efficiency; decode attention reads the KV cache;
* two TP all-reduces per layer (and EP all-to-alls), a launch gap per kernel, and the engine's host time per
  iteration (:class:`~xpuplan.specs.serving.ServeEngine`);
* a vision-language model's encoder once per request, with the request's prompt (:func:`encoder_prefill_s`).

How requests share these costs over time (continuous batching, queueing) is :mod:`xpuplan.serving`'s.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np

from ..plan import ServePlan
from ..specs import WEIGHT_FORMATS, Chip, Efficiency, Model
from .comm import SERVED_CROSS_DOMAIN_CALL_S, collective_s, spans_domains
from .compute import elementwise_bytes_fwd, roofline_s
from .encoder import serve_prefill_s
from .imbalance import hottest_rank_factor
from .flops import attention_core_flops_per_token, layer_shapes, mean_keys_per_layer
from .fused_moe import figures, fused_moe_s, routing
from .launches import DECODE_KERNELS_PER_LAYER, MOE_EXTRA_KERNELS, eager_kernels, with_host_s
from .serve_memory import kv_tokens, replica_costs
from .weights import expert_split, expert_weight_bytes, part_precision, weight_bytes

GEMM_CALL_S = 6.4e-6
"""seconds a GEMM call costs beyond its FLOPs at the curve's ceiling, as the GH100 kernel table measures it: its size
curve ``eff(f) = gemm_max f / (f + f_half)`` takes f / (peak gemm_max) + f_half / (peak gemm_max) seconds, and
f_half / (peak gemm_max) = 4.33e9 / (989e12 x 0.689) = 6.4 us (catalog/kernels/h100-sxm.yaml, probe-h200)"""


def kernel_efficiency(chip: Chip) -> Efficiency:
    """The kernel speeds serving prices with: the chip's kernel table where one describes it, else its profile with
    the size curve's half point set from :data:`GEMM_CALL_S` at the chip's own peak. A profile's half point fitted end
    to end on training steps (the generic prior's 1e11 FLOPs, the slowest calibrated value) would charge every small
    decode GEMM 1-2 ms on a 70-300 TFLOP/s part; a call's fixed cost is a latency, not a number of FLOPs."""
    if chip.kernels is not None:
        return chip.kernels
    peaks = chip.peak_flops_per_s
    return _with_call_latency(chip.efficiency, peaks.get("bf16") or peaks.get("fp16"), peaks.get("fp8"))


@functools.lru_cache(maxsize=256)
def _with_call_latency(e: Efficiency, bf16: float | None, fp8: float | None) -> Efficiency:
    """``e`` with its GEMM half points set from :data:`GEMM_CALL_S` at these peaks (once per profile: every GEMM of
    every iteration asks)."""
    if not bf16:
        return e
    return dataclasses.replace(e, gemm_half_flops=GEMM_CALL_S * bf16 * e.gemm_max,
                               gemm_fp8_half_flops=GEMM_CALL_S * fp8 * e.gemm_fp8_max if fp8 else None)


def _gemm_curve(eff: Efficiency, dtype: str) -> tuple[float, float, float]:
    """(ceiling, half point, weight-streaming fraction) of GEMMs whose math runs in ``dtype``: fp4 on the kernel table's
    fp4 curve and fp4 streaming rate where it measured them (else the fp8 curve and ``hbm``), fp8 and int8 on the fp8
    curve (its half point, else the bf16 one), bf16 on the bf16 curve."""
    hbm = eff.hbm_fp4 if dtype == "fp4" and eff.hbm_fp4 is not None else eff.hbm
    if dtype == "fp4" and eff.gemm_fp4_max is not None:
        return eff.gemm_fp4_max, eff.gemm_fp4_half_flops, hbm
    if dtype in ("fp8", "fp4", "int8"):
        return eff.gemm_fp8_max, eff.gemm_fp8_half_flops or eff.gemm_half_flops, hbm
    return eff.gemm_max, eff.gemm_half_flops, hbm


GROUPED_HBM_FALLBACK = 0.4873
"""fraction of peak HBM bandwidth a grouped GEMM reads its weights at where the chip's kernel table has no grouped
rows: the GH100 table's ``hbm_grouped`` (torch._grouped_mm at 64 tokens a group, probe-h200). Those chips' grouped
kernels are priced as one call on the dense size curve over the whole kernel's FLOPs, the call's fixed cost once, not
once a group (which had a B200 decode Qwen3-30B-A3B at 16 sequences twice as slowly as an H100)"""


def _gemm_s(tokens, k, n, chip: Chip, precision: str, count=1.0, wbytes: float | None = None) -> np.ndarray:
    """``count`` (tokens x k) @ (k x n) GEMMs launched as one kernel on the training cost model's roofline: FLOPs at
    the chip's measured GEMM efficiency for the kernel's size, bytes (weights in the serving format, bf16 activations
    in and out) at its streaming bandwidth. With ``count`` > 1 it is a grouped GEMM (a MoE layer's touched experts):
    its efficiency follows the table's grouped rows over one group's FLOPs, and it reads its weights at the grouped
    rows' rate. ``wbytes``: a weight's bytes with its block scales (:func:`~.weights.weight_bytes`; else its width)."""
    width, peak_dtype, _ = WEIGHT_FORMATS[precision]
    wbytes = width if wbytes is None else wbytes
    eff = kernel_efficiency(chip)
    eff_max, half, hbm = _gemm_curve(eff, peak_dtype)
    tokens = np.asarray(tokens, dtype=float)
    one = 2.0 * tokens * k * n
    grouped = np.ndim(count) > 0 or count != 1.0
    sized = one  # the FLOPs the size curve is read at: one GEMM's, or one group's in a measured grouped kernel
    if grouped and eff.grouped_gemm_max is not None:
        # the grouped rows are bf16; an fp8 or fp4 kernel keeps the same fraction of its own peak
        eff_max = eff.grouped_gemm_max * eff_max / eff.gemm_max
        half = eff.grouped_gemm_half_flops
    elif grouped:  # no grouped rows: one kernel, its call's fixed cost once, not once a group (GROUPED_HBM_FALLBACK)
        sized = one * count
    if grouped:
        hbm = eff.hbm_grouped if eff.hbm_grouped is not None else min(hbm, GROUPED_HBM_FALLBACK)
    nbytes = count * (k * n * wbytes + 2.0 * tokens * (k + n))
    rate = chip.peak(peak_dtype) * eff_max * sized / (sized + half)
    return roofline_s(one * count, nbytes, np.maximum(rate, 1.0), chip.hbm_bytes_per_s * hbm)


def _layer_matrices(model: Model, plan: ServePlan) -> list[tuple[float, float, str]]:
    """(rows K, columns N, weight format) per device of the dense weight matrices of one layer (tp splits one side);
    the attention projections in bf16 where the checkpoint keeps them so (``Model.unquantized``)."""
    s = layer_shapes(model)
    h, tp = model.hidden, plan.tp
    attn = part_precision(model, "attention", plan.precision)
    mats = [(h, (s.q_out + s.kv_out) / tp, attn), (s.attn_out_in / tp, h, attn)]
    if model.moe is None:
        f = model.ffn_hidden
        mats += [(h, (s.ffn_mats - 1) * f / tp, plan.precision), (f / tp, h, plan.precision)]
    return mats


def weight_kernels_s(model: Model, chip: Chip, plan: ServePlan, tokens, sampled=None) -> np.ndarray:
    """All weight matmuls of one forward over ``tokens`` tokens on one device of a replica, kernel by kernel; the
    output layer runs for the ``sampled`` tokens only (default: all).

    MoE: the touched local experts run as one grouped GEMM (each read once; the batch's routed tokens share them),
    with the router and the shared experts beside them."""
    tokens = np.asarray(tokens, dtype=float)
    sampled = tokens if sampled is None else np.asarray(sampled, dtype=float)
    layers = model.layers / plan.pp
    p, wb = plan.precision, weight_bytes(model, plan.precision)
    expert_wb = expert_weight_bytes(model, plan, p)[0]  # the padded expert matrices the MoE kernel reads
    q = functools.partial(_gemm_s, chip=chip, precision=p, wbytes=wb)  # a GEMM of the served weights
    per_layer = sum(_gemm_s(tokens, k, n, chip, fmt, wbytes=weight_bytes(model, fmt))
                    for k, n, fmt in _layer_matrices(model, plan))
    total = layers * per_layer
    if model.moe:
        e, h = model.moe, model.hidden
        fe, mats = e.expert_ffn_hidden, layer_shapes(model).ffn_mats
        pooled = tokens * (max(plan.ep // plan.tp, 1) if plan.ep > 1 else 1)  # an EP group pools its attention replicas' tokens
        touched, per_expert = routing(pooled, e.experts, e.top_k)
        touched = touched / plan.ep  # without expert parallelism every device holds every expert, 1 / tp of each
        # the hottest expert-parallel rank paces the layer: its experts get load_factor times the mean tokens
        per_expert = per_expert * (hottest_rank_factor(e.balancing, e.experts, plan.ep, pooled * e.top_k)
                                   if plan.ep > 1 else 1.0)
        width = fe / expert_split(plan)
        fused = _fused(chip, plan)  # the engine's fused kernel where the chip's table measured it, else grouped GEMMs
        qe = functools.partial(_gemm_s, chip=chip, precision=p, wbytes=expert_wb)
        routed = fused_moe_s(per_expert, touched, h, width, mats, expert_wb, chip.hbm_bytes_per_s,
                             chip.peak(WEIGHT_FORMATS[p][1]), *fused) if fused else qe(
            per_expert, h, (mats - 1) * width, count=touched) + qe(per_expert, width, h, count=touched)
        shared = q(tokens, h, (mats - 1) * fe * e.shared_experts / plan.tp) + q(
            tokens, fe * e.shared_experts / plan.tp, h) if e.shared_experts else 0.0
        router = _gemm_s(tokens, h, e.experts, chip, "bf16")
        dense_ffn = q(tokens, h, (mats - 1) * model.ffn_hidden / plan.tp) + q(tokens, model.ffn_hidden / plan.tp, h)
        moe_layers = model.moe_layers / plan.pp
        total = total + moe_layers * (routed + shared + router) + (layers - moe_layers) * dense_ffn
    logits = _gemm_s(sampled, model.hidden, model.vocab / plan.tp, chip, "bf16") / plan.pp
    return total + logits


def _fused(chip: Chip, plan: ServePlan):  # the fused MoE kernel's figures for the plan's engine and weights, or None
    timed = kernel_efficiency(chip).fused_moe_for(plan.precision) if plan.engine.moe_kernel == "fused_moe" else None
    return figures(WEIGHT_FORMATS[plan.precision][0], *timed) if timed else None


def moe_dispatch_s(model: Model, chip: Chip, plan: ServePlan, tokens) -> np.ndarray:
    """A MoE model's routing beyond its GEMMs over ``tokens`` tokens on one device, all MoE layers: the permutation
    gathers each token's top-k copies by expert (read and write) and the unpermutation reads the expert outputs and
    writes each token's weighted sum, at the measured gather rate (``hbm_gather``, probe-h200); and the layer's
    :data:`MOE_EXTRA_KERNELS` launches (``compute.moe_route_s`` without its host sync: decode runs as graphs)."""
    tokens = np.asarray(tokens, dtype=float)
    if model.moe is None or _fused(chip, plan):  # the fused kernel's measured time holds its routing
        return 0.0 * tokens
    eff = kernel_efficiency(chip)
    rows = tokens * model.moe.top_k
    moved = (3.0 * rows + 2.0 * tokens) * model.hidden * 2.0 / plan.tp
    per_layer = moved / (chip.hbm_bytes_per_s * eff.hbm_gather) + MOE_EXTRA_KERNELS * eff.kernel_overhead_s
    return model.moe_layers / plan.pp * per_layer


def elementwise_s(model: Model, chip: Chip, plan: ServePlan, tokens) -> np.ndarray:
    """The layers' fused element-wise kernels (norms, residual adds, rotary, activation) over ``tokens`` tokens on one
    device, at the bandwidth the kernel table measured for them (the training model's bytes per token)."""
    on_hidden, inside = elementwise_bytes_fwd(model, False)
    if model.moe:
        moe_hidden, moe_inside = elementwise_bytes_fwd(model, True)
        dense_share = 1.0 - model.moe_layers / model.layers
        on_hidden = dense_share * on_hidden + (1 - dense_share) * moe_hidden
        inside = dense_share * inside + (1 - dense_share) * moe_inside
    per_token = model.layers / plan.pp * (on_hidden + inside / plan.tp)
    return np.asarray(tokens, dtype=float) * per_token / (chip.hbm_bytes_per_s * kernel_efficiency(chip).elementwise_hbm)


def _attention_peak(chip: Chip, plan: ServePlan) -> float:
    """The peak the engine's fused attention kernel runs at: FP8 where the KV cache is FP8 and the engine computes
    attention in it (``ServeEngine.fp8_attention``), whatever the weights' format (FP4 checkpoints too: no engine runs
    attention in FP4); else 16 bits. The weights' format does not decide it: an FP8 checkpoint served with a bf16 cache
    runs bf16 attention (vLLM's quantized_kvcache docs: FP8 attention comes with the FP8 cache under FlashAttention-3;
    TensorRT-LLM's FP8 context FMHA likewise needs the FP8 cache)."""
    return chip.peak("fp8" if plan.kv_precision == "fp8" and plan.engine.fp8_attention else "bf16")


def prefill_attention_s(model: Model, chip: Chip, plan: ServePlan, tokens, prompt_len) -> np.ndarray:
    """Causal attention of ``tokens`` prompt tokens (requests of ``prompt_len``) on one device: FLOPs at the engine's
    attention kernel's measured efficiency, its tiles filled by the chunk's queries."""
    flops = np.asarray(tokens, dtype=float) * attention_core_flops_per_token(model, prompt_len) / (plan.tp * plan.pp)
    eff = kernel_efficiency(chip)
    fwd, _ = eff.attention(plan.engine.attention_kernel)
    block = np.maximum(np.minimum(np.asarray(tokens, dtype=float), prompt_len), 1.0)
    return flops / (_attention_peak(chip, plan) * fwd * block / (block + eff.attention_block_tokens))


def decode_attention_flops_per_token(model: Model, context) -> np.ndarray:
    """FLOPs of one decoding token's attention over ``context`` keys, all layers. MLA decodes *absorbed* (DeepSeek-V2
    §2.1.2; FlashMLA, the kernels engines run): the up-projections fold into the query and the output, so each head
    scores the cached latent and rotary key (kv_lora_rank + qk_rope_head_dim) and sums the latent values
    (kv_lora_rank) over every key, 2 · a · (2 · kv_lora_rank + qk_rope_head_dim) a key where the expanded heads of
    prefill and training cost 2 · a · (d_qk + d_v): 3.4x for DeepSeek-V3. Other attention: as in training."""
    if model.attention != "mla":
        return attention_core_flops_per_token(model, 2 * context)
    keys = mean_keys_per_layer(model, 2 * context)
    return 2.0 * model.layers * model.heads * (2 * model.kv_lora_rank + model.qk_rope_head_dim) * keys


def decode_attention_s(model: Model, chip: Chip, plan: ServePlan, batch, context, verify=1) -> np.ndarray:
    """Attention of ``batch`` decoding sequences at mean ``context`` on one device: each reads its KV cache."""
    rc = replica_costs(model, chip, plan)
    flops = batch * verify * decode_attention_flops_per_token(model, context) / (plan.tp * plan.pp)
    nbytes = batch * kv_tokens(model, context) * rc.kv_bytes_per_token
    eff = kernel_efficiency(chip)
    return roofline_s(flops, nbytes, _attention_peak(chip, plan) * eff.attention(plan.engine.attention_kernel)[0],
                      chip.hbm_bytes_per_s * eff.hbm)


def comm_s(model: Model, chip: Chip, plan: ServePlan, tokens) -> np.ndarray:
    """Two TP all-reduces per layer, and the expert all-to-all (dispatch and combine) per MoE layer where the experts
    are spread over attention replicas (``ep > tp``: data-parallel attention, each replica with its own tokens).
    Experts inside the tensor-parallel group (``ep <= tp``: vLLM, SGLang and TensorRT-LLM with attention TP) need no
    all-to-all: after the attention's all-reduce every rank holds all the tokens, runs its own experts on them, and
    the layer's second all-reduce sums the experts' outputs, as it sums a dense MLP's partial outputs."""
    tokens = np.maximum(np.asarray(tokens, dtype=float), 1.0)
    calls = 2 * model.layers / plan.pp
    comm = calls * (collective_s("all_reduce", tokens * model.hidden * 2.0, plan.tp, 1, chip)
                    + (SERVED_CROSS_DOMAIN_CALL_S if spans_domains(chip, plan.tp) else 0.0))
    if model.moe and plan.ep > plan.tp:
        routed = tokens * model.moe.top_k * model.hidden * 2.0
        comm = comm + 2 * model.moe_layers / plan.pp * collective_s("all_to_all", routed, plan.ep, plan.tp, chip)
    return comm


def encoder_prefill_s(model: Model, chip: Chip, plan: ServePlan, requests) -> np.ndarray:
    """A vision encoder's forward for ``requests`` requests' images on one replica, once per request with its prompt
    (:func:`~.encoder.serve_prefill_s` with serving's GEMMs and kernel table); 0 for a text-only model."""
    return serve_prefill_s(model, chip, plan.tp, plan.engine.attention_kernel, requests,
                           lambda tokens, k, n: _gemm_s(tokens, k, n, chip, "bf16"), kernel_efficiency(chip))


def prefill_s(model: Model, chip: Chip, plan: ServePlan, tokens, seq_len) -> np.ndarray:
    """Seconds to prefill ``tokens`` prompt tokens (requests of ``seq_len``) on one replica, a vision encoder's
    forward over their images included."""
    requests = np.asarray(tokens, dtype=float) / seq_len
    stage = (weight_kernels_s(model, chip, plan, tokens, requests) + elementwise_s(model, chip, plan, tokens)
             + moe_dispatch_s(model, chip, plan, tokens) + prefill_attention_s(model, chip, plan, tokens, seq_len)
             + comm_s(model, chip, plan, tokens))
    return plan.pp * stage + encoder_prefill_s(model, chip, plan, requests)


def decode_step_s(model: Model, chip: Chip, plan: ServePlan, batch, context, verify=1) -> np.ndarray:
    """Seconds for one decode step of ``batch`` sequences at mean ``context`` tokens on one replica, each running
    ``verify`` tokens (1 + drafts under speculative decoding): the weight kernels, the element-wise kernels, attention
    reading each sequence's KV cache, the TP (and EP) collectives and the kernel launches, in sequence."""
    batch = np.maximum(np.asarray(batch, dtype=float), 1.0)
    tokens, layers = batch * verify, model.layers / plan.pp
    launches = layers * DECODE_KERNELS_PER_LAYER * chip.efficiency.kernel_overhead_s
    stage = (weight_kernels_s(model, chip, plan, tokens) + elementwise_s(model, chip, plan, tokens)
             + moe_dispatch_s(model, chip, plan, tokens) + decode_attention_s(model, chip, plan, batch, context, verify)
             + comm_s(model, chip, plan, tokens) + launches)
    return plan.pp * stage


def iteration_s(model: Model, chip: Chip, plan: ServePlan, prefill_tokens, decode_batch, prompt_len, context):
    """Seconds of one engine iteration on one replica that carries ``prefill_tokens`` prompt tokens (chunks of
    requests of ``prompt_len``) and ``decode_batch`` decoding sequences at mean ``context`` (arrays broadcast).

    One forward over p + d·v tokens (v = 1 + drafts verified per sequence): the weight kernels priced once at the
    iteration's token count (the output layer only for the tokens sampled), the element-wise kernels, prefill
    attention over the chunks, decode attention reading each sequence's KV cache, the TP/EP collectives, kernel gaps,
    and the engine's host costs. An iteration whose batch is larger than the engine's captured graphs, or that
    carries prefill, launches its kernels from the host: it takes at least ``eager_kernels`` · eager_launch_s. Host
    time: per iteration, and per sequence carried (decoding, or prefilling pro rata to its chunk), added to the device
    time or overlapped with it as the engine schedules (:func:`~.launches.with_host_s`). With pp stages the iteration's tokens split into pp micro-batches in flight at
    once (one per stage), as TensorRT-LLM's and vLLM's pipeline schedulers run them. A vision encoder runs over the
    images of the requests the iteration prefills (:func:`encoder_prefill_s`, pro rata to the chunk)."""
    engine = plan.engine
    p = np.asarray(prefill_tokens, dtype=float) / plan.pp
    d = np.asarray(decode_batch, dtype=float) / plan.pp
    v = engine.verify_tokens
    tokens = np.maximum(p + d * v, 1.0)
    sampled = np.maximum(d * v + p / prompt_len, 1.0)
    layers = model.layers / plan.pp
    kernels = layers * DECODE_KERNELS_PER_LAYER
    device = (weight_kernels_s(model, chip, plan, tokens, sampled) + elementwise_s(model, chip, plan, tokens)
              + moe_dispatch_s(model, chip, plan, tokens)
              + prefill_attention_s(model, chip, plan, p, prompt_len)
              + np.where(d > 0, decode_attention_s(model, chip, plan, d, context, v), 0.0)
              + comm_s(model, chip, plan, tokens) + kernels * chip.efficiency.kernel_overhead_s)
    eager = (p > 0) | (d > engine.graph_max_batch)
    step = np.where(eager, np.maximum(device, eager_kernels(model, plan) * engine.eager_launch_s), device)
    requests = np.asarray(prefill_tokens, dtype=float) / prompt_len  # whose chunks the iteration prefills
    device = plan.pp * step + draft_s(model, chip, plan, d, context) + encoder_prefill_s(model, chip, plan, requests)
    return with_host_s(engine, device, d * plan.pp + requests)


DRAFT_MODEL_STEP_FRACTION = 0.15
"""a separate draft model's decode step as a fraction of the target's: small batches are launch- and weight-read
bound, and a typical pairing (Llama-3.2-1B drafting Llama-3.1-70B) has 16 of 80 layers and 1/40 of the weights"""


def draft_s(model: Model, chip: Chip, plan: ServePlan, decode_batch, context):
    """Seconds spent drafting in one iteration: k sequential draft passes over the decoding sequences.

    MTP (DeepSeek-V3 §2.2) and EAGLE (Li et al. 2024, arXiv 2401.15077) draft with one extra transformer layer and
    the shared output head: a pass costs one layer of the target's decode step; a draft model's, a fraction of it."""
    spec = plan.engine.speculative
    d = np.asarray(decode_batch, dtype=float)
    if spec is None:
        return np.zeros_like(d)
    target = decode_step_s(model, chip, plan, np.maximum(d, 1.0), context)
    per_pass = target * (DRAFT_MODEL_STEP_FRACTION if spec.method == "draft" else 1.0 / model.layers)
    return np.where(d > 0, spec.draft_tokens * per_pass, 0.0)
