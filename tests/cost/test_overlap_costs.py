"""Overlap is not free and not everywhere (issue 15 items 2 and 3): pipeline transfers Megatron's interleaved
schedule hides, and the compute that overlapped data-parallel collectives slow."""

import dataclasses

import pytest

from xpuplan import api
from xpuplan.catalog import load_chip, load_framework, load_model
from xpuplan.cost.comm import p2p_s

INTERLEAVED = dict(model="llama3-70b", chip="h100-sxm", devices=64, tp=4, pp=4, vpp=5, seq_len=4096,
                   global_batch=128, micro_batch=1, zero=1, recompute="none")


def _framework(**changes):
    return dataclasses.replace(load_framework("megatron"), **changes)


def test_interleaved_schedule_exposes_only_warm_up_and_cool_down_transfers():
    hidden = api.train(framework=_framework(p2p_overlap=True), **INTERLEAVED)
    waiting = api.train(framework=_framework(p2p_overlap=False), **INTERLEAVED)
    pp, vpp, m = 4, 5, 128 // (64 // 16)
    model = load_model("llama3-70b")
    # pipeline neighbours sit tp*cp*dp = 16 ranks apart here: every transfer leaves the 8-GPU node
    transfer = float(p2p_s(1 * 4096 * model.hidden * 2.0 / 4, True, load_chip("h100-sxm")))
    assert waiting.breakdown["pp_comm_s"] == pytest.approx(2 * (vpp * m + pp - 1) * transfer, rel=1e-6)
    assert hidden.breakdown["pp_comm_s"] == pytest.approx(2 * (pp - 1) * transfer, rel=1e-6)


def test_plain_one_f_one_b_cannot_overlap_its_transfers():
    plain = dict(INTERLEAVED, vpp=1)
    a = api.train(framework=_framework(p2p_overlap=True), **plain)
    b = api.train(framework=_framework(p2p_overlap=False), **plain)
    assert b.breakdown["pp_comm_s"] > 0
    assert a.breakdown["pp_comm_s"] == pytest.approx(b.breakdown["pp_comm_s"])


def test_a_hidden_collective_still_slows_the_compute_it_hides_behind():
    job = dict(model="llama3-8b", chip="h100-sxm", devices=64, tp=1, pp=1, seq_len=4096, global_batch=512,
               micro_batch=1, zero=1, recompute="none")
    free = api.train(framework=_framework(overlap_compute_share=0.0), **job)
    taxed = api.train(framework=_framework(overlap_compute_share=0.15), **job)
    double = api.train(framework=_framework(overlap_compute_share=0.30), **job)
    assert free.breakdown["dp_comm_s"] == 0.0  # fully hidden: the old model called it free
    assert taxed.breakdown["dp_comm_s"] > 0
    assert double.breakdown["dp_comm_s"] == pytest.approx(2 * taxed.breakdown["dp_comm_s"], rel=1e-9)
