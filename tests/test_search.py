"""Plan search: the vectorised search agrees with pricing plans one by one, and says why when nothing fits."""

import itertools

import numpy as np
import pytest

from xpuplan import api
from xpuplan.catalog import load_chip, load_framework, load_model
from xpuplan.errors import BadInput, DoesNotFit
from xpuplan.plan import ParallelPlan, resolve_plan
from xpuplan.search import SearchSpace, candidate_grid, search
from xpuplan.specs import TrainJob


def test_search_best_equals_brute_force_over_scalar_estimates():
    model, chip = load_model("llama3-8b"), load_chip("h100-sxm")
    job = TrainJob(seq_len=4096, global_batch=64, memory_margin=0.05)
    space = SearchSpace(micro_batches=(1, 2), vpp=(1, 2), zero=(1, 3), recompute=(0, 2), max_cp=2)
    found = search(model, chip, job, 16, space)
    best = []
    for tp, pp, cp, vpp, mb, zero, rc in itertools.product((1, 2, 4, 8), (1, 2, 4, 8, 16), (1, 2), (1, 2), (1, 2),
                                                           (1, 3), ("none", "full")):
        if 16 % (tp * pp * cp) or (vpp > 1 and pp == 1):
            continue
        try:
            plan = resolve_plan(model, job, 16, tp=tp, pp=pp, cp=cp, vpp=vpp, micro_batch=mb, zero=zero, recompute=rc)
        except BadInput:
            continue
        r = api.estimate(model, chip, job, 16, plan)
        if r.fits:
            best.append(r.step_time_s)
    assert found.step_time_s[0] == pytest.approx(min(best), rel=1e-9)
    assert np.all(np.diff(found.step_time_s) >= 0)


