"""Serving validation: the accuracy on the main published serving runs, holdouts reported apart."""

from xpuplan.validate import INFERENCE_TARGET_MEDIAN, inference_summary, run_inference_validation

MAIN_MEDIAN = INFERENCE_TARGET_MEDIAN
"""the main runs' median |error|, nothing fitted on them: 18.4% when the engines' fitted scalars went (session 10),
10.2% since session 11 (tail-latency server scenarios, whole-chunk prefill in TPOT, B200/MI300X kernel rows), so the
guard is issue 5's 15% target itself"""
HOLDOUT_MEDIAN = 0.14
"""the holdouts' median |error|: 13.4% over 209 runs at the end of session 11 (191 of them added then, from NIM's and
GPUStack's sweeps, whose short-prompt TTFT under load is 45-100% low: validation-inference.md); a guard against
regressions, not a target met; 12.2% over 240 in session 13, 10.2% over 233 in session 19, 9.6% over the same 233
in session 28; 13.2% over 302 in session 29 once 69 DeepSeek-R1 runs of two publishers joined (InferenceX's 45,
TensorRT-LLM issue 5929's 24), whose TTFT is 32-77% low"""
DENSE_HOPPER_MEDIAN = 0.10
"""dense models on H100/H200-class chips, priced from the GH100 kernel table alone: 6.9% throughput and 7.0% TPOT
median when the factors went (the fitted model: 7.7% and 10.2%)"""


def _dense_hopper(checks):
    moe = ("mixtral", "qwen3-235b", "qwen3-30b", "deepseek", "dsr1", "dsv3", "gpt-oss")
    return [c for c in checks if c.chip in ("h100-sxm", "h200", "h800") and not any(m in c.id for m in moe)
            and c.metric in ("output_tokens_per_s", "tpot_s")]


def test_serving_validation_meets_the_main_target_and_holds_its_holdouts():
    checks = run_inference_validation()
    main, holdout = inference_summary(checks, "main")["all"], inference_summary(checks, "holdout")["all"]
    assert main["runs"] >= 20 and holdout["runs"] >= 200
    assert main["median_abs_error"] <= MAIN_MEDIAN
    assert holdout["median_abs_error"] <= HOLDOUT_MEDIAN
    assert INFERENCE_TARGET_MEDIAN == 0.15  # the target itself does not move with the model


TTFT_MAIN_MEDIAN = 0.32
"""the main runs' TTFT median |error|, a guard (issue 17's 15% is not met): 11.9% in sessions 12-18 rested on
TensorRT-LLM's profile having no front end, so that its identical clients phase-locked into perfect staggering; with
the HTTP server NIM's runs go through (session 19) NIM's 70B at concurrency 25 is priced 4x slow (29.3%)"""
TTFT_HOLDOUT_MEDIAN = 0.40
"""the holdouts' TTFT median |error|: 43.9% in session 12 (72.4% before), 46.0% in session 13 once DeepSeek-R1 at tp 16
over two nodes (TTFT 38-91% low) joined, 27.4% in session 19 (the API server's streaming cost, benchmarks' own request
counts), 38.2% in session 29 once 27 DeepSeek-R1 TTFTs of two publishers joined (InferenceX, TensorRT-LLM issue 5929;
the 67 before stay at 27.3%), 37.6% in session 32 (attention in the KV cache's precision); a guard, not a target met"""


TPOT_MAIN_MEDIAN = 0.08
"""issue 17's TPOT target on the main runs: 5.7% since session 12 (experts inside the TP group pay no all-to-all),
10.7% before"""
MTP_TOLERANCE = 0.15
"""issue 17: DeepSeek-R1 with MTP within 15% of its published decode speed (TensorRT-LLM's MTP 1-5 ablation on 8 B200,
holdouts at their published acceptance: 3-12% slow in session 12)"""


def test_ttft_tpot_and_mtp_meet_issue_17s_targets_on_their_runs_and_ttft_rises_as_measured():
    from xpuplan.validate.serve import ttft_rank_correlation

    checks = run_inference_validation()
    assert inference_summary(checks, "main")["tpot"]["median_abs_error"] <= TPOT_MAIN_MEDIAN
    ablation = [c for c in checks if "-ablation-" in c.id and c.id.startswith("trtllm-lat-dsr1-b200x8-mtp")]
    assert len(ablation) == 5 and all(abs(c.error) <= MTP_TOLERANCE for c in ablation)
    assert inference_summary(checks, "main")["ttft"]["median_abs_error"] <= TTFT_MAIN_MEDIAN
    assert inference_summary(checks, "holdout")["ttft"]["median_abs_error"] <= TTFT_HOLDOUT_MEDIAN
    rho = ttft_rank_correlation(checks)
    assert len(rho) >= 7 and min(rho.values()) >= 0.9


