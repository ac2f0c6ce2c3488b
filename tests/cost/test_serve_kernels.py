"""The serving iteration priced from kernel measurements (issue 22): what each named piece does."""

import dataclasses

import pytest

from xpuplan.catalog import load_chip, load_engine, load_model
from xpuplan.cost import launches, serve, serve_memory
from xpuplan.cost.flops import attention_core_flops_per_token
from xpuplan.plan import resolve_serve_plan


def _plan(model, chip, devices=1, **kw):
    return resolve_serve_plan(model, chip, devices, engine=load_engine("vllm"), **kw)


def test_mla_decodes_absorbed_over_the_latent():
    """DeepSeek-V3 decode: 2 a (2 * 512 + 64) FLOPs a key against 2 a (192 + 128) expanded: 3.4x."""
    m = load_model("deepseek-v3")
    absorbed = serve.decode_attention_flops_per_token(m, 4096)
    expanded = attention_core_flops_per_token(m, 2 * 4096)
    assert absorbed / expanded == pytest.approx((2 * 512 + 64) / (192 + 128))
    dense = load_model("llama3-8b")
    assert serve.decode_attention_flops_per_token(dense, 4096) == attention_core_flops_per_token(dense, 2 * 4096)


def test_a_chip_in_a_kernel_table_prices_serving_with_the_tables_figures():
    h200, gaudi = load_chip("h200"), load_chip("gaudi3")
    assert h200.kernels is not None and h200.kernels.kernel_table == "h100-sxm"
    assert h200.kernels.gemm_half_flops < h200.efficiency.gemm_half_flops  # measured, not the end-to-end fit
    assert serve.kernel_efficiency(h200) is h200.kernels
    assert gaudi.kernels is None


def test_a_chip_no_table_describes_pays_the_measured_call_latency_not_a_fitted_half_point():
    """Without a kernel table, a GEMM call's fixed cost is the GH100 table's 6.4 us at the chip's own peak: the generic
    prior's half point (1e11 FLOPs, fitted end to end on training steps) would make each small decode GEMM on an L4
    take about 2 ms. (The A10G, this test's chip until session 22, now has its own measured table.)"""
    l4 = load_chip("l4")
    eff = serve.kernel_efficiency(l4)
    assert l4.kernels is None and eff.gemm_max == l4.efficiency.gemm_max
    assert eff.gemm_half_flops / (l4.peak("bf16") * eff.gemm_max) == pytest.approx(serve.GEMM_CALL_S)
    h100 = load_chip("h100-sxm").kernels
    assert h100.gemm_half_flops / (989e12 * h100.gemm_max) == pytest.approx(serve.GEMM_CALL_S, rel=0.01)
    m = load_model("llama2-7b")
    for chip in (l4, load_chip("a10g")):  # the A10G on its own table's curve: decode still bound by the weights
        plan = _plan(m, chip, precision="bf16", kv_precision="bf16")
        weights = float(serve.weight_kernels_s(m, chip, plan, 16.0))
        bytes_floor = (serve_memory.replica_costs(m, chip, plan).weight_bytes - m.vocab * m.hidden * 2) / (
            chip.hbm_bytes_per_s * chip.efficiency.hbm)
        assert weights < 1.2 * bytes_floor  # a batch of 16 stays bound by the weights' bytes


def test_decode_at_batch_one_is_bound_by_the_weights_bytes():
    """Llama 3 8B bf16 on one H100: the weight GEMMs take their bytes (all but the embedding) at the streaming rate."""
    m, chip = load_model("llama3-8b"), load_chip("h100-sxm")
    plan = _plan(m, chip, precision="bf16", kv_precision="bf16")
    weights = float(serve.weight_kernels_s(m, chip, plan, 1.0))
    read = serve_memory.replica_costs(m, chip, plan).weight_bytes - m.vocab * m.hidden * 2  # the embedding is a lookup
    floor = read / (chip.hbm_bytes_per_s * chip.kernels.hbm)
    assert floor <= weights <= 1.01 * floor


