"""Hugging Face ``config.json`` in, a :class:`~xpuplan.specs.Model` out: ``--model path/config.json`` or a folder.

Offline: only the file is read. Each supported architecture maps field by field onto the DESIGN.md model schema:

===========================  =====================================================================================
every architecture           num_hidden_layers -> layers, hidden_size -> hidden, num_attention_heads -> heads,
                             num_key_value_heads -> kv_heads, head_dim -> head_dim (else hidden / heads),
                             intermediate_size -> ffn_hidden, vocab_size -> vocab, tie_word_embeddings ->
                             tied_embeddings, max_position_embeddings -> max_seq_len; every FFN is gated (silu:
                             SwiGLU, gelu: GeGLU, both the three matrices of ``ffn_act: swiglu``)
Qwen2/3, Mistral (+Llama)    use_sliding_window, sliding_window, max_window_layers or layer_types -> sliding_window,
                             window_layers (the layers past max_window_layers are windowed)
Mixtral                      num_local_experts, num_experts_per_tok -> moe.experts, top_k; intermediate_size is the
                             expert width too
Qwen3-MoE                    num_experts, num_experts_per_tok, moe_intermediate_size -> experts, top_k,
                             expert_ffn_hidden; decoder_sparse_step k, mlp_only_layers (a leading block) ->
                             moe.layer_freq, moe.dense_layers
DeepSeek-V2/V3, GLM-4.5      n_routed_experts, n_shared_experts, moe_intermediate_size, first_k_dense_replace,
                             moe_layer_freq -> experts, shared_experts, expert_ffn_hidden, dense_layers, layer_freq;
                             n_group, topk_group -> route_groups, route_topk_groups; topk_method noaux_tc (and GLM)
                             -> balancing loss_free; num_nextn_predict_layers -> mtp_layers; DeepSeek's q_lora_rank,
                             kv_lora_rank, qk_rope_head_dim, qk_nope_head_dim, v_head_dim -> attention mla (head_dim =
                             v_head_dim, as the catalog writes it)
gpt-oss                      num_local_experts, num_experts_per_tok; layer_types, sliding_window -> window_layers,
                             sliding_window
Gemma 2 / 3                  sliding_window with layer_types, else every second layer (Gemma 2) or five of every six
                             (Gemma 3's sliding_window_pattern 6) windowed; Gemma 3's multimodal config: its
                             text_config
Qwen2.5-VL                   the Qwen2 decoder (top level, or text_config) and vision_config -> encoder
                             (:mod:`.vision`: one 448 x 448 image a sample assumed, with a note)
===========================  =====================================================================================

Numerics that cost nothing to price (norm epsilons, RoPE bases and scaling, dropouts, soft-capping, router loss
weights, token ids) are read past. A field that shapes the work but has no place in the schema (projection biases, QK
norms, attention sinks, the checkpoint's quantized storage, a vision tower) is dropped with one
:class:`ConfigNote` line (a warning; the CLI prints it as ``xpuplan: note: ...``). An unknown architecture, an
unknown field, or a value the schema cannot express (a layer kind, an activation) is one BadInput line naming it.
"""

from __future__ import annotations

import functools
import json
import warnings
from pathlib import Path, PurePath
from typing import Any

from ..errors import BadInput
from ..specs import Model
from .files import MAX_YAML_DEPTH, read_text
from .quantization import block_format, unquantized_parts
from .vision import qwen_vl_encoder


class ConfigNote(UserWarning):
    """What a Hugging Face config says that the model schema cannot hold, dropped on load (one line)."""


COMMON = {"num_hidden_layers": "layers", "hidden_size": "hidden", "num_attention_heads": "heads",
          "num_key_value_heads": "kv_heads", "head_dim": "head_dim", "intermediate_size": "ffn_hidden",
          "vocab_size": "vocab", "tie_word_embeddings": "tied_embeddings", "max_position_embeddings": "max_seq_len"}
"""HF field -> schema field, for every architecture"""

