"""The MoE routing term (issue 15 item 2): router, permutation and host sync, priced from kernel measurements."""

import dataclasses

import pytest

from xpuplan import api
from xpuplan.catalog import load_chip, load_framework, load_model
from xpuplan.errors import BadInput

MOE = dict(model="qwen3-30b-a3b", chip="h100-sxm", devices=16, tp=1, pp=1, ep=16, seq_len=4096, global_batch=1024,
           micro_batch=1, recompute="none")


def _run(permute: str, **kw):
    framework = dataclasses.replace(load_framework("megatron"), moe_permute=permute)
    return api.train(framework=framework, **(MOE | kw))


def test_routing_is_named_in_the_breakdown_and_sums_into_the_step():
    r = _run("fused")
    assert r.breakdown["moe_route_s"] > 0
    assert sum(r.breakdown.values()) == pytest.approx(r.step_time_s, rel=1e-9)


def test_dense_models_pay_no_routing():
    r = api.train(model="llama3-8b", chip="h100-sxm", devices=8, seq_len=4096, global_batch=64)
    assert r.breakdown["moe_route_s"] == 0


def test_eager_scatter_add_costs_more_than_fused_kernels_which_cost_more_than_none():
    eager, fused, inside = (_run(p).breakdown["moe_route_s"] for p in ("eager", "fused", "in_dispatch"))
    assert eager > fused > inside > 0  # the fixed part (router, sort, sync) stays in every case


def test_the_fixed_part_is_per_layer_per_micro_batch_and_direction():
    """With the permutation inside the all-to-all only the fixed part is left: layers x micro-batches x 2, each the
    chip's measured router/sort/sync plus the framework's own dispatcher overhead."""
    r = _run("in_dispatch")
    layers = load_model("qwen3-30b-a3b").layers  # every layer is MoE
    microbatches = 1024 // 16
    fixed = load_chip("h100-sxm").efficiency.moe_layer_fixed_s + load_framework("megatron").moe_layer_overhead_s
    assert r.breakdown["moe_route_s"] == pytest.approx(layers * microbatches * 2 * fixed, rel=1e-9)


def test_a_framework_dispatcher_overhead_adds_per_layer_and_direction():
    plain = dataclasses.replace(load_framework("megatron"), moe_permute="in_dispatch", moe_layer_overhead_s=0.0)
    heavy = dataclasses.replace(plain, moe_layer_overhead_s=1e-3)
    a, b = api.train(framework=plain, **MOE), api.train(framework=heavy, **MOE)
    layers, microbatches = load_model("qwen3-30b-a3b").layers, 1024 // 16
    assert b.breakdown["moe_route_s"] - a.breakdown["moe_route_s"] == pytest.approx(layers * microbatches * 2 * 1e-3)


def test_full_recompute_routes_the_forward_again():
    none, full = _run("fused"), _run("fused", recompute="full")
    assert full.breakdown["moe_route_s"] == pytest.approx(1.5 * none.breakdown["moe_route_s"], rel=1e-9)


def test_an_unknown_permute_mode_names_the_known_ones():
    with pytest.raises(BadInput, match="moe_permute must be one of eager, fused, in_dispatch"):
        dataclasses.replace(load_framework("megatron"), moe_permute="magic")


def test_a_slower_host_stretches_the_routing_host_work_unless_it_replays_from_a_cuda_graph():
    """The router/sort/sync and the dispatcher's host work are host-bound figures measured on x86 servers: on a Grace
    host (time_scale 2.75 in gb200.yaml) they take 2.75x as long when every op is dispatched from the host, and the
    x86 figure when the recipe captures the router and preprocessing in CUDA graphs (Megatron cuda_graph_modules)."""
    chip = load_chip("gb200")
    assert chip.host_time_factor == pytest.approx(2.75)
    gb = MOE | {"chip": "gb200"}
    eager = _run("in_dispatch", **gb).breakdown["moe_route_s"]
    graphed = _run("in_dispatch", cuda_graphs="moe_router,moe_preprocess", **gb).breakdown["moe_route_s"]
    layers, microbatches = load_model("qwen3-30b-a3b").layers, 1024 // 16
    fixed = chip.efficiency.moe_layer_fixed_s + load_framework("megatron").moe_layer_overhead_s
    assert graphed == pytest.approx(layers * microbatches * 2 * fixed, rel=1e-9)
    assert eager == pytest.approx(2.75 * graphed, rel=1e-9)


def test_graphs_change_nothing_on_an_x86_host_and_graphs_outside_the_moe_leave_its_routing_eager():
    h100 = _run("fused").breakdown["moe_route_s"]
    assert _run("fused", cuda_graphs="attn,moe_router,moe_preprocess").breakdown["moe_route_s"] == h100
    gb = MOE | {"chip": "gb200"}
    assert _run("fused", cuda_graphs="attn", **gb).breakdown["moe_route_s"] == _run("fused", **gb).breakdown["moe_route_s"]


def test_an_unknown_cuda_graph_scope_names_the_known_ones():
    with pytest.raises(BadInput, match="moe_router"):
        _run("fused", cuda_graphs="moe_routr")
