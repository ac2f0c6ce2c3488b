"""Serving estimator: invariants, memory, SLO search, open-loop queueing, and bad input."""

import dataclasses
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xpuplan import api
from xpuplan.catalog import load_chip, load_model
from xpuplan.errors import BadInput, DoesNotFit
from xpuplan.catalog import load_engine
from xpuplan.cost.serve import decode_step_s
from xpuplan.cost.serve_memory import kv_bytes_per_token, max_concurrency
from xpuplan.plan import ServePlan
from xpuplan.serving import closed_loop

TRT = load_engine("trt-llm")

CASES = [("llama3-70b", "h100-sxm", 8), ("llama3-8b", "a100-sxm-80gb", 1), ("mixtral-8x7b", "h800", 4),
         ("deepseek-v3", "h200", 8), ("qwen3-30b-a3b", "ascend-910b", 2)]


@settings(max_examples=30, deadline=None)
@given(case=st.sampled_from(CASES), io=st.sampled_from([(128, 128), (1024, 1024), (4096, 512)]))
def test_more_concurrency_never_lowers_throughput_until_memory_runs_out(case, io):
    """With decode graphs for every batch the engine runs (the fix `graph_notes` names): past its graphs an eager
    decode can be slower than the last captured one, as engines' users report (TensorRT-LLM PR 7031)."""
    model, chip, tp = load_model(case[0]), load_chip(case[1]), case[2]
    precision = "fp8" if chip.peak_flops_per_s.get("fp8") else "bf16"
    plan = ServePlan(tp=tp, precision=precision, engine=dataclasses.replace(TRT, graph_max_batch=TRT.max_batch))
    cap = max_concurrency(model, chip, plan, *io)
    if cap < 2:
        return
    n = np.unique(np.geomspace(1, cap, 40).astype(int))
    _, _, out = closed_loop(model, chip, plan, io[0], io[1], n)
    assert np.all(np.diff(out) >= -1e-9 * out[:-1])


def test_decode_past_the_engines_graphs_says_so_with_the_fix():
    """TensorRT-LLM 1.x captures decode graphs to 128 sequences by default; at 256 its PyTorch model's ops launch from
    Python each iteration, which outlasts the device's work for a 70B model on 8 H100: the result says so and names
    the setting; the TensorRT engine path (launched from C++) and graphs that cover the batch do not."""
    args = dict(model="llama3-70b", chip="h100-sxm", devices=8, concurrency=256, input_len=1000, output_len=1000,
                precision="fp8")
    default = api.inference(engine="trt-llm", **args)
    [note] = [n for n in default.extra.get("notes", []) if "outgrow" in n]
    assert "128 sequences" in note and "cuda_graph_config max_batch_size" in note
    assert not any("outgrow" in n for n in api.inference(engine="trt-llm@0.21", **args).extra.get("notes", []))
    small = api.inference(**(args | {"concurrency": 128}), engine="trt-llm")
    assert not any("outgrow" in n for n in small.extra.get("notes", []))
    assert default.tpot_s > small.tpot_s


@pytest.mark.parametrize("name,chip,tp", CASES)
def test_tpot_never_falls_as_context_grows(name, chip, tp):
    model, c = load_model(name), load_chip(chip)
    plan = ServePlan(tp=tp, engine=TRT)
    steps = decode_step_s(model, c, plan, 16, np.array([128, 1024, 8192, 32768]))
    assert np.all(np.diff(steps) >= 0)


@pytest.mark.parametrize("name", ["llama3-70b", "deepseek-v3"])
def test_quantising_weights_never_raises_memory(name):
    chip = load_chip("b200")
    mem = [api.inference(model=name, chip="b200", devices=8, precision=p, concurrency=8).memory["weights_bytes"]
           for p in ("bf16", "fp8", "fp4")]
    assert mem[0] > mem[1] > mem[2]
    assert chip.name == "b200"


def test_mla_caches_its_latent():
    # DeepSeek-V3 caches 512 + 64 values per layer instead of 2 x 128 heads x 128
    assert kv_bytes_per_token(load_model("deepseek-v3"), "bf16") == 61 * 576 * 2


