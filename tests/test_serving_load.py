"""Serving under load (issue 17): TTFT with queueing and chunked prefill, engine profiles, speculative decoding,
per-chip precision in the search, fleet sizing for a demand."""

import dataclasses
import json

import numpy as np
import pytest

from xpuplan import api
from xpuplan.catalog import load_chip, load_engine, load_model, names
from xpuplan.cost.serve import decode_step_s, iteration_s, prefill_s
from xpuplan.cost.serve_memory import max_concurrency
from xpuplan.errors import BadInput
from xpuplan.plan import ServePlan
from xpuplan.serving import simulate, steady_state
from xpuplan.specs import ROOFLINE
from xpuplan.specs.serving import Speculative

MODEL, CHIP = load_model("llama3-8b"), load_chip("h100-sxm")
PLAN = ServePlan(tp=1, precision="fp8", kv_precision="fp8", engine=load_engine("vllm"))


def test_one_iteration_cost_prices_decode_and_prefill_as_before():
    """T(0, d) is the decode step rl.py prices rollouts with; T(p, 0) is the prefill plus the launch gaps."""
    plan = ServePlan(tp=1, engine=ROOFLINE)
    assert iteration_s(MODEL, CHIP, plan, 0, 32, 1024, 1500) == pytest.approx(decode_step_s(MODEL, CHIP, plan, 32, 1500))
    assert iteration_s(MODEL, CHIP, plan, 2048, 0, 2048, 2048) >= prefill_s(MODEL, CHIP, plan, 2048.0, 2048)
    mixed = iteration_s(MODEL, CHIP, plan, 2048, 32, 2048, 2500)
    assert mixed > iteration_s(MODEL, CHIP, plan, 0, 32, 2048, 2500)


def test_ttft_rises_with_concurrency_and_the_simulation_agrees():
    cap = max_concurrency(MODEL, CHIP, PLAN, 2048, 256)
    n = np.array([1, 8, 64, 256])
    s = steady_state(MODEL, CHIP, PLAN, 2048, 256, cap, concurrency=n)
    assert np.all(np.diff(s["ttft_s"]) > 0) and np.all(np.diff(s["tpot_s"]) > 0)
    sim = simulate(MODEL, CHIP, PLAN, 2048, 256, cap, concurrency=64, requests=400,
                   stagger_s=float(s["ttft_s"][2] + 255 * s["tpot_s"][2]))
    assert sim["tpot_s_mean"] == pytest.approx(float(s["tpot_s"][2]), rel=0.15)
    assert sim["output_tokens_per_s"] == pytest.approx(float(s["output_tokens_per_s"][2]), rel=0.15)
    assert sim["ttft_s_p50"] <= sim["ttft_s_p90"] <= sim["ttft_s_p99"]


def test_clients_started_together_stay_bunched_and_the_rate_obeys_littles_law():
    """A benchmark's clients send their first requests at once; with equal lengths their rounds stay bunched, so a
    request queues behind its round's prompts: more TTFT than clients that start at random. The closed loop's rate is
    Little's law over the steady rounds."""
    cap = max_concurrency(MODEL, CHIP, PLAN, 1000, 200)
    s = steady_state(MODEL, CHIP, PLAN, 1000, 200, cap, concurrency=64)
    life = float(s["ttft_s"] + 199 * s["tpot_s"])
    burst = simulate(MODEL, CHIP, PLAN, 1000, 200, cap, concurrency=64, requests=640)
    spread = simulate(MODEL, CHIP, PLAN, 1000, 200, cap, concurrency=64, requests=640, stagger_s=life)
    assert burst["ttft_s_mean"] > 2 * spread["ttft_s_mean"]
    for sim in (burst, spread):
        cycle = sim["ttft_s_mean"] + 199 * sim["tpot_s_mean"]
        assert sim["output_tokens_per_s"] == pytest.approx(64 * 200 / cycle, rel=0.02)


def test_lengths_drawn_over_a_range_unbunch_the_rounds_and_keep_their_means():
    """A random dataset at --random-range-ratio r draws each request's lengths between r and 1 times the nominal: the
    clients' first requests still go out together, but unequal requests end apart, so later rounds no longer queue
    behind one another's prompts (less TTFT than equal lengths). The means stay input_len / output_len, and
    ``length_ratio`` 1 is the equal-length run itself, draw for draw."""
    cap = max_concurrency(MODEL, CHIP, PLAN, 1000, 200)
    kw = dict(concurrency=64, requests=640, whole_run=True)
    equal = simulate(MODEL, CHIP, PLAN, 1000, 200, cap, **kw)
    assert simulate(MODEL, CHIP, PLAN, 1000, 200, cap, length_ratio=1.0, **kw) == equal
    drawn = simulate(MODEL, CHIP, PLAN, 1000, 200, cap, length_ratio=0.5, **kw)
    assert drawn["ttft_s_mean"] < 0.8 * equal["ttft_s_mean"]
    assert drawn["output_tokens_per_s"] == pytest.approx(equal["output_tokens_per_s"], rel=0.1)
    assert drawn["tpot_s_mean"] == pytest.approx(equal["tpot_s_mean"], rel=0.15)


