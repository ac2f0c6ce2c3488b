"""Parameter and FLOP counts of a transformer, per token, before any sharding.

Notation (docs/model.md): h hidden, a query heads, g kv heads, d head width,
F dense FFN width, Fe expert FFN width, E experts, k top-k, V vocab, s sequence.
A multiply-add is 2 FLOPs; the backward pass costs twice the forward.
A vision encoder's layers are counted as transformer layers of its own width over one image's patches, with full
(non-causal) attention (:func:`encoder_model`, :func:`encoder_forward_flops_per_image`).
"""

from __future__ import annotations

import functools

import numpy as np

from dataclasses import dataclass

from ..specs import Model


@dataclass(frozen=True, kw_only=True, slots=True)
class LayerShapes:
    """Weight-matrix widths of one layer, the quantities every cost is built from."""

    q_out: int
    """query projection output width (a * d_qk)"""
    kv_out: int
    """key + value projection output width (2 * g * d for GQA)"""
    attn_out_in: int
    """input width of the attention output projection (a * d_v)"""
    attn_params: int
    """parameters of the attention block (projections only)"""
    d_qk: int
    """query/key head width"""
    d_v: int
    """value head width"""
    ffn_mats: int
    """weight matrices per FFN: 3 for SwiGLU, 2 for GELU"""


def layer_shapes(m: Model) -> LayerShapes:
    """Projection widths for MHA/GQA (q, k, v, o) and MLA (latent down/up projections)."""
    h, a = m.hidden, m.heads
    mats = 3 if m.ffn_act == "swiglu" else 2
    if m.attention == "mla":
        d_qk = m.qk_nope_head_dim + m.qk_rope_head_dim
        d_v = m.v_head_dim
        q_params = (h * m.q_lora_rank + m.q_lora_rank * a * d_qk) if m.q_lora_rank else h * a * d_qk
        kv_params = h * (m.kv_lora_rank + m.qk_rope_head_dim) + m.kv_lora_rank * a * (m.qk_nope_head_dim + d_v)
        attn = q_params + kv_params + a * d_v * h
        # Widths chosen so that h * (q_out + kv_out) equals the down+up projection parameters.
        return LayerShapes(q_out=q_params // h, kv_out=kv_params // h, attn_out_in=a * d_v, attn_params=attn,
                           d_qk=d_qk, d_v=d_v, ffn_mats=mats)
    d = m.d_head
    q_out, kv_out = a * d, 2 * m.kv_heads * d
    return LayerShapes(q_out=q_out, kv_out=kv_out, attn_out_in=a * d, attn_params=h * (q_out + kv_out) + a * d * h,
                       d_qk=d, d_v=d, ffn_mats=mats)


def ffn_copies(m: Model, moe: bool) -> tuple[int, int]:
    """(FFN blocks each token runs through, their hidden width) in one layer: (1, ffn_hidden) for a dense layer,
    (top-k routed + shared experts, expert width) for a MoE layer."""
    if moe:
        return m.moe.top_k + m.moe.shared_experts, m.moe.expert_ffn_hidden
    return 1, m.ffn_hidden


def ffn_params_dense(m: Model) -> int:
    return layer_shapes(m).ffn_mats * m.hidden * m.ffn_hidden


def expert_params(m: Model) -> int:
    """Parameters of one expert (0 for dense models)."""
    return layer_shapes(m).ffn_mats * m.hidden * m.moe.expert_ffn_hidden if m.moe else 0


def param_count(m: Model) -> dict[str, float]:
    """Parameters by part: embedding, output, attention, dense FFN, routed experts, shared experts, router, norms."""
    s = layer_shapes(m)
    moe_layers, dense_layers = m.moe_layers, m.layers - m.moe_layers
    e = m.moe
    return {
        "embedding": m.vocab * m.hidden,
        "output": 0 if m.tied_embeddings else m.vocab * m.hidden,
        "attention": m.layers * s.attn_params,
        "dense_ffn": dense_layers * ffn_params_dense(m),
        "routed_experts": moe_layers * e.experts * expert_params(m) if e else 0,
        "shared_experts": moe_layers * e.shared_experts * expert_params(m) if e else 0,
        "router": moe_layers * e.experts * m.hidden if e else 0,
        "norms": (2 * m.layers + 1) * m.hidden,
        **encoder_param_count(m),
    }


def total_params(m: Model) -> float:
    return float(sum(param_count(m).values()))


def active_params(m: Model) -> float:
    """Parameters a token touches: routed experts counted top_k out of experts."""
    p = param_count(m)
    if m.moe:
        p["routed_experts"] *= m.moe.top_k / m.moe.experts
    return float(sum(p.values()))


def matmul_flops_per_token(m: Model) -> dict[str, float]:
    """Forward FLOPs per token of the weight matmuls, by part (whole model, unsharded)."""
    s = layer_shapes(m)
    h, e = m.hidden, m.moe
    moe_layers, dense_layers = m.moe_layers, m.layers - m.moe_layers
    expert_active = (e.top_k + e.shared_experts) * expert_params(m) if e else 0
    return {
        "attention_proj": 2.0 * m.layers * s.attn_params,
        "ffn": 2.0 * (dense_layers * ffn_params_dense(m) + moe_layers * (expert_active + (e.experts * h if e else 0))),
        "logits": 2.0 * h * m.vocab,
    }


