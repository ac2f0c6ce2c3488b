"""Hugging Face config.json in (catalog/hf.py): each architecture maps field by field onto the model schema, and the
released configs give back the catalog's models and the published parameter counts.

The configs below are the released config.json files (values as published on huggingface.co), written to disk by
each test so that the loader reads them as a user's file would be read.
"""

import dataclasses
import json
import warnings

import pytest

from xpuplan import catalog
from xpuplan.catalog import load_model, model_from_dict
from xpuplan.catalog.hf import ConfigNote
from xpuplan.cost.flops import active_params, param_count, total_params
from xpuplan.errors import BadInput

LLAMA31_8B = {  # meta-llama/Llama-3.1-8B
    "architectures": ["LlamaForCausalLM"], "attention_bias": False, "attention_dropout": 0.0, "bos_token_id": 128000,
    "eos_token_id": 128001, "hidden_act": "silu", "hidden_size": 4096, "initializer_range": 0.02,
    "intermediate_size": 14336, "max_position_embeddings": 131072, "mlp_bias": False, "model_type": "llama",
    "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 8, "pretraining_tp": 1,
    "rms_norm_eps": 1e-05, "rope_scaling": {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                                            "original_max_position_embeddings": 8192, "rope_type": "llama3"},
    "rope_theta": 500000.0, "tie_word_embeddings": False, "torch_dtype": "bfloat16",
    "transformers_version": "4.43.0.dev0", "use_cache": True, "vocab_size": 128256}
LLAMA31_405B = LLAMA31_8B | {"hidden_size": 16384, "intermediate_size": 53248, "num_attention_heads": 128,
                             "num_hidden_layers": 126}
QWEN3_30B_A3B = {  # Qwen/Qwen3-30B-A3B
    "architectures": ["Qwen3MoeForCausalLM"], "attention_bias": False, "attention_dropout": 0.0,
    "bos_token_id": 151643, "decoder_sparse_step": 1, "eos_token_id": 151645, "head_dim": 128, "hidden_act": "silu",
    "hidden_size": 2048, "initializer_range": 0.02, "intermediate_size": 6144, "max_position_embeddings": 40960,
    "max_window_layers": 48, "mlp_only_layers": [], "model_type": "qwen3_moe", "moe_intermediate_size": 768,
    "norm_topk_prob": True, "num_attention_heads": 32, "num_experts": 128, "num_experts_per_tok": 8,
    "num_hidden_layers": 48, "num_key_value_heads": 4, "output_router_logits": False, "rms_norm_eps": 1e-06,
    "rope_scaling": None, "rope_theta": 1000000.0, "router_aux_loss_coef": 0.001, "sliding_window": None,
    "tie_word_embeddings": False, "torch_dtype": "bfloat16", "transformers_version": "4.51.0", "use_cache": True,
    "use_sliding_window": False, "vocab_size": 151936}
QWEN3_32B = {  # Qwen/Qwen3-32B
    "architectures": ["Qwen3ForCausalLM"], "attention_bias": False, "attention_dropout": 0.0, "bos_token_id": 151643,
    "eos_token_id": 151645, "head_dim": 128, "hidden_act": "silu", "hidden_size": 5120, "initializer_range": 0.02,
    "intermediate_size": 25600, "max_position_embeddings": 40960, "max_window_layers": 64, "model_type": "qwen3",
    "num_attention_heads": 64, "num_hidden_layers": 64, "num_key_value_heads": 8, "rms_norm_eps": 1e-06,
    "rope_scaling": None, "rope_theta": 1000000, "sliding_window": None, "tie_word_embeddings": False,
    "torch_dtype": "bfloat16", "transformers_version": "4.51.0", "use_cache": True, "use_sliding_window": False,
    "vocab_size": 151936}
