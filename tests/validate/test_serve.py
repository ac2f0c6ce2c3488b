"""Serving validation: the accuracy target on the main published serving runs, holdouts reported apart."""

from xpuplan.validate import INFERENCE_TARGET_MEDIAN, inference_summary, run_inference_validation


def test_serving_validation_meets_its_target():
    """Issue 5: median |error| <= 15% on the main published serving runs (benchmarks/results/validation-inference.md)."""
    checks = run_inference_validation()
    summary = inference_summary(checks, "main")["all"]
    assert summary["runs"] >= 20
    assert summary["median_abs_error"] <= INFERENCE_TARGET_MEDIAN