def test_moe_decode_reads_only_touched_experts():
    model, chip = load_model("mixtral-8x7b"), load_chip("h100-sxm")
    plan = ServePlan(tp=2, engine=TRT)
    one, many = decode_step_s(model, chip, plan, 1, 1024), decode_step_s(model, chip, plan, 64, 1024)
    assert one < many < 64 * one


def test_open_loop_queueing_grows_ttft_and_is_seeded():
    kw = dict(model="llama3-8b", chip="h100-sxm", devices=1, input_len=1024, output_len=256)
    low = api.inference(request_rate=1.0, **kw)
    high = api.inference(request_rate=40.0, **kw)
    assert high.extra["queueing"]["ttft_s_p90"] > low.extra["queueing"]["ttft_s_p90"]
    again = api.inference(request_rate=40.0, **kw)
    assert again.extra["queueing"] == high.extra["queueing"]


def test_slo_search_meets_the_slo():
    found = api.inference_search(model="llama3-70b", chips=["h100-sxm", "mi300x"], input_len=1024, output_len=1024,
                                 slo_ttft="2s", slo_tpot="50ms")
    for r in found:
        assert r.ttft_s <= 2 and r.tpot_s <= 0.05


def test_disaggregated_reports_its_bottleneck():
    out = api.inference(model="llama3-70b", chip="h800", prefill_devices=8, decode_devices=16,
                        decode_chip="ascend-910b", input_len=4096, output_len=512)
    assert out.bound in ("prefill", "decode") and out.ttft_s > out.kv_transfer_s > 0
    assert out.to_dict()["decode"]["chip"] == "ascend-910b"


@pytest.mark.parametrize("kw,error,match", [
    ({"output_len": 0}, BadInput, "--output-len must be"),
    ({"concurrency": 10**6}, DoesNotFit, "exceeds memory"),
    ({"precision": "fp6"}, BadInput, "--precision must be one of"),
    ({"tp": 3}, BadInput, "--devices 8 is not divisible by tp\\*pp = 3"),
    ({"devices": 3, "tp": 3}, BadInput, "heads=64 is not divisible by tp=3"),
    ({"concurrency": 4, "request_rate": 1.0}, BadInput, "not both"),
])
def test_bad_serving_input(kw, error, match):
    args = dict(model="llama3-70b", chip="h100-sxm", devices=8) | kw
    with pytest.raises(error, match=match):
        api.inference(**args)


def test_inference_cli_json_contract(run_cli):
    code, out, err = run_cli("inference", "--model", "llama3-70b", "--chip", "h100-sxm", "--devices", "8", "--tp", "8",
                             "--precision", "fp8", "--input-len", "1024", "--output-len", "1024", "--concurrency", "64",
                             "--json")
    assert code == 0, err
    d = json.loads(out)
    assert {"ttft_s", "tpot_s", "output_tokens_per_s", "output_tokens_per_s_per_device", "input_tokens_per_s",
            "max_concurrency", "memory_per_device_bytes", "fits", "usd_per_million_output_tokens", "plan"} <= set(d)
    assert d["plan"]["tp"] == 8 and d["concurrency"] == 64


def test_inference_cli_errors_are_one_line(run_cli):
    code, _, err = run_cli("inference", "--model", "llama3-70b", "--chip", "h100-sxm", "--devices", "8",
                           "--output-len", "0")
    assert code == 2 and len(err.strip().splitlines()) == 1
    code, _, err = run_cli("inference", "--model", "llama3-70b", "--chip", "h100-sxm", "--devices", "8",
                           "--concurrency", "999999")
    assert code == 3 and "exceeds memory" in err