def test_dense_serving_on_measured_kernels_holds_without_a_fitted_factor():
    import numpy as np

    checks = _dense_hopper(run_inference_validation())
    assert len(checks) >= 30
    assert float(np.median([abs(c.error) for c in checks])) <= DENSE_HOPPER_MEDIAN


def test_llama_8b_on_one_h100_at_concurrency_1_is_within_10_percent_of_vllm():
    """Issue 22's check: Llama-3.1-8B bf16, one H100, vLLM, concurrency 1 (InferenceBench: TPOT 6.48 ms)."""
    checks = {c.id: c for c in run_inference_validation()}
    c = checks["inferencebench-llama31-8b-h100-vllm-c1-tpot"]
    assert abs(c.error) <= 0.10


def test_no_engine_profile_carries_a_fitted_efficiency():
    """Issue 22: no engine-wide efficiency scalar; kernel speeds are the chip's kernel table's."""
    import dataclasses

    from xpuplan.catalog import load_engine, names
    from xpuplan.specs import ServeEngine

    fields = {f.name for f in dataclasses.fields(ServeEngine)}
    assert not fields & {"kernel_scale", "moe_scale", "attention_efficiency"}
    for name in names("serving"):
        assert "calibrated" not in " ".join(load_engine(name).sources)


def test_each_publishers_error_is_reported_apart_and_covers_every_run():
    """Issue 22: leave-one-publisher-out error. Nothing is fitted, so each publisher's own error is that figure; the
    report lists every file whose runs it priced, and the counts add up to all runs."""
    import numpy as np

    from xpuplan.report.validation import inference_json
    from xpuplan.validate.serve import by_source

    checks = run_inference_validation()
    table = by_source(checks)
    assert sum(s["runs"] for s in table.values()) == len(checks)
    for source, s in table.items():
        mine = [abs(c.error) for c in checks if c.source == source]
        assert s["median_abs_error"] == float(np.median(mine))
    assert inference_json(checks)["by_source"] == table
    assert len(table) >= 8


def test_a_run_that_set_the_engine_on_its_command_line_is_priced_with_it():
    """engine_settings override the profile's defaults on every device; an unknown setting is one line."""
    import pytest

    from xpuplan.catalog import load_chip
    from xpuplan.errors import BadInput
    from xpuplan.validate.serve import engine_of

    run = {"id": "r", "framework": "vllm", "chip": "a100-sxm-80gb", "engine_settings": {"max_batched_tokens": 4096}}
    assert engine_of(run).for_chip(load_chip("a100-sxm-80gb")).max_batched_tokens == 4096
    with pytest.raises(BadInput, match="engine_settings takes max_batched_tokens, max_batch, async_scheduling, "
                                       "graph_max_batch, memory_utilization and sampler_bytes_per_logit, not chunk"):
        engine_of(dict(run, engine_settings={"chunk": 1}))
    # --gpu-memory-utilization 0.95 lets the engine fill more of the device, and its KV cache grows by that share
    wider = engine_of(dict(run, engine_settings={"memory_utilization": 0.95}))
    assert wider.memory_utilization == 0.95 != engine_of(run).memory_utilization
    # vLLM 0.10-0.13 with --async-scheduling: the scheduler runs a step ahead, its sequences' host work overlapping
    old = dict(run, framework="vllm@0.10")
    synced = engine_of(old)
    ahead = engine_of(dict(old, engine_settings={"max_batched_tokens": 4096, "async_scheduling": True}))
    assert not synced.async_scheduling and ahead.async_scheduling
    assert ahead.sequence_overhead_s == synced.sequence_overhead_s > 0
    assert ahead.max_batched_tokens == 4096 and run["engine_settings"] == {"max_batched_tokens": 4096}  # not consumed
    with pytest.raises(BadInput, match="async_scheduling must be true or false"):
        engine_of(dict(run, engine_settings={"async_scheduling": "yes"}))


