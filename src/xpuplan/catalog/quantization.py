"""What a Hugging Face checkpoint's ``quantization_config`` leaves unquantized, as ``Model.unquantized`` parts."""

from __future__ import annotations


EXCLUSION_LISTS = ("modules_to_not_convert", "ignore", "exclude_modules")
"""quantization_config keys that name the modules a checkpoint leaves unquantized (transformers' mxfp4, AWQ and
bitsandbytes configs; llm-compressor's compressed-tensors; NVIDIA ModelOpt)"""


def unquantized_parts(quant) -> list[str]:
    """``Model.unquantized`` parts a checkpoint's quantization_config names as left in bf16, in order found:
    ``model.layers.*.self_attn`` -> attention, ``model.layers.*.mlp.router`` or ``mlp.gate`` -> router,
    ``model.embed_tokens`` -> embedding, ``lm_head`` -> head; other entries are not parts xpuplan prices apart."""
    if not isinstance(quant, dict):
        return []
    parts: list[str] = []
    for key in EXCLUSION_LISTS:
        entries = quant.get(key)
        for entry in entries if isinstance(entries, list) else []:
            name = str(entry).lower().removeprefix("re:")
            last = name.rstrip("$").split(".")[-1]
            part = ("embedding" if "embed" in name else "head" if "lm_head" in name else
                    "attention" if "attn" in name or "attention" in name else
                    "router" if last in ("router", "gate") else None)
            if part and part not in parts:
                parts.append(part)
    return parts