def test_sliding_window_layers_cache_at_most_their_window():
    """A 32k-token gpt-oss sequence caches 32k tokens in its 18 full layers and 128 in its 18 windowed ones."""
    import dataclasses

    from xpuplan.cost.serve_memory import kv_tokens

    oss = load_model("gpt-oss-120b")
    assert kv_tokens(oss, 32768) == pytest.approx((18 * 32768 + 18 * 128) / 36)
    assert kv_tokens(oss, 100) == pytest.approx(100)
    chip = load_chip("h100-sxm")
    plan = ServePlan(tp=1, precision="int4", engine=TRT)
    full = dataclasses.replace(oss, sliding_window=None, window_layers=0)
    assert max_concurrency(oss, chip, plan, 32768, 1024) > 1.8 * max_concurrency(full, chip, plan, 32768, 1024)
    assert decode_step_s(oss, chip, plan, 8, 32768) < decode_step_s(full, chip, plan, 8, 32768)


def test_engines_keep_their_documented_share_of_memory_back_from_the_kv_cache():
    """TensorRT-LLM gives the KV cache 90% of what the weights leave, vLLM fills 90% of the device (92% from 0.20,
    all of it from 0.34 with its extensible KV cache), the roofline all: fewer sequences fit, in that order, and the
    shares come from the engines' defaults."""
    import dataclasses

    from xpuplan.catalog import load_chip, load_engine, load_model
    from xpuplan.cost import serve_memory
    from xpuplan.cost.serve_memory import max_concurrency
    from xpuplan.plan import resolve_serve_plan

    model, chip = load_model("llama3-70b"), load_chip("h100-sxm")
    fit = {}
    for name in ("roofline", "trt-llm", "vllm@0.10", "vllm@0.20", "vllm"):
        engine = load_engine(name)
        plan = resolve_serve_plan(model, chip, 2, 2, 1, 1, None, "fp8", "fp8", engine)
        fit[name] = max_concurrency(model, chip, plan, 5000, 500)
    assert load_engine("trt-llm").kv_free_fraction == 0.9 and load_engine("vllm@0.10").memory_utilization == 0.9
    assert load_engine("vllm@0.20").memory_utilization == 0.92 and load_engine("vllm").memory_utilization == 1.0
    assert fit["vllm@0.10"] < fit["vllm@0.20"] < fit["trt-llm"] < fit["roofline"]
    # vLLM 0.34 fills the whole device, as the roofline does, less what its own accounting holds back: its non-torch
    # memory over two devices and its memory profile's peak (the dummy sampler's 14 bytes an entry over 1,024 rows of
    # the 128,256-entry vocabulary outweighs one prefill chunk's activations), where the roofline holds the chip's
    # runtime reserve and the chunk
    vllm = resolve_serve_plan(model, chip, 2, 2, 1, 1, None, "fp8", "fp8", load_engine("vllm"))
    held = serve_memory.held_back_bytes(model, chip, vllm)
    assert held == vllm.engine.runtime_tp_bytes + 14 * 1024 * model.vocab > serve_memory.workspace_bytes(model, vllm)
    rc = serve_memory.replica_costs(model, chip, vllm)
    assert rc.free_bytes == pytest.approx(chip.hbm_bytes - rc.weight_bytes - held)
    assert abs(fit["vllm"] - fit["roofline"]) <= 0.03 * fit["roofline"]
    whole = dataclasses.replace(load_engine("trt-llm"), kv_free_fraction=1.0)
    plan = resolve_serve_plan(model, chip, 2, 2, 1, 1, None, "fp8", "fp8", whole)
    assert abs(fit["trt-llm"] - 0.9 * max_concurrency(model, chip, plan, 5000, 500)) <= 1  # whole sequences


@pytest.mark.parametrize("chip,precision,served,bits", [("a100-sxm-80gb", "fp8", "w8a16", 8),
                                                         ("h100-sxm", "fp4", "w4a16", 4),
                                                         ("ascend-910b", "int8", None, 8)])
