"""A vision encoder ahead of the language model (issue 18): its parameters and model FLOPs, its place on the first
pipeline stage, a frozen encoder, serving's prefill, the Hugging Face import and one-line refusals."""

import dataclasses
import json
import warnings

import pytest

from xpuplan import api
from xpuplan.catalog import load_chip, load_model, model_from_dict
from xpuplan.cost import task
from xpuplan.cost.flops import (attention_core_flops_per_token, encoder_flops_per_token,
                                encoder_forward_flops_per_image, encoder_model, param_count, total_params)
from xpuplan.cost.serve import encoder_prefill_s
from xpuplan.errors import BadInput
from xpuplan.plan import ServePlan
from xpuplan.specs import Encoder, TrainJob

VLM = "qwen2.5-vl-7b"


def _text_only(model):
    return dataclasses.replace(model, encoder=None)


def _with(model, **encoder):
    return dataclasses.replace(model, encoder=dataclasses.replace(model.encoder, **encoder))


def _train(model, **kw):
    kw = dict(chip="h100-sxm", devices=8, seq_len=4096, global_batch=64, micro_batch=1) | kw
    return api.train(model=model, **kw)


def test_qwen25_vl_7b_parameters_match_its_checkpoint():
    m = load_model(VLM)
    p = param_count(m)
    # OpenExplorer's card counts the checkpoint's tensors: 8.292B in all, 676.6M in the ViT (biases left out here)
    assert total_params(m) == pytest.approx(8.292e9, rel=0.002)
    assert p["vision_encoder"] + p["projector"] == pytest.approx(676.6e6, rel=0.002)
    assert "vision_encoder" not in param_count(_text_only(m))


