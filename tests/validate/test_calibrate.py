"""Calibration guards and the cross-validated error (issue 15).

Every calibrated value is searched on a grid inside its physical band; a value that ends on the edge of its grid
(where the edge is not also the band's) means the fit wanted to go further than physics allows, i.e. a cost the
model does not name. The known ones are listed below as bugs to remove; a new one fails. The leave-one-source-out
error — each source of main runs predicted by values fitted without it — is asserted, not only the fitted error.
"""

import pytest

from xpuplan.validate import calibrate

KNOWN_ON_GRID_EDGE = {  # issue 15: to be removed by naming the costs these values absorb (naming the fp8 casts took
    # the H100's GEMM size constant and NCCL latency, and the 500 W H100's GEMM size constant, off their edges; with
    # Megatron's H100 runs in the fit the H100's NCCL latency went to its lowest value, and naming the expert
    # imbalance, with the router balancing each MoE run used, took it off again)
    ("chip", "a100-sxm-80gb", "gemm_half_flops"), ("chip", "a100-sxm-80gb", "scale_out_latency_s"),
    # the 500 W H100 (torchtitan's runs only): once FSDP under a pipeline gathered and reduced once a step, as
    # torchtitan runs it, its pipelined runs came out fast and its GEMM size constant and latency went to the slow ends
    ("chip", "h100-96gb-500w", "gemm_half_flops"), ("chip", "h100-96gb-500w", "scale_out_latency_s"),
    # since session 17 the latency grid reaches its band's lower bound (1 us): the 910B's and the H100's 2 us, which
    # sat on the old grid's first point, are inside it (the fit gains nothing measurable below them)
    ("chip", "ascend-910b", "attention_fwd"),
}


def test_every_grid_lies_inside_its_physical_band():
    for k in calibrate.knobs():
        low, high = k.band
        assert k.grid and all(low <= v <= high for v in k.grid), k.key
        assert k.why


def test_every_calibrated_value_lies_inside_its_band():
    values = calibrate.catalog_values(calibrate.knobs())
    for k in calibrate.knobs():
        assert k.band[0] <= values[k.key] <= k.band[1], (k.key, values[k.key], k.band)


def test_no_new_value_sits_on_the_edge_of_its_grid():
    ks = calibrate.knobs()
    values = calibrate.catalog_values(ks)
    on_edge = {k.key for k in ks
               if (values[k.key] == k.grid[0] and k.grid[0] > k.band[0]) or
               (values[k.key] == k.grid[-1] and k.grid[-1] < k.band[1])}
    assert on_edge <= KNOWN_ON_GRID_EDGE, f"newly on a grid edge: {sorted(on_edge - KNOWN_ON_GRID_EDGE)}"


def test_priors_are_no_more_optimistic_than_the_calibrated_profiles():
    """An uncalibrated chip starts from the least optimistic calibrated value of each fraction."""
    from xpuplan.catalog import load_chip

    generic = load_chip("gaudi3").efficiency
    assert "generic prior" in generic.source
    for owner in calibrate.CHIP_FAMILIES:
        calibrated = load_chip(owner).efficiency
        assert generic.gemm_max <= calibrated.gemm_max
        assert generic.gemm_half_flops >= calibrated.gemm_half_flops
        assert generic.attention_fwd <= calibrated.attention_fwd
        assert generic.scale_out_latency_s >= calibrated.scale_out_latency_s
    assert "inherits ascend-910b" in load_chip("ascend-910c").efficiency.source
    assert "inherits b200 -> h100-sxm" in load_chip("gb200").efficiency.source


def test_a_knob_no_run_informs_takes_the_least_optimistic_value_of_its_class():
    """Issue 15 item 5 for frameworks as for chips: in a fold where no run describes a framework, its knobs take the
    slowest value the other frameworks were fitted to, not Megatron's defaults (the fastest reference)."""
    ks = calibrate.knobs()
    scale = next(k for k in ks if k.owner == "llm-foundry" and k.field == "compute_scale")
    others = [k for k in ks if k.field == "compute_scale" and k is not scale]
    values = {k.key: 1.0 for k in ks} | {k.key: v for k, v in zip(others, (0.9, 0.76, 1.1))}
    informed = {k.key for k in others}
    assert calibrate.class_prior(scale, ks, values, informed) == 0.76
    # with no fitted member of its class, a knob takes the least optimistic end of its own grid
    assert calibrate.class_prior(scale, ks, values, set()) == scale.grid[0]
    passes = next(k for k in ks if k.field == "elementwise_passes")
    assert calibrate.class_prior(passes, ks, values, set()) == max(passes.grid)  # more passes: slower


def test_counted_values_are_not_fitted():
    """torch's and torch-compile's element-wise passes are counted from torchtitan's code
    (docs/research/torchtitan-elementwise-bytes.md), so no fit or fold may move them; llm-foundry's stays fitted."""
    from xpuplan.catalog import load_framework

    fitted = {(k.owner, k.field) for k in calibrate.knobs()}
    assert ("torch", "elementwise_passes") not in fitted and ("torch-compile", "elementwise_passes") not in fitted
    assert ("llm-foundry", "elementwise_passes") in fitted
    # PyTorch's own profiles run Megatron's cuBLAS GEMMs and name what differs: their compute_scale is 1, not fitted
    assert ("torch", "compute_scale") not in fitted and ("torch-compile", "compute_scale") not in fitted
    assert load_framework("torch").compute_scale == load_framework("torch-compile").compute_scale == 1.0