def test_a_checkpoint_without_its_math_runs_weight_only(chip, precision, served, bits):
    """FP8 on Ampere and MXFP4 on Hopper run as engines run them: weights at their width, dequantised in the kernel,
    bf16 math; the result says so. Where the chip has the math, the format is kept."""
    from xpuplan.catalog import load_chip
    has_math = load_chip(chip).peak_flops_per_s.get(precision) is not None
    r = api.inference(model="llama3-8b", chip=chip, devices=1, precision=precision, concurrency=1, engine="vllm")
    bf16 = api.inference(model="llama3-8b", chip=chip, devices=1, precision="bf16", concurrency=1, engine="vllm")
    if has_math:
        assert r.plan.precision == precision
        return
    assert served is not None and r.plan.precision == served
    assert any(f"no {bits}-bit math" in n for n in r.extra["notes"])
    from xpuplan.catalog import load_model
    from xpuplan.cost.flops import param_count
    parts = param_count(load_model("llama3-8b"))
    kept = 2.0 * (parts["embedding"] + parts["output"])  # the checkpoint keeps its embedding and head in bf16
    scales = {4: 1 / 16, 8: 0.0}[bits]  # an FP4 checkpoint's NVFP4 block scales, one byte per 16 weights
    narrow = (bf16.memory["weights_bytes"] - kept) * (bits / 8 + scales) / 2
    assert r.memory["weights_bytes"] == pytest.approx(kept + narrow)
    assert r.tpot_s < bf16.tpot_s  # fewer weight bytes read per decode step


def test_tensor_parallelism_across_scale_up_domains_is_flagged_and_within_one_is_not():
    """A replica whose tp spans nodes gets a note saying so (its all-reduces cross the network and the published run of
    that kind is far slower than the estimate); tp inside one domain, and a chip whose domain is unknown, get none."""
    def notes(chip, devices, tp):
        r = api.inference(model="llama3-70b", chip=chip, devices=devices, tp=tp, precision="fp8", input_len=128,
                          output_len=128, concurrency=1, engine="sglang")
        return [n for n in r.extra.get("notes", []) if "scale-up domains" in n]

    across = notes("h100-sxm", 16, 16)
    assert len(across) == 1 and "spans 2 scale-up domains of 8 h100-sxm" in across[0]
    assert notes("h100-sxm", 8, 8) == []


def test_a_plan_on_a_grace_host_says_its_host_costs_are_scaled():
    from xpuplan import api

    on_grace = api.inference(model="llama3-8b", chip="gb200", devices=1, engine="vllm")
    assert any("host CPU runs the engine's host work" in n and "2.75x" in n for n in on_grace.extra["notes"])
    on_x86 = api.inference(model="llama3-8b", chip="h100-sxm", devices=1, engine="vllm")
    assert not any("host CPU" in n for n in on_x86.extra.get("notes", []))


def test_a_quantized_checkpoint_serves_the_parts_it_excludes_in_bf16():
    """gpt-oss's MXFP4 checkpoint quantizes its experts only (config.json modules_to_not_convert: attention, router,
    embedding, head): at int4 those parts stay two bytes a weight in memory, and the attention projections are read
    in bf16 by every decode step; every other quantized model keeps its embedding and head in bf16. At bf16 nothing
    changes."""
    from xpuplan.cost.flops import param_count, total_params
    from xpuplan.cost.serve import weight_kernels_s
    from xpuplan.cost.weights import replica_weight_bytes
    from xpuplan.serving.inputs import resolve_serve_plan
    model, chip = load_model("gpt-oss-120b"), load_chip("h100-sxm")
    assert model.unquantized == ("embedding", "head", "attention", "router")
    plan = resolve_serve_plan(model, chip, 1, 1, 1, 1, 1, "int4", "bf16", load_engine("vllm"))
    parts = param_count(model)
    kept = sum(parts[p] for p in ("embedding", "output", "attention", "router"))
    # the experts: half a byte a weight and MXFP4's E8M0 scale, one byte per 32 weights
    experts = total_params(model) - kept
    assert replica_weight_bytes(model, plan) == pytest.approx(2.0 * kept + (0.5 + 1 / 32) * experts)
    whole = dataclasses.replace(model, unquantized=("embedding", "head"))  # as if the attention were quantized too
    assert replica_weight_bytes(whole, plan) < replica_weight_bytes(model, plan)
    assert weight_kernels_s(whole, chip, plan, 1.0) < weight_kernels_s(model, chip, plan, 1.0)
    bf16 = resolve_serve_plan(model, chip, 1, 1, 1, 1, 1, "bf16", "bf16", load_engine("vllm"))
    assert replica_weight_bytes(model, bf16) == pytest.approx(2.0 * total_params(model))