IGNORED = {
    "architectures", "model_type", "_name_or_path", "name_or_path", "transformers_version", "torch_dtype", "dtype",
    "use_cache", "bos_token_id", "eos_token_id", "pad_token_id", "sep_token_id", "decoder_start_token_id",
    "tokenizer_class", "initializer_range", "rms_norm_eps", "layer_norm_eps", "attention_dropout", "hidden_dropout",
    "rope_theta", "rope_scaling", "rope_parameters", "rope_interleave", "partial_rotary_factor", "auto_map",
    "pretraining_tp", "output_attentions", "output_hidden_states", "return_dict", "torchscript", "is_encoder_decoder",
    "is_decoder", "id2label", "label2id", "problem_type", "output_router_logits", "router_aux_loss_coef",
    "router_jitter_noise", "norm_topk_prob", "hidden_act", "hidden_activation", "attention_bias", "mlp_bias",
    "quantization_config", "use_sliding_window", "sliding_window", "max_window_layers", "layer_types",
    "cache_implementation", "generation_config", "chunk_size_feed_forward", "tie_encoder_decoder", "finetuning_task",
}
"""fields every architecture may carry: numerics, token ids, or read below by name"""

DEEPSEEK = {"n_routed_experts", "n_shared_experts", "num_experts_per_tok", "moe_intermediate_size",
            "first_k_dense_replace", "moe_layer_freq", "n_group", "topk_group", "topk_method", "scoring_func",
            "routed_scaling_factor", "aux_loss_alpha", "seq_aux", "ep_size", "num_nextn_predict_layers"}
MLA = {"q_lora_rank", "kv_lora_rank", "qk_rope_head_dim", "qk_nope_head_dim", "v_head_dim"}
GEMMA = {"query_pre_attn_scalar", "attn_logit_softcapping", "final_logit_softcapping", "sliding_window_size",
         "sliding_window_pattern", "rope_local_base_freq", "use_bidirectional_attention"}

FAMILIES: dict[str, tuple[str, frozenset[str], bool]] = {
    # architecture: (how the FFN and layers map, extra fields it may carry, tied embeddings when the file is silent)
    "LlamaForCausalLM": ("dense", frozenset(), False),
    "MistralForCausalLM": ("dense", frozenset(), False),
    "Qwen2ForCausalLM": ("dense", frozenset(), False),
    "Qwen3ForCausalLM": ("dense", frozenset(), False),
    "Qwen3MoeForCausalLM": ("qwen_moe", frozenset({"num_experts", "num_experts_per_tok", "moe_intermediate_size",
                                                   "decoder_sparse_step", "mlp_only_layers"}), False),
    "MixtralForCausalLM": ("mixtral", frozenset({"num_local_experts", "num_experts_per_tok"}), False),
    "DeepseekV2ForCausalLM": ("deepseek", frozenset(DEEPSEEK | MLA), False),
    "DeepseekV3ForCausalLM": ("deepseek", frozenset(DEEPSEEK | MLA), False),
    "Glm4MoeForCausalLM": ("deepseek", frozenset(DEEPSEEK | {"use_qk_norm"}), False),
    "GptOssForCausalLM": ("mixtral", frozenset({"num_local_experts", "num_experts_per_tok", "experts_per_token",
                                                "swiglu_limit", "initial_context_length"}), False),
    "Gemma2ForCausalLM": ("gemma2", frozenset(GEMMA), True),
    "Gemma3ForCausalLM": ("gemma3", frozenset(GEMMA), True),
    "Qwen2_5_VLForConditionalGeneration": ("dense", frozenset({"vision_config", "image_token_id", "video_token_id",
                                                               "vision_start_token_id", "vision_end_token_id",
                                                               "vision_token_id"}), False),
}
VISION = {"Qwen2_5_VLForConditionalGeneration"}
"""vision-language architectures whose vision tower is priced (``encoder``), its decoder's fields beside it"""
MULTIMODAL = {"Gemma3ForConditionalGeneration": "Gemma3ForCausalLM"}
"""a vision-language architecture -> the architecture of its ``text_config`` (the decoder that is priced)"""
MULTIMODAL_FIELDS = {"text_config", "vision_config", "mm_tokens_per_image", "boi_token_index", "eoi_token_index",
                     "image_token_index", "processor_class"}