QWEN25_72B = {  # Qwen/Qwen2.5-72B
    "architectures": ["Qwen2ForCausalLM"], "attention_dropout": 0.0, "bos_token_id": 151643, "eos_token_id": 151643,
    "hidden_act": "silu", "hidden_size": 8192, "initializer_range": 0.02, "intermediate_size": 29568,
    "max_position_embeddings": 131072, "max_window_layers": 80, "model_type": "qwen2", "num_attention_heads": 64,
    "num_hidden_layers": 80, "num_key_value_heads": 8, "rms_norm_eps": 1e-05, "rope_theta": 1000000.0,
    "sliding_window": 131072, "tie_word_embeddings": False, "torch_dtype": "bfloat16",
    "transformers_version": "4.43.1", "use_cache": True, "use_sliding_window": False, "vocab_size": 152064}
MIXTRAL_8X7B = {  # mistralai/Mixtral-8x7B-v0.1
    "architectures": ["MixtralForCausalLM"], "attention_dropout": 0.0, "bos_token_id": 1, "eos_token_id": 2,
    "hidden_act": "silu", "hidden_size": 4096, "initializer_range": 0.02, "intermediate_size": 14336,
    "max_position_embeddings": 32768, "model_type": "mixtral", "num_attention_heads": 32, "num_experts_per_tok": 2,
    "num_hidden_layers": 32, "num_key_value_heads": 8, "num_local_experts": 8, "output_router_logits": False,
    "rms_norm_eps": 1e-05, "rope_theta": 1000000.0, "router_aux_loss_coef": 0.02, "sliding_window": None,
    "tie_word_embeddings": False, "torch_dtype": "bfloat16", "transformers_version": "4.36.0.dev0", "use_cache": True,
    "vocab_size": 32000}
DEEPSEEK_V3 = {  # deepseek-ai/DeepSeek-V3
    "architectures": ["DeepseekV3ForCausalLM"], "attention_bias": False, "attention_dropout": 0.0,
    "auto_map": {"AutoConfig": "configuration_deepseek.DeepseekV3Config",
                 "AutoModel": "modeling_deepseek.DeepseekV3Model",
                 "AutoModelForCausalLM": "modeling_deepseek.DeepseekV3ForCausalLM"},
    "aux_loss_alpha": 0.001, "bos_token_id": 0, "eos_token_id": 1, "ep_size": 1, "first_k_dense_replace": 3,
    "hidden_act": "silu", "hidden_size": 7168, "initializer_range": 0.02, "intermediate_size": 18432,
    "kv_lora_rank": 512, "max_position_embeddings": 163840, "model_type": "deepseek_v3",
    "moe_intermediate_size": 2048, "moe_layer_freq": 1, "n_group": 8, "n_routed_experts": 256, "n_shared_experts": 1,
    "norm_topk_prob": True, "num_attention_heads": 128, "num_experts_per_tok": 8, "num_hidden_layers": 61,
    "num_key_value_heads": 128, "num_nextn_predict_layers": 1, "pretraining_tp": 1, "q_lora_rank": 1536,
    "qk_nope_head_dim": 128, "qk_rope_head_dim": 64,
    "quantization_config": {"activation_scheme": "dynamic", "fmt": "e4m3", "quant_method": "fp8",
                            "weight_block_size": [128, 128]},
    "rms_norm_eps": 1e-06, "rope_scaling": {"beta_fast": 32, "beta_slow": 1, "factor": 40, "mscale": 1.0,
                                            "mscale_all_dim": 1.0, "original_max_position_embeddings": 4096,
                                            "type": "yarn"},
    "rope_theta": 10000, "routed_scaling_factor": 2.5, "scoring_func": "sigmoid", "seq_aux": True,
    "tie_word_embeddings": False, "topk_group": 4, "topk_method": "noaux_tc", "torch_dtype": "bfloat16",
    "transformers_version": "4.33.1", "use_cache": True, "v_head_dim": 128, "vocab_size": 129280}