def test_inference_draws_lengths_when_asked_and_says_so(run_cli):
    """``inference --length-range-ratio r`` simulates its load with each request's lengths drawn (as a benchmark's
    random dataset at --random-range-ratio r sends them), reports the ratio it used, and leaves the closed form at the
    means; --search (closed form only) and disaggregated pools refuse it in one line."""
    kw = dict(model="llama3-8b", chip="h100-sxm", devices=1, precision="fp8", input_len=1000, output_len=200,
              concurrency=64, engine="vllm")
    equal, drawn = api.inference(**kw), api.inference(**kw, length_range_ratio=0.5)
    assert "length_range_ratio" not in equal.extra and drawn.extra["length_range_ratio"] == 0.5
    assert drawn.ttft_s < equal.ttft_s
    assert drawn.extra["ttft_s_mean_closed_form"] == equal.extra["ttft_s_mean_closed_form"]
    with pytest.raises(BadInput, match="disaggregated pools are priced at the mean lengths") as err:
        api.inference(**{**kw, "devices": None}, prefill_devices=1, decode_devices=1, length_range_ratio=0.5)
    assert err.value.field == "length_range_ratio"
    code, out, err_text = run_cli("inference", "--model", "llama3-8b", "--chip", "h100-sxm", "--search",
                                  "--slo-ttft", "2s", "--slo-tpot", "50ms", "--length-range-ratio", "0.8")
    assert code == 2 and "--search prices the mean lengths" in err_text and len(err_text.strip().splitlines()) == 1


@pytest.mark.parametrize("ratio", [-0.1, 1.5, True, "0.8"])
def test_a_runs_length_range_ratio_outside_0_1_is_one_line(ratio):
    from xpuplan.validate.serve import _length_ratio
    with pytest.raises(BadInput, match="length_range_ratio must be a number in \\[0, 1\\]") as err:
        _length_ratio({"id": "r", "length_range_ratio": ratio})
    assert err.value.field == "length_range_ratio" and "\n" not in str(err.value)


def test_inference_at_a_concurrency_answers_what_its_benchmark_measures():
    r = api.inference(model="llama3-70b", chip="h100-sxm", devices=2, precision="fp8", input_len=5000,
                      output_len=500, concurrency=25)
    assert r.ttft_s == r.extra["queueing"]["ttft_s_mean"] and r.tpot_s == r.extra["queueing"]["tpot_s_mean"]
    assert r.ttft_s > r.extra["ttft_s_mean_closed_form"]  # the rounds queue; random starts would not


def test_a_burst_counts_its_fill_and_drain_and_approaches_the_steady_rate_as_it_grows():
    """N requests sent at once (a benchmark's --num-prompts N at an unlimited rate): the rate over the whole run is
    below the engine's steady capacity (the fill and the drain count) and closes on it as N grows."""
    cap = max_concurrency(MODEL, CHIP, PLAN, 2048, 128)
    steady = float(steady_state(MODEL, CHIP, PLAN, 2048, 128, cap, concurrency=min(cap, 1024))["output_tokens_per_s"])
    small, large = (simulate(MODEL, CHIP, PLAN, 2048, 128, cap, burst=n)["output_tokens_per_s"] for n in (64, 2048))
    assert small < large < 1.05 * steady


def test_tpot_pays_for_the_prefill_chunks_sharing_its_iterations():
    cap = max_concurrency(MODEL, CHIP, PLAN, 8192, 256)
    short = steady_state(MODEL, CHIP, PLAN, 128, 256, cap, concurrency=32)["tpot_s"]
    long = steady_state(MODEL, CHIP, PLAN, 8192, 256, cap, concurrency=32)["tpot_s"]
    assert long > 1.2 * short


def test_an_engine_that_does_not_chunk_prompts_prefills_each_whole_in_one_iteration():
    """TensorRT-LLM (enable_chunked_prefill False by default) and vLLM 0.2 prefill a prompt in one iteration: one
    longer than the token budget runs alone, whole, where a chunking engine spreads it over several iterations; a
    round of prompts that do not fit the budget together is prefilled one prompt an iteration, so their first tokens
    come one iteration apart instead of together after the last chunk."""
    whole = ServePlan(tp=1, precision="fp8", kv_precision="fp8",
                      engine=dataclasses.replace(load_engine("vllm"), chunked_prefill=False))
    budget = PLAN.engine.max_batched_tokens
    cap = max_concurrency(MODEL, CHIP, PLAN, 3 * budget, 64)
    one = simulate(MODEL, CHIP, whole, 3 * budget, 64, cap, concurrency=1, requests=1, whole_run=True)
    t_whole = float(iteration_s(MODEL, CHIP, whole, 3 * budget, 0, 3 * budget, 3 * budget))
    assert one["ttft_s_mean"] == pytest.approx(whole.engine.request_overhead_s + t_whole, rel=1e-3)
    chunked = simulate(MODEL, CHIP, PLAN, 3 * budget, 64, cap, concurrency=1, requests=1, whole_run=True)
    assert chunked["ttft_s_mean"] > one["ttft_s_mean"]  # three iterations, each also paying its fixed costs
    prompt = int(0.6 * budget)  # two do not fit one budget
    cap = max_concurrency(MODEL, CHIP, PLAN, prompt, 64)
    rounds = {name: simulate(MODEL, CHIP, plan, prompt, 64, cap, concurrency=4, requests=4, whole_run=True)
              for name, plan in (("whole", whole), ("chunked", PLAN))}
    assert rounds["whole"]["ttft_s_p50"] < rounds["whole"]["ttft_s_p99"]  # one iteration apart
    assert rounds["chunked"]["ttft_s_mean"] > rounds["whole"]["ttft_s_p50"]
    assert load_engine("trt-llm").chunked_prefill is False and load_engine("trt-llm@0.21").chunked_prefill is False
    long = api.inference(model="llama3-8b", chip="h100-sxm", devices=1, precision="fp8", engine="trt-llm",
                         input_len=20000, output_len=200, concurrency=1)
    assert any("enable_chunked_prefill" in n for n in long.extra["notes"])
    short = api.inference(model="llama3-8b", chip="h100-sxm", devices=1, precision="fp8", engine="trt-llm",
                          input_len=2000, output_len=200, concurrency=1)
    assert not any("enable_chunked_prefill" in n for n in short.extra.get("notes", []))
    assert load_engine("vllm@0.2").chunked_prefill is False and load_engine("vllm").chunked_prefill is True