MODEL_TYPES = {"llama": "LlamaForCausalLM", "mistral": "MistralForCausalLM", "qwen2": "Qwen2ForCausalLM",
               "qwen3": "Qwen3ForCausalLM", "qwen3_moe": "Qwen3MoeForCausalLM", "mixtral": "MixtralForCausalLM",
               "deepseek_v2": "DeepseekV2ForCausalLM", "deepseek_v3": "DeepseekV3ForCausalLM",
               "glm4_moe": "Glm4MoeForCausalLM", "gpt_oss": "GptOssForCausalLM", "gemma2": "Gemma2ForCausalLM",
               "gemma3_text": "Gemma3ForCausalLM", "gemma3": "Gemma3ForConditionalGeneration",
               "qwen2_5_vl": "Qwen2_5_VLForConditionalGeneration"}
"""``model_type`` -> architecture, for a config without ``architectures``"""
DEFAULTS = {"Gemma3ForCausalLM": {"vocab_size": 262_208, "sliding_window_pattern": 6},
            "Gemma2ForCausalLM": {"sliding_window": 4096}}
"""what transformers' config class fills in when a released config leaves the field out"""
ACTIVATIONS = {"silu", "swish", "gelu", "gelu_new", "gelu_fast", "gelu_pytorch_tanh"}
"""gated-FFN activations (SwiGLU, GeGLU): three weight matrices, ``ffn_act: swiglu``"""
LAYER_KINDS = {"full_attention", "sliding_attention"}
TOPK_METHODS = {"noaux_tc": "loss_free", "greedy": "aux_loss", "group_limited_greedy": "aux_loss"}


def config_file(text: str) -> Path | None:
    """The config.json ``text`` names (a ``.json`` file, or a folder holding ``config.json``); None for anything else
    (a catalog id or a YAML file)."""
    if len(text) > 255 or "\x00" in text:
        return None
    path = Path(text)
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise BadInput(f"model folder {text} holds no config.json; name a catalog id, a model YAML file or a "
                           "Hugging Face config.json", "model")
        return path / "config.json"
    if text.endswith(".json"):
        if not path.is_file():
            raise BadInput(f"model file {text} does not exist", "model")
        return path
    return None


def read_json(path: Path) -> Any:
    """Parse a JSON file with the limits of :func:`~xpuplan.catalog.files.read_yaml` (size, text, nesting)."""
    text = read_text(path, "a config.json", "JSON")
    if _depth(text) > MAX_YAML_DEPTH:
        raise BadInput(f"{path}: nested deeper than {MAX_YAML_DEPTH} levels; a config.json is flat", "file")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadInput(f"{path}: malformed JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}; fix the syntax",
                       "file") from None
    except (ValueError, RecursionError) as exc:  # an integer too long to read
        raise BadInput(f"{path}: unreadable JSON ({str(exc)[:80]})", "file") from None


def _depth(text: str) -> int:
    """Deepest bracket nesting outside strings (checked before json parses, which would recurse)."""
    depth = deepest = 0
    quoted = escaped = False
    for char in text:
        if quoted:
            escaped, quoted = (False, True) if escaped else (char == "\\", char != '"')
        elif char == '"':
            quoted = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


@functools.cache
def load_hf_model(path: str) -> Model:
    """The model of a config.json (a plain DESIGN-schema model written as JSON loads too)."""
    from . import model_from_dict  # the package's loader checks every field, as for a YAML file

    return model_from_dict(read_json(Path(path)), path)