DEEPSEEK_V2 = {  # deepseek-ai/DeepSeek-V2
    "architectures": ["DeepseekV2ForCausalLM"], "attention_bias": False, "attention_dropout": 0.0,
    "aux_loss_alpha": 0.001, "bos_token_id": 100000, "eos_token_id": 100001, "ep_size": 1, "first_k_dense_replace": 1,
    "hidden_act": "silu", "hidden_size": 5120, "initializer_range": 0.02, "intermediate_size": 12288,
    "kv_lora_rank": 512, "max_position_embeddings": 163840, "model_type": "deepseek_v2", "moe_intermediate_size": 1536,
    "moe_layer_freq": 1, "n_group": 8, "n_routed_experts": 160, "n_shared_experts": 2, "norm_topk_prob": False,
    "num_attention_heads": 128, "num_experts_per_tok": 6, "num_hidden_layers": 60, "num_key_value_heads": 128,
    "pretraining_tp": 1, "q_lora_rank": 1536, "qk_nope_head_dim": 128, "qk_rope_head_dim": 64, "rms_norm_eps": 1e-06,
    "rope_theta": 10000, "routed_scaling_factor": 16.0, "scoring_func": "softmax", "seq_aux": True,
    "tie_word_embeddings": False, "topk_group": 3, "topk_method": "group_limited_greedy", "torch_dtype": "bfloat16",
    "transformers_version": "4.39.3", "use_cache": True, "v_head_dim": 128, "vocab_size": 102400}
GLM45 = {  # zai-org/GLM-4.5
    "architectures": ["Glm4MoeForCausalLM"], "attention_bias": True, "attention_dropout": 0.0,
    "pad_token_id": 151329, "eos_token_id": [151329, 151336, 151338], "head_dim": 128, "hidden_act": "silu",
    "hidden_size": 5120, "partial_rotary_factor": 0.5, "initializer_range": 0.02, "intermediate_size": 12288,
    "max_position_embeddings": 131072, "model_type": "glm4_moe", "moe_intermediate_size": 1536,
    "norm_topk_prob": True, "num_attention_heads": 96, "n_group": 1, "topk_group": 1, "n_routed_experts": 160,
    "n_shared_experts": 1, "routed_scaling_factor": 2.5, "num_experts_per_tok": 8, "first_k_dense_replace": 3,
    "num_hidden_layers": 92, "num_key_value_heads": 8, "rms_norm_eps": 1e-05, "rope_theta": 1000000,
    "num_nextn_predict_layers": 1, "tie_word_embeddings": False, "torch_dtype": "bfloat16",
    "transformers_version": "4.54.0", "use_cache": True, "use_qk_norm": True, "vocab_size": 151552}
KIMI_K2 = {  # moonshotai/Kimi-K2-Instruct (DeepSeek-V3 architecture)
    "architectures": ["DeepseekV3ForCausalLM"], "attention_bias": False, "attention_dropout": 0.0,
    "aux_loss_alpha": 0.001, "bos_token_id": 163584, "eos_token_id": 163585, "first_k_dense_replace": 1,
    "hidden_act": "silu", "hidden_size": 7168, "initializer_range": 0.02, "intermediate_size": 18432,
    "kv_lora_rank": 512, "max_position_embeddings": 131072, "model_type": "kimi_k2", "moe_intermediate_size": 2048,
    "moe_layer_freq": 1, "n_group": 1, "n_routed_experts": 384, "n_shared_experts": 1, "norm_topk_prob": True,
    "num_attention_heads": 64, "num_experts_per_tok": 8, "num_hidden_layers": 61, "num_key_value_heads": 64,
    "num_nextn_predict_layers": 0, "pretraining_tp": 1, "q_lora_rank": 1536, "qk_nope_head_dim": 128,
    "qk_rope_head_dim": 64, "rms_norm_eps": 1e-06, "rope_theta": 50000.0, "routed_scaling_factor": 2.827,
    "scoring_func": "sigmoid", "seq_aux": True, "tie_word_embeddings": False, "topk_group": 1,
    "topk_method": "noaux_tc", "torch_dtype": "bfloat16", "use_cache": True, "v_head_dim": 128, "vocab_size": 163840}
