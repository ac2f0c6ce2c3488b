"""fp8 casts (issue 15 item 2): the cast-and-transpose kernels around every fp8 GEMM, priced as memory traffic."""

import pytest

from xpuplan import api
from xpuplan.catalog import load_model
from xpuplan.cost.compute import FP8_CAST_BYTES, FP8_TRANSPOSE_BYTES, fp8_cast_bytes
from xpuplan.cost.flops import layer_shapes

JOB = dict(model="llama3-8b", devices=8, tp=1, pp=1, seq_len=4096, global_batch=64, micro_batch=1, zero=1,
           recompute="none")


def test_dense_layer_bytes_follow_the_gemms_inputs_and_output_gradients():
    m = load_model("llama3-8b")
    s = layer_shapes(m)
    fwd, bwd = fp8_cast_bytes(m, moe=False)
    assert fwd == FP8_CAST_BYTES * (s.attn_out_in + m.ffn_hidden) + FP8_TRANSPOSE_BYTES * 2 * m.hidden
    assert bwd == FP8_CAST_BYTES * (s.q_out + s.kv_out + m.hidden + 2 * m.ffn_hidden + m.hidden)


def test_moe_layer_casts_every_routed_copy():
    m = load_model("qwen3-30b-a3b")
    fwd, _ = fp8_cast_bytes(m, moe=True)
    one_copy = FP8_CAST_BYTES * (m.hidden + m.moe.expert_ffn_hidden)
    assert fwd >= m.moe.top_k * one_copy


def test_fp8_runs_pay_the_casts_and_bf16_runs_do_not():
    """Same plan on an H100: the fp8 step's compute is its GEMMs at the fp8 rate plus the casts, so fp8 is faster,
    but by less than the GEMMs alone would say."""
    bf16 = api.train(chip="h100-sxm", **JOB)
    fp8 = api.train(chip="h100-sxm", precision="fp8", **JOB)
    assert fp8.breakdown["compute_s"] < bf16.breakdown["compute_s"]
    assert fp8.mfu < 2 * bf16.mfu


def test_a_chip_without_an_fp8_peak_runs_bf16_and_casts_nothing():
    bf16 = api.train(chip="a100-sxm-80gb", **JOB)
    fp8 = api.train(chip="a100-sxm-80gb", precision="fp8", **JOB)
    assert fp8.breakdown["compute_s"] == pytest.approx(bf16.breakdown["compute_s"])


def test_a_frozen_base_writes_no_transposes():
    """LoRA runs no weight-gradient GEMM on its frozen base, so Transformer Engine writes no transposed fp8 copy:
    every cast moves 3 bytes an element (read 2, write 1), and no fp8 tensor is transposed."""
    from xpuplan.cost.compute import FP8_CAST_NO_TRANSPOSE_BYTES

    m = load_model("llama2-7b")
    fwd, bwd = fp8_cast_bytes(m, moe=False)
    frozen_fwd, frozen_bwd = fp8_cast_bytes(m, moe=False, weight_grads=False)
    assert frozen_fwd < fwd and frozen_bwd < bwd
    assert frozen_bwd / bwd == FP8_CAST_NO_TRANSPOSE_BYTES / FP8_CAST_BYTES