def architecture(config: dict, where: str) -> str:
    """The supported architecture a config names (``architectures``, else ``model_type``)."""
    named = config.get("architectures")
    if named is None and isinstance(config.get("model_type"), str):
        named = [MODEL_TYPES.get(config["model_type"], config["model_type"])]
    if not isinstance(named, list) or not named or not all(isinstance(n, str) for n in named):
        raise BadInput(f"{where}: 'architectures' must be a list of names, got {named!r:.60}", "architectures")
    for name in named:
        if name in FAMILIES or name in MULTIMODAL:
            return name
    known = ", ".join(sorted(FAMILIES) + sorted(MULTIMODAL))
    raise BadInput(f"{where}: unknown architecture {named[0]!r:.60}; xpuplan reads {known} (or write the model in "
                   "the YAML schema of DESIGN.md)", "architectures")


def model_from_hf(config: dict, where: str) -> Model:
    """Map a Hugging Face config onto the model schema and build the Model (one note line for what is dropped)."""
    from . import model_from_dict

    arch, notes = architecture(config, where), []
    if arch in MULTIMODAL:
        unknown = sorted(set(config) - IGNORED - MULTIMODAL_FIELDS)
        if unknown:
            raise BadInput(f"{where}: unknown field {unknown[0]!r:.60} of {arch}; delete it if it does not change the "
                           "text decoder", unknown[0])
        if not isinstance(config.get("text_config"), dict):
            raise BadInput(f"{where}: {arch} needs a 'text_config' mapping (the text decoder)", "text_config")
        if config.get("vision_config") is not None:
            notes.append("the vision encoder (vision_config): only the text decoder is priced")
        config, arch = config["text_config"], MULTIMODAL[arch]
    if arch in VISION and isinstance(config.get("text_config"), dict):  # newer files nest the decoder's fields
        config = {k: v for k, v in config.items() if k != "text_config"} | config["text_config"]
    data = mapped(arch, DEFAULTS.get(arch, {}) | config, where, notes)
    data["name"] = _name(config, where)
    data["display_name"] = f"{data['name']} ({arch})"
    data["sources"] = [f"Hugging Face config.json ({where})"]
    data["notes"] = f"from {where}" + (f"; not modelled: {'; '.join(notes)}" if notes else "")
    try:
        model = model_from_dict(data, where)
    except BadInput as exc:
        hf = {v: k for k, v in COMMON.items()}.get(exc.field or "")
        raise BadInput(f"{exc}" + (f" (config.json field {hf!r})" if hf else ""), exc.field) from None
    if notes:  # only for a model that loads: a refusal stays one line
        warnings.warn(ConfigNote(f"{where} ({arch}): not modelled, dropped: {'; '.join(notes)}"), stacklevel=2)
    if arch in VISION:
        assumed = qwen_vl_encoder(config.get("vision_config"), model.hidden, where)[1]
        warnings.warn(ConfigNote(f"{where} ({arch}): {assumed}"), stacklevel=2)
    return model