def test_grouped_experts_read_their_weights_at_the_grouped_rate():
    """A MoE layer's touched experts are one grouped GEMM: slower per byte than a dense GEMV (the probe's rows)."""
    chip = load_chip("h100-sxm")
    assert chip.kernels.hbm_grouped < chip.kernels.hbm
    one = float(serve._gemm_s(1.0, 7168, 4096, chip, "bf16"))
    grouped = float(serve._gemm_s(1.0, 7168, 4096, chip, "bf16", count=8.0))
    assert grouped == pytest.approx(8 * one * chip.kernels.hbm / chip.kernels.hbm_grouped, rel=0.01)


def test_prefill_runs_the_output_layer_for_the_sampled_tokens_only():
    m, chip = load_model("llama3-8b"), load_chip("h100-sxm")
    plan = _plan(m, chip, precision="bf16", kv_precision="bf16")
    every = serve.weight_kernels_s(m, chip, plan, 2048.0)
    sampled = serve.weight_kernels_s(m, chip, plan, 2048.0, 1.0)
    logits_all = serve._gemm_s(2048.0, m.hidden, m.vocab, chip, "bf16")
    assert float(every - sampled) == pytest.approx(float(logits_all - serve._gemm_s(1.0, m.hidden, m.vocab, chip, "bf16")))


def test_moe_routing_is_named_and_the_hottest_rank_paces_expert_parallel_decode():
    dense, moe, chip = load_model("llama3-8b"), load_model("qwen3-30b-a3b"), load_chip("h100-sxm")
    plan = _plan(dense, chip, precision="bf16", kv_precision="bf16")
    assert float(serve.moe_dispatch_s(dense, chip, plan, 64.0)) == 0.0
    # TensorRT-LLM runs its own MoE kernels, priced as grouped GEMMs with the routing named beside them; vLLM's fused
    # kernel was timed with its top-k, alignment and sum inside (cost/fused_moe.py), so nothing is added beside it
    mplan = resolve_serve_plan(moe, chip, 1, engine=load_engine("trt-llm"), precision="bf16", kv_precision="bf16")
    small, large = (float(serve.moe_dispatch_s(moe, chip, mplan, t)) for t in (1.0, 4096.0))
    assert small >= moe.moe_layers * launches.MOE_EXTRA_KERNELS * chip.kernels.kernel_overhead_s
    assert large > small  # the permutation's bytes grow with the tokens
    assert float(serve.moe_dispatch_s(moe, chip, _plan(moe, chip, precision="bf16", kv_precision="bf16"), 64.0)) == 0
    ep = resolve_serve_plan(moe, chip, 8, dp=8, ep=8, precision="bf16", kv_precision="bf16",
                            engine=load_engine("vllm"))
    import dataclasses
    free = dataclasses.replace(moe, moe=dataclasses.replace(moe.moe, balancing="loss_free"))
    # at a large, compute-bound batch a balance loss leaves the hottest rank more tokens than the loss-free router
    assert float(serve.weight_kernels_s(moe, chip, ep, 2048.0)) > float(serve.weight_kernels_s(free, chip, ep, 2048.0))


def test_an_eager_forward_waits_for_the_host_to_launch_every_op():
    """SGLang 0.4-0.5.3 runs prefill eagerly: a one-token prompt's iteration takes at least the host's launches of
    every op (10 a layer, 4 more where activations are quantised, 6 more in a MoE layer); its captured decode batch
    does not, and vLLM's compiled prefill (and the current SGLang's prefill graphs) pay only the launch latency."""
    chip, small = load_chip("h100-sxm"), load_model("llama3-8b")
    sglang = load_engine("sglang@0.4")
    assert load_engine("sglang").eager_launch_s < sglang.eager_launch_s
    for precision, per_layer in (("bf16", 10), ("fp8", 14)):
        plan = resolve_serve_plan(small, chip, 1, precision=precision, engine=sglang)
        assert launches.eager_kernels(small, plan) == small.layers * per_layer
        one = serve.iteration_s(small, chip, plan, 1.0, 0.0, 1.0, 1.0)
        assert one >= small.layers * per_layer * sglang.eager_launch_s + sglang.iteration_overhead_s
        decode = serve.iteration_s(small, chip, plan, 0.0, 1.0, 1.0, 1.0)
        assert decode < small.layers * per_layer * sglang.eager_launch_s  # a graph replays it
    moe = load_model("qwen3-30b-a3b")
    plan = resolve_serve_plan(moe, chip, 1, precision="bf16", engine=sglang)
    assert launches.eager_kernels(moe, plan) == moe.layers * 10 + moe.moe_layers * launches.MOE_EXTRA_KERNELS
    vllm = _plan(small, chip)
    assert serve.iteration_s(small, chip, vllm, 1.0, 0.0, 1.0, 1.0) < serve.iteration_s(
        small, chip, resolve_serve_plan(small, chip, 1, engine=sglang), 1.0, 0.0, 1.0, 1.0)


