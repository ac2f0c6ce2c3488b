"""The step-time and memory model: breakdowns, invariants (hypothesis) and bounds."""

import dataclasses

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xpuplan import api
from xpuplan.catalog import load_chip, load_framework, load_model
from xpuplan.cost.comm import expert_dispatch_s
from xpuplan.cost.flops import model_flops_per_token
from xpuplan.cost.step import BREAKDOWN_KEYS, step_costs
from xpuplan.plan import PlanGrid

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
MODELS = ["llama3-8b", "llama3-70b", "gpt3-175b", "mixtral-8x7b", "deepseek-v3", "qwen3-30b-a3b", "telechat3-36b"]
CHIPS = ["a100-sxm-80gb", "h100-sxm", "h800", "ascend-910b", "mi300x", "tpu-v5p", "gb200"]


def _train(**kw):
    kw.setdefault("seq_len", 4096)
    kw.setdefault("global_batch", 512)
    return api.train(**kw)


def test_breakdown_sums_to_step_time():
    r = _train(model="llama3-70b", chip="h100-sxm", devices=512, tp=8, pp=4, vpp=5, tokens="1T")
    assert set(r.breakdown) == set(BREAKDOWN_KEYS)
    assert sum(r.breakdown.values()) == pytest.approx(r.step_time_s)
    assert r.tokens_per_s == pytest.approx(512 * 4096 / r.step_time_s)
    assert r.total_time_s == pytest.approx(1e12 / r.tokens_per_s)
    assert r.device_hours == pytest.approx(r.total_time_s * 512 / 3600)
    assert sum(r.memory.values()) == pytest.approx(r.memory_per_device_bytes)


def test_full_recompute_costs_time_and_saves_memory():
    kw = dict(model="llama3-70b", chip="h100-sxm", devices=256, tp=8, pp=4)
    none, full = _train(recompute="none", **kw), _train(recompute="full", **kw)
    assert full.step_time_s > none.step_time_s
    assert full.memory["activations_bytes"] < none.memory["activations_bytes"] / 5
    assert full.hfu > full.mfu and none.hfu == pytest.approx(none.mfu)


def test_fp8_is_faster_where_the_chip_has_it_and_neutral_where_not():
    kw = dict(model="llama3-70b", devices=256, tp=8, pp=4)
    assert _train(chip="h100-sxm", precision="fp8", **kw).step_time_s < _train(chip="h100-sxm", **kw).step_time_s
    a100 = _train(chip="a100-sxm-80gb", **kw)
    assert _train(chip="a100-sxm-80gb", precision="fp8", **kw).step_time_s == pytest.approx(a100.step_time_s)


def test_zero_stages_shard_more_state():
    kw = dict(model="llama3-8b", chip="h100-sxm", devices=64)
    mem = [_train(zero=z, **kw).memory for z in (0, 1, 2, 3)]
    assert mem[0]["optimizer_bytes"] > mem[1]["optimizer_bytes"] == pytest.approx(mem[0]["optimizer_bytes"] / 64)
    assert mem[2]["gradients_bytes"] < mem[1]["gradients_bytes"]
    assert mem[3]["weights_bytes"] < mem[2]["weights_bytes"]


def test_llama3_405b_weights_per_device_match_arithmetic():
    r = _train(model="llama3-405b", chip="h100-sxm", devices=16384, tp=8, pp=16, seq_len=8192, global_batch=2048)
    # 126 layers on 16 stages with the embedding and the loss counted as layers: 7 | 14 x 8 | 7. The fullest rank is a
    # middle one (8 layers, each ~3.2e9/8 parameters a device, 2 bytes each, no embedding); the first holds 7 and the
    # embedding, 2% less
    layer_params = 405.85e9 * 0.985 / 126
    assert r.memory["weights_bytes"] == pytest.approx(2 * 8 * layer_params / 8, rel=0.02)
    assert 2 * (7 * layer_params + 128256 * 16384) / 8 < r.memory["weights_bytes"]


@SETTINGS
@given(model=st.sampled_from(MODELS), chip=st.sampled_from(CHIPS), tp=st.sampled_from([1, 2, 4, 8]),
       pp=st.sampled_from([1, 2, 4]), zero=st.integers(0, 3), recompute=st.sampled_from(["none", "selective", "full"]),
       mb=st.sampled_from([1, 2]), precision=st.sampled_from(["bf16", "fp8"]))