def test_a_4_bit_weight_carries_its_formats_block_scales():
    """A 4-bit weight is half a byte and its share of a block scale, read by every kernel and held by the device:
    NVFP4 (the fp4 default) one E4M3 byte per 16 weights, MXFP4 (gpt-oss's checkpoint) one E8M0 byte per 32,
    AWQ/GPTQ group 128 (the int4 default) an fp16 scale and a 4-bit zero per 128; an FP4 checkpoint run weight-only
    on a chip without FP4 math (w4a16) keeps its NVFP4 scales; 8- and 16-bit formats add none."""
    from xpuplan.cost.serve import weight_kernels_s
    from xpuplan.cost.weights import replica_weight_bytes, weight_bytes
    from xpuplan.serving.inputs import resolve_serve_plan
    llama, oss = load_model("llama3-8b"), load_model("gpt-oss-120b")
    assert oss.quant_format == "mxfp4" and llama.quant_format is None
    assert weight_bytes(llama, "fp4") == 0.5 + 1 / 16 and weight_bytes(oss, "fp4") == 0.5 + 1 / 32
    assert weight_bytes(llama, "int4") == 0.5 + 2.5 / 128 and weight_bytes(llama, "w4a16") == 0.5 + 1 / 16
    assert weight_bytes(oss, "int4") == 0.5 + 1 / 32
    assert [weight_bytes(llama, f) for f in ("fp8", "int8", "bf16", "w8a16")] == [1.0, 1.0, 2.0, 1.0]
    chip = load_chip("h100-sxm")
    plan = resolve_serve_plan(llama, chip, 1, 1, 1, 1, 1, "int4", "bf16", load_engine("vllm"))
    g32 = dataclasses.replace(llama, quant_format="int4-g32")  # smaller groups: more scales to hold and read
    assert replica_weight_bytes(g32, plan) > replica_weight_bytes(llama, plan)
    assert weight_kernels_s(g32, chip, plan, 1.0) > weight_kernels_s(llama, chip, plan, 1.0)


def test_an_unknown_quant_format_is_one_line_naming_the_formats():
    from xpuplan.catalog import model_from_dict
    data = {"name": "m", "layers": 2, "hidden": 64, "heads": 4, "ffn_hidden": 128, "vocab": 1000,
            "quant_format": "mxfp6"}
    with pytest.raises(BadInput, match="quant_format must be one of nvfp4, mxfp4, int4-g128, int4-g64, int4-g32, "
                                       "got 'mxfp6'") as err:
        model_from_dict(data)
    assert err.value.field == "quant_format" and "\n" not in str(err.value)


def test_an_unknown_unquantized_part_is_one_line_naming_the_parts():
    from xpuplan.catalog import model_from_dict
    data = {"name": "m", "layers": 2, "hidden": 64, "heads": 4, "ffn_hidden": 128, "vocab": 1000,
            "unquantized": ["embeddings"]}
    with pytest.raises(BadInput, match="unquantized names 'embeddings'; the parts are embedding, head, attention, "
                                       "router") as err:
        model_from_dict(data)
    assert err.value.field == "unquantized" and "\n" not in str(err.value)


def test_a_moe_estimate_says_its_kv_cache_is_larger_than_the_engine_allocates():
    """vLLM's startup logs hold 1.6-7x less KV cache for MoE models than the memory model gives
    (data/validation/checks/vllm-kv-cache.yaml): a MoE result says so; a dense one does not."""
    def notes(model):
        r = api.inference(model=model, chip="h100-sxm", devices=8, precision="fp8", concurrency=4, engine="vllm")
        return [n for n in r.extra.get("notes", []) if "larger than vLLM allocates" in n]

    assert len(notes("qwen3-235b-a22b")) == 1 and notes("llama3-70b") == []