def test_the_cross_domain_all_reduce_cost_is_the_median_of_the_run_it_is_fitted_on_and_the_note_says_so():
    """SERVED_CROSS_DOMAIN_CALL_S is fitted on the one published cross-node tp run (a main run since session 14): its
    TPOT rows must stay centred on the estimate with it (the fit), and `inference` must still say where it comes from."""
    import statistics

    import pytest

    from xpuplan import api
    from xpuplan.validate.serve import INFERENCE_DIR

    checks = run_inference_validation(INFERENCE_DIR / "tt-inference-server-dsr1-h100x16.yaml")
    errors = [c.predicted / c.reported - 1 for c in checks if c.metric == "tpot_s"]
    assert len(errors) >= 5 and {c.role for c in checks if c.metric == "tpot_s"} == {"main"}
    assert statistics.median(errors) == pytest.approx(0.0, abs=0.01)
    r = api.inference(model="deepseek-v3", chip="h100-sxm", devices=16, tp=16, input_len=128, output_len=128,
                      concurrency=1, engine="sglang", precision="fp8")
    notes = " ".join(r.extra.get("notes", []))
    assert "fitted on the one published run" in notes and "113 us" in notes


def test_a_run_measured_without_an_api_server_is_priced_without_one():
    """``server: none`` (trtllm-bench, MLPerf's LoadGen) drops the front end's request and streaming time; any other
    value is one line naming the field."""
    import pytest

    from xpuplan.errors import BadInput
    from xpuplan.validate.serve import engine_of

    run = {"id": "r", "framework": "trt-llm", "chip": "h100-sxm"}
    served, offline = engine_of(run), engine_of(dict(run, server="none"))
    assert served.request_overhead_s > 0 and served.stream_token_s > 0
    assert offline.request_overhead_s == 0 and offline.stream_token_s == 0
    assert offline.max_batched_tokens == served.max_batched_tokens
    with pytest.raises(BadInput, match="server must be http .* or none"):
        engine_of(dict(run, server="grpc"))


def test_every_offline_harness_run_says_so():
    """Every run of trtllm-bench's tables and of MLPerf (LoadGen drives the engine in-process) carries server: none."""
    from xpuplan.validate.serve import INFERENCE_DIR
    from xpuplan.validate.train import load_runs

    for name in ("trtllm-latency", "trtllm-perf-overview", "mlperf-inference-v4.1", "mlperf-inference-v5.1"):
        runs = load_runs(INFERENCE_DIR / f"{name}.yaml")
        assert runs and all(run.get("server") == "none" for run, _ in runs), name


KV_CACHE_DENSE = 0.05
"""the KV cache vLLM allocates for a dense 8B model on one H100 or A100, against its startup logs: within 0.5% and
1.9% when the check was made (session 28)"""


def test_the_checks_kept_apart_are_priced_and_dense_kv_cache_matches_vllms_logs():
    """The issue checks kept out of the serving medians (data/validation/checks: GPUStack's gpt-oss 32k bursts for
    issue 22's TPOT check, vLLM's startup logs for the KV cache it allocates) price every run. The dense models'
    KV cache matches the logs; the MoE ones do not (vLLM keeps far more outside the weights and the cache: reported in
    validation-inference.md, session 28, not asserted), nor does the gpt-oss TPOT check (within 20%)."""
    import math
    from pathlib import Path

    checks = run_inference_validation(Path(__file__).resolve().parents[2] / "data" / "validation" / "checks")
    assert {c.metric for c in checks} == {"tpot_s", "kv_cache_bytes_per_device"}
    assert sum(c.metric == "tpot_s" for c in checks) == 4
    assert all(math.isfinite(c.predicted) and c.predicted > 0 and c.role == "holdout" for c in checks)
    assert not {c.id for c in checks} & {c.id for c in run_inference_validation()}
    dense = [c for c in checks if c.metric == "kv_cache_bytes_per_device" and "llama" in c.id]
    assert len(dense) == 2 and all(abs(c.error) <= KV_CACHE_DENSE for c in dense)


def test_a_run_setting_the_engines_memory_share_is_checked():
    import pytest

    from xpuplan.errors import BadInput
    from xpuplan.validate.serve import engine_of

    run = {"id": "r", "framework": "vllm@0.10", "chip": "h100-sxm"}
    with pytest.raises(BadInput, match="memory_utilization must be in"):
        engine_of(dict(run, engine_settings={"memory_utilization": 1.5}))
    with pytest.raises(BadInput, match="engine_settings.memory_utilization must be a number in"):
        engine_of(dict(run, engine_settings={"memory_utilization": "most"}))