def test_an_engine_that_runs_prompts_alone_pauses_its_decodes_for_them():
    """vLLM 0.2's scheduler runs the waiting prompts alone (a prompt run) and decodes only when none waits: under load
    the decodes wait for the prompt runs (TPOT up), a lone request sees no difference, and the closed form's TPOT and
    rate follow the simulation."""
    alone = load_engine("vllm@0.2")
    assert alone.mixed_batches is False and load_engine("vllm").mixed_batches is True
    results = {}
    for name, engine in (("alone", alone), ("mixed", dataclasses.replace(alone, mixed_batches=True))):
        plan = ServePlan(tp=1, engine=engine)
        cap = max_concurrency(MODEL, CHIP, plan, 1000, 250)
        one = simulate(MODEL, CHIP, plan, 1000, 250, cap, concurrency=1, requests=3, whole_run=True)
        many = simulate(MODEL, CHIP, plan, 1000, 250, cap, concurrency=64, requests=640, stagger_s=5.0)
        closed = steady_state(MODEL, CHIP, plan, 1000, 250, cap, concurrency=64)
        results[name] = (one, many, closed)
    assert results["alone"][0]["ttft_s_mean"] == pytest.approx(results["mixed"][0]["ttft_s_mean"], rel=1e-9)
    assert results["alone"][1]["tpot_s_mean"] > results["mixed"][1]["tpot_s_mean"]
    many, closed = results["alone"][1], results["alone"][2]
    assert float(closed["tpot_s"]) == pytest.approx(many["tpot_s_mean"], rel=0.1)
    assert float(closed["output_tokens_per_s"]) == pytest.approx(many["output_tokens_per_s"], rel=0.1)


def test_concurrency_beyond_the_kv_cache_queues_for_admission():
    r = api.inference(model="llama3-70b", chip="h100-sxm", devices=2, precision="fp8", input_len=5000,
                      output_len=500, concurrency=250)
    assert r.ttft_s > 10 * api.inference(model="llama3-70b", chip="h100-sxm", devices=2, precision="fp8",
                                         input_len=5000, output_len=500, concurrency=25).ttft_s
    assert any("wait" in n for n in r.extra["notes"])


def test_percentile_keys_extend_the_json_contract():
    d = api.inference(model="llama3-8b", chip="h100-sxm", devices=1, concurrency=16, input_len=512,
                      output_len=128).to_dict()
    for key in ("ttft_s", "tpot_s", "ttft_s_p50", "ttft_s_p90", "ttft_s_p99", "tpot_s_p90", "tpot_s_p99"):
        assert key in d
    assert d["ttft_s_p50"] <= d["ttft_s_p99"]


@pytest.mark.parametrize("engine", sorted(names("serving")))
def test_every_engine_on_every_catalog_chip_gives_a_result_or_one_line(engine):
    """Issue 22: every engine profile x every chip gives a result or a one-line reason; a chip whose vendor the engine
    does not run on (TensorRT-LLM on an Ascend, MindIE on an H100) is that reason, naming what to use instead."""
    profile = load_engine(engine)
    assert engine == "roofline" or (profile.scheduler_sources and profile.max_batched_tokens >= 2048)
    priced = 0
    for name in names("chips"):
        chip = load_chip(name)
        try:
            r = api.inference(model="llama3-8b", chip=name, devices=1, concurrency=8, engine=engine)
        except (api.BadInput, api.DoesNotFit) as exc:
            assert "\n" not in str(exc) and str(exc)
            if profile.vendors and chip.vendor not in profile.vendors:
                assert f"engine {engine} runs on" in str(exc) and "--engine vllm" in str(exc)
            continue
        assert not profile.vendors or chip.vendor in profile.vendors
        assert r.ttft_s > 0 and r.tpot_s > 0
        priced += 1
    assert priced >= 2  # every engine runs somewhere in the catalog


def test_vllm_takes_its_small_device_defaults_below_70_gib_and_on_a100():
    """vLLM's get_batch_defaults: 8192 batched tokens and 1024 sequences on devices of 70 GiB or more that are not
    A100s, 2048 and 256 elsewhere; a plan on the chip carries the chip's defaults."""
    from xpuplan.plan import resolve_serve_plan

    vllm = load_engine("vllm")
    for chip, budget, batch in (("h100-sxm", 8192, 1024), ("a100-sxm-80gb", 2048, 256), ("l4", 2048, 256)):
        plan = resolve_serve_plan(MODEL, load_chip(chip), 1, tp=1, engine=vllm)
        assert (plan.engine.max_batched_tokens, plan.engine.max_batch) == (budget, batch), chip
    assert load_engine("trt-llm").for_chip(load_chip("a100-sxm-80gb")).max_batched_tokens == 8192