def mapped(arch: str, c: dict, where: str, notes: list[str]) -> dict:
    """The schema fields of one architecture's config (see the module table)."""
    family, extra, tied = FAMILIES[arch]
    unknown = sorted(set(c) - set(COMMON) - IGNORED - extra)
    if unknown:
        raise BadInput(f"{where}: unknown field {unknown[0]!r:.60} of {arch}; xpuplan maps the fields listed in "
                       "xpuplan/catalog/hf.py: delete it if it does not change the layers' shapes", unknown[0])
    if arch == "LlamaForCausalLM" and c.get("num_key_value_heads") is None:
        c = c | {"num_key_value_heads": c.get("num_attention_heads")}  # LlamaConfig's default: multi-head attention
    for key in ("num_hidden_layers", "hidden_size", "num_attention_heads", "num_key_value_heads",
                "intermediate_size", "vocab_size"):
        _need(c, key, where)
    data = {COMMON[k]: _whole(c, k, where) for k in COMMON if k not in ("tie_word_embeddings", "head_dim")
            and c.get(k) is not None}
    data["tied_embeddings"] = _flag(c, "tie_word_embeddings", where, tied)
    data["head_dim"] = _whole(c, "head_dim", where) if c.get("head_dim") else data["hidden"] // max(data["heads"], 1)
    data["attention"] = "mha" if data["kv_heads"] == data["heads"] else "gqa"
    data["position"], data["ffn_act"] = "rope", _activation(c, where)
    _dropped(arch, c, where, notes)
    _windows(family if arch != "GptOssForCausalLM" else "gemma2", c, data, where)
    if family in ("mixtral", "qwen_moe", "deepseek"):
        data["moe"] = _moe(family, arch, c, data, where)
    if arch in VISION:
        data["encoder"] = qwen_vl_encoder(c.get("vision_config"), data["hidden"], where)[0]
    kept = unquantized_parts(c.get("quantization_config"))
    if kept:
        data["unquantized"] = ["embedding", "head"] + [part for part in kept if part not in ("embedding", "head")]
    if fmt := block_format(c.get("quantization_config")):
        data["quant_format"] = fmt
    if family == "deepseek":
        data["mtp_layers"] = _whole(c, "num_nextn_predict_layers", where, 0)
        if c.get("kv_lora_rank"):
            data |= {k: _whole(c, k, where, 0) for k in MLA - {"q_lora_rank"}}
            data |= {"attention": "mla", "q_lora_rank": _whole(c, "q_lora_rank", where), "head_dim": data["v_head_dim"]}
    return data


