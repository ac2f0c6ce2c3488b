"""What a Hugging Face checkpoint's ``quantization_config`` says of its weights: the parts it leaves unquantized
(``Model.unquantized``) and the block format of its 4-bit weights (``Model.quant_format``)."""

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


def block_format(quant) -> str | None:
    """The ``Model.quant_format`` of a 4-bit checkpoint's ``quantization_config``: ``mxfp4`` (transformers' MXFP4,
    gpt-oss), ``nvfp4`` (ModelOpt's ``quant_algo: NVFP4``, llm-compressor's ``nvfp4-pack-quantized`` format),
    ``int4-g<N>`` (AWQ or GPTQ at 4 bits with group size 32, 64 or 128); None for anything else (wider formats, whose
    scales xpuplan leaves out, and 4-bit layouts it does not know)."""
    if not isinstance(quant, dict):
        return None
    method = str(quant.get("quant_method", "")).lower()
    if method == "mxfp4":
        return "mxfp4"
    if str(quant.get("quant_algo", "")).upper() == "NVFP4" or "nvfp4" in str(quant.get("format", "")).lower():
        return "nvfp4"
    group = quant.get("group_size", quant.get("q_group_size"))
    if method in ("awq", "gptq") and quant.get("bits", quant.get("w_bit")) == 4 and group in (32, 64, 128):
        return f"int4-g{group}"
    return None