def test_mfu_bounded_and_step_above_roofline(model, chip, tp, pp, zero, recompute, mb, precision):
    m = load_model(model)
    if m.heads % tp or (m.kv_heads % tp and tp % m.kv_heads):
        return
    devices = tp * pp * 8
    r = _train(model=model, chip=chip, devices=devices, tp=tp, pp=pp, zero=zero, recompute=recompute,
               micro_batch=mb, precision=precision)
    c = load_chip(chip)
    assert 0 < r.mfu <= 1
    fastest_peak = max(v for v in c.peak_flops_per_s.values() if v)
    roofline_s = model_flops_per_token(m, 4096) * 512 * 4096 / (devices * fastest_peak)
    assert r.step_time_s >= roofline_s


@SETTINGS
@given(model=st.sampled_from(MODELS), chip=st.sampled_from(CHIPS), base=st.sampled_from([(1, 1), (2, 1), (1, 2), (2, 2), (4, 2)]),
       axis=st.sampled_from(["tp", "pp"]), zero=st.integers(0, 3), recompute=st.sampled_from(["none", "selective", "full"]),
       vpp=st.sampled_from([1, 2]))
def test_memory_never_grows_with_tp_or_pp(model, chip, base, axis, zero, recompute, vpp):
    """Rest fixed (dp, batch, micro-batch, zero, recompute): a larger tp or pp never needs more memory per device."""
    m = load_model(model)
    tp, pp = base
    bigger = (tp * 2, pp) if axis == "tp" else (tp, pp * 2)
    for t, p in ((tp, pp), bigger):
        if m.heads % t or (m.kv_heads % t and t % m.kv_heads) or m.layers % (p * vpp):
            return
    memory = [_train(model=model, chip=chip, devices=t * p * 4, tp=t, pp=p, dp=4, vpp=vpp if p > 1 else 1,
                     zero=zero, recompute=recompute, global_batch=4 * 16).memory_per_device_bytes
              for t, p in ((tp, pp), bigger)]
    assert memory[1] <= memory[0] * (1 + 1e-9)


@SETTINGS
@given(model=st.sampled_from(MODELS), chip=st.sampled_from(CHIPS), tp=st.sampled_from([1, 4, 8]),
       pp=st.sampled_from([1, 2, 4]), dp=st.sampled_from([16, 32]), m=st.sampled_from([1, 4, 16]),
       zero=st.integers(0, 3))
def test_more_devices_at_fixed_plan_shape_never_lower_throughput(model, chip, tp, pp, dp, m, zero):
    """Doubling the replicas of a plan that fits (same tp, pp, micro-batch, micro-batches per replica).

    The data-parallel group starts at 16 replicas, so both sizes sit on the same network tier: moving a
    group from NVLink onto NICs can lower throughput, and should.
    """
    mdl = load_model(model)
    if mdl.heads % tp or (mdl.kv_heads % tp and tp % mdl.kv_heads):
        return
    rates = []
    for d in (dp, 2 * dp):
        r = _train(model=model, chip=chip, devices=tp * pp * d, tp=tp, pp=pp, zero=zero, global_batch=d * m)
        rates.append(r.tokens_per_s)
    assert rates[1] >= rates[0]


def test_folding_tp_into_the_expert_groups():
    """etp=1 (MoE parallel folding) keeps every expert whole: its weights are not split by tp, a MoE layer's experts
    need no TP gathers (only its attention does), and the expert all-to-all runs between neighbouring ranks."""
    kw = dict(model="qwen3-30b-a3b", chip="h100-sxm", devices=64, tp=8, pp=1, ep=8, zero=0, recompute="none")
    split = _train(**kw)                    # experts split 8 ways; ep carved from dp*cp (8 ranks, 8 apart: 8 nodes)
    folded = _train(etp=1, **kw)            # experts whole; ep from tp*dp*cp (the 8 ranks of one node)
    assert (split.plan.expert_tp, folded.plan.expert_tp) == (8, 1)
    # every layer of Qwen3-30B-A3B is MoE: half of the TP gathers go (attention keeps its own)
    assert folded.breakdown["tp_comm_s"] == pytest.approx(split.breakdown["tp_comm_s"] / 2, rel=1e-6)
    # the same number of tokens crosses the all-to-all, over NVLink instead of the NICs
    assert folded.breakdown["ep_comm_s"] < split.breakdown["ep_comm_s"] / 3
    # expert weights are 8x larger per device; the rest (attention, embeddings) is unchanged
    assert folded.memory["weights_bytes"] > 4 * split.memory["weights_bytes"]
    # the expert FLOPs per device are the same; only the GEMM shapes change
    assert folded.breakdown["compute_s"] == pytest.approx(split.breakdown["compute_s"], rel=0.15)


