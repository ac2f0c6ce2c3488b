"""A model's ``encoder:`` block (a vision encoder and its projector), from the YAML schema or a Hugging Face
``vision_config``.

Qwen2.5-VL's ``vision_config`` maps as transformers' ``Qwen2_5_VLVisionConfig`` reads it (its defaults fill the
fields the released 7B/72B files leave out): depth -> layers, hidden_size -> hidden, num_heads -> heads,
intermediate_size -> ffn_hidden (a gated SiLU MLP: ``swiglu``), in_channels x temporal_patch_size x patch_size^2 ->
patch_dim, window_size / patch_size squared -> window over the layers not in fullatt_block_indexes, and the merger's
two matrices (4 h_e -> 4 h_e -> out_hidden_size, spatial_merge_size 2) -> projector_params. The image size is not in
a config: one 448 x 448 image a sample (1,024 patches, 256 tokens handed over) is assumed, with a note; write the
model in YAML to change it.
"""

from __future__ import annotations

from typing import Any

from ..errors import BadInput
from ..specs.model import Encoder
from .files import _check_keys, _int, _mapping

_KEYS = {"layers", "hidden", "heads", "ffn_hidden", "patches", "tokens_per_image", "images", "ffn_act", "patch_dim",
         "projector_params", "window", "window_layers", "frozen"}
_REQUIRED = {"layers", "hidden", "heads", "ffn_hidden", "patches", "tokens_per_image"}

QWEN_VL_DEFAULTS = {"depth": 32, "hidden_size": 1280, "intermediate_size": 3420, "num_heads": 16, "in_channels": 3,
                    "patch_size": 14, "spatial_merge_size": 2, "temporal_patch_size": 2, "window_size": 112,
                    "fullatt_block_indexes": [7, 15, 23, 31]}
"""transformers' Qwen2_5_VLVisionConfig defaults (Qwen2.5-VL-7B-Instruct's vision tower); out_hidden_size defaults
to the language model's width"""
IMAGE_PIXELS = 448
"""side of the image assumed when a config is imported (Qwen2.5-VL-7B's vision tower at 448 x 448: 32 x 32 patches)"""


def encoder_from_dict(data: Any, where: str) -> Encoder:
    """Validate an ``encoder:`` mapping of the model schema and build the Encoder."""
    data = dict(_mapping(data, where))
    _check_keys(data, _KEYS, _REQUIRED, where)
    for key in _KEYS - {"ffn_act", "frozen", "window"}:
        if key in data:
            data[key] = _int(data, key, where)
    if data.get("window") is not None:
        data["window"] = _int(data, "window", where)
    if "ffn_act" in data:
        data["ffn_act"] = str(data["ffn_act"])
    return Encoder(**data)  # its refusals name the block ("encoder: ...")


def qwen_vl_encoder(vision: Any, llm_hidden: int, where: str) -> tuple[dict, str]:
    """The ``encoder:`` mapping of a Qwen2.5-VL ``vision_config`` (see the module docstring) and the note saying what
    was assumed."""
    c = QWEN_VL_DEFAULTS | {"out_hidden_size": llm_hidden} | dict(_mapping(vision or {}, f"{where}: vision_config"))
    n = {k: _int(c, k, f"{where}: vision_config") for k in QWEN_VL_DEFAULTS.keys() - {"fullatt_block_indexes"}
         | {"out_hidden_size"}}
    if min(n.values()) < 1:
        raise BadInput(f"{where}: vision_config fields must be whole numbers >= 1", "vision_config")
    h, patch, merge = n["hidden_size"], n["patch_size"], n["spatial_merge_size"]
    side = IMAGE_PIXELS // patch
    full = c.get("fullatt_block_indexes") or []
    if not isinstance(full, list):
        raise BadInput(f"{where}: vision_config.fullatt_block_indexes must be a list of layer indexes", "vision_config")
    merged, layers = h * merge * merge, n["depth"]
    encoder = {"layers": layers, "hidden": h, "heads": n["num_heads"], "ffn_hidden": n["intermediate_size"],
               "ffn_act": "swiglu", "patches": side * side, "tokens_per_image": side * side // (merge * merge),
               "patch_dim": n["in_channels"] * n["temporal_patch_size"] * patch * patch,
               "projector_params": merged * merged + merged * n["out_hidden_size"]}
    window = (n["window_size"] // patch) ** 2
    if len(full) < layers:
        encoder |= {"window": window, "window_layers": layers - len(full)}
    note = (f"vision encoder priced for one {IMAGE_PIXELS} x {IMAGE_PIXELS} image a sample ({side * side} patches, "
            f"{side * side // (merge * merge)} tokens to the decoder); set encoder.patches, tokens_per_image and "
            "images in a YAML model for other inputs")
    return encoder, note