def test_vllm_0_34_gives_devices_of_160_gib_a_larger_budget_blackwell_larger_graphs_and_the_whole_device():
    """vLLM 0.34 (the vllm profile; engine/arg_utils.py get_batch_defaults, config/vllm.py, config/cache.py): 16,384
    batched tokens from 160 GiB (B200, MI300X; since 0.28), graphs to 1,024 sequences on the compute-capability-10
    family (B200, GB200; since 0.28), and the whole device with the extensible KV cache (new in 0.34); the releases
    before keep their own (vllm@0.28: 0.92 of the device; vllm@0.20: one tier from 70 GiB and graphs to 512)."""
    vllm, v28, v20 = (load_engine(name) for name in ("vllm", "vllm@0.28", "vllm@0.20"))
    assert vllm.version == "0.34" and vllm.memory_utilization == 1.0 and v28.memory_utilization == 0.92
    for chip, budget, graphs in (("h100-sxm", 8192, 512), ("h200", 8192, 512), ("b200", 16384, 1024),
                                 ("gb200", 16384, 1024), ("mi300x", 16384, 512), ("a100-sxm-80gb", 2048, 512)):
        for engine in (vllm, v28):
            on = engine.for_chip(load_chip(chip))
            assert (on.max_batched_tokens, on.graph_max_batch) == (budget, graphs), (engine.name, chip)
        before = v20.for_chip(load_chip(chip))
        assert (before.max_batched_tokens, before.graph_max_batch) == (min(budget, 8192), 512), chip
    older = api.inference(model="llama3-8b", chip="h100-sxm", devices=1, engine="vllm@0.30", concurrency=256)
    newer = api.inference(model="llama3-8b", chip="h100-sxm", devices=1, engine="vllm", concurrency=256)
    assert older.plan.engine.name == "vllm@0.28"
    assert newer.plan.engine.memory_utilization > older.plan.engine.memory_utilization
    assert newer.max_concurrency > older.max_concurrency  # more KV cache: more sequences at once


def test_lmdeploy_is_turbomind_on_nvidia_and_its_pytorch_engine_elsewhere():
    """LMDeploy 0.18: TurboMind (C++, CUDA only) takes its batch by device name (1024 on H100, 384 on A100, 128 on
    others such as the H20); on Ascend the refusal names the PyTorch engine, which runs there through dlinfer with
    256 sequences and, its graphs off by default, every iteration launched from Python."""
    turbo, torch_engine = load_engine("lmdeploy"), load_engine("lmdeploy-pytorch")
    assert turbo.version == torch_engine.version == "0.18"
    for chip, batch in (("h100-sxm", 1024), ("a100-sxm-80gb", 384), ("h20", 128)):
        assert turbo.for_chip(load_chip(chip)).max_batch == batch, chip
    with pytest.raises(api.BadInput, match="runs on NVIDIA devices, not ascend-910b.*--engine lmdeploy-pytorch"):
        api.inference(model="llama3-8b", chip="ascend-910b", devices=1, engine="lmdeploy")
    npu = torch_engine.for_chip(load_chip("ascend-910b"))
    assert (npu.max_batch, npu.graph_max_batch) == (256, 0) and npu.eager_launch_s > turbo.eager_launch_s
    assert torch_engine.for_chip(load_chip("h100-sxm")).graph_max_batch >= 1024  # CUDA decode graphs to its batch


def test_vllm_on_ascend_is_the_vllm_ascend_plugin_with_its_own_defaults():
    """vllm-ascend 0.23 (pinning vLLM 0.23): the NPU platform reports no device memory, so every Ascend chip takes
    vLLM's smallest batch defaults (2048 tokens, 256 sequences) and graphs to 256; `--engine vllm` (the current
    release) means it on Ascend, a named release does not, and it refuses other vendors' chips in one line."""
    for chip, devices in (("ascend-910b", 1), ("ascend-910c", 2)):
        r = api.inference(model="llama3-8b", chip=chip, devices=devices, engine="vllm", concurrency=8)
        e = r.plan.engine
        assert e.name == "vllm-ascend" and (e.max_batched_tokens, e.max_batch, e.graph_max_batch) == (2048, 256, 256)
    assert api.inference(model="llama3-8b", chip="ascend-910b", devices=1, engine="vllm@0.10",
                         concurrency=8).plan.engine.name == "vllm@0.10"
    assert api.inference(model="llama3-8b", chip="h100-sxm", devices=1, engine="vllm").plan.engine.name == "vllm"
    with pytest.raises(api.BadInput, match="engine vllm-ascend runs on Huawei devices, not h100-sxm"):
        api.inference(model="llama3-8b", chip="h100-sxm", devices=1, engine="vllm-ascend")


def test_sglang_keeps_back_its_reserved_memory_by_device_tier_and_runs_its_npu_defaults_on_ascend():
    """SGLang 0.5.23 (arg_groups/memory_hook.py): chunked prefill 4096 below 60 GiB, 8192 to 160 GiB, 16384 above
    (graphs to 512 there), and reserved_mem kept out of weights and KV cache (13,440 MB on an H100 at tp 1); on Ascend
    `--engine sglang` is its NPU defaults (graphs to 64, prefill eager, the ascend attention backend)."""
    sglang = load_engine("sglang")
    for chip, budget, graphs, reserve_gib in (("a100-sxm-40gb", 4096, 256, 6.7), ("h100-sxm", 8192, 256, 13.1),
                                              ("h200", 8192, 256, 13.1), ("b200", 16384, 512, 25.6)):
        on = sglang.for_chip(load_chip(chip))
        assert (on.max_batched_tokens, on.graph_max_batch) == (budget, graphs), chip
        assert on.reserve_bytes == pytest.approx(reserve_gib * 2**30), chip
    r = api.inference(model="llama3-8b", chip="h100-sxm", devices=1, engine="sglang", concurrency=8)
    assert r.memory["activations_bytes"] + r.memory["reserve_bytes"] == pytest.approx(13.1 * 2**30)
    ideal = api.inference(model="llama3-8b", chip="h100-sxm", devices=1, engine="roofline", concurrency=8)
    assert r.max_concurrency < ideal.max_concurrency
    npu = api.inference(model="llama3-8b", chip="ascend-910b", devices=1, engine="sglang", concurrency=8).plan.engine
    assert npu.name == "sglang-ascend" and npu.graph_max_batch == 64 and npu.eager_launch_s > sglang.eager_launch_s


