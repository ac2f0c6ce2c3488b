"""What one serving replica holds in device memory, and so how many sequences its KV cache takes (pure arithmetic):
the weights (:mod:`.weights`), the KV cache per token, and what the engine keeps back from the cache besides them:
its own rule where it has one (SGLang's reserved memory), else the runtime memory its accounting counts and its
memory profile's activation peak (the forward over one prefill chunk, or vLLM's dummy sampler run, the larger);
docs/serving.md, "Memory the engine gives the KV cache"."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..plan import ServePlan
from ..specs import KV_BYTES, Chip, Model
from .weights import expert_split, replica_weight_bytes

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
    """Activation memory the runtime reserves for one prefill chunk, per device; a MoE model's fused expert kernel
    adds its caches at the engine's token budget M, which the engine's profile forward runs at: the gate/up output
    (M, k, 2F), the activation (M k, F) and the experts' outputs before the weighted sum (M, k, h), in bf16, F the
    expert width on one device (vLLM's and SGLang's fused_moe, intermediate_cache1-3)."""
    dense = ACTIVATION_WORKSPACE_TOKENS * model.hidden * WORKSPACE_BYTES_PER_VALUE / plan.tp
    if model.moe is None:
        return dense
    width = model.moe.expert_ffn_hidden / expert_split(plan)
    return dense + plan.engine.max_batched_tokens * model.moe.top_k * (3.0 * width + model.hidden) * 2.0


@dataclass(frozen=True, kw_only=True, slots=True)
class ReplicaCosts:
    """Per-replica figures that do not depend on the batch."""

    weight_bytes: float  # weights per device, bytes
    kv_bytes_per_token: float  # KV cache per token per device, bytes
    free_bytes: float  # memory per device left for the KV cache, bytes


def replica_costs(model: Model, chip: Chip, plan: ServePlan, memory_margin: float = 0.0) -> ReplicaCosts:
    weights = replica_weight_bytes(model, plan)
    kv_split = min(plan.tp, model.kv_heads) if model.attention != "mla" else 1
    kv = kv_bytes_per_token(model, plan.kv_precision) / kv_split / plan.pp
    free = chip.hbm_bytes * (1 - memory_margin) - weights - held_back_bytes(model, chip, plan)
    return ReplicaCosts(weight_bytes=weights, kv_bytes_per_token=kv, free_bytes=free)


def sampler_profile_bytes(model: Model, plan: ServePlan) -> float:
    """Device memory the engine's memory profile holds at its dummy sampler run, per device: vLLM V1 samples
    min(max_num_seqs, max_num_batched_tokens) rows of the whole vocabulary (its logits are gathered on every
    tensor-parallel rank) with top-k and top-p on, at ``ServeEngine.sampler_bytes_per_logit`` bytes an entry at the
    peak of the path its release takes (docs/serving.md, "Memory")."""
    engine = plan.engine
    return engine.sampler_bytes_per_logit * min(engine.max_batch, engine.max_batched_tokens) * model.vocab


def profile_peak_bytes(model: Model, plan: ServePlan) -> float:
    """The activation peak an engine's memory profile keeps back from the KV cache, per device: the forward over one
    prefill chunk (:func:`workspace_bytes`) and the dummy sampler run (:func:`sampler_profile_bytes`) run one after the
    other, so the larger of the two."""
    return max(workspace_bytes(model, plan), sampler_profile_bytes(model, plan))


def held_back_bytes(model: Model, chip: Chip, plan: ServePlan) -> float:
    """Device memory kept out of weights and KV cache: the engine's own rule where it has one (``reserve_bytes``), else
    the runtime memory its accounting counts (``runtime_bytes`` / ``runtime_tp_bytes`` where the engine's own figure
    is known, else the chip's runtime reserve) and the profile's activation peak (:func:`profile_peak_bytes`)."""
    engine = plan.engine
    if engine.reserve_bytes is not None:
        return engine.reserve_bytes
    spans = plan.tp * plan.pp > 1
    runtime = engine.runtime_tp_bytes if spans else engine.runtime_bytes
    return (chip.efficiency.reserve_bytes if runtime is None else runtime) + profile_peak_bytes(model, plan)


def engine_margin(plan: ServePlan, memory_margin: float = 0.0) -> float:
    """Share of each device the engine leaves unfilled: 1 - its ``memory_utilization``, or ``memory_margin`` where
    that is larger."""
    return max(memory_margin, 1.0 - plan.engine.memory_utilization)


def max_concurrency(model: Model, chip: Chip, plan: ServePlan, input_len: int, output_len: int,
                    memory_margin: float = 0.0) -> int:
    """Sequences of this length whose KV cache fits, over all replicas: the engine fills at most its
    ``memory_utilization`` of a device (or what ``memory_margin`` leaves, the tighter), and gives its
    ``kv_free_fraction`` of what weights, activations and the runtime leave to the KV cache."""
    rc = replica_costs(model, chip, plan, engine_margin(plan, memory_margin))
    per_seq = rc.kv_bytes_per_token * kv_tokens(model, input_len + output_len)
    return max(int(rc.free_bytes * plan.engine.kv_free_fraction // per_seq), 0) * plan.dp
