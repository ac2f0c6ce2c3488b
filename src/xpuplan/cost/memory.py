"""Device memory of a training plan: weights, gradients, optimizer state, activations, buffers.

Mixed precision with Adam, as Megatron-LM and FSDP keep it: bf16 weights
(2 bytes/param), fp32 gradients (4), fp32 master weights + two moments (12).
ZeRO stage z shards optimizer state (z >= 1), gradients (z >= 2) and weights
(z = 3) over the data-parallel group (dp * cp for dense weights, dp * cp / ep
for expert weights).

Activations per layer follow Korthikanti et al. 2022 ("Reducing Activation
Recomputation in Large Transformer Models", §4), re-derived per tensor so GQA,
MLA, SwiGLU and MoE fit, with a flash-attention kernel (no s^2 score matrix)
and no dropout. With tp > 1 sequence parallelism is assumed, so every term is
divided by tp. The pipeline's first stage holds the most micro-batches in
flight: min(m, pp) under 1F1B; under interleaving, warm-up holds
pp*(vpp+1)-1 model chunks (Megatron's schedule).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..plan import PlanGrid
from ..specs import Chip, Model, TrainJob
from .flops import expert_params, ffn_params_dense, layer_shapes

WEIGHT_BYTES, GRAD_BYTES, OPTIMIZER_BYTES = 2, 4, 12


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


def stage_layers(model: Model, g: PlanGrid) -> tuple[np.ndarray, np.ndarray]:
    """Layers on the fullest stage (ceil(L/pp)) and on the last stage (the remainder)."""
    full = -(-model.layers // g.pp)
    last = model.layers - (g.pp - 1) * full
    return full, np.maximum(last, 1)


def activation_bytes_per_token(model: Model, moe: bool) -> np.ndarray:
    """Bytes per token one layer keeps for its backward, by recompute mode (none, selective, full), before tp."""
    s = layer_shapes(model)
    h = model.hidden
    if moe:
        e = model.moe
        routed = e.top_k + e.shared_experts
        width = e.expert_ffn_hidden
        ffn_out = (2 if model.ffn_act == "swiglu" else 1) * width * routed
        act_out = width * routed
        permuted = h * e.top_k
    else:
        ffn_out = (2 if model.ffn_act == "swiglu" else 1) * model.ffn_hidden
        act_out = model.ffn_hidden
        permuted = 0
    residual = 2 * h            # inputs of the two norms
    norm_out = 2 * h            # inputs of the qkv and fc1 GEMMs
    attention = s.q_out + s.kv_out + s.attn_out_in   # q, k, v for the kernel's backward, and its output
    none = 2 * (residual + norm_out + attention + ffn_out + act_out + permuted)
    selective = 2 * (residual + attention + ffn_out + permuted)   # norms and activation recomputed
    full = 2 * h                                                     # layer input only
    return np.array([none, selective, full], dtype=float)


def memory_use(model: Model, chip: Chip, job: TrainJob, g: PlanGrid) -> MemoryUse:
    """Per-device memory of each plan on its most loaded stage."""
    s = layer_shapes(model)
    tp, dpcp = g.tp, g.dp * g.cp
    edp = np.maximum(dpcp // g.ep, 1)
    full, last = stage_layers(model, g)
    e = model.moe
    moe_layers_total = model.moe_layers
    # first stage: leading dense layers come first
    dense_first = np.minimum(full, model.layers - moe_layers_total)
    moe_first = full - dense_first
    moe_last = np.where(g.pp > 1, np.minimum(last, moe_layers_total), moe_first)
    dense_last = np.where(g.pp > 1, last - moe_last, dense_first)

    embed = model.vocab * model.hidden / tp
    has_output = (not model.tied_embeddings) | (g.pp > 1)
    attn_p = (s.attn_params + 2 * model.hidden) / tp
    expert_p = expert_params(model) / tp if e else 0.0

    def stage_params(dense_n, moe_n, first: bool):
        dense = (dense_n + moe_n) * attn_p + dense_n * ffn_params_dense(model) / tp
        if e:
            dense = dense + moe_n * (e.shared_experts * expert_p + e.experts * model.hidden)
        dense = dense + (embed if first else 0.0) + np.where(has_output & (not first or True), 0.0, 0.0)
        experts = moe_n * (e.experts / g.ep) * expert_p if e else 0.0 * dense
        return dense, experts

    d_first, x_first = stage_params(dense_first, moe_first, True)
    d_first = d_first + np.where(g.pp == 1, np.where(has_output, embed, 0.0), 0.0)
    d_last, x_last = stage_params(dense_last, moe_last, False)
    d_last = d_last + np.where(has_output, embed, 0.0)

    def states(dense, experts):
        w_div_d = np.where(g.zero >= 3, dpcp, 1)
        w_div_e = np.where(g.zero >= 3, edp, 1)
        g_div_d = np.where(g.zero >= 2, dpcp, 1)
        g_div_e = np.where(g.zero >= 2, edp, 1)
        o_div_d = np.where(g.zero >= 1, dpcp, 1)
        o_div_e = np.where(g.zero >= 1, edp, 1)
        return (WEIGHT_BYTES * (dense / w_div_d + experts / w_div_e),
                GRAD_BYTES * (dense / g_div_d + experts / g_div_e),
                OPTIMIZER_BYTES * (dense / o_div_d + experts / o_div_e))

    tokens = g.micro_batch * job.seq_len / g.cp
    m = g.microbatches(job)
    # without a flash kernel the s x s softmax output, its dropout mask and probabilities are kept
    # (Korthikanti et al. 2022: 5 a s / h of the 34 + 5 a s / h bytes per token-hidden), unless recomputed
    scores = 0.0 if job.framework.flash_attention else 5.0 * model.heads * job.seq_len
    scores = np.where(g.recompute == 0, scores, 0.0)
    per_tok_dense = activation_bytes_per_token(model, False)[g.recompute] + scores
    per_tok_moe = activation_bytes_per_token(model, True)[g.recompute] + scores if e else 0.0
    per_mb_first = tokens / tp * (dense_first * per_tok_dense + moe_first * per_tok_moe)
    in_flight = np.where(g.vpp > 1,
                         np.minimum(m * g.vpp, g.pp * (g.vpp + 1) - 1) / g.vpp,
                         np.minimum(m, g.pp))
    # full recompute rebuilds one layer's activations at a time during the backward
    working = np.where(g.recompute == 2, tokens / tp * activation_bytes_per_token(model, bool(e))[0], 0.0)
    logits = tokens * model.vocab / tp * 6.0
    act_first = per_mb_first * in_flight + working + np.where(g.pp == 1, logits, 0.0)
    act_last = tokens / tp * (dense_last * per_tok_dense + moe_last * per_tok_moe) + working + logits

    prefetch = np.where(g.zero >= 3, 2 * WEIGHT_BYTES * (attn_p + ffn_params_dense(model) / tp), 0.0)
    buffers = chip.efficiency.reserve_bytes + prefetch + 0 * tokens

    w1, g1, o1 = states(d_first, x_first)
    w2, g2, o2 = states(d_last, x_last)
    first_total = w1 + g1 + o1 + act_first
    last_total = w2 + g2 + o2 + act_last
    pick_first = first_total >= last_total
    return MemoryUse(
        weights_bytes=np.where(pick_first, w1, w2),
        gradients_bytes=np.where(pick_first, g1, g2),
        optimizer_bytes=np.where(pick_first, o1, o2),
        activations_bytes=np.where(pick_first, act_first, act_last),
        buffers_bytes=buffers,
    )