def test_auto_engine_is_each_chips_vendors_own():
    """--engine auto (the default): TensorRT-LLM on NVIDIA, MindIE on Ascend, vLLM elsewhere; a search over mixed
    chips gives each its own."""
    for chip, own in (("h100-sxm", "trt-llm"), ("ascend-910b", "mindie"), ("mi300x", "vllm")):
        assert api.inference(model="llama3-8b", chip=chip, devices=1, concurrency=4).plan.engine.name == own
    rows = api.inference_search(model="llama3-8b", chips=["h100-sxm", "ascend-910b"], input_len=512, output_len=128,
                                slo_ttft="2s", slo_tpot="100ms")
    assert {r.chip.name: r.plan.engine.name for r in rows if not isinstance(r, Exception)} == {
        "h100-sxm": "trt-llm", "ascend-910b": "mindie"}


def test_speculative_tokens_per_step_is_the_standard_formula():
    assert Speculative(method="mtp", accept_rate=0.8, draft_tokens=1).tokens_per_step == pytest.approx(1.8)
    assert Speculative(method="eagle", accept_rate=0.7, draft_tokens=3).tokens_per_step == pytest.approx(
        (1 - 0.7 ** 4) / 0.3)


@pytest.mark.parametrize("tau,k", [(1.92, 1), (2.82, 3), (3.01, 5)])
def test_a_published_acceptance_length_gives_the_acceptance_that_reproduces_it(tau, k):
    """TensorRT-LLM's MTP table publishes tokens per step (2.82 for MTP 3); the per-token acceptance is solved from it."""
    s = Speculative.from_tokens_per_step("mtp", k, tau)
    assert s.tokens_per_step == pytest.approx(tau, rel=1e-9) and 0 < s.accept_rate < 1


def test_an_acceptance_length_beyond_the_drafts_is_one_line():
    with pytest.raises(BadInput, match="tokens_per_step must be in"):
        Speculative.from_tokens_per_step("mtp", 3, 4.5)


@pytest.mark.parametrize("accept", [0.85, 0.9])
def test_deepseek_mtp_speedup_matches_the_v3_report(accept):
    """DeepSeek-V3 report §5.4.3: second-token acceptance 85-90%, 1.8x tokens per second; within 15%."""
    kw = dict(model="deepseek-v3", chip="h200", devices=8, precision="fp8", concurrency=1, input_len=1024,
              output_len=1024)
    base = api.inference(**kw)
    mtp = api.inference(speculative="mtp", accept_rate=accept, draft_tokens=1, **kw)
    assert mtp.output_tokens_per_s / base.output_tokens_per_s == pytest.approx(1.8, rel=0.15)


def test_search_runs_every_catalog_chip_at_its_best_precision(run_cli):
    """Every chip: exit 0 with a row, or exit 3 with the reason on one line; never a traceback."""
    for chip in names("chips"):
        code, out, err = run_cli("inference", "--search", "--model", "llama3-8b", "--chip", chip, "--slo-ttft", "2s",
                                 "--slo-tpot", "100ms", "--input-len", "1024", "--output-len", "256", "--json")
        assert code in (0, 3), (chip, code, err)
        if code == 3:
            assert err.strip() and len(err.strip().splitlines()) == 1, (chip, err)
        else:
            row = json.loads(out)[0]
            fp8 = bool(load_chip(chip).peak_flops_per_s.get("fp8"))
            assert row["plan"]["precision"] == ("fp8" if fp8 else "bf16"), chip


def test_demand_gives_devices_and_cost_per_chip():
    rows = api.inference_search(model="llama3-8b", chips=["h100-sxm", "h20"], input_len=1024, output_len=256,
                                slo_ttft="2s", slo_tpot="50ms", demand="20000req/s")
    for r in rows:
        d = r.extra["demand"]
        assert d["devices"] == d["replicas"] * r.devices
        assert d["replicas"] * d["requests_per_s_per_replica"] >= 20000
        assert (d["usd_per_hour"] is None) == ("note" in d)


@pytest.mark.parametrize("argv,field", [
    (["--accept-rate", "0.8"], "--speculative"),
    (["--speculative", "mtp", "--draft-tokens", "0"], "--draft-tokens"),
    (["--demand", "lots"], "--demand"),
])
def test_bad_serving_options_are_one_line(run_cli, argv, field):
    code, _, err = run_cli("inference", "--model", "llama3-8b", "--chip", "h100-sxm", "--devices", "1", *argv)
    assert code == 2 and len(err.strip().splitlines()) == 1 and field in err, err


def test_open_loop_rate_below_capacity_is_the_offered_rate():
    """Poisson arrivals the engine keeps up with complete at the rate they arrive (fill and drain left out)."""
    from xpuplan.serving.load import slo_rate
    cap = max_concurrency(MODEL, CHIP, PLAN, 1024, 256)
    top = slo_rate(MODEL, CHIP, PLAN, 1024, 256, cap, None, None)["request_rate"]
    sim = simulate(MODEL, CHIP, PLAN, 1024, 256, cap, request_rate=0.5 * top, requests=2000)
    assert sim["output_tokens_per_s"] == pytest.approx(0.5 * top * 256, rel=0.05)