GPT_OSS_120B = {  # openai/gpt-oss-120b
    "architectures": ["GptOssForCausalLM"], "attention_bias": True, "attention_dropout": 0.0, "eos_token_id": 200002,
    "experts_per_token": 4, "head_dim": 64, "hidden_act": "silu", "hidden_size": 2880, "initial_context_length": 4096,
    "initializer_range": 0.02, "intermediate_size": 2880,
    "layer_types": ["sliding_attention", "full_attention"] * 18, "max_position_embeddings": 131072,
    "model_type": "gpt_oss", "num_attention_heads": 64, "num_experts_per_tok": 4, "num_hidden_layers": 36,
    "num_key_value_heads": 8, "num_local_experts": 128, "output_router_logits": False, "pad_token_id": 199999,
    "quantization_config": {"modules_to_not_convert": ["model.layers.*.self_attn", "model.layers.*.mlp.router",
                                                       "model.embed_tokens", "lm_head"], "quant_method": "mxfp4"},
    "rms_norm_eps": 1e-05, "rope_scaling": {"beta_fast": 32.0, "beta_slow": 1.0, "factor": 32.0,
                                            "original_max_position_embeddings": 4096, "rope_type": "yarn",
                                            "truncate": False},
    "rope_theta": 150000, "router_aux_loss_coef": 0.9, "sliding_window": 128, "swiglu_limit": 7.0,
    "tie_word_embeddings": False, "transformers_version": "4.55.0.dev0", "use_cache": True, "vocab_size": 201088}
GEMMA2_9B = {  # google/gemma-2-9b
    "architectures": ["Gemma2ForCausalLM"], "attention_bias": False, "attention_dropout": 0.0,
    "attn_logit_softcapping": 50.0, "bos_token_id": 2, "cache_implementation": "hybrid", "eos_token_id": 1,
    "final_logit_softcapping": 30.0, "head_dim": 256, "hidden_act": "gelu_pytorch_tanh",
    "hidden_activation": "gelu_pytorch_tanh", "hidden_size": 3584, "initializer_range": 0.02,
    "intermediate_size": 14336, "max_position_embeddings": 8192, "model_type": "gemma2", "num_attention_heads": 16,
    "num_hidden_layers": 42, "num_key_value_heads": 8, "pad_token_id": 0, "query_pre_attn_scalar": 256,
    "rms_norm_eps": 1e-06, "rope_theta": 10000.0, "sliding_window": 4096, "sliding_window_size": 4096,
    "torch_dtype": "float32", "transformers_version": "4.42.0.dev0", "use_cache": True, "vocab_size": 256000}
GEMMA3_27B = {  # google/gemma-3-27b-pt: a vision-language config, the text decoder under text_config
    "architectures": ["Gemma3ForConditionalGeneration"], "boi_token_index": 255999, "eoi_token_index": 256000,
    "eos_token_id": [1, 106], "image_token_index": 262144, "initializer_range": 0.02, "mm_tokens_per_image": 256,
    "model_type": "gemma3",
    "text_config": {"head_dim": 128, "hidden_size": 5376, "intermediate_size": 21504, "model_type": "gemma3_text",
                    "num_attention_heads": 32, "num_hidden_layers": 62, "num_key_value_heads": 16,
                    "query_pre_attn_scalar": 168, "rope_scaling": {"factor": 8.0, "rope_type": "linear"},
                    "sliding_window": 1024},
    "torch_dtype": "bfloat16", "transformers_version": "4.50.0.dev0",
    "vision_config": {"hidden_size": 1152, "image_size": 896, "intermediate_size": 4304,
                      "model_type": "siglip_vision_model", "num_attention_heads": 16, "num_hidden_layers": 27,
                      "patch_size": 14, "vision_use_head": False}}

