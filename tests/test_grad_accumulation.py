"""Gradient accumulation with and without fusion (Megatron-Core's gradient_accumulation_fusion): unfused, a backward
hook adds each weight's bf16 gradient to the main gradients every micro-batch (distributed_data_parallel.py
``param.main_grad.add_(param.grad.data)``), a pass priced at its bytes; fused, the GEMM's epilogue does it."""

import dataclasses

import pytest

from xpuplan import api
from xpuplan.catalog import load_chip, load_framework, load_model
from xpuplan.cost.flops import expert_params, ffn_params_dense, layer_shapes
from xpuplan.errors import BadInput
from xpuplan.export import render
from xpuplan.export.launch import from_result, train_from_json

JOB = dict(model="llama3-8b", chip="h100-sxm", devices=8, tp=2, pp=1, seq_len=4096, global_batch=64, micro_batch=1,
           zero=1, recompute="none")


def _bwd_added(grad_reduce: str) -> float:
    fused, unfused = (api.train(grad_accumulation_fusion=f, grad_reduce=grad_reduce, **JOB) for f in (True, False))
    return unfused.breakdown["compute_s"] - fused.breakdown["compute_s"]


@pytest.mark.parametrize("grad_reduce, main_bytes", [("fp32", 4), ("bf16", 2)])
def test_the_hook_reads_the_bf16_gradient_and_reads_and_writes_the_main_one_every_micro_batch(grad_reduce, main_bytes):
    m, chip = load_model("llama3-8b"), load_chip("h100-sxm")
    s = layer_shapes(m)
    weights = m.layers * (s.attn_params + ffn_params_dense(m)) / 2 + m.hidden * m.vocab / 2  # tp 2, output layer too
    microbatches = 64 // 4  # dp 4
    expected = microbatches * (2 + 2 * main_bytes) * weights / (chip.hbm_bytes_per_s * chip.efficiency.hbm)
    assert _bwd_added(grad_reduce) == pytest.approx(expected, rel=1e-3)


def test_only_a_framework_with_a_main_gradient_buffer_pays_and_lora_pays_nothing():
    torch = [api.train(framework="torch", grad_accumulation_fusion=f, **JOB).step_time_s for f in (True, False)]
    assert torch[0] == torch[1]
    lora = [api.train(task="lora", grad_accumulation_fusion=f, **JOB).step_time_s for f in (True, False)]
    assert lora[0] == lora[1]


def test_a_moe_layer_counts_its_local_experts():
    job = dict(model="mixtral-8x7b", chip="h100-sxm", devices=64, tp=2, pp=1, ep=4, seq_len=4096, global_batch=128,
               micro_batch=1, recompute="full")
    fused, unfused = (api.train(grad_accumulation_fusion=f, **job).breakdown["compute_s"] for f in (True, False))
    m = load_model("mixtral-8x7b")
    layer = layer_shapes(m).attn_params / 2 + (m.moe.experts / 4) * expert_params(m) / 2
    weights = m.layers * layer + m.hidden * m.vocab / 2
    chip = load_chip("h100-sxm")
    microbatches = 128 // 32
    assert unfused - fused == pytest.approx(microbatches * 10 * weights / (chip.hbm_bytes_per_s * chip.efficiency.hbm),
                                            rel=1e-3)


def test_megatron_fuses_by_default_and_the_choice_is_said_and_exported():
    assert load_framework("megatron").grad_accumulation_fusion and load_framework("mindspeed").grad_accumulation_fusion
    fused, unfused = (api.train(grad_accumulation_fusion=f, **JOB) for f in (True, False))
    assert api.train(**JOB).step_time_s == fused.step_time_s
    assert "no accumulation fusion" in unfused.extra["assumed"] and "accumulation" not in fused.extra["assumed"]
    assert unfused.to_dict()["grad_accumulation_fusion"] is False
    on, off = (render("megatron", from_result(r)).text for r in (fused, unfused))
    assert "--no-gradient-accumulation-fusion" in off and "--no-gradient-accumulation-fusion" not in on
    back = train_from_json(unfused.to_dict(), "r.json", load_model)
    assert back.grad_accumulation_fusion is False
    with pytest.raises(BadInput) as err:
        train_from_json(unfused.to_dict() | {"grad_accumulation_fusion": 0}, "r.json", load_model)
    assert err.value.field == "grad_accumulation_fusion"
    assert dataclasses.replace(back, grad_accumulation_fusion=True).grad_accumulation_fusion
