"""Adam's state precision (issue 15 item 7, issue 16): the bytes a parameter's optimizer state takes and the traffic of
its update follow what the framework keeps (fp32 master and moments, 16-bit master remainders, bf16 moments); published
runs that kept a smaller state fit where the fp32 default would not."""

import dataclasses

import pytest

from xpuplan import api
from xpuplan.catalog import load_framework
from xpuplan.errors import BadInput
from xpuplan.export import render
from xpuplan.export.launch import from_result
from xpuplan.specs.framework import OPTIMIZER_STATES

JOB = dict(model="llama3-70b", chip="h100-sxm", devices=64, tp=4, pp=2, seq_len=4096, global_batch=256, micro_batch=1,
           zero=1, recompute="selective")


def export_plan(fmt: str, **job) -> str:
    return render(fmt, from_result(api.train(**job))).text


@pytest.mark.parametrize("state", sorted(OPTIMIZER_STATES))
def test_the_optimizer_memory_is_the_states_bytes_per_owned_parameter(state):
    """Against fp32's 12 bytes: every other number in the memory breakdown is unchanged."""
    fp32, other = api.train(**JOB), api.train(optimizer_state=state, **JOB)
    assert other.memory["optimizer_bytes"] == pytest.approx(
        fp32.memory["optimizer_bytes"] * OPTIMIZER_STATES[state][0] / 12)
    for key in ("weights_bytes", "gradients_bytes", "activations_bytes"):
        assert other.memory[key] == fp32.memory[key]


def test_a_smaller_state_is_never_slower_nor_larger():
    """Ordered by bytes, each state's step is no slower (less optimizer traffic) and its memory no larger."""
    results = [api.train(optimizer_state=s, **JOB) for s in sorted(OPTIMIZER_STATES, key=lambda s: -OPTIMIZER_STATES[s][0])]
    for bigger, smaller in zip(results, results[1:]):
        assert smaller.step_time_s <= bigger.step_time_s
        assert smaller.breakdown["optimizer_s"] < bigger.breakdown["optimizer_s"]
        assert smaller.memory_per_device_bytes < bigger.memory_per_device_bytes


def test_the_framework_sets_the_default_and_the_job_overrides_it():
    hai = load_framework("hai-llm")
    assert hai.optimizer_state == "bf16-moments"  # DeepSeek-V3 report §3.3.3
    framework = dataclasses.replace(load_framework("megatron"), optimizer_state="bf16-moments")
    by_framework = api.train(framework=framework, **JOB)
    overridden = api.train(framework=framework, optimizer_state="fp32", **JOB)
    assert overridden.memory["optimizer_bytes"] == pytest.approx(1.5 * by_framework.memory["optimizer_bytes"])
    assert by_framework.to_dict()["optimizer_state"] == "bf16-moments"
    assert "bf16-moments Adam state" in by_framework.to_dict()["assumed"]


def test_nemo_2407_llama2_70b_sft_fits_with_its_recipes_bf16_state():
    """NVIDIA ran Llama 2 70B SFT on 16 H100 (TP 4, PP 4, dp 1, so nothing sharded the optimizer) with apex's
    distributed Adam at optim.dtype bf16 and fp8 weights: a bf16 master copy and bf16 moments. With Megatron-Core's fp32
    state the same plan does not fit."""
    from xpuplan.validate.train import check_run, load_runs

    run, where = next((r, w) for r, w in load_runs("data/posttrain")
                      if r["id"] == "nemo-24.07-llama2-70b-sft-16gpu-fp8")
    assert run["optimizer_state"] == "bf16"
    assert check_run(run, where).fits
    assert not check_run(dict(run, optimizer_state="fp32"), where).fits


def test_an_unknown_state_is_refused_with_the_choices():
    with pytest.raises(BadInput, match="optimizer_state must be one of fp32, fp32-remainder, bf16-moments, bf16"):
        api.train(optimizer_state="fp8", **JOB)


def test_megatron_export_states_the_precision_aware_optimizer():
    text = export_plan("megatron", **JOB, optimizer_state="bf16")
    assert "--use-precision-aware-optimizer" in text and "--exp-avg-dtype bf16" in text
    assert "--exp-avg-sq-dtype bf16" in text
    remainder = export_plan("megatron", **JOB, optimizer_state="fp32-remainder")
    assert "--use-precision-aware-optimizer" in remainder and "--exp-avg-dtype" not in remainder
    assert "--use-precision-aware-optimizer" not in export_plan("megatron", **JOB)


@pytest.mark.parametrize("fmt, state", [("megatron", "bf16-moments"), ("torchtitan", "bf16"),
                                        ("deepspeed", "fp32-remainder"), ("mindspeed", "bf16")])
def test_exports_refuse_a_state_their_framework_cannot_keep(fmt, state):
    job = dict(JOB, zero=2 if fmt == "torchtitan" else 1, chip="ascend-910b" if fmt == "mindspeed" else "h100-sxm")
    with pytest.raises(BadInput, match=f"--optimizer-state {state}"):
        export_plan(fmt, **job, optimizer_state=state)


def test_an_exported_json_result_keeps_its_state():
    """`export --from result.json` writes the state the estimate priced, read from the result's `optimizer_state`."""
    from xpuplan.catalog import load_model
    from xpuplan.export.launch import train_from_json

    data = api.train(optimizer_state="bf16", **JOB).to_dict()
    assert train_from_json(data, "result.json", load_model).optimizer_state == "bf16"
    with pytest.raises(BadInput, match="'optimizer_state' must be one of"):
        train_from_json(dict(data, optimizer_state="fp4"), "result.json", load_model)


def test_a_checkpoint_holds_the_weights_and_the_state_the_job_keeps():
    """BLOOM's checkpoints were 14 bytes a parameter (bf16 weights + fp32 master and moments); a job keeping bf16
    moments writes 10, and the reliability model's checkpoint time follows."""
    from xpuplan.catalog import load_model
    from xpuplan.cost.flops import total_params

    params = total_params(load_model(JOB["model"]))
    full = api.train(tokens="1T", **JOB).to_dict()["reliability"]
    small = api.train(tokens="1T", optimizer_state="bf16-moments", **JOB).to_dict()["reliability"]
    assert full["checkpoint_bytes"] == pytest.approx(14 * params)
    assert small["checkpoint_bytes"] == pytest.approx(10 * params)


def test_a_plan_the_optimizer_state_overfills_gets_that_fix():
    """When Adam's state is the largest part of a plan that does not fit, the reason names the state the job keeps and
    the smaller one to try, besides more sharding; when activations are, recompute comes first."""
    import re

    state = api.train(model="llama3-70b", chip="h100-sxm", devices=8, tp=8, seq_len=8192, global_batch=8,
                      recompute="none")
    assert not state.fits
    assert re.search(r"largest part: optimizer\); try a higher --zero.*--optimizer-state \(this job keeps fp32, 12 "
                     r"bytes a parameter; bf16-moments keeps 8\)", state.not_fit_reason())
    acts = api.train(model="llama3-8b", chip="h100-sxm", devices=8, tp=1, seq_len=131072, global_batch=8, zero=3,
                     recompute="none")
    assert not acts.fits and "largest part: activations); try --recompute selective or full" in acts.not_fit_reason()