SHAPE = ("layers", "hidden", "heads", "kv_heads", "head_dim", "ffn_hidden", "ffn_act", "vocab", "tied_embeddings",
         "attention", "position", "q_lora_rank", "kv_lora_rank", "qk_rope_head_dim", "qk_nope_head_dim", "v_head_dim",
         "moe", "sliding_window", "window_layers", "mtp_layers")
"""the fields that price a model (name, sources, notes, context length and published counts aside)"""


def _write(tmp_path, config, folder="model"):
    path = tmp_path / folder / "config.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(config, indent=2))
    return path


def _load(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConfigNote)
        return load_model(str(path))


def _shape(model):
    return {k: getattr(model, k) for k in SHAPE}


@pytest.mark.parametrize("config,catalog_id", [(LLAMA31_8B, "llama3-8b"), (LLAMA31_405B, "llama3-405b"),
                                               (QWEN3_30B_A3B, "qwen3-30b-a3b"), (QWEN3_32B, "qwen3-32b"),
                                               (QWEN25_72B, "qwen2.5-72b"), (MIXTRAL_8X7B, "mixtral-8x7b"),
                                               (DEEPSEEK_V3, "deepseek-v3"), (GPT_OSS_120B, "gpt-oss-120b"),
                                               (GLM45, "glm-4.5"), (KIMI_K2, "kimi-k2")])
def test_a_released_config_gives_the_catalog_model(tmp_path, config, catalog_id):
    mapped, bundled = _load(_write(tmp_path, config)), load_model(catalog_id)
    assert _shape(mapped) == _shape(bundled)
    assert total_params(mapped) == total_params(bundled)
    assert active_params(mapped) == active_params(bundled)
    assert mapped.unquantized == bundled.unquantized  # gpt-oss: its quantization_config's modules_to_not_convert
    assert mapped.quant_format == bundled.quant_format  # gpt-oss: quant_method mxfp4


def test_a_folder_holding_config_json_is_a_model_named_after_the_folder(tmp_path):
    path = _write(tmp_path, LLAMA31_8B, "Llama-3.1-8B")
    model = _load(path.parent)
    assert model.name == "Llama-3.1-8B" and model.max_seq_len == 131072
    assert model.sources and "config.json" in model.sources[0]
    assert total_params(model) == pytest.approx(8.03e9, rel=0.01)


@pytest.mark.parametrize("config,total,active,active_leaves_out", [
    (DEEPSEEK_V3, 671e9, 37e9, ()),     # DeepSeek-V3 report: 671B total, 37B active (MTP excluded)
    (DEEPSEEK_V2, 236e9, 21e9, ()),     # DeepSeek-V2 paper: 236B total, 21B active
    (GLM45, 355e9, 32e9, ("embedding", "output")),  # GLM-4.5 report: 355B total, 32B active (embeddings aside)
    (KIMI_K2, 1.04e12, 32e9, ()),       # Kimi K2 report (arXiv:2507.20534): 1.04T total, 32B activated
    (GPT_OSS_120B, 116.8e9, 5.13e9, ("embedding",)),  # gpt-oss model card: 116.8B total, 5.13B active (no embedding)
    (QWEN3_30B_A3B, 30.5e9, 3.3e9, ()),
    (MIXTRAL_8X7B, 46.7e9, 12.9e9, ()),
    (GEMMA2_9B, 9.24e9, 9.24e9, ()),    # google/gemma-2-9b: 9.24B parameters
])
def test_mapped_models_have_the_published_parameter_counts(tmp_path, config, total, active, active_leaves_out):
    model = _load(_write(tmp_path, config))
    assert total_params(model) == pytest.approx(total, rel=0.03)
    counted = active_params(model) - sum(param_count(model)[part] for part in active_leaves_out)
    assert counted == pytest.approx(active, rel=0.03)