def test_server_rate_meets_its_tail_bounds_and_tightens_with_them():
    """The server scenario's rate keeps p99 TTFT and TPOT within the bounds, a tighter bound gives a lower rate,
    and a rate a little higher breaks a bound (the search stops at the edge, not anywhere below it)."""
    from xpuplan.serving.load import slo_rate
    cap = max_concurrency(MODEL, CHIP, PLAN, 1024, 256)
    loose = slo_rate(MODEL, CHIP, PLAN, 1024, 256, cap, 2.0, 0.05)
    tight = slo_rate(MODEL, CHIP, PLAN, 1024, 256, cap, 2.0, 0.8 * loose["tpot_s_p99"])
    assert loose["met"] and tight["met"]
    assert loose["ttft_s_p99"] <= 2.0 and loose["tpot_s_p99"] <= 0.05
    assert tight["request_rate"] < loose["request_rate"]
    above = simulate(MODEL, CHIP, PLAN, 1024, 256, cap, request_rate=loose["request_rate"] * 1.05, requests=2000)
    assert above["ttft_s_p99"] > 2.0 or above["tpot_s_p99"] > 0.05
    impossible = slo_rate(MODEL, CHIP, PLAN, 1024, 256, cap, 1e-4, None)
    assert not impossible["met"]


def test_search_can_bound_the_tail_instead_of_the_mean():
    """--slo-percentile p99: each chip's row meets the SLOs at the 99th percentile under Poisson arrivals."""
    rows = api.inference_search(model="llama3-8b", chips=["h100-sxm"], input_len=1024, output_len=256,
                                slo_ttft="1s", slo_tpot="40ms", engine="vllm", slo_percentile="p99")
    r = rows[0]
    assert r.extra["slo_percentile"] == "p99"
    assert r.extra["ttft_s_p99"] <= 1.0 and r.extra["tpot_s_p99"] <= 0.040
    mean = api.inference_search(model="llama3-8b", chips=["h100-sxm"], input_len=1024, output_len=256,
                                slo_ttft="1s", slo_tpot="40ms", engine="vllm")[0]
    assert "slo_percentile" not in mean.extra
    # the mean search prices clients at random phases and says so, naming the command that prices a benchmark's rounds
    assert any(f"inference --concurrency {mean.concurrency}" in n for n in mean.extra["notes"])
    bench = api.inference(model="llama3-8b", chip="h100-sxm", devices=mean.devices, input_len=1024, output_len=256,
                          concurrency=mean.concurrency, engine="vllm", precision=mean.plan.precision,
                          kv_precision=mean.plan.kv_precision, tp=mean.plan.tp)
    assert bench.ttft_s >= mean.ttft_s


def test_disaggregated_pools_take_their_own_plans():
    """--prefill-tp/--prefill-ep/--decode-tp/--decode-ep give each pool its plan; without pools they are refused."""
    r = api.inference(model="qwen3-30b-a3b", chip="h100-sxm", prefill_devices=8, decode_devices=8, precision="fp8",
                      input_len=2048, output_len=256, prefill_tp=2, decode_tp=1, decode_ep=8)
    (_, p_plan, _), (_, d_plan, _) = r.prefill, r.decode
    assert (p_plan.tp, p_plan.dp, p_plan.ep) == (2, 4, 1) and (d_plan.tp, d_plan.dp, d_plan.ep) == (1, 8, 8)
    default = api.inference(model="qwen3-30b-a3b", chip="h100-sxm", prefill_devices=8, decode_devices=8,
                            precision="fp8", input_len=2048, output_len=256)
    assert default.decode[1].ep == 1 and default.prefill[1].ep == 1  # no expert parallelism unless asked
    with pytest.raises(api.BadInput, match="--decode-ep sets a disaggregated pool's plan"):
        api.inference(model="qwen3-30b-a3b", chip="h100-sxm", devices=8, decode_ep=8)


def test_expert_parallelism_inside_tensor_parallelism_shards_every_expert():
    """An engine's --tp 8 --ep 4 splits each expert over tp/ep = 2 devices: the experts' weights spread over all
    eight devices (as --ep 8 does), where they used to be replicated twice; ep must divide tp below it."""
    from xpuplan.cost.serve_memory import replica_costs
    model, chip = load_model("qwen3-235b-a22b"), load_chip("h200")
    weights = {ep: replica_costs(model, chip, ServePlan(tp=8, ep=ep, precision="fp8")).weight_bytes for ep in (1, 4, 8)}
    assert weights[4] == pytest.approx(weights[8]) == pytest.approx(weights[1])
    with pytest.raises(api.BadInput, match="below tp=8 it must divide tp"):
        api.inference(model="qwen3-235b-a22b", chip="h200", devices=8, tp=8, ep=3, precision="fp8")


def test_experts_inside_the_tensor_parallel_group_need_no_all_to_all():
    """EP <= TP: every rank holds all the tokens after the attention's all-reduce; the layer's second all-reduce sums
    the experts' outputs. EP > TP (data-parallel attention): tokens cross an all-to-all."""
    from xpuplan.cost.serve import comm_s

    model, chip = load_model("deepseek-v3"), load_chip("b200")
    inside = ServePlan(tp=8, ep=8, precision="fp4", kv_precision="fp8", engine=load_engine("trt-llm"))
    dense_like = ServePlan(tp=8, ep=1, precision="fp4", kv_precision="fp8", engine=load_engine("trt-llm"))
    across = ServePlan(tp=1, dp=8, ep=8, precision="fp4", kv_precision="fp8", engine=load_engine("trt-llm"))
    tokens = np.array([1.0, 64.0, 2048.0])
    assert np.allclose(comm_s(model, chip, inside, tokens), comm_s(model, chip, dense_like, tokens))
    assert np.all(comm_s(model, chip, across, tokens) > 0)


