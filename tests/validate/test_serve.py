"""Serving validation: the accuracy on the main published serving runs, holdouts reported apart."""

from xpuplan.validate import INFERENCE_TARGET_MEDIAN, inference_summary, run_inference_validation

SESSION_10_ALL_MEDIAN = 0.20
"""every published run's median |error| once the engines' fitted scalars were removed (session 10: 18.4% over the main
runs, which nothing is fitted on any more): a guard against regressions, above issue 5's 15% target
(INFERENCE_TARGET_MEDIAN). The fitted model scored 15.9% on the runs it was fitted on and 46% on Llama-3.1-8B at
concurrency 1 under vLLM, which it never saw; MoE runs, MI300X and FP4 on Blackwell are what the factors had absorbed
(validation-inference.md says so)."""
DENSE_HOPPER_MEDIAN = 0.10
"""dense models on H100/H200-class chips, priced from the GH100 kernel table alone: 6.9% throughput and 7.0% TPOT
median when the factors went (the fitted model: 7.7% and 10.2%)"""


def _dense_hopper(checks):
    moe = ("mixtral", "qwen3-235b", "qwen3-30b", "deepseek", "dsr1", "dsv3")
    return [c for c in checks if c.chip in ("h100-sxm", "h200", "h800") and not any(m in c.id for m in moe)
            and c.metric in ("output_tokens_per_s", "tpot_s")]


def test_serving_validation_stays_at_its_measured_level_and_says_the_target_is_missed():
    checks = run_inference_validation()
    summary = inference_summary(checks, "main")["all"]
    assert summary["runs"] >= 20
    assert summary["median_abs_error"] <= SESSION_10_ALL_MEDIAN
    assert INFERENCE_TARGET_MEDIAN == 0.15  # the target itself does not move with the model


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