def test_deepseek_maps_mla_mtp_shared_experts_and_group_routing(tmp_path):
    m = _load(_write(tmp_path, DEEPSEEK_V3))
    assert (m.attention, m.q_lora_rank, m.kv_lora_rank, m.qk_rope_head_dim, m.qk_nope_head_dim, m.v_head_dim) == \
        ("mla", 1536, 512, 64, 128, 128)
    assert m.mtp_layers == 1 and m.moe_layers == 58
    assert (m.moe.shared_experts, m.moe.dense_layers, m.moe.route_groups, m.moe.route_topk_groups, m.moe.balancing) \
        == (1, 3, 8, 4, "loss_free")
    v2 = _load(_write(tmp_path, DEEPSEEK_V2, "v2"))
    assert (v2.moe.balancing, v2.moe.shared_experts, v2.moe.dense_layers, v2.moe.top_k) == ("aux_loss", 2, 1, 6)
    lite = _load(_write(tmp_path, DEEPSEEK_V2 | {"q_lora_rank": None, "n_group": 1, "topk_group": 1,
                                                 "topk_method": "greedy"}, "lite"))
    assert lite.q_lora_rank is None and lite.moe.route_groups is None


def test_glm_is_gqa_with_a_dense_lead_mtp_and_loss_free_balancing(tmp_path):
    m = _load(_write(tmp_path, GLM45))
    assert (m.attention, m.kv_heads, m.head_dim, m.mtp_layers, m.moe.dense_layers, m.moe.shared_experts) == \
        ("gqa", 8, 128, 1, 3, 1)
    assert m.moe.balancing == "loss_free" and m.moe.route_groups is None


def test_sliding_window_layers_are_counted_per_architecture(tmp_path):
    oss = _load(_write(tmp_path, GPT_OSS_120B))
    assert (oss.sliding_window, oss.window_layers) == (128, 18)
    gemma2 = _load(_write(tmp_path, GEMMA2_9B, "g2"))
    assert (gemma2.sliding_window, gemma2.window_layers, gemma2.tied_embeddings, gemma2.ffn_act) == \
        (4096, 21, True, "swiglu")
    gemma3 = _load(_write(tmp_path, GEMMA3_27B, "g3"))
    assert (gemma3.layers, gemma3.sliding_window, gemma3.window_layers, gemma3.vocab) == (62, 1024, 52, 262208)
    qwen = _load(_write(tmp_path, QWEN3_32B | {"use_sliding_window": True, "sliding_window": 4096,
                                               "max_window_layers": 48}, "q"))
    assert (qwen.sliding_window, qwen.window_layers) == (4096, 16)
    mistral = _load(_write(tmp_path, LLAMA31_8B | {"architectures": ["MistralForCausalLM"], "sliding_window": 4096},
                           "mistral"))
    assert mistral.window_layers == mistral.layers
    typed = _load(_write(tmp_path, GEMMA2_9B | {"layer_types": ["full_attention"] * 42}, "typed"))
    assert typed.window_layers == 0 and typed.sliding_window is None


def test_qwen_moe_sparse_step_maps_onto_the_moe_layer_pattern(tmp_path):
    every_second = _load(_write(tmp_path, QWEN3_30B_A3B | {"decoder_sparse_step": 2}))
    assert every_second.moe_layers == 24 and every_second.moe.dense_layers == 1  # layers 1, 3, ... are MoE
    lead = _load(_write(tmp_path, QWEN3_30B_A3B | {"mlp_only_layers": [0, 1]}, "lead"))
    assert lead.moe_layers == 46 and lead.moe.dense_layers == 2
    with pytest.raises(BadInput, match="mlp_only_layers"):
        _load(_write(tmp_path, QWEN3_30B_A3B | {"mlp_only_layers": [5, 9]}, "scattered"))