def test_vllms_memory_profile_holds_its_sampler_run_and_its_own_non_torch_memory():
    """vLLM V1 sizes its KV cache after a profile that samples min(max_num_seqs, max_num_batched_tokens) rows of the
    whole vocabulary with top-k and top-p on: 0.10-0.16 sort them (38 bytes an entry at the peak), later releases run
    FlashInfer or a Triton kernel (14). Every rank samples the gathered logits, so tensor parallelism does not split
    it, and the profile holds the larger of it and the forward's activations, not both. Two logged profiles check it
    (vLLM 0.10.2): Qwen3's vocabulary at 1,024 rows, 5.58 GiB of peak activation; at 256 rows, 1.4 GiB. Inside its
    budget vLLM counts its own non-torch memory (NCCL, all-reduce buffers), not the chip's training reserve."""
    import dataclasses

    from xpuplan.catalog import load_chip, load_engine, load_model
    from xpuplan.cost import serve_memory
    from xpuplan.errors import BadInput
    from xpuplan.plan import resolve_serve_plan
    from xpuplan.validate.serve import engine_of

    model, h100 = load_model("qwen3-32b"), load_chip("h100-sxm")
    old, new = load_engine("vllm@0.10"), load_engine("vllm")
    assert (old.sampler_bytes_per_logit, load_engine("vllm@0.14").sampler_bytes_per_logit) == (38, 38)
    assert (load_engine("vllm@0.17").sampler_bytes_per_logit, new.sampler_bytes_per_logit) == (14, 14)
    plans = {tp: resolve_serve_plan(model, h100, tp, tp, 1, 1, None, "bf16", "bf16", old) for tp in (1, 2)}
    sampler = {tp: serve_memory.sampler_profile_bytes(model, plan) for tp, plan in plans.items()}
    assert sampler[1] == sampler[2] == 38 * 1024 * model.vocab == pytest.approx(5.58 * 2**30, rel=0.02)
    eight = load_model("qwen3-8b")
    small = resolve_serve_plan(eight, load_chip("l4"), 1, 1, 1, 1, None, "fp8", "bf16", old)
    assert small.engine.max_batch == 256  # a device under 70 GiB
    assert serve_memory.sampler_profile_bytes(eight, small) == pytest.approx(1.4 * 2**30, rel=0.02)
    budget = dataclasses.replace(old, max_batched_tokens=512)  # fewer tokens than sequences: that many rows
    few = resolve_serve_plan(model, h100, 1, 1, 1, 1, None, "bf16", "bf16", budget)
    assert serve_memory.sampler_profile_bytes(model, few) == 38 * 512 * model.vocab
    for tp, plan in plans.items():
        peak = max(serve_memory.workspace_bytes(model, plan), sampler[tp])
        assert serve_memory.profile_peak_bytes(model, plan) == peak < serve_memory.workspace_bytes(model, plan) + sampler[tp]
        runtime = old.runtime_bytes if tp == 1 else old.runtime_tp_bytes
        assert serve_memory.held_back_bytes(model, h100, plan) == runtime + peak
    assert old.runtime_bytes < old.runtime_tp_bytes < h100.efficiency.reserve_bytes
    sglang = resolve_serve_plan(model, h100, 1, 1, 1, 1, None, "bf16", "bf16", load_engine("sglang"))
    assert serve_memory.held_back_bytes(model, h100, sglang) == sglang.engine.reserve_bytes  # its own rule, untouched
    run = {"id": "r", "framework": "vllm@0.10", "chip": "h100-sxm"}
    assert engine_of(dict(run, engine_settings={"sampler_bytes_per_logit": 14})).sampler_bytes_per_logit == 14
    with pytest.raises(BadInput, match="sampler_bytes_per_logit must be bytes in \\[0, 1000\\), got -1") as err:
        engine_of(dict(run, engine_settings={"sampler_bytes_per_logit": -1}))
    assert "\n" not in str(err.value)