def test_an_engine_release_is_named_with_at_and_checked_against_the_profile():
    """Issue 22: `--engine sglang@0.5.23` names the current profile's release; `@0.4`, a patch release within it
    (`@0.4.6`) and the 0.5 releases it covers (`@0.5.3`) the older profile, whose prefill runs eagerly; another release
    is one line naming the ones the catalog describes, on the CLI and over HTTP alike."""
    plain = api.inference(model="llama3-8b", chip="h100-sxm", devices=1, concurrency=2, engine="sglang")
    same = api.inference(model="llama3-8b", chip="h100-sxm", devices=1, concurrency=2, engine="sglang@0.5.23")
    assert plain.plan.engine.version == "0.5.23" and same.tpot_s == plain.tpot_s
    for name in ("sglang@0.4", "sglang@0.4.6", "sglang@0.5.3"):
        r = api.inference(model="llama3-8b", chip="h100-sxm", devices=1, concurrency=2, engine=name)
        assert r.plan.engine.name == "sglang@0.4" and r.plan.engine.eager_launch_s > plain.plan.engine.eager_launch_s
    with pytest.raises(api.BadInput,
                       match=r"describes release 0.5.23.*sglang@0.4 \(0.4-0.5.3\) an older one.*--engine sglang@0.4$"):
        api.inference(model="llama3-8b", chip="h100-sxm", devices=1, engine="sglang@0.3")
    with pytest.raises(api.BadInput, match="auto takes no version"):
        api.inference(model="llama3-8b", chip="h100-sxm", devices=1, engine="auto@1")
    from fastapi.testclient import TestClient

    from xpuplan.web.app import app
    answer = TestClient(app).post("/api/inference", json={"model": "llama3-8b", "chip": "h100-sxm", "devices": 1,
                                                          "engine": "sglang@0.3"})
    assert answer.status_code == 422 and "describes release 0.5.23" in answer.text


def test_an_older_release_is_its_own_catalog_profile():
    """Issue 22 item 3: `--engine vllm@0.2` (and a patch release within it, `@0.2.7`) is the catalog's vllm@0.2
    profile, with its own defaults and host costs; a release the catalog has no profile of is one line naming those
    it has."""
    old = api.inference(model="llama2-7b", chip="a100-sxm-80gb", devices=1, engine="vllm@0.2.7", concurrency=64)
    new = api.inference(model="llama2-7b", chip="a100-sxm-80gb", devices=1, engine="vllm", concurrency=64)
    assert old.plan.engine.name == "vllm@0.2" and old.plan.engine.version == "0.2"
    assert old.plan.engine.max_batch == 256 and old.tpot_s > new.tpot_s  # its Python loop costs every iteration
    with pytest.raises(api.BadInput, match=r"describes release 0\.34 .*vllm@0\.28 \(0\.28-0\.33\), vllm@0\.20 "
                       r"\(0\.20-0\.27\), vllm@0\.17 \(0\.17-0\.19\), vllm@0\.14 \(0\.14-0\.16\), vllm@0\.10 \(0\.10-0\.13\), "
                       r"vllm@0\.2 "
                       r"older ones.*--engine vllm@0\.2$"):
        api.inference(model="llama2-7b", chip="a100-sxm-80gb", devices=1, engine="vllm@0.7")


def test_vllm_before_0_14_schedules_synchronously_and_its_profile_covers_those_releases():
    """vLLM schedules a step ahead by default from 0.14: the sequences' host work overlaps the step. The vllm@0.10
    profile (0.10-0.13: `@0.11.2` finds it through `covers`) is the 0.14 one (`@0.15.1`, within 0.14-0.16) with what
    those releases do otherwise: synchronous scheduling, which adds the work; both fill 0.9 of the device."""
    now = api.inference(model="llama3-8b", chip="h100-sxm", devices=1, engine="vllm@0.15.1", concurrency=256)
    then = api.inference(model="llama3-8b", chip="h100-sxm", devices=1, engine="vllm@0.11.2", concurrency=256)
    assert now.plan.engine.name == "vllm@0.14" and now.plan.engine.async_scheduling
    assert not then.plan.engine.async_scheduling
    assert then.plan.engine.name == "vllm@0.10" and then.plan.engine.memory_utilization == 0.9
    assert now.plan.engine.memory_utilization == 0.9
    assert then.plan.engine.sequence_overhead_s == now.plan.engine.sequence_overhead_s > 0
    assert then.tpot_s > now.tpot_s  # 256 sequences' scheduling waits on every step
    step = dict(prefill_tokens=0.0, decode_batch=256.0, prompt_len=1.0, context=1000.0)
    model, chip = load_model("llama3-8b"), load_chip("h100-sxm")
    ahead, synced = (iteration_s(model, chip, r.plan, **step) for r in (now, then))
    assert synced - ahead == pytest.approx(256 * then.plan.engine.sequence_overhead_s, rel=0.05)


def test_a_python_engine_loop_pays_its_host_time_per_sequence():
    """sequence_overhead_s: each sequence an iteration carries (decoding, or prefilling pro rata to its chunk) adds
    its host time to the iteration, serially; a negative value is refused naming the field."""
    base = ServePlan(tp=1, engine=ROOFLINE)
    slow = ServePlan(tp=1, engine=dataclasses.replace(ROOFLINE, sequence_overhead_s=1e-4))
    for p, d in ((0, 1), (0, 64), (1024, 32), (4096, 0)):
        extra = iteration_s(MODEL, CHIP, slow, p, d, 2048, 2500) - iteration_s(MODEL, CHIP, base, p, d, 2048, 2500)
        assert extra == pytest.approx(1e-4 * (d + p / 2048))
    with pytest.raises(BadInput, match="sequence_overhead_s must be seconds"):
        dataclasses.replace(ROOFLINE, sequence_overhead_s=-1e-4)