def _moe(family: str, arch: str, c: dict, data: dict, where: str) -> dict:
    if family == "mixtral":
        top_k = "num_experts_per_tok" if "num_experts_per_tok" in c else "experts_per_token"  # (gpt-oss: both)
        return {"experts": _need(c, "num_local_experts", where), "top_k": _need(c, top_k, where),
                "expert_ffn_hidden": data["ffn_hidden"]}
    experts_key = "num_experts" if family == "qwen_moe" else "n_routed_experts"
    moe = {"experts": _need(c, experts_key, where), "top_k": _need(c, "num_experts_per_tok", where),
           "expert_ffn_hidden": _need(c, "moe_intermediate_size", where)}
    if family == "qwen_moe":  # a layer is MoE when (i + 1) % step == 0 and i is not in mlp_only_layers
        step = _whole(c, "decoder_sparse_step", where, 1, least=1)
        only = c.get("mlp_only_layers") or []
        lead = len(only)
        if not isinstance(only, list) or any(isinstance(i, bool) or not isinstance(i, int) for i in only) \
                or sorted(only) != list(range(lead)) or (lead and step != 1):
            raise BadInput(f"{where}: mlp_only_layers {only!r:.60} is not a leading block of layers (with "
                           "decoder_sparse_step 1); xpuplan's MoE layers follow a dense lead", "mlp_only_layers")
        return moe | {"dense_layers": lead or step - 1, "layer_freq": step}
    freq, first = _whole(c, "moe_layer_freq", where, 1, least=1), _whole(c, "first_k_dense_replace", where, 0)
    groups, topk_groups = _whole(c, "n_group", where, 1), _whole(c, "topk_group", where, 1)
    method = c.get("topk_method") or ("noaux_tc" if arch == "Glm4MoeForCausalLM" else "greedy")
    if not isinstance(method, str) or method not in TOPK_METHODS:
        raise BadInput(f"{where}: topk_method {method!r:.40} is not one of {', '.join(TOPK_METHODS)}",
                       "topk_method")
    moe |= {"shared_experts": _whole(c, "n_shared_experts", where, 0), "layer_freq": freq,
            "dense_layers": -(-first // freq) * freq,  # MoE where i >= first_k_dense_replace and i % freq == 0
            "balancing": TOPK_METHODS[method]}
    if groups > 1:
        moe |= {"route_groups": groups, "route_topk_groups": topk_groups}
    return moe


def _windows(family: str, c: dict, data: dict, where: str) -> None:
    """sliding_window and window_layers: from layer_types when given, else the family's rule."""
    layers, window = data["layers"], c.get("sliding_window")
    kinds = c.get("layer_types")
    if kinds is not None:
        if not isinstance(kinds, list) or len(kinds) != layers:
            raise BadInput(f"{where}: layer_types must list one kind per layer ({layers})", "layer_types")
        odd = sorted({str(k) for k in kinds} - LAYER_KINDS)
        if odd:
            raise BadInput(f"{where}: layer_types {odd[0]!r:.40} is not modelled; xpuplan prices "
                           f"{' and '.join(sorted(LAYER_KINDS))} layers", "layer_types")
        count = kinds.count("sliding_attention")
    elif family == "gemma2":  # (and gpt-oss without layer_types)
        count = (layers + 1) // 2  # layer i slides when i is even
    elif family == "gemma3":
        pattern = _whole(c, "sliding_window_pattern", where, 6, least=1)
        count = layers - layers // pattern  # every pattern-th layer attends globally
    elif "use_sliding_window" in c:  # Qwen2/3: the layers from max_window_layers on
        start = _whole(c, "max_window_layers", where, layers)
        count = max(layers - start, 0) if _flag(c, "use_sliding_window", where, False) else 0
    else:  # Mistral, Mixtral: every layer when sliding_window is set
        count = layers if window is not None else 0
    if count:
        if window is None:
            raise BadInput(f"{where}: {count} sliding-window layers but no sliding_window; add it", "sliding_window")
        data |= {"sliding_window": _whole(c, "sliding_window", where), "window_layers": count}


def _dropped(arch: str, c: dict, where: str, notes: list[str]) -> None:
    """The fields that shape the work but have no place in the schema: one note each."""
    for key, what in (("attention_bias", "q/k/v/o projection biases"), ("mlp_bias", "FFN biases"),
                      ("use_qk_norm", "per-head QK RMSNorm")):
        if _flag(c, key, where, False):
            notes.append(f"{key} ({what})")
    if arch == "GptOssForCausalLM":
        notes.append("attention sinks (a learned softmax offset per head)")
    quant = c.get("quantization_config")
    if quant is not None:
        method = quant.get("quant_method", "?") if isinstance(quant, dict) else "?"
        notes.append(f"quantization_config ({method!r:.20} weights in the checkpoint; the estimate prices the "
                     "--precision given, with the parts it excludes in bf16)")


def _activation(c: dict, where: str) -> str:
    act = c.get("hidden_activation") or c.get("hidden_act") or "silu"
    if not isinstance(act, str) or act not in ACTIVATIONS:
        raise BadInput(f"{where}: hidden_act {act!r:.40} is not a gated silu/gelu FFN; xpuplan prices "
                       f"{', '.join(sorted(ACTIVATIONS))}", "hidden_act")
    return "swiglu"


def _whole(c: dict, key: str, where: str, default: int | None = None, least: int = 0) -> int | None:
    value = c.get(key, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < least \
            or (isinstance(value, float) and not value.is_integer()):
        raise BadInput(f"{where}: field {key!r} must be a whole number >= {least}, got {value!r:.40}", key)
    return int(value)


def _need(c: dict, key: str, where: str) -> int:
    if c.get(key) is None:
        raise BadInput(f"{where}: missing field {key!r}; add it from the model's released config", key)
    return _whole(c, key, where)


def _flag(c: dict, key: str, where: str, default: bool) -> bool:
    value = c.get(key, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise BadInput(f"{where}: field {key!r} must be true or false, got {value!r:.40}", key)
    return value


def _name(config: dict, where: str) -> str:
    """The folder's name for ``.../<name>/config.json``, else the file's, else the config's own."""
    path = PurePath(where)
    if path.name == "config.json" and path.parent.name not in ("", "."):
        return path.parent.name
    if path.suffix == ".json":
        return path.stem
    own = config.get("_name_or_path")
    return PurePath(own).name if isinstance(own, str) and own else str(config.get("model_type") or "hf-model")
