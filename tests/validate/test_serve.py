"""Serving validation: the accuracy on the main published serving runs, holdouts reported apart."""

from xpuplan.validate import INFERENCE_TARGET_MEDIAN, inference_summary, run_inference_validation

SESSION_9_MAIN_MEDIAN = 0.16
"""the main runs' median |error| when issue 17's scheduler landed (15.9%): a guard against regressions, above issue 5's
15% target (INFERENCE_TARGET_MEDIAN), which the old model met at 14.3% and this one does not. Pricing TTFT as the
iterations a request waits for, without the half decode step the old model added and with no per-request server
cost named yet (issue 22), is the larger part of the change; validation-inference.md says so."""


def test_serving_validation_stays_at_its_measured_level_and_says_the_target_is_missed():
    checks = run_inference_validation()
    summary = inference_summary(checks, "main")["all"]
    assert summary["runs"] >= 20
    assert summary["median_abs_error"] <= SESSION_9_MAIN_MEDIAN
    assert INFERENCE_TARGET_MEDIAN == 0.15  # the target itself does not move with the model
