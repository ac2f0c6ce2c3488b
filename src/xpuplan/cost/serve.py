"""Serving costs of one replica: weights and KV cache in memory, one prefill, one decode step (pure numpy).

Per device of one replica (tp · pp devices; dp replicas side by side):

* **prefill** of B requests of I tokens is compute-bound: 2 · N_active · B · I FLOPs plus the causal
  attention term, plus two TP all-reduces per layer;
* **decode** of one token for a batch of B sequences with mean context c reads the weights once
  (for MoE only the experts the batch touches: E · (1 − (1 − k/E)^B) of them), reads each sequence's
  KV cache (B · c · kv bytes per token), does 2 · N_active · B FLOPs, and pays two latency-bound
  all-reduces per layer and the kernel launches;
* every weight matmul is one kernel on the roofline of :func:`~xpuplan.cost.compute.roofline_s` (the
  training model's kernel), at the chip's large-GEMM efficiency scaled by the engine's profile.

How requests share these costs over time (continuous batching, queueing) is :mod:`xpuplan.serving`'s.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..plan import ServePlan
from ..specs import KV_BYTES, WEIGHT_FORMATS, Chip, Model
from .comm import collective_s
from .compute import roofline_s
from .flops import attention_core_flops_per_token, layer_shapes, total_params

DECODE_KERNELS_PER_LAYER = 10  # with CUDA-graph style launch: the per-kernel gap remains
ACTIVATION_WORKSPACE_TOKENS = 8192  # prefill chunk whose activations the runtime reserves
WORKSPACE_BYTES_PER_VALUE = 2 * 8  # bf16 activations, about 8 hidden-sized tensors alive per token


def kv_bytes_per_token(model: Model, kv_precision: str) -> float:
    """KV-cache bytes per token over all layers (MLA caches its compressed latent and rotary key)."""
    per_layer = (model.kv_lora_rank + model.qk_rope_head_dim) if model.attention == "mla" else 2 * model.kv_heads * model.d_head
    return model.layers * per_layer * KV_BYTES[kv_precision]


def kv_tokens(model: Model, tokens):
    """Tokens' worth of KV cache a sequence of ``tokens`` holds, averaged over the layers: a sliding-window layer keeps
    at most its window (gpt-oss: 128 tokens in every second layer)."""
    if not model.window_layers:
        return tokens
    full = model.layers - model.window_layers
    return (full * np.asarray(tokens, dtype=float) + model.window_layers * np.minimum(tokens, model.sliding_window)) \
        / model.layers


def workspace_bytes(model: Model, plan: ServePlan) -> float:
    """Activation memory the runtime reserves for one prefill chunk, per device."""
    return ACTIVATION_WORKSPACE_TOKENS * model.hidden * WORKSPACE_BYTES_PER_VALUE / plan.tp


@dataclass(frozen=True, kw_only=True, slots=True)
class ReplicaCosts:
    """Per-replica figures that do not depend on the batch."""

    weight_bytes: float
    """weights per device, bytes"""
    kv_bytes_per_token: float
    """KV cache per token per device, bytes"""
    free_bytes: float
    """memory per device left for the KV cache, bytes"""


def replica_costs(model: Model, chip: Chip, plan: ServePlan, memory_margin: float = 0.0) -> ReplicaCosts:
    wbytes = WEIGHT_FORMATS[plan.precision][0]
    params = total_params(model)
    experts = 0.0
    if model.moe:
        experts = model.moe_layers * model.moe.experts * layer_shapes(model).ffn_mats * model.hidden * model.moe.expert_ffn_hidden
    dense = params - experts
    per_device = dense / (plan.tp * plan.pp) + experts / (plan.ep if plan.ep > 1 else plan.tp) / plan.pp
    kv_split = min(plan.tp, model.kv_heads) if model.attention != "mla" else 1
    kv = kv_bytes_per_token(model, plan.kv_precision) / kv_split / plan.pp
    free = chip.hbm_bytes * (1 - memory_margin) - per_device * wbytes - chip.efficiency.reserve_bytes - workspace_bytes(model, plan)
    return ReplicaCosts(weight_bytes=per_device * wbytes, kv_bytes_per_token=kv, free_bytes=free)


def max_concurrency(model: Model, chip: Chip, plan: ServePlan, input_len: int, output_len: int,
                    memory_margin: float = 0.0) -> int:
    """Sequences of this length whose KV cache fits, over all replicas: the engine fills at most its
    ``memory_utilization`` of a device (or what ``memory_margin`` leaves, the tighter), and gives its
    ``kv_free_fraction`` of what weights, activations and the runtime leave to the KV cache."""
    engine = plan.engine
    margin = max(memory_margin, 1.0 - engine.memory_utilization)
    rc = replica_costs(model, chip, plan, margin)
    per_seq = rc.kv_bytes_per_token * kv_tokens(model, input_len + output_len)
    return max(int(rc.free_bytes * engine.kv_free_fraction // per_seq), 0) * plan.dp


def _kernel_s(flops, nbytes, chip: Chip, peak_dtype: str, scale: float = 1.0) -> np.ndarray:
    """One kernel at the chip's large-GEMM efficiency and streaming bandwidth, slowed by the engine's ``scale``."""
    eff = chip.efficiency
    eff_max = eff.gemm_fp8_max if peak_dtype in ("fp8", "fp4", "int8") else eff.gemm_max
    return roofline_s(flops, nbytes, chip.peak(peak_dtype) * eff_max, chip.hbm_bytes_per_s * eff.hbm) / scale


def _layer_matrices(model: Model, plan: ServePlan) -> list[tuple[float, float]]:
    """(rows K, columns N) per device of the dense weight matrices of one layer (tp splits one side)."""
    s = layer_shapes(model)
    h, tp = model.hidden, plan.tp
    mats = [(h, (s.q_out + s.kv_out) / tp), (s.attn_out_in / tp, h)]
    if model.moe is None:
        f = model.ffn_hidden
        mats += [(h, (s.ffn_mats - 1) * f / tp), (f / tp, h)]
    return mats


def weight_kernels_s(model: Model, chip: Chip, plan: ServePlan, tokens) -> np.ndarray:
    """All weight matmuls of one forward over ``tokens`` tokens on one device of a replica, kernel by kernel.

    Each matrix is a kernel: max(its FLOPs at the GEMM peak, its weights + activations through HBM).
    MoE: each touched expert is read once; the batch's routed tokens share them.
    """
    wbytes, peak, _ = WEIGHT_FORMATS[plan.precision]
    tokens = np.asarray(tokens, dtype=float)
    layers = model.layers / plan.pp
    engine = plan.engine
    scale = engine.kernel_scale * (engine.moe_scale if model.moe else 1.0)

    def kernel(m, k, n):
        return _kernel_s(2.0 * m * k * n, k * n * wbytes + 2.0 * m * (k + n), chip, peak, scale)

    per_layer = sum(kernel(tokens, k, n) for k, n in _layer_matrices(model, plan))
    total = layers * per_layer
    if model.moe:
        e, h = model.moe, model.hidden
        fe, mats = e.expert_ffn_hidden, layer_shapes(model).ffn_mats
        split = plan.ep if plan.ep > 1 else plan.tp
        local = e.experts / split
        pooled = tokens * (max(plan.ep // plan.tp, 1) if plan.ep > 1 else 1)  # an EP group pools its attention replicas' tokens
        touched = local * (1.0 - (1.0 - e.top_k / e.experts) ** pooled)
        per_expert = pooled * e.top_k / e.experts / np.maximum(1.0 - (1.0 - e.top_k / e.experts) ** pooled, 1e-12)
        width = fe / (1 if plan.ep > 1 else plan.tp)
        routed = touched * (kernel(per_expert, h, (mats - 1) * width) + kernel(per_expert, width, h))
        shared = kernel(tokens, h, (mats - 1) * fe * e.shared_experts / plan.tp) + kernel(
            tokens, fe * e.shared_experts / plan.tp, h) if e.shared_experts else 0.0
        dense_ffn = kernel(tokens, h, (mats - 1) * model.ffn_hidden / plan.tp) + kernel(tokens, model.ffn_hidden / plan.tp, h)
        moe_layers = model.moe_layers / plan.pp
        total = total + moe_layers * (routed + shared) + (layers - moe_layers) * dense_ffn
    logits = kernel(tokens, model.hidden, model.vocab / plan.tp) / plan.pp
    return total + logits


def prefill_s(model: Model, chip: Chip, plan: ServePlan, tokens, seq_len) -> np.ndarray:
    """Seconds to prefill ``tokens`` prompt tokens (requests of ``seq_len``) on one replica."""
    gemm = weight_kernels_s(model, chip, plan, tokens)
    attention = tokens * attention_core_flops_per_token(model, seq_len) / (plan.tp * plan.pp)
    # the engine's fused attention kernel runs in the model's compute precision (FP8 FMHA for fp8 models)
    attn = attention / (chip.peak(WEIGHT_FORMATS[plan.precision][1] if plan.precision != "int4" else "bf16")
                        * plan.engine.attention_efficiency)
    comm = 2 * model.layers / plan.pp * collective_s("all_reduce", tokens * model.hidden * 2.0, plan.tp, 1, chip)
    return plan.pp * (gemm + attn + comm)


def decode_step_s(model: Model, chip: Chip, plan: ServePlan, batch, context) -> np.ndarray:
    """Seconds for one decode step of ``batch`` sequences at mean ``context`` tokens on one replica:
    the weight kernels, then attention reading each sequence's KV cache, the TP (and EP) collectives
    and the kernel launches — in sequence, as the step runs them."""
    batch = np.maximum(np.asarray(batch, dtype=float), 1.0)
    rc = replica_costs(model, chip, plan)
    gemm = weight_kernels_s(model, chip, plan, batch)
    attn_flops = batch * attention_core_flops_per_token(model, 2 * context) / (plan.tp * plan.pp)
    attention = _kernel_s(attn_flops, batch * kv_tokens(model, context) * rc.kv_bytes_per_token, chip, "bf16",
                          plan.engine.kernel_scale)
    layers = model.layers / plan.pp
    comm = 2 * layers * collective_s("all_reduce", batch * model.hidden * 2.0, plan.tp, 1, chip)
    if model.moe and plan.ep > 1:
        tokens = batch * model.moe.top_k * model.hidden * 2.0
        comm = comm + 2 * model.moe_layers / plan.pp * collective_s("all_to_all", tokens, plan.ep, plan.tp, chip)
    launches = layers * DECODE_KERNELS_PER_LAYER * chip.efficiency.kernel_overhead_s
    return plan.pp * (gemm + attention + comm + launches)


def iteration_s(model: Model, chip: Chip, plan: ServePlan, prefill_tokens, decode_batch, prompt_len, context):
    """Seconds of one engine iteration on one replica that carries ``prefill_tokens`` prompt tokens (chunks of
    requests of ``prompt_len``) and ``decode_batch`` decoding sequences at mean ``context`` (arrays broadcast).

    One forward over p + d·v tokens (v = 1 + drafts verified per sequence): the weight kernels priced once at the
    iteration's token count, prefill attention over the chunks, decode attention reading each sequence's KV cache,
    the TP/EP collectives, kernel gaps, and the engine's host costs. T(0, d) is :func:`decode_step_s` (plus the
    engine's per-iteration host time and drafting); T(p, 0) is :func:`prefill_s` plus the launch gaps. An iteration
    whose batch is larger than the engine's captured graphs, or that carries prefill, launches its kernels from the
    host: it takes at least layers · kernels · eager_launch_s. With pp stages the iteration's tokens split into pp
    micro-batches in flight at once (one per stage), as TensorRT-LLM's and vLLM's pipeline schedulers run them."""
    engine = plan.engine
    # pipeline stages work on pp micro-batches at once, each 1/pp of the iteration's tokens: a sequence waits pp
    # stage times per iteration, and the replica's throughput is pp micro-batches per pp stage times
    p = np.asarray(prefill_tokens, dtype=float) / plan.pp
    d = np.asarray(decode_batch, dtype=float) / plan.pp
    v = engine.verify_tokens
    rc = replica_costs(model, chip, plan)
    tokens = p + d * v
    gemm = weight_kernels_s(model, chip, plan, np.maximum(tokens, 1.0))
    peak = chip.peak(WEIGHT_FORMATS[plan.precision][1] if plan.precision != "int4" else "bf16")
    pre_attn = p * attention_core_flops_per_token(model, prompt_len) / (plan.tp * plan.pp) / (
        peak * engine.attention_efficiency)
    dec_flops = d * v * attention_core_flops_per_token(model, 2 * context) / (plan.tp * plan.pp)
    dec_attn = np.where(d > 0, _kernel_s(dec_flops, d * kv_tokens(model, context) * rc.kv_bytes_per_token, chip,
                                         "bf16", engine.kernel_scale), 0.0)
    layers = model.layers / plan.pp
    comm = 2 * layers * collective_s("all_reduce", np.maximum(tokens, 1.0) * model.hidden * 2.0, plan.tp, 1, chip)
    if model.moe and plan.ep > 1:
        routed = np.maximum(tokens, 1.0) * model.moe.top_k * model.hidden * 2.0
        comm = comm + 2 * model.moe_layers / plan.pp * collective_s("all_to_all", routed, plan.ep, plan.tp, chip)
    kernels = layers * DECODE_KERNELS_PER_LAYER
    device = gemm + pre_attn + dec_attn + comm + kernels * chip.efficiency.kernel_overhead_s
    eager = (p > 0) | (d > engine.graph_max_batch)
    step = np.where(eager, np.maximum(device, kernels * engine.eager_launch_s), device)
    return plan.pp * step + engine.iteration_overhead_s + draft_s(model, chip, plan, d, context)


DRAFT_MODEL_STEP_FRACTION = 0.15
"""a separate draft model's decode step as a fraction of the target's: small batches are launch- and weight-read
bound, and a typical pairing (Llama-3.2-1B drafting Llama-3.1-70B) has 16 of 80 layers and 1/40 of the weights"""


def draft_s(model: Model, chip: Chip, plan: ServePlan, decode_batch, context):
    """Seconds spent drafting in one iteration: k sequential draft passes over the decoding sequences.

    MTP (DeepSeek-V3 §2.2) and EAGLE (Li et al. 2024, arXiv 2401.15077) draft with one extra transformer layer and
    the shared output head: each pass costs one layer of the target's decode step. A separate draft model costs
    ``DRAFT_MODEL_STEP_FRACTION`` of a target step per pass."""
    spec = plan.engine.speculative
    d = np.asarray(decode_batch, dtype=float)
    if spec is None:
        return np.zeros_like(d)
    target = decode_step_s(model, chip, plan, np.maximum(d, 1.0), context)
    per_pass = target * (DRAFT_MODEL_STEP_FRACTION if spec.method == "draft" else 1.0 / model.layers)
    return np.where(d > 0, spec.draft_tokens * per_pass, 0.0)
