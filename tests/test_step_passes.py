"""The step's fixed passes over the gradients (issue 15 item 2, "a fixed per-step cost"): Megatron-Core zeroes its
whole gradient buffer every step, copies a bf16-reduced shard to fp32 main gradients, and reads them for the clipping
norm; frameworks that free their gradients between steps pay none of it."""

import dataclasses

import pytest

from xpuplan import api
from xpuplan.catalog import load_chip, load_framework, load_model
from xpuplan.cost.flops import total_params

JOB = dict(model="llama3-8b", chip="h100-sxm", devices=8, tp=1, pp=1, seq_len=4096, global_batch=64, micro_batch=1,
           zero=1, recompute="none")


def _optimizer_s(grad_buffer_zeroed: bool, **over) -> float:
    framework = dataclasses.replace(load_framework("megatron"), grad_buffer_zeroed=grad_buffer_zeroed)
    return api.train(framework=framework, **(JOB | over)).breakdown["optimizer_s"]


@pytest.mark.parametrize("grad_reduce, grad_bytes, copy", [("fp32", 4, 0), ("bf16", 2, 6)])
def test_the_buffer_passes_cost_their_bytes_at_the_optimizers_bandwidth(grad_reduce, grad_bytes, copy):
    """Zeroing the unsharded buffer (grad bytes x every local parameter), the fp32 copy of a bf16 shard and the norm's
    read of the owned fp32 shard (4 bytes), at the chip's optimizer bandwidth."""
    chip = load_chip("h100-sxm")
    params = total_params(load_model("llama3-8b"))
    added = _optimizer_s(True, grad_reduce=grad_reduce) - _optimizer_s(False, grad_reduce=grad_reduce)
    expected = (grad_bytes * params + (copy + 4) * params / 8) / (chip.hbm_bytes_per_s * chip.efficiency.optimizer_hbm)
    assert added == pytest.approx(expected, rel=1e-3)


def test_zeroing_the_whole_buffer_does_not_shrink_with_data_parallelism():
    """The Adam update shrinks with the shard group; the buffer's zeroing is every local parameter whatever the dp."""
    small, large = (_optimizer_s(True, devices=n, global_batch=8 * n) - _optimizer_s(False, devices=n, global_batch=8 * n)
                    for n in (8, 64))
    zeroing = 4 * total_params(load_model("llama3-8b"))
    assert small > large > 0.9 * zeroing / (load_chip("h100-sxm").hbm_bytes_per_s *
                                             load_chip("h100-sxm").efficiency.optimizer_hbm)


def test_megatron_profiles_keep_the_buffer_and_pytorch_frees_it():
    assert load_framework("megatron").grad_buffer_zeroed and load_framework("nemo-rl").grad_buffer_zeroed
    assert not load_framework("torch").grad_buffer_zeroed and not load_framework("deepspeed").grad_buffer_zeroed


def test_lora_pays_the_passes_over_its_adapters_only():
    """A frozen base has no gradients: LoRA's step passes are a sliver of full fine-tuning's."""
    sft = api.train(task="sft", **JOB).breakdown["optimizer_s"]
    lora = api.train(task="lora", **JOB).breakdown["optimizer_s"]
    assert lora < 0.01 * sft
