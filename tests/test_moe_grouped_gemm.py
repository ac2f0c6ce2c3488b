"""A MoE layer's local experts in one grouped GEMM or in a loop of per-expert GEMMs (Megatron-Core's SequentialMLP,
what Megatron-LM runs without --moe-grouped-gemm; DeepSpeed-MoE's Experts): the framework default, the job option,
its price, the warning with the fix, and the launch flag."""

import dataclasses

import pytest

from xpuplan import api
from xpuplan.catalog import load_chip, load_framework, load_model
from xpuplan.cost.compute import gemm_s, grouped_gemm_s, sequential_gemm_s
from xpuplan.export import render
from xpuplan.export.launch import from_result, train_from_json
from xpuplan.errors import BadInput

H100 = load_chip("h100-sxm")
MIXTRAL = dict(model="mixtral-8x7b", chip="h100-sxm", devices=64, tp=4, pp=2, ep=2, seq_len=4096, global_batch=256,
               micro_batch=1, recompute="selective")


def test_a_loop_pays_each_experts_fixed_cost_and_launch_that_one_kernel_pays_once():
    for tokens in (256, 4096):
        loop = sequential_gemm_s(8, tokens, 4096, 2 * 1792, H100, 0)
        assert loop == pytest.approx(8 * (gemm_s(tokens, 4096, 2 * 1792, H100, 0) + H100.efficiency.kernel_overhead_s))
        assert loop > grouped_gemm_s(8, tokens, 4096, 2 * 1792, H100, 0)


def test_the_job_option_overrides_the_framework_and_only_moe_models_notice():
    grouped, looped = (api.train(moe_grouped_gemm=g, **MIXTRAL) for g in (True, False))
    assert looped.breakdown["compute_s"] > grouped.breakdown["compute_s"]
    assert api.train(**MIXTRAL).step_time_s == grouped.step_time_s  # Megatron's profile: NVIDIA's recipes group
    dense = dict(MIXTRAL, model="llama3-8b", ep=1)
    assert api.train(moe_grouped_gemm=False, **dense).step_time_s == api.train(**dense).step_time_s


def test_deepspeed_moe_loops_over_its_experts_by_default():
    assert not load_framework("deepspeed").moe_grouped_gemm and load_framework("megatron").moe_grouped_gemm
    job = dict(MIXTRAL, pp=1, devices=32, ep=8, recompute="full")
    looped = api.train(framework="deepspeed", **job)
    assert looped.job.grouped_experts is False
    assert api.train(framework="deepspeed", moe_grouped_gemm=True, **job).step_time_s < looped.step_time_s


def test_turning_grouping_off_on_megatron_is_flagged_with_the_flag_and_its_gain():
    result = api.train(moe_grouped_gemm=False, **MIXTRAL)
    grouped = api.train(**MIXTRAL)
    note = next(n for n in result.extra["notes"] if "--moe-grouped-gemm" in n)
    gain = 1 - grouped.step_time_s / result.step_time_s
    assert f"{gain:.0%} shorter" in note and "4 local experts" in note
    assert "a GEMM per expert" in result.extra["assumed"] and "grouped expert GEMMs" in grouped.extra["assumed"]
    assert not any("--moe-grouped-gemm" in n for n in grouped.extra["notes"])
    # one local expert a rank: nothing to group, no advice
    single = api.train(moe_grouped_gemm=False, **dict(MIXTRAL, ep=8))
    assert not any("--moe-grouped-gemm" in n for n in single.extra["notes"])
    # DeepSpeed-MoE has no grouped kernel to switch on: no advice
    ds = api.train(framework="deepspeed", **dict(MIXTRAL, pp=1, devices=32, recompute="full"))
    assert not any("--moe-grouped-gemm" in n for n in ds.extra["notes"])


def test_the_megatron_launch_passes_the_flag_only_when_the_plan_groups():
    on, off = (render("megatron", from_result(api.train(moe_grouped_gemm=g, **MIXTRAL))).text for g in (True, False))
    assert "--moe-grouped-gemm" in on and "--moe-grouped-gemm" not in off


def test_train_json_carries_the_choice_and_export_reads_it_back():
    data = api.train(moe_grouped_gemm=False, **MIXTRAL).to_dict()
    assert data["moe_grouped_gemm"] is False
    assert train_from_json(data, "r.json", load_model).moe_grouped_gemm is False
    with pytest.raises(BadInput) as err:
        train_from_json(data | {"moe_grouped_gemm": "no"}, "r.json", load_model)
    assert err.value.field == "moe_grouped_gemm"


def test_deepspeed_export_refuses_a_grouped_moe_plan_with_the_fix():
    launch = from_result(api.train(framework="deepspeed", moe_grouped_gemm=True,
                                   **dict(MIXTRAL, pp=1, devices=32, recompute="full")))
    with pytest.raises(BadInput) as err:
        render("deepspeed", launch)
    assert err.value.field == "moe_grouped_gemm" and "--no-moe-grouped-gemm" in str(err.value)
    render("deepspeed", dataclasses.replace(launch, moe_grouped_gemm=False))