def test_search_offers_folded_expert_layouts_for_moe_only():
    from xpuplan.search import SearchSpace, search
    from xpuplan.specs import TrainJob
    job = TrainJob(seq_len=4096, global_batch=512, memory_margin=0.05)
    moe = search(load_model("qwen3-30b-a3b"), load_chip("h100-sxm"), job, 64, SearchSpace(zero=(1,), recompute=(0,)))
    folded = moe.grid.etp != moe.grid.tp
    assert folded.any() and (moe.grid.etp[folded] == 1).all() and (moe.grid.tp[folded] > 1).all()
    dense = search(load_model("llama3-8b"), load_chip("h100-sxm"), job, 64, SearchSpace(zero=(1,), recompute=(0,)))
    assert (dense.grid.etp == dense.grid.tp).all()


from xpuplan.cost.imbalance import hottest_rank_factor  # noqa: E402


def _deepseek_step(**job):
    """DeepSeek-V3 on 2,048 H800 as DeepSeek trained it: PP16, EP64 over 8 nodes, no TP."""
    model, chip = load_model("deepseek-v3"), load_chip("h800")
    j = api.make_job(seq_len=4096, global_batch=15360, **job)
    plan = api.resolve_plan(model, j, 2048, tp=1, pp=16, ep=64, recompute="selective", precision="fp8")
    return model, chip, j, plan, step_costs(model, chip, j, PlanGrid.from_plans([plan]), 2048)


def test_a_full_middle_stage_of_moe_layers_sets_the_pace():
    """61 layers on 16 stages: 4 per stage, the first holds the 3 dense layers and the last one layer, so a middle
    stage with 4 MoE layers carries the most all-to-all; the exposed EP time is that stage's, paced by the most
    loaded of the 64 ranks (each sends 4,096 tokens x top-8 copies)."""
    model, chip, _, plan, costs = _deepseek_step()
    hottest = float(hottest_rank_factor("loss_free", 256, 64, 64 * 4096 * 8))
    assert 1.0 < hottest < 1.05
    per_layer = 2 * 2 * float(expert_dispatch_s(4096 * model.hidden * 2.0, model.moe, 64, 1, chip, False)) * hottest
    microbatches = 15360 // plan.dp
    assert float(costs.breakdown["ep_comm_s"][0]) == pytest.approx(4 * microbatches * per_layer)


def test_overlapped_all_to_all_hides_at_most_the_compute_and_dedup_cuts_it():
    plain = float(_deepseek_step()[4].breakdown["ep_comm_s"][0])
    dedup = float(_deepseek_step(ep_dedup=True)[4].breakdown["ep_comm_s"][0])
    hidden = _deepseek_step(ep_dedup=True, ep_overlap=1.0)[4]
    assert dedup < plain
    # with compute to spare, all of the all-to-all hides; what is left is the compute slowed by the SMs the dispatch
    # holds (20 of 132): C / (1 - s) - C, a named cost, not zero
    left = float(hidden.breakdown["ep_comm_s"][0])
    share = load_framework("megatron").overlap_compute_share
    assert 0 < left < dedup
    assert left < float(hidden.breakdown["compute_s"][0]) * share / (1 - share) * (1 + 1e-9)
    slow = dataclasses.replace(load_chip("h800"), scale_out_bytes_per_s=1e8)  # 0.8 Gb/s: the all-to-all dwarfs compute
    model, _, job, plan, _ = _deepseek_step(ep_dedup=True, ep_overlap=1.0)
    exposed = step_costs(model, slow, job, PlanGrid.from_plans([plan]), 2048).breakdown
    no_overlap = step_costs(model, slow, dataclasses.replace(job, ep_overlap=0.0), PlanGrid.from_plans([plan]), 2048).breakdown
    assert 0 < exposed["ep_comm_s"][0] < no_overlap["ep_comm_s"][0]
    assert no_overlap["ep_comm_s"][0] - exposed["ep_comm_s"][0] <= no_overlap["compute_s"][0] * (1 + 1e-9)


def test_activation_offload_trades_device_memory_for_host_link_time():
    """Issue 15 item 7: Megatron's --cpu-offloading-num-layers keeps some layers' activations in host memory; over a
    slow link their copies outlast the compute that should hide them, over NVLink-C2C (GB200) they do not."""
    from xpuplan import api

    kw = dict(model="llama3-70b", devices=64, tp=8, pp=4, seq_len=8192, global_batch=64)
    base = api.train(chip="gb200", **kw)
    off = api.train(chip="gb200", offload_layers=10, **kw)
    assert off.memory["activations_bytes"] < base.memory["activations_bytes"]
    assert off.step_time_s >= base.step_time_s and off.breakdown["offload_s"] == 0.0
    slow = dataclasses.replace(load_chip("gb200"), host_link_bytes_per_s=1e8)  # 0.1 GB/s: cannot hide
    assert api.train(chip=slow, offload_layers=10, **kw).breakdown["offload_s"] > 0
    assert load_chip("gb200").host_link_bytes_per_s == 450e9