def test_an_mla_layer_launches_the_kernels_its_extra_projections_norms_and_copies_take():
    """DeepSeek-V3's MLA attention launches 9 kernels more than a GQA block (11 with fp8 activations: two more GEMM
    groups to quantise); its eager fp8 forward is within 2 kernels a layer of the 27 (dense) and 33 (MoE) counted in
    SGLang 0.4.9.post2's prefill path (docs/research/deepseek-prefill-kernels.md)."""
    chip, model = load_chip("h200"), load_model("deepseek-v3")
    gqa = dataclasses.replace(model, attention="gqa")
    for precision, extra in (("bf16", 9), ("fp8", 11)):
        plan = resolve_serve_plan(model, chip, 8, precision=precision, engine=load_engine("sglang@0.4"))
        assert launches.eager_kernels(model, plan) - launches.eager_kernels(gqa, plan) == model.layers * extra / plan.pp
    plan = resolve_serve_plan(model, chip, 8, tp=8, precision="fp8", engine=load_engine("sglang@0.4"))
    counted = (model.layers - model.moe_layers) * 27 + model.moe_layers * 33
    assert abs(launches.eager_kernels(model, plan) - counted) <= 2 * model.layers


def test_an_engine_on_a_grace_host_pays_its_host_costs_at_the_hosts_measured_speed():
    """GB200's Grace dispatches a torch op in 2.75x a DGX H100 Xeon's time (TransformerEngine issue 2053): every host
    cost of an engine (per iteration, per sequence, per request, per streamed token, per eager op) scales with it, the
    device's costs do not; an x86-hosted chip keeps the measured figures."""
    from xpuplan.specs.serving import HOST_COSTS

    vllm = load_engine("vllm@0.10")  # synchronous: every host cost adds to the iteration
    gb200, h100 = load_chip("gb200"), load_chip("h100-sxm")
    assert gb200.host_time_scale == pytest.approx(2.75) and h100.host_time_scale is None  # an x86 host
    on_grace, on_x86 = vllm.for_chip(gb200), vllm.for_chip(h100)
    for key in HOST_COSTS:
        assert getattr(on_grace, key) == pytest.approx(2.75 * getattr(vllm, key))
        assert getattr(on_x86, key) == getattr(vllm, key)
    assert on_grace.max_batched_tokens == vllm.max_batched_tokens and on_grace.graph_max_batch == vllm.graph_max_batch
    model = load_model("llama3-8b")
    grace = resolve_serve_plan(model, gb200, 1, engine=vllm)
    bare = resolve_serve_plan(model, gb200, 1, engine=dataclasses.replace(vllm, **{k: 0.0 for k in HOST_COSTS}))
    extra = serve.iteration_s(model, gb200, grace, 0.0, 64.0, 1.0, 1000.0) - serve.iteration_s(
        model, gb200, bare, 0.0, 64.0, 1.0, 1000.0)
    assert extra == pytest.approx(2.75 * (vllm.iteration_overhead_s + 64 * vllm.sequence_overhead_s))


def test_a_chip_file_names_its_host_cpu_speed_or_gets_one_line():
    from xpuplan.catalog import chip_from_dict
    from xpuplan.catalog.files import BUNDLED, read_yaml
    from xpuplan.errors import BadInput

    data = dict(read_yaml(BUNDLED / "chips" / "h100-sxm.yaml"))
    assert chip_from_dict(dict(data, host_cpu={"name": "Grace", "time_scale": 2.0})).host_time_scale == 2.0
    with pytest.raises(BadInput, match="time_scale must be a ratio in"):
        chip_from_dict(dict(data, host_cpu={"time_scale": 0}))