def test_a_flat_valley_does_not_move_a_knob(monkeypatch):
    """The coordinate search keeps a knob where it is unless another grid value fits better by MIN_GAIN: values the
    data cannot tell apart do not drift to the edge of their grid."""
    ks = [k for k in calibrate.knobs() if k.owner == "h100-sxm" and k.field == "scale_out_latency_s"]
    key = ks[0].key
    runs = [({"id": "r", "chip": "h100-sxm"}, "x.yaml")]
    slope = {"value": 0.0}
    monkeypatch.setattr(calibrate, "predict", lambda runs, ks, values: values[key])
    monkeypatch.setattr(calibrate, "loss", lambda latency: 0.1 + slope["value"] * latency * 1e5)
    start = {key: 4e-6}
    slope["value"] = 2e-4  # informed (2.8e-4 across the grid), but 2 us beats 4 us by 4e-5 only: stays
    assert calibrate.fit(runs, ks, start)[key] == 4e-6
    slope["value"] = 1.0  # 2 us better by 0.2: moves
    assert calibrate.fit(runs, ks, start)[key] == ks[0].grid[0]
    slope["value"] = 0.0  # no run depends on it: uninformed, the least optimistic latency
    assert calibrate.fit(runs, ks, start)[key] == max(ks[0].grid)


def test_a_knob_its_runs_do_not_depend_on_is_uninformed(monkeypatch):
    """A fold whose remaining runs touch a knob without depending on it (DeepSpeed's ZeRO-3 bandwidth when only its
    ZeRO-1 runs remain) gives it the least optimistic value, as for a knob no run touches: not its prior (Megatron's
    full bandwidth), nor whichever grid value a tie happens to pick."""
    ks = [k for k in calibrate.knobs() if k.owner == "deepspeed" and k.field == "zero3_bandwidth_scale"]
    key = ks[0].key
    monkeypatch.setattr(calibrate, "predict", lambda runs, ks, values: None)
    monkeypatch.setattr(calibrate, "loss", lambda checks: 0.1)
    runs = [({"id": "r", "chip": "a100-sxm-80gb", "framework": "deepspeed"}, "x.yaml")]
    assert calibrate.fit(runs, ks, {key: 1.0})[key] == min(ks[0].grid)


@pytest.fixture(scope="module")
def cv():
    return calibrate.leave_one_source_out()


CV_MEDIAN, CV_P90 = 0.12, 0.33
"""Regression bounds on the leave-one-source-out error over all published runs (recorded in
benchmarks/results/validation.md with its command); issue 15's target is 8% and 20%. Median 0.12 -> 0.125 in session
16: 24 holdouts joined (12.0% / 30.6% with them), and a knob its runs do not depend on became uninformed (the least
optimistic value) where a tie used to pick its grid's first value: 12.1% / 30.5%. Back to 0.12 in session 17, when a
rank's experts became one grouped GEMM: 11.8% / 30.0% (11.8% / 30.5% with Megatron-LM's four functional-test
timings added as holdouts)."""


def test_cross_validated_error_stays_within_its_regression_bounds(cv):
    summary = cv.summary("cv")
    assert summary["runs"] == len(cv.fitted) >= 180
    assert summary["median_abs_error"] <= CV_MEDIAN
    assert summary["p90_abs_error"] <= CV_P90


def test_cross_validation_never_fits_a_source_on_itself(cv):
    """A main source predicted without itself cannot do better than with itself on every run (the fitted
    values saw it); holdouts are predicted the same way in both, since nothing ever fits on them."""
    for c, f in zip(cv.checks, cv.fitted):
        assert c.id == f.id
        if c.role == "holdout":
            assert c.error == pytest.approx(f.error)
    main = [(abs(c.error), abs(f.error)) for c, f in zip(cv.checks, cv.fitted) if c.role == "main"]
    assert sum(a for a, _ in main) > sum(b for _, b in main)


def test_the_cross_validation_says_which_sources_it_misses_and_which_way(cv):
    """Per source, worst first: every run counted once, a holdout source's left-out error is its fitted error, and
    the Markdown report carries the table (benchmarks/results/validation.md)."""
    from xpuplan.report.validation import cv_json, cv_markdown

    table = cv.by_source()
    assert sum(s["runs"] for s in table.values()) == len(cv.checks)
    medians = [s["median_abs_error"] for s in table.values()]
    assert medians == sorted(medians, reverse=True)
    for s in table.values():
        if s["role"] == "holdout":  # a file of holdouts only; "main+holdout" where a file holds both
            assert s["median_abs_error"] == pytest.approx(s["fitted_median_abs_error"])
        assert abs(s["median_error"]) <= s["median_abs_error"] + 1e-12  # |median e| <= median |e|
    worst = next(iter(table))
    assert f"| {worst} |" in cv_markdown(cv) and cv_json(cv)["by_source"] == table
