"""A named per-tensor recompute policy (MaxText's remat names; issue 15 item 7: memory over-estimates of published
runs that fit): what the backward keeps, fetches from host memory and computes again."""

import json

import pytest

from xpuplan import api, validate
from xpuplan.catalog import load_model
from xpuplan.cost import remat
from xpuplan.specs import TrainJob

JOB = dict(model="llama2-70b", chip="tpu-v5p", devices=512, seq_len=4096, global_batch=2048, dp=512, zero=3,
           micro_batch=4, recompute="selective", framework="xla")


def _policy(saved="decoder_layer_input", offloaded=""):
    """``saved`` "decoder_layer_input" alone keeps nothing else (the layer input stays unless offloaded)."""
    return api.train(remat_saved=saved, remat_offloaded=offloaded, **JOB)


def test_keeping_more_tensors_costs_memory_and_saves_recompute():
    kept = ("decoder_layer_input", "qkv_proj", "qkv_proj,out_proj", "qkv_proj,out_proj,context",
            "qkv_proj,out_proj,context,mlpwi")
    steps = [_policy(saved) for saved in kept]
    memory = [r.memory["activations_bytes"] for r in steps]
    compute = [r.breakdown["compute_s"] for r in steps]
    assert all(a < b for a, b in zip(memory, memory[1:]))
    assert all(a > b for a, b in zip(compute, compute[1:]))


def test_the_mlp_output_is_not_a_residual_so_naming_it_changes_nothing():
    """JAX keeps only what the backward needs; the layer's output is the next layer's input, kept there."""
    a, b = _policy("qkv_proj,out_proj"), _policy("qkv_proj,out_proj,mlpwo")
    assert a.memory["activations_bytes"] == b.memory["activations_bytes"]
    assert a.step_time_s == b.step_time_s


def test_offloaded_tensors_leave_the_device_but_spare_the_recompute():
    kept, offloaded, recomputed = _policy("context"), _policy(offloaded="context"), _policy()
    assert offloaded.memory["activations_bytes"] == pytest.approx(recomputed.memory["activations_bytes"])
    assert offloaded.memory["activations_bytes"] < kept.memory["activations_bytes"]
    assert offloaded.breakdown["compute_s"] == pytest.approx(kept.breakdown["compute_s"])
    assert offloaded.breakdown["compute_s"] < recomputed.breakdown["compute_s"]


def test_bytes_per_token_follow_the_named_widths():
    model = load_model("llama2-70b")  # h 8192, 64 heads x 128, 8 kv heads, SwiGLU 28672
    job = TrainJob(remat_saved=("query_proj", "key_proj", "value_proj", "out_proj", "mlpwo"),
                   remat_offloaded=("context",))
    device, host = remat.bytes_per_token(model, False, job)
    assert device == 2 * (8192 + 8192 + 1024 + 1024 + 8192)  # layer input, q, k, v, out_proj
    assert host == 2 * 8192
    share, attention_again = remat.recomputed(model, False, job)
    assert not attention_again
    mlp_in = 2 * 8192 * 28672
    total = 8192 * (8192 + 2048) + 8192 * 8192 + 3 * 8192 * 28672
    assert share == pytest.approx(mlp_in / total)


def test_the_published_maxtext_policy_fits_where_megatrons_selective_does_not():
    run, where = next((r, w) for r, w in validate.load_runs() if r["id"] == "maxtext-llama2-70b-v5p-512")
    assert run["remat_saved"]
    assert validate.check_run(run, where).fits
    assert not validate.check_run({k: v for k, v in run.items() if k != "remat_saved"}, where).fits


def test_bad_tensor_names_get_one_line_with_the_closest_name(run_cli):
    with pytest.raises(api.BadInput, match="did you mean qkv_proj"):
        _policy("qkv")
    with pytest.raises(api.BadInput, match="both kept .* and offloaded"):
        _policy("context", "context")
    code, out, _ = run_cli("train", "--model", "llama3-8b", "--chip", "h100-sxm", "--devices", "8", "--remat-saved",
                           "qkv", "--json")
    assert code == 2
    error = json.loads(out)
    assert error["field"] == "remat_saved" and "qkv_proj" in error["error"]