def test_the_api_server_bounds_a_replicas_stream():
    """One front-end process streams every token (stream_token_s each): a replica never streams faster than
    1 / stream_token_s tokens/s, whatever the device could do. The closed form (random phases: a steady backlog) keeps
    the engine's TPOT and puts the wait in TTFT; the simulation's bunched round has its tokens interleaved at the front
    end, so each stream sees clients x stream_token_s between tokens. Both keep Little's law."""
    fast = dataclasses.replace(PLAN, engine=dataclasses.replace(PLAN.engine, stream_token_s=0.0))
    slow = dataclasses.replace(PLAN, engine=dataclasses.replace(PLAN.engine, stream_token_s=2e-4))  # 5,000 tok/s
    cap = max_concurrency(MODEL, CHIP, fast, 200, 200)
    free, bound = (simulate(MODEL, CHIP, p, 200, 200, cap, concurrency=256, requests=1024) for p in (fast, slow))
    assert free["output_tokens_per_s"] > 5000 * 1.5           # the device alone streams well past the front end
    assert bound["output_tokens_per_s"] == pytest.approx(5000, rel=0.05)
    assert bound["tpot_s_mean"] == pytest.approx(256 * 2e-4, rel=0.05)
    cycle = bound["ttft_s_mean"] + 199 * bound["tpot_s_mean"]
    assert bound["output_tokens_per_s"] == pytest.approx(256 * 200 / cycle, rel=0.03)
    closed, unbound = (steady_state(MODEL, CHIP, p, 200, 200, cap, concurrency=256) for p in (slow, fast))
    assert float(closed["output_tokens_per_s"]) == pytest.approx(5000, rel=0.02)
    assert float(closed["front_end_utilisation"]) == pytest.approx(1.0, rel=0.02)
    assert float(closed["tpot_s"]) <= float(unbound["tpot_s"])
    cycle = float(closed["ttft_s"] + 199 * closed["tpot_s"])
    assert float(closed["requests_per_s"]) == pytest.approx(256 / cycle, rel=0.02)


def test_a_benchmark_with_a_request_count_counts_every_request_and_its_first_round():
    """vllm bench serve --num-prompts N --max-concurrency n (AIPerf --request-count N): exactly N requests, the first
    bunched round included, the rate over the run from the first send to the last token."""
    cap = max_concurrency(MODEL, CHIP, PLAN, 2000, 200)
    whole = simulate(MODEL, CHIP, PLAN, 2000, 200, cap, concurrency=32, requests=96, whole_run=True)
    steady = simulate(MODEL, CHIP, PLAN, 2000, 200, cap, concurrency=32, requests=96)
    assert whole["requests"] == 96 and steady["requests"] < 96
    assert whole["ttft_s_mean"] > steady["ttft_s_mean"]
    assert whole["output_tokens_per_s"] < steady["output_tokens_per_s"]   # its fill and drain are in the run


def test_an_overlap_scheduler_hands_the_first_token_out_one_iteration_late():
    """SGLang's and TensorRT-LLM's overlap schedulers process an iteration's tokens after launching the next one (the
    fix for SGLang's first token, PR 25772, was closed unmerged): a lone request's TTFT gains one decode iteration, its
    TPOT none, in the closed form and the simulation alike; vLLM 0.11, scheduling synchronously, hands it out at once."""
    assert all(load_engine(e).late_first_token for e in ("sglang", "sglang@0.4", "trt-llm"))
    assert not load_engine("vllm").late_first_token
    assert not load_engine("trt-llm@0.21").late_first_token  # the C++ executor
    cap = max_concurrency(MODEL, CHIP, PLAN, 1024, 128)
    late = dataclasses.replace(PLAN, engine=dataclasses.replace(PLAN.engine, late_first_token=True))
    one_step = iteration_s(MODEL, CHIP, PLAN, 0, 1, 1, 1024 + 64)
    now, then = (steady_state(MODEL, CHIP, p, 1024, 128, cap, concurrency=1) for p in (PLAN, late))
    assert float(then["ttft_s"] - now["ttft_s"]) == pytest.approx(one_step, rel=0.05)
    assert float(then["tpot_s"]) == pytest.approx(float(now["tpot_s"]), rel=0.01)
    kw = dict(concurrency=1, requests=8, whole_run=True)
    now, then = (simulate(MODEL, CHIP, p, 1024, 128, cap, **kw) for p in (PLAN, late))
    assert then["ttft_s_mean"] - now["ttft_s_mean"] == pytest.approx(one_step, rel=0.05)
    assert then["tpot_s_mean"] == pytest.approx(now["tpot_s_mean"], rel=0.01)


def test_the_sglang_front_end_cost_leaves_out_the_iteration_its_measurement_delivered_late():
    """tt-inference-server issue 3560 (2026-05-18): median TTFT 9.54 ms over a 2.632 ms mock forward and 0.31 ms of
    host time an iteration; one more such iteration was the overlap scheduler's late first token, the rest (3.7 ms)
    the server's; vLLM's and TensorRT-LLM's front ends, unmeasured, take SGLang's."""
    measured_ttft_s, forward_s, host_s = 9.54e-3, 2.632e-3, 0.31e-3
    assert load_engine("sglang").request_overhead_s == pytest.approx(measured_ttft_s - 2 * (forward_s + host_s), abs=5e-5)
    assert {load_engine(e).request_overhead_s for e in ("sglang", "sglang@0.4", "vllm", "trt-llm")} == {3.7e-3}