def test_encoder_attention_is_full_not_causal_and_windowed_layers_see_their_window():
    m = _with(load_model(VLM), window=None, window_layers=0)
    em, e = encoder_model(m), m.encoder
    full = attention_core_flops_per_token(em, e.patches, causal=False)
    assert full == pytest.approx(2 * attention_core_flops_per_token(em, e.patches))
    assert full == pytest.approx(2 * e.layers * e.heads * 2 * (e.hidden // e.heads) * e.patches)
    windowed = load_model(VLM)
    w = windowed.encoder
    keys = ((w.layers - w.window_layers) * w.patches + w.window_layers * w.window) / w.layers
    assert attention_core_flops_per_token(encoder_model(windowed), w.patches, causal=False) == pytest.approx(
        2 * w.layers * w.heads * 2 * (w.hidden // w.heads) * keys)


def test_mfu_counts_the_encoders_model_flops():
    m = load_model(VLM)
    job = TrainJob(seq_len=4096, global_batch=64)
    enc, proj = encoder_forward_flops_per_image(m)
    share = task.model_flops_per_token(m, job) - task.model_flops_per_token(_text_only(m), job)
    assert share == pytest.approx(3 * (enc + proj) / 4096)
    frozen = _with(m, frozen=True)  # forward only; the projector still trains
    assert encoder_flops_per_token(frozen, 4096) == pytest.approx((enc + 3 * proj) / 4096)
    r = _train(m, tp=2, pp=2)
    achieved = r.tokens_per_s * task.model_flops_per_token(m, job)
    assert r.mfu * 8 * load_chip("h100-sxm").peak("bf16") == pytest.approx(achieved, rel=1e-6)


def test_the_encoder_is_a_named_term_on_the_first_stage_that_the_pipeline_sees():
    m = load_model(VLM)
    text = _train(_text_only(m), tp=2, pp=2)
    vlm = _train(m, tp=2, pp=2)
    assert text.breakdown["encoder_s"] == 0.0
    assert vlm.breakdown["encoder_s"] > 0.0
    assert sum(vlm.breakdown.values()) == pytest.approx(vlm.step_time_s)
    # the first stage (14 layers + the encoder) is now the slowest: its per-micro-batch time paces the bubble too
    assert vlm.breakdown["pp_bubble_s"] > text.breakdown["pp_bubble_s"]
    assert vlm.step_time_s > text.step_time_s
    alone, text_alone = _train(m, tp=2, pp=1), _train(_text_only(m), tp=2, pp=1)
    assert alone.step_time_s - text_alone.step_time_s == pytest.approx(alone.breakdown["encoder_s"], rel=0.05)
    many = _train(_with(m, images=4), tp=2, pp=2)
    # four times the patch tokens, in larger (more efficient) GEMMs
    assert vlm.breakdown["encoder_s"] < many.breakdown["encoder_s"] <= 4 * vlm.breakdown["encoder_s"]
    assert many.memory["activations_bytes"] > vlm.memory["activations_bytes"]


def test_a_frozen_encoder_keeps_no_gradients_optimizer_state_or_activations():
    m = load_model(VLM)
    trained, frozen = _train(m, tp=1, pp=1, zero=0), _train(_with(m, frozen=True), tp=1, pp=1, zero=0)
    vision = param_count(m)["vision_encoder"]
    assert trained.memory["weights_bytes"] == pytest.approx(frozen.memory["weights_bytes"])
    assert trained.memory["optimizer_bytes"] - frozen.memory["optimizer_bytes"] == pytest.approx(12 * vision)
    assert trained.memory["gradients_bytes"] - frozen.memory["gradients_bytes"] == pytest.approx(4 * vision)
    assert frozen.memory["activations_bytes"] < trained.memory["activations_bytes"]
    assert frozen.breakdown["encoder_s"] < trained.breakdown["encoder_s"] / 2


def test_serving_runs_the_encoder_once_per_request_in_its_prefill():
    m, chip = load_model(VLM), load_chip("h100-sxm")
    plan = ServePlan(tp=1)
    assert encoder_prefill_s(_text_only(m), chip, plan, 3.0) == 0.0
    assert encoder_prefill_s(m, chip, plan, 0.0) == 0.0
    one, two = encoder_prefill_s(m, chip, plan, 1.0), encoder_prefill_s(m, chip, plan, 2.0)
    assert 0 < one < two <= 2 * one
    kw = dict(chip="h100-sxm", devices=1, input_len=1024, output_len=128, concurrency=1)
    assert api.inference(model=m, **kw).ttft_s > api.inference(model=_text_only(m), **kw).ttft_s + 0.9 * one


def test_a_qwen25_vl_config_json_maps_its_vision_tower(tmp_path):
    config = {"architectures": ["Qwen2_5_VLForConditionalGeneration"], "model_type": "qwen2_5_vl",
              "hidden_size": 3584, "intermediate_size": 18944, "num_attention_heads": 28, "num_hidden_layers": 28,
              "num_key_value_heads": 4, "vocab_size": 152064, "max_position_embeddings": 128000,
              "tie_word_embeddings": False, "image_token_id": 151655, "video_token_id": 151656,
              "vision_start_token_id": 151652, "vision_end_token_id": 151653, "vision_token_id": 151654,
              "vision_config": {"hidden_size": 1280, "in_chans": 3, "model_type": "qwen2_5_vl",
                                "spatial_patch_size": 14, "tokens_per_second": 2}}
    path = tmp_path / "Qwen2.5-VL-7B-Instruct" / "config.json"
    path.parent.mkdir()
    path.write_text(json.dumps(config))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        m = load_model(str(path))
    assert m.encoder == load_model(VLM).encoder
    assert any("448 x 448" in str(w.message) for w in caught)


@pytest.mark.parametrize("encoder,match", [
    ({"tokens_per_image": 2048}, "tokens_per_image=2048 exceeds patches=1024"),
    ({"window": 64, "window_layers": 0}, "give window and window_layers"),
    ({"heads": 7}, "not a multiple of heads=7"),
    ({"ffn_act": "relu"}, "ffn_act must be swiglu or gelu"),
    ({"images": 0}, "images must be > 0"),
])
def test_a_bad_encoder_is_one_line_naming_the_field(encoder, match):
    base = {"layers": 2, "hidden": 1280, "heads": 16, "ffn_hidden": 3420, "patches": 1024, "tokens_per_image": 256}
    data = {"name": "m", "layers": 2, "hidden": 64, "heads": 4, "ffn_hidden": 128, "vocab": 100,
            "encoder": base | encoder}
    with pytest.raises(BadInput, match=match) as info:
        model_from_dict(data)
    assert len(str(info.value).splitlines()) == 1
    with pytest.raises(BadInput):
        Encoder(**(base | encoder))


def test_a_sequence_too_short_for_its_images_is_refused(run_cli):
    code, _, err = run_cli("train", "--model", VLM, "--chip", "h100-sxm", "--devices", "8", "--seq-len", "128",
                           "--global-batch", "64")
    assert code == 2 and "cannot hold 1 image(s) of 256 tokens" in err and len(err.strip().splitlines()) == 1