def test_what_the_schema_cannot_hold_is_one_note_naming_it(tmp_path):
    with pytest.warns(ConfigNote) as record:
        load_model(str(_write(tmp_path, GPT_OSS_120B)))
    assert len(record) == 1
    note = str(record[0].message)
    assert "\n" not in note and "attention_bias" in note and "attention sinks" in note and "mxfp4" in note
    with pytest.warns(ConfigNote, match="vision encoder"):
        load_model(str(_write(tmp_path, GEMMA3_27B, "g3")))
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConfigNote)  # nothing dropped: no note
        load_model(str(_write(tmp_path, LLAMA31_8B, "llama")))


@pytest.mark.parametrize("change,match", [
    ({"architectures": ["MambaForCausalLM"]}, "unknown architecture 'MambaForCausalLM'"),
    ({"n_routed_experts": 8}, "unknown field 'n_routed_experts' of LlamaForCausalLM"),
    ({"hidden_act": "relu2"}, "hidden_act 'relu2'"),
    ({"num_hidden_layers": 2.5}, "'num_hidden_layers' must be a whole number"),
    ({"num_key_value_heads": 5}, "num_key_value_heads"),
    ({"layer_types": ["chunked_attention"] * 32}, "layer_types 'chunked_attention' is not modelled"),
    ({"vocab_size": None}, "missing field 'vocab_size'"),
    ({"tie_word_embeddings": "yes"}, "'tie_word_embeddings' must be true or false"),
])
def test_bad_configs_are_one_line_naming_the_field(tmp_path, change, match):
    with pytest.raises(BadInput, match=match) as err:
        _load(_write(tmp_path, LLAMA31_8B | change))
    assert "\n" not in str(err.value)


def test_the_loader_accepts_a_config_dict_and_a_json_file_of_either_schema(tmp_path):
    assert _shape(model_from_dict(dict(MIXTRAL_8X7B), "mixtral")) == _shape(load_model("mixtral-8x7b"))
    plain = tmp_path / "tiny.json"
    plain.write_text(json.dumps({"name": "tiny", "layers": 2, "hidden": 64, "heads": 4, "ffn_hidden": 128,
                                 "vocab": 100}))
    assert load_model(str(plain)).name == "tiny"
    with pytest.raises(BadInput, match="holds no config.json"):
        load_model(str(tmp_path))
    with pytest.raises(BadInput, match="does not exist"):
        load_model(str(tmp_path / "missing.json"))
    broken = tmp_path / "broken.json"
    broken.write_text('{"architectures": ["LlamaForCausalLM"],')
    with pytest.raises(BadInput, match="malformed JSON at line 1"):
        load_model(str(broken))
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 5000 + "]" * 5000)
    with pytest.raises(BadInput, match="nested deeper"):
        load_model(str(deep))


def test_catalog_ids_never_read_a_file_of_the_same_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _write(tmp_path, {"architectures": ["MambaForCausalLM"]}, "llama3-8b")
    assert load_model("llama3-8b") == catalog.load_model("llama3-8b")
    assert dataclasses.replace(load_model("llama3-8b")).sources  # the catalog's own file, with its sources


def test_cli_reads_a_config_and_prints_the_note_on_stderr(tmp_path, run_cli):
    path = _write(tmp_path, GPT_OSS_120B, "gpt-oss-120b")
    code, out, err = run_cli("train", "--model", str(path.parent), "--chip", "h100-sxm", "--devices", "64",
                             "--ep", "8", "--zero", "3", "--json")
    assert code == 0, err
    assert json.loads(out)["step_time_s"] > 0
    assert err.count("xpuplan: note:") == 1 and "attention sinks" in err
    code, out, err = run_cli("train", "--model", str(_write(tmp_path, {"architectures": ["X"]}, "x")), "--chip",
                             "h100-sxm", "--devices", "8", "--json")
    assert code == 2 and err.strip().count("\n") == 0 and "unknown architecture 'X'" in err
    assert json.loads(out)["field"] == "architectures"


