"""A named per-tensor recompute policy: which of a layer's tensors the backward finds on the device, which it
fetches from host memory, and what it computes again (JAX's checkpoint policies as MaxText names them:
``remat_policy: custom`` with each tensor ``device``, ``offload`` or ``remat``).

The backward of a layer needs its input, the attention's q, k, v and output (``context``), the output projection
(it makes the residual the MLP's norm reads) and the MLP's input projection (the activation's input). A tensor it
needs and does not find is computed again from the ones before it, so a missing ``context`` costs the attention's
forward again and a missing projection output its GEMM again. ``mlpwo`` (the MLP's output) is not needed: the
next layer keeps its own input. JAX saves only what the backward needs, so naming ``mlpwo`` costs nothing.
"""

from __future__ import annotations

from ..specs import Model, TrainJob
from .flops import ffn_copies, layer_shapes

GROUPS = {"qkv_proj": ("query_proj", "key_proj", "value_proj"), "mlpwi": ("mlpwi_0", "mlpwi_1")}
NEEDED = ("decoder_layer_input", "query_proj", "key_proj", "value_proj", "context", "out_proj", "mlpwi_0", "mlpwi_1")
"""the tensors a layer's backward needs, in forward order"""


def _expand(names) -> set[str]:
    return {leaf for n in names for leaf in GROUPS.get(n, (n,))}


def widths(model: Model, moe: bool) -> dict[str, float]:
    """Elements per token (before tensor parallelism) of each needed tensor of a dense or MoE layer."""
    s = layer_shapes(model)
    copies, width = ffn_copies(model, moe)
    gated = model.ffn_act == "swiglu"
    return {"decoder_layer_input": model.hidden, "query_proj": s.q_out, "key_proj": s.kv_out / 2,
            "value_proj": s.kv_out / 2, "context": s.attn_out_in, "out_proj": model.hidden,
            "mlpwi_0": width * copies, "mlpwi_1": width * copies if gated else 0.0}


def gemm_flops(model: Model, moe: bool) -> dict[str, float]:
    """Multiply-adds per token of the GEMM producing each tensor, and of the MLP's output projection."""
    s = layer_shapes(model)
    copies, width = ffn_copies(model, moe)
    w = widths(model, moe)
    out = {n: model.hidden * w[n] for n in ("query_proj", "key_proj", "value_proj", "mlpwi_0", "mlpwi_1")}
    return out | {"out_proj": s.attn_out_in * model.hidden, "mlpwo": width * copies * model.hidden}


def placement(job: TrainJob) -> tuple[set[str], set[str]]:
    """(needed tensors on the device, needed tensors in host memory); the layer input stays unless offloaded."""
    offloaded = _expand(job.remat_offloaded) & set(NEEDED)
    kept = (_expand(job.remat_saved) | {"decoder_layer_input"}) - offloaded
    return kept & set(NEEDED), offloaded


def bytes_per_token(model: Model, moe: bool, job: TrainJob) -> tuple[float, float]:
    """(bytes kept on the device, bytes offloaded to host) per token and layer, bf16, before tensor parallelism."""
    kept, offloaded = placement(job)
    w = widths(model, moe)
    return 2.0 * sum(w[n] for n in kept), 2.0 * sum(w[n] for n in offloaded)


def recomputed(model: Model, moe: bool, job: TrainJob) -> tuple[float, bool]:
    """(share of the layer's GEMM work computed again, whether the attention's forward runs again)."""
    kept, offloaded = placement(job)
    found = kept | offloaded
    flops = gemm_flops(model, moe)
    again = sum(flops[n] for n in NEEDED[1:] if n in flops and n not in found)
    return again / sum(flops.values()), "context" not in found
