"""Every estimate carries its expected error: the spread of xpuplan's errors on published runs of its kind that it
was not fitted on (catalog/accuracy.yaml, written by benchmarks/accuracy.py). The file must describe the validation
as it is: where a band can be recomputed quickly it is, and a band that no longer matches fails here until the
script is rerun."""

import collections
import json

import numpy as np
import pytest

import xpuplan
from xpuplan import BadInput
from xpuplan.catalog import accuracy, load_chip, load_model, model_from_dict
from xpuplan.validate import load_runs

ROUNDING = 6e-4  # the file keeps three decimals


def _spread(errors) -> tuple[float, float, int]:
    e = np.abs(np.asarray(errors, dtype=float))
    return float(np.median(e)), float(np.percentile(e, 90)), int(e.size)


def _same(band, errors):
    median, p90, runs = _spread(errors)
    assert band.runs == runs
    assert band.median == pytest.approx(median, abs=ROUNDING)
    assert band.p90 == pytest.approx(p90, abs=ROUNDING)


def test_a_training_estimate_carries_the_band_of_its_kind():
    dense = xpuplan.train(model="llama3-8b", chip="h100-sxm", devices=8, seq_len=8192, global_batch=64)
    moe = xpuplan.train(model="qwen3-30b-a3b", chip="h100-sxm", devices=16, seq_len=4096, global_batch=256, ep=8)
    lora = xpuplan.train(model="llama3-8b", chip="h100-sxm", devices=8, seq_len=4096, global_batch=64, task="lora")
    bands = [r.to_dict()["expected_error"] for r in (dense, moe, lora)]
    assert bands[0] == accuracy.training_band(False, chip="h100-sxm", framework="megatron").to_dict()
    assert "on h100-sxm under megatron" in bands[0]["basis"]  # enough published runs for a record of its own
    assert bands[1] == accuracy.training_band(True).to_dict()
    assert bands[2] == accuracy.training_band(False, "lora").to_dict()
    assert len({b["median_abs"] for b in bands}) == 3  # three kinds, three bands
    for b in bands:
        assert 0 < b["median_abs"] <= b["p90_abs"] and b["runs"] > 0 and b["basis"]


def test_a_serving_estimate_carries_a_band_per_figure_and_its_table_says_so(run_cli):
    args = ("inference", "--model", "llama3-8b", "--chip", "h100-sxm", "--devices", "1", "--input-len", "1000",
            "--output-len", "200", "--concurrency", "8")
    code, out, _ = run_cli(*args, "--json")
    result = json.loads(out)
    result = result[0] if isinstance(result, list) else result
    assert code == 0 and result["expected_error"] == {k: b.to_dict() for k, b in accuracy.serving_bands(8).items()}
    assert "at concurrency up to 8" in result["expected_error"]["ttft_s"]["basis"]  # its load regime's record
    assert accuracy.serving_bands(64)["ttft_s"].median < accuracy.serving_bands(8)["ttft_s"].median
    code, out, _ = run_cli(*args)
    assert code == 0 and "expected error on runs it was not fitted on" in " ".join(out.split())


def test_the_training_bands_count_every_published_run_of_their_kind():
    """The dense and MoE bands are leave-one-source-out over every published training run: a run added to
    data/validation and not to the band fails here (the cross-validation itself takes minutes: benchmarks/)."""
    runs = load_runs()
    moe = [(model_from_dict(r["model"], w) if isinstance(r["model"], dict) else load_model(r["model"])).moe is not None
           for r, w in runs]
    assert accuracy.training_band(True).runs == sum(moe)
    assert accuracy.training_band(False).runs == len(runs) - sum(moe)
    on = collections.Counter(load_chip(r["chip"]).name for (r, _), m in zip(runs, moe) if not m)
    for chip, count in on.items():
        band = accuracy.training_band(False, chip=chip)
        assert band.runs == (count if count >= 8 else len(runs) - sum(moe)), chip  # its own band from 8 runs up


def test_a_chip_with_its_own_record_gets_it_and_one_without_any_says_so():
    own = accuracy.training_band(False, chip="ascend-910b", framework="mindspeed")
    assert "ascend-910b under mindspeed" in own.basis and own.median > accuracy.training_band(False).median
    blind = accuracy.training_band(False, chip="mlu590", framework="megatron")
    assert blind.median == accuracy.training_band(False).median and "no published training run on mlu590" in blind.basis


def test_the_fine_tuning_rl_and_serving_bands_are_the_validation_as_it_is_now(benchmark_script):
    """benchmarks/accuracy.py writes the file: what it would write now must be what the file holds."""
    script = benchmark_script("accuracy")
    _same(accuracy.training_band(False, "sft"), script.fine_tuning_errors())
    _same(accuracy.rl_band(), script.rl_errors())
    checks = script.serving_checks()
    for metric, errors in script.serving_errors(checks).items():
        _same(accuracy.serving_bands()[metric], errors)
    for regime, concurrency in (("at_low_concurrency", 1), ("under_load", 64)):
        for metric, errors in script.serving_errors(checks, regime).items():
            _same(accuracy.serving_bands(concurrency)[metric], errors)


@pytest.mark.parametrize("entry, words", [
    (None, "must be a mapping"),
    ({"median": 0.1, "p90": 0.2, "runs": 5}, "needs median, p90"),
    ({"median": 0.3, "p90": 0.2, "runs": 5, "basis": "x"}, "median <= p90"),
    ({"median": 0.1, "p90": 0.2, "runs": 0, "basis": "x"}, "runs > 0"),
])
def test_a_malformed_band_is_one_line_naming_it(entry, words):
    with pytest.raises(BadInput, match=words) as err:
        accuracy._band(entry, "training.dense")
    assert "training.dense" in str(err.value) and "\n" not in str(err.value)