HOSTILE = {
    "nan.json": '{"architectures": ["LlamaForCausalLM"], "hidden_size": NaN}',
    "huge.json": json.dumps(LLAMA31_8B | {"hidden_size": 10**400}),
    "infinite.json": json.dumps(LLAMA31_8B | {"num_hidden_layers": float("inf")}),
    "list.json": "[1, 2, 3]",
    "binary.json": b"\x00\xff\xfe\x01binary" * 100,
    "arch-not-list.json": json.dumps(LLAMA31_8B | {"architectures": "LlamaForCausalLM"}),
    "arch-unhashable.json": json.dumps(LLAMA31_8B | {"architectures": [["x"]]}),
    "zero-pattern.json": json.dumps({"architectures": ["Gemma3ForCausalLM"]} | {
        k: v for k, v in GEMMA3_27B["text_config"].items() if k != "model_type"} | {"sliding_window_pattern": 0}),
    "zero-freq.json": json.dumps(DEEPSEEK_V3 | {"moe_layer_freq": 0}),
    "text-config-list.json": json.dumps(GEMMA3_27B | {"text_config": [1]}),
    "act-list.json": json.dumps(LLAMA31_8B | {"hidden_act": ["silu"]}),
    "moe-missing.json": json.dumps({k: v for k, v in MIXTRAL_8X7B.items() if k != "num_local_experts"}),
    "layer-types-short.json": json.dumps(GPT_OSS_120B | {"layer_types": ["full_attention"]}),
    "mlp-only-strings.json": json.dumps(QWEN3_30B_A3B | {"mlp_only_layers": ["a", 1]}),
    "huge-file.json": '{"architectures": ["LlamaForCausalLM"]' + " " * (1 << 20) + "}",
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_a_hostile_config_is_one_line_exit_2(tmp_path, run_cli, name):
    text = HOSTILE[name]
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    code, out, err = run_cli("train", "--model", str(path), "--chip", "h100-sxm", "--devices", "8", "--json")
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert json.loads(out)["exit_code"] == 2


def test_a_quantization_config_names_the_parts_it_leaves_in_bf16():
    """transformers' modules_to_not_convert (gpt-oss), llm-compressor's ignore (regex entries) and ModelOpt's
    exclude_modules map onto Model.unquantized parts; entries that are no such part are passed over."""
    from xpuplan.catalog.quantization import unquantized_parts
    assert unquantized_parts(GPT_OSS_120B["quantization_config"]) == ["attention", "router", "embedding", "head"]
    assert unquantized_parts({"ignore": ["lm_head", "re:.*mlp.gate$"]}) == ["head", "router"]
    assert unquantized_parts({"exclude_modules": ["model.layers.0.mlp.gate_proj", "lm_head"]}) == ["head"]
    assert unquantized_parts({"quant_method": "fp8", "weight_block_size": [128, 128]}) == []
    assert unquantized_parts(None) == []


def test_a_quantization_config_names_the_block_format_of_its_4_bit_weights():
    """gpt-oss's quant_method mxfp4, ModelOpt's NVFP4, llm-compressor's nvfp4-pack-quantized and AWQ/GPTQ at 4 bits
    with their group size become Model.quant_format; wider or unknown layouts leave it unset, and an imported
    gpt-oss config carries it."""
    from xpuplan.catalog.quantization import block_format
    assert block_format(GPT_OSS_120B["quantization_config"]) == "mxfp4"
    assert block_format({"quant_method": "modelopt", "quant_algo": "NVFP4"}) == "nvfp4"
    assert block_format({"quant_method": "compressed-tensors", "format": "nvfp4-pack-quantized"}) == "nvfp4"
    assert block_format({"quant_method": "awq", "bits": 4, "group_size": 128}) == "int4-g128"
    assert block_format({"quant_method": "gptq", "bits": 4, "group_size": 32}) == "int4-g32"
    assert block_format({"quant_method": "gptq", "bits": 8, "group_size": 128}) is None
    assert block_format({"quant_method": "fp8", "weight_block_size": [128, 128]}) is None
    assert block_format(None) is None