def mean_keys_per_layer(m: Model, seq_len, causal: bool = True):
    """Keys a query attends to, averaged over the sequence and the layers.

    A causal mask leaves s/2 on average (s without it). A layer with a sliding window w attends to min(i + 1, w)
    keys at position i: (w(w + 1)/2 + (s − w)w)/s on average for s >= w, as a full layer below it.
    """
    scalar = np.ndim(seq_len) == 0
    seq_len = np.asarray(seq_len, dtype=float)
    full = seq_len / 2 if causal else seq_len
    if not m.window_layers:
        return float(full) if scalar else full
    w = float(m.sliding_window)
    if causal:
        windowed = np.where(seq_len >= w, (w * (w + 1) / 2 + (seq_len - w) * w) / np.maximum(seq_len, 1.0), full)
    else:
        windowed = np.minimum(seq_len, w)
    mean = ((m.layers - m.window_layers) * full + m.window_layers * windowed) / m.layers
    return float(mean) if scalar else mean


def attention_core_flops_per_token(m: Model, seq_len: int, causal: bool = True) -> float:
    """Forward FLOPs per token of QK^T and AV over all layers.

    Per layer and token, QK^T costs 2 * a * d_qk per key and AV 2 * a * d_v per key, over the keys of
    :func:`mean_keys_per_layer` (s/2 under a causal mask; fewer in sliding-window layers).
    """
    s = layer_shapes(m)
    return 2.0 * m.layers * m.heads * (s.d_qk + s.d_v) * mean_keys_per_layer(m, seq_len, causal)


def model_flops_per_token(m: Model, seq_len: int) -> float:
    """Training FLOPs per token used for MFU everywhere in xpuplan.

    ``3 * (forward matmul FLOPs + causal attention FLOPs)``: that is
    6 * N_active (dense and expert matmuls, logits included, embedding lookup
    excluded) plus the causal attention score/value term, plus a vision encoder's
    share (:func:`encoder_flops_per_token`). Recompute is not counted (that is HFU).
    """
    return 3.0 * (sum(matmul_flops_per_token(m).values()) + attention_core_flops_per_token(m, seq_len)) \
        + encoder_flops_per_token(m, seq_len)


def encoder_model(m: Model) -> Model:
    """A vision encoder's layers as a :class:`Model` (multi-head attention, windowed layers as the encoder has them,
    no vocabulary), so the language model's layer shapes and per-token activation counts apply to them."""
    return _encoder_model(m.encoder, m.name)


@functools.lru_cache(maxsize=64)
def _encoder_model(e, name: str) -> Model:
    return Model(name=f"{name}-encoder", layers=e.layers, hidden=e.hidden, heads=e.heads, kv_heads=e.heads,
                 ffn_hidden=e.ffn_hidden, ffn_act=e.ffn_act, vocab=1, attention="mha", sliding_window=e.window,
                 window_layers=e.window_layers)


def encoder_param_count(m: Model) -> dict[str, float]:
    """Parameters of a vision encoder (its layers with their two norms, and the patch embedding) and of its projector;
    empty for a text-only model."""
    e = m.encoder
    if e is None:
        return {}
    s = layer_shapes(encoder_model(m))
    layer = s.attn_params + s.ffn_mats * e.hidden * e.ffn_hidden + 2 * e.hidden
    return {"vision_encoder": e.layers * layer + e.patch_dim * e.hidden, "projector": e.projector_params}


def encoder_forward_flops_per_image(m: Model) -> tuple[float, float]:
    """(encoder, projector) forward FLOPs for one image: the encoder's matmuls and patch embedding over its P patches,
    2 * L_e * a_e * 2 d_e per key of full (non-causal) attention over the keys each layer sees (all P, or the window),
    and the projector's matmuls over the tokens handed to the language model."""
    e = m.encoder
    em = encoder_model(m)
    s = layer_shapes(em)
    layer = s.attn_params + s.ffn_mats * e.hidden * e.ffn_hidden
    matmul = 2.0 * e.patches * (e.layers * layer + e.patch_dim * e.hidden)
    attention = e.patches * attention_core_flops_per_token(em, e.patches, causal=False)
    return matmul + attention, 2.0 * e.tokens_per_image * e.projector_params


def encoder_flops_per_token(m: Model, seq_len, adapters: bool = False) -> float:
    """Model FLOPs of a vision encoder and its projector per language-model token (0 for a text-only model).

    A sample of s tokens carries ``images`` images: images * (3 * encoder forward + 3 * projector forward) / s. A
    frozen encoder (``Encoder.frozen``) sits at the input, so nothing upstream needs its gradients: it runs forward
    only and counts once; its projector still trains. Under LoRA (``adapters``) both are frozen base weights."""
    if m.encoder is None:
        return 0.0
    enc, proj = encoder_forward_flops_per_image(m)
    if adapters:
        return m.encoder.images * (enc + proj) / seq_len
    passes = 1.0 if m.encoder.frozen else 3.0
    return m.encoder.images * (passes * enc + 3.0 * proj) / seq_len