def test_gpt_oss_mxfp4_experts_take_the_layout_vllms_backend_gives_them():
    """vLLM runs MXFP4 experts with Marlin on Ampere and on Hopper through 0.11 (each 2,880 x 2,880 expert padded to
    2,944 x 3,072), with its Triton backend on Hopper from 0.12, which kept the original scales beside the swizzled
    ones through 0.24: gpt-oss-120b on one H100 loads at 65.97 GiB under Marlin (vLLM 0.10.1, issue 23278) and 64.38
    under Triton (0.14.1, issue 33155), both within 1%. Engines without the layout hold the checkpoint as stored, and the kernel reads
    the padded matrices, so a decode step under Marlin's layout is slower."""
    import dataclasses

    from xpuplan.catalog import load_chip, load_engine, load_model
    from xpuplan.cost import serve
    from xpuplan.cost.weights import replica_weight_bytes
    from xpuplan.plan import resolve_serve_plan

    model, h100, a100 = load_model("gpt-oss-120b"), load_chip("h100-sxm"), load_chip("a100-sxm-80gb")

    def plan(engine, chip=h100):
        return resolve_serve_plan(model, chip, 1, 1, 1, 1, None, "int4", "bf16", engine)

    gib = {name: replica_weight_bytes(model, plan(load_engine(name))) / 2**30
           for name in ("vllm@0.10", "vllm@0.14", "vllm", "sglang")}
    assert gib["vllm@0.10"] == pytest.approx(65.97, rel=0.01) and gib["vllm@0.14"] == pytest.approx(64.38, rel=0.01)
    assert gib["sglang"] == gib["vllm"] < gib["vllm@0.14"] < gib["vllm@0.10"]  # 0.34 on Hopper: stored as shipped
    assert replica_weight_bytes(model, plan(load_engine("vllm"), a100)) / 2**30 == pytest.approx(gib["vllm@0.10"])
    marlin = plan(load_engine("vllm@0.10"))
    stored = plan(dataclasses.replace(load_engine("vllm@0.10"), mxfp4_layout_chips=()))
    assert marlin.engine.mxfp4_layout == (128, 256, 0) and stored.engine.mxfp4_layout == (1, 1, 0)
    assert serve.decode_step_s(model, h100, marlin, 8, 2048) > serve.decode_step_s(model, h100, stored, 8, 2048)
    # vLLM 0.10.1 from PyPI could not start it on one H100 at its default 0.9 of the device (issue 23278: "Available
    # KV cache memory: -2.14 GiB"): Marlin's padded experts and the sorting sampler's profile leave no cache
    from xpuplan import api
    with pytest.raises(api.DoesNotFit, match=r"0\.00 GiB is left of the 90% of the device vllm@0\.10 fills once the "
                                             r"weights \(65\.8 GiB\) and what it holds back \(7\.6 GiB") as err:
        api.inference(model="gpt-oss-120b", chip="h100-sxm", devices=1, engine="vllm@0.10", precision="int4")
    assert "\n" not in str(err.value)
    dense = load_model("llama3-8b")  # other formats are held as stored
    assert replica_weight_bytes(dense, resolve_serve_plan(dense, h100, 1, 1, 1, 1, None, "int4", "bf16",
                                                          load_engine("vllm@0.10"))) == replica_weight_bytes(
        dense, resolve_serve_plan(dense, h100, 1, 1, 1, 1, None, "int4", "bf16", load_engine("sglang")))


