"""Multi-token prediction modules (DeepSeek-V3 report §2.2): one more decoder layer and output-head pass on the last
stage, outside the model FLOPs."""

import dataclasses

import pytest

from xpuplan import api
from xpuplan.catalog import load_model
from xpuplan.errors import BadInput

JOB = dict(chip="h800", devices=64, tp=1, ep=8, seq_len=4096, global_batch=256, micro_batch=1, precision="fp8")


def test_deepseek_v3_trains_one_mtp_module():
    assert load_model("deepseek-v3").mtp_layers == 1


def test_without_a_pipeline_the_module_adds_compute_but_not_model_flops():
    model = load_model("deepseek-v3")
    with_mtp = api.train(model=model, pp=1, **JOB)
    without = api.train(model=dataclasses.replace(model, mtp_layers=0), pp=1, **JOB)
    assert with_mtp.breakdown["compute_s"] > without.breakdown["compute_s"]
    assert with_mtp.mfu < without.mfu  # MFU counts the main model's FLOPs only


def test_in_a_pipeline_it_loads_the_last_stage_only():
    """61 layers on 16 stages: the last holds one layer, so one more (and a second head pass) does not make it the
    slowest: the step does not change."""
    model = load_model("deepseek-v3")
    kw = dict(JOB, devices=1024, pp=16)
    with_mtp = api.train(model=model, **kw)
    without = api.train(model=dataclasses.replace(model, mtp_layers=0), **kw)
    assert with_mtp.step_time_s == pytest.approx(without.step_time_s)


def test_a_negative_count_is_refused():
    with pytest.raises(BadInput, match="mtp_layers must be a whole number >= 0"):
        dataclasses.replace(load_model("deepseek-v3"), mtp_layers=-1)