def test_every_returned_plan_is_valid_and_fits():
    model, chip = load_model("mixtral-8x7b"), load_chip("h800")
    job = TrainJob(seq_len=4096, global_batch=512, memory_margin=0.05)
    found = search(model, chip, job, 64)
    for i in range(0, len(found.grid), max(1, len(found.grid) // 50)):
        plan = found.grid.plan(i)
        resolve_plan(model, job, 64, **plan.to_dict())  # raises if invalid
        assert plan.tp <= chip.scale_up_domain and plan.expert_tp * plan.ep <= chip.scale_up_domain
        assert found.memory_bytes[i] <= chip.hbm_bytes * 0.95


def test_framework_limits_restrict_the_search():
    model, chip = load_model("gpt3-175b"), load_chip("a100-sxm-80gb")
    job = TrainJob(seq_len=2048, global_batch=512, framework=load_framework("megatron-2021"))
    grid, _, _ = candidate_grid(model, job, 512, chip, SearchSpace())
    assert set(np.unique(grid.cp)) == {1} and set(np.unique(grid.zero)) == {0}


def test_published_plan_can_be_ranked():
    model, chip = load_model("llama3-70b"), load_chip("h100-sxm")
    job = TrainJob(seq_len=8192, global_batch=256)
    published = ParallelPlan(tp=8, pp=4, dp=8, vpp=5, micro_batch=1, zero=1, recompute="selective")
    found = search(model, chip, job, 256, SearchSpace(include=published))
    r = api.estimate(model, chip, job, 256, published)
    assert 1 <= found.rank_of(r.step_time_s) <= len(found.grid)
    assert found.step_time_s[0] <= r.step_time_s


def test_nothing_fits_names_the_memory_needed():
    with pytest.raises(DoesNotFit, match=r"does not fit: needs [\d.]+ GiB per device at the smallest plan, h100-sxm has"):
        search(load_model("llama3-405b"), load_chip("h100-sxm"), TrainJob(seq_len=8192, global_batch=8), 8)


def test_no_valid_plan_names_the_rule():
    # 97 devices (prime): only tp=1, pp=1, dp=97, and 64 sequences do not split 97 ways
    with pytest.raises(DoesNotFit, match="no valid plan for gpt3-175b on 97 devices: global batch must be divisible"):
        search(load_model("gpt3-175b"), load_chip("h100-sxm"), TrainJob(seq_len=2048, global_batch=64), 97)


def test_cost_objective_needs_a_price():
    with pytest.raises(BadInput, match="usd-per-device-hour"):
        api.plan(model="llama3-8b", chip="ascend-910b", devices=64, objective="cost")
    r = api.plan(model="llama3-8b", chip="ascend-910b", devices=64, objective="cost", usd_per_device_hour=1.5)
    assert r.plans


def test_cost_at_one_device_count_ranks_as_time_and_says_so():
    """Price x devices is fixed at one count, so the cheapest plan per token is the fastest; the table says so and
    how to trade devices for time, rather than presenting a ranking that cannot differ."""
    from xpuplan import report

    args = dict(model="llama3-8b", chip="h100-sxm", devices=8, top=4)
    by_cost, by_time = api.plan(objective="cost", **args), api.plan(objective="time", **args)
    assert [p.plan for p in by_cost.plans] == [p.plan for p in by_time.plans]
    title = str(report.tables("plan", by_cost, {})[0][0].title)
    assert "at one device count, the fastest" in title and "--devices 64,128,256" in title


@pytest.mark.parametrize("text,expected", [("64", [64]), ("1024..8192", [1024, 2048, 4096, 8192]),
                                           ("1000..3000", [1000, 1024, 2048, 3000])])
def test_parse_devices(text, expected):
    assert api.parse_devices(text) == expected


@pytest.mark.parametrize("text", ["0", "abc", "9..3", "-4..8"])
def test_parse_devices_rejects(text):
    with pytest.raises(BadInput, match="--devices"):
        api.parse_devices(text)


def test_deadline_objective_picks_the_fewest_devices():
    best = api.plan_range(model="llama3-8b", chip="h100-sxm", counts=[8, 16, 32, 64], objective="devices",
                          deadline="60d", tokens="1T", seq_len=4096, global_batch=512)
    first = best[0]
    assert first.total_time_s <= 60 * 86400
    slower = [r for r in best if r.devices < first.devices]
    assert all(r.total_time_s > 60 * 86400 for r in slower)


def test_micro_batches_are_every_divisor_of_the_batch_up_to_the_limit():
    """A replica's batch of 18 sequences can run as micro-batches of 1, 2, 3, 6, 9 or 18: no power-of-two grid."""
    model, chip = load_model("llama3-8b"), load_chip("h100-sxm")
    job = TrainJob(seq_len=2048, global_batch=144)  # 8 replicas x 18 sequences at dp 8
    grid, _, _ = candidate_grid(model, job, 8, chip, SearchSpace())
    at_dp8 = grid.micro_batch[grid.dp == 8]
    assert set(at_dp8.tolist()) == {1, 2, 3, 6, 9}  # 18 is above the default limit of 16
    grid, _, _ = candidate_grid(model, job, 8, chip, SearchSpace(max_micro_batch=18))
    assert 18 in set(grid.micro_batch[grid.dp == 8].tolist())
    assert np.all(job.global_batch % (grid.dp * grid.micro_batch) == 0)


def test_plan_tries_the_moe_options_the_framework_implements_unless_pinned():
    """Issue 15: plan searches dispatch and overlap options, not just degrees (Megatron-Core implements a
    DeepEP-style dispatcher and an overlapped all-to-all, off by default)."""
    kw = dict(model="deepseek-v3", chip="h800", devices=1024, seq_len=4096, global_batch=4096, precision="fp8", top=3)
    searched = api.plan(**kw).plans[0]
    pinned = api.plan(ep_dedup=False, ep_overlap=0.0, **kw).plans[0]
    assert searched.job.ep_overlap > 0 and pinned.job.ep_overlap == 0.0
    assert searched.step_time_s < pinned.step_time_s
    dense = api.plan(model="llama3-8b", chip="h800", devices=8, top=1).plans[0]
    assert not dense.job.ep_dedup and dense.job.ep_overlap == 0.0


def test_plan_replays_the_moe_router_from_cuda_graphs_on_a_slow_host_only():
    """On a Grace host Megatron-Core's CUDA graphs over the router and preprocessing (off by default) pay off, and
    plan tries them; on an x86 host they change nothing, so the search does not price them twice; a job that names
    its graphs is searched as it is."""
    from xpuplan.search import moe_variants
    kw = dict(model="qwen3-30b-a3b", devices=16, seq_len=4096, global_batch=1024, top=1)
    gb200 = api.plan(chip="gb200", **kw).plans[0]
    eager = api.plan(chip="gb200", cuda_graphs="attn", **kw).plans[0]
    assert gb200.job.moe_host_graphed and not eager.job.moe_host_graphed
    assert gb200.step_time_s < eager.step_time_s
    assert not api.plan(chip="h100-sxm", **kw).plans[0].job.cuda_graphs
    job, space = TrainJob(framework=load_framework("megatron")), SearchSpace(moe_options=("dedup", "overlap", "graphs"))
    model = load_model("qwen3-30b-a3b")
    assert len(moe_variants(model, job, space, 2.75)) == 2 * len(moe_variants(model, job, space, 1.0))


def test_a_framework_names_only_moe_options_plan_knows():
    import dataclasses
    with pytest.raises(BadInput, match="moe_options graph not among dedup, overlap, graphs"):
        dataclasses.replace(load_framework("megatron"), moe_options=("dedup", "graph"))


def test_a_fp16_search_returns_fp16_plans_priced_as_fp16():
    """The grid keeps only fp8 or not: a search asked for fp16 (Megatron 2021, DeepSpeed) must answer in fp16, not
    relabel its plans bf16, and price them as fp16 jobs: bf16's tensor-core rate, 2-byte gradients (so never slower)."""
    kw = dict(model="llama2-7b", chip="a100-sxm-80gb", devices=8, seq_len=2048, global_batch=64, top=3)
    fp16, bf16 = api.plan(precision="fp16", **kw), api.plan(precision="bf16", **kw)
    assert {p.plan.precision for p in fp16.plans} == {"fp16"}
    assert {p.plan.precision for p in bf16.plans} == {"bf16"}
    assert {p.job.grad_bytes for p in fp16.plans} == {2} and {p.job.grad_bytes for p in bf16.plans} == {4}
    assert fp16.plans[0].step_time_s <= bf16.plans[0].step_time_s
    assert fp16.plans[0].breakdown["compute_s"] == pytest.approx(bf16.plans[0].breakdown["compute_s"], rel=0.02)