def test_attention_dp_is_the_engine_instances_plan_in_xpuplans_degrees():
    """Issue 22 item 5: SGLang's --tp-size 8 --attn-dp-size 8 (TensorRT-LLM's --tp 8 with enable_attention_dp) is
    attention on one device, eight attention replicas, experts over the eight: priced as --tp 1 --dp 8 --ep 8."""
    job = dict(model="deepseek-v3", chip="h200", devices=8, precision="fp8", input_len=1000, output_len=1000,
               concurrency=64)
    engine_style = api.inference(tp=8, attention_dp=8, **job).to_dict()
    ours = api.inference(tp=1, dp=8, ep=8, **job).to_dict()
    assert engine_style["plan"] == ours["plan"] and engine_style["plan"]["tp"] == 1
    assert engine_style["tpot_s"] == ours["tpot_s"] and engine_style["ttft_s"] == ours["ttft_s"]
    half = api.inference(tp=8, attention_dp=2, **job).to_dict()["plan"]  # two groups of 4, experts over the 8
    assert (half["tp"], half["dp"], half["ep"]) == (4, 2, 8)
    pools = api.inference(model="deepseek-v3", chip="h200", prefill_devices=8, decode_devices=16, prefill_tp=8,
                          decode_tp=8, attention_dp=8, precision="fp8", input_len=1000, output_len=1000).to_dict()
    assert [(pools[p]["plan"]["tp"], pools[p]["plan"]["dp"], pools[p]["plan"]["ep"]) for p in ("prefill", "decode")] \
        == [(1, 8, 8), (1, 16, 8)]


@pytest.mark.parametrize("kw,match", [
    (dict(model="llama3-70b", tp=8, attention_dp=8), "llama3-70b is dense, so attention DP is plain replicas: use --dp"),
    (dict(model="deepseek-v3", tp=8, attention_dp=3, precision="fp8"), "--attention-dp 3 must divide --tp 8"),
    (dict(model="deepseek-v3", tp=8, attention_dp=0, precision="fp8"), "--attention-dp must be a whole number >= 1"),
])
def test_attention_dp_refuses_what_no_engine_runs(kw, match):
    with pytest.raises(BadInput, match=match) as err:
        api.inference(chip="h200", devices=8, **kw)
    assert err.value.field == "attention_dp"


def test_attention_dp_on_the_cli_http_and_export(run_cli):
    code, out, err = run_cli("inference", "--model", "deepseek-v3", "--chip", "h200", "--devices", "8", "--tp", "8",
                             "--attention-dp", "8", "--precision", "fp8", "--json")
    assert code == 0 and json.loads(out)["plan"]["dp"] == 8, err
    code, out, err = run_cli("inference", "--model", "llama3-8b", "--chip", "h100-sxm", "--devices", "8",
                             "--attention-dp", "8", "--json")
    assert code == 2 and json.loads(out)["field"] == "attention_dp" and len(err.strip().splitlines()) == 1
    code, out, err = run_cli("export", "--format", "sglang", "--model", "deepseek-v3", "--chip", "h200", "--devices",
                             "8", "--tp", "8", "--attention-dp", "8", "--precision", "fp8")
    assert code == 0 and "--attn-dp-size 8" in out and "--tp-size 8" in out and "--ep-size 8" in out, err
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from xpuplan.web.app import app

    res = TestClient(app).post("/api/inference", json={"model": "llama3-8b", "chip": "h100-sxm", "devices": 8,
                                                       "attention_dp": 8})
    assert res.status_code == 422 and "attention DP is plain replicas" in res.text, res.text


@pytest.mark.parametrize("flag,value", [("--tp", "8"), ("--devices", "16"), ("--attention-dp", "8"),
                                        ("--concurrency", "32"), ("--decode-devices", "8")])
def test_search_refuses_the_options_it_chooses_rather_than_dropping_them(run_cli, flag, value):
    code, _, err = run_cli("inference", "--model", "deepseek-v3", "--chip", "h200", "--search", "--slo-ttft", "2s",
                           "--slo-tpot", "50ms", flag, value)
    assert code == 2 and f"{flag} sets one configuration, and --search chooses" in err, err


def test_an_slo_without_search_is_refused_not_dropped(run_cli):
    code, out, err = run_cli("inference", "--model", "llama3-8b", "--chip", "h100-sxm", "--devices", "8",
                             "--slo-tpot", "20ms", "--json")
    assert code == 2 and "--slo-tpot bounds what --search chooses" in err and json.loads(out)["field"] == "slo_tpot"
