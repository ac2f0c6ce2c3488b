"""Gradient dtype (issue 15 items 3 and 7): fp32 as Megatron-LM keeps it for bf16 runs, bf16 as NVIDIA's performance
recipes set it; memory and data-parallel traffic follow."""

import dataclasses

import pytest

from xpuplan import api
from xpuplan.catalog import load_framework
from xpuplan.errors import BadInput

JOB = dict(model="llama3-70b", chip="h100-sxm", devices=64, tp=4, pp=2, seq_len=4096, global_batch=256, micro_batch=1,
           zero=1, recompute="selective")


def test_bf16_gradients_take_half_the_memory_of_fp32():
    fp32, bf16 = api.train(**JOB), api.train(grad_reduce="bf16", **JOB)
    assert fp32.memory["gradients_bytes"] == pytest.approx(2 * bf16.memory["gradients_bytes"])
    assert fp32.memory["weights_bytes"] == bf16.memory["weights_bytes"]


def test_bf16_gradients_halve_the_reduction_traffic():
    exposed = dict(JOB, zero=0)
    framework = dataclasses.replace(load_framework("megatron"), dp_overlap=False)
    fp32 = api.train(framework=framework, **exposed)
    bf16 = api.train(framework=framework, grad_reduce="bf16", **exposed)
    assert bf16.breakdown["dp_comm_s"] < 0.6 * fp32.breakdown["dp_comm_s"]


def test_the_framework_sets_the_default_and_the_job_overrides_it():
    framework = dataclasses.replace(load_framework("megatron"), grad_reduce="bf16")
    by_framework = api.train(framework=framework, **JOB)
    overridden = api.train(framework=framework, grad_reduce="fp32", **JOB)
    assert overridden.memory["gradients_bytes"] == pytest.approx(2 * by_framework.memory["gradients_bytes"])


def test_nemotron_340b_fits_on_128_h100_with_its_recipes_bf16_gradients():
    """Issue 15 item 7: NeMo 24.07's Nemotron-4 340B FP8 row (TP 8, PP 8, VP 12, 128 H100) ran; with the launcher
    yaml's grad_sync_dtype bf16 (and its optimizer's bf16 state) the plan fits in 80 GB, with fp32 gradients and the
    fp32 state of Megatron-Core's defaults it would not."""
    from xpuplan.validate.train import check_run, load_runs

    run, where = next((r, w) for r, w in load_runs() if r["id"] == "nemo-24.07-nemotron-340b-128gpu-fp8")
    assert run["grad_reduce"] == "bf16" and run["optimizer_state"] == "bf16-no-master"
    assert check_run(run, where).fits
    assert not check_run(dict(run, grad_reduce="fp32", optimizer_state="fp32"), where).fits


def test_an_unknown_dtype_is_refused_with_the_choices():
    with pytest.raises(BadInput, match="grad_reduce must be one of fp32, bf16, fp16"):
        api.train(grad_reduce="fp8", **JOB)


def test_an_fp16_job_reduces_fp16_gradients_unless_it_says_otherwise():
    """Megatron-LM forces fp32 gradient accumulation and reduction for --bf16 only; DeepSpeed and FairScale reduce in
    the fp16 model dtype by default. So an fp16 job keeps 2-byte gradients and halves the bf16 job's reduction, and
    --grad-reduce fp32 still gives the 4-byte case, priced like bf16 with fp32 gradients."""
    exposed = dict(JOB, zero=0)
    framework = dataclasses.replace(load_framework("megatron"), dp_overlap=False)
    fp16 = api.train(framework=framework, precision="fp16", **exposed)
    bf16 = api.train(framework=framework, precision="bf16", **exposed)
    fp16_fp32 = api.train(framework=framework, precision="fp16", grad_reduce="fp32", **exposed)
    assert bf16.memory["gradients_bytes"] == pytest.approx(2 * fp16.memory["gradients_bytes"])
    assert fp16.breakdown["dp_comm_s"] < 0.6 * bf16.breakdown["dp_comm_s"]
    assert fp16_fp32.breakdown["dp_comm_s"] == pytest.approx(bf16.breakdown["dp_comm_s"])
    assert api.plan(model="llama2-7b", chip="a100-sxm-80gb", devices=8, seq_len=2048, global_batch=64,
                    precision="fp16", top=1).plans[0].job.grad_bytes == 2
