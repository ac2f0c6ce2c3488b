"""Write catalog/accuracy.yaml: how far xpuplan's estimates land from published runs they were not fitted on.

    .venv/bin/python benchmarks/accuracy.py             # the whole validation, leave-one-source-out included (~10 min)
    .venv/bin/python benchmarks/accuracy.py --cv FILE   # training bands from a saved `xpuplan validate --cv --json`

Each band is the median and the 90th percentile of |predicted / measured - 1| over one kind of published run:

* training, dense and MoE: every published training run, a main run predicted by the calibration refitted without
  its own source (``xpuplan validate --cv``), a holdout by the catalog's values, which never saw it; dense again per
  chip, and per chip and framework, where at least :data:`MIN_RUNS` runs describe them;
* fine-tuning: every run of ``data/posttrain`` (all holdouts);
* RL: every NeMo RL step row ``benchmarks/rl_check.py`` prices (v0.4-v0.7; nothing fitted on them);
* serving: the holdout runs of ``data/validation/inference`` (``xpuplan validate --inference``), per figure,
  and again per load regime (concurrency up to 8, and above) where enough runs set one.

The figures describe the estimator as it is when the file is written; the script is rerun whenever a change moves
the validation (the README's results table and the records in benchmarks/results/ say when).
"""

from __future__ import annotations

import argparse
import datetime
import json
from pathlib import Path

import numpy as np
import yaml

from xpuplan.catalog import CATALOG_DIR
from xpuplan.catalog.accuracy import LOW_CONCURRENCY
from xpuplan.errors import XpuplanError
from xpuplan.validate import load_runs, run_inference_validation
from xpuplan.validate.rl import STEP_FILES, price_rl_run, rl_runs

OUT = CATALOG_DIR / "accuracy.yaml"
ROOT = Path(__file__).resolve().parents[1]
SERVING = {"output_tokens_per_s": ("output_tokens_per_s", "output_tokens_per_s_per_device",
                                   "input_tokens_per_s_per_device", "total_tokens_per_s"),
           "tpot_s": ("tpot_s",), "ttft_s": ("ttft_s",)}
"""each band's serving figure and the validation metrics that measure it (throughputs as one)"""
REGIMES = {"at_low_concurrency": lambda c: c <= LOW_CONCURRENCY, "under_load": lambda c: c > LOW_CONCURRENCY}
"""a serving run's load regime by the concurrency it set (a burst of requests sent at once sets none)"""
REGIME_WORDS = {"at_low_concurrency": f"at concurrency up to {LOW_CONCURRENCY}",
                "under_load": f"at concurrency above {LOW_CONCURRENCY}"}
MIN_RUNS = 8
"""runs a narrower band needs before the file keeps it (a chip, a chip and framework, a serving load regime)"""


def band(errors, basis: str) -> dict:
    e = np.abs(np.asarray(errors, dtype=float))
    return {"median": round(float(np.median(e)), 3), "p90": round(float(np.percentile(e, 90)), 3),
            "runs": int(e.size), "basis": basis}


def training_runs(cv_json: str | None) -> list[dict]:
    """Every published training run predicted without its own source (or as a holdout): chip, framework, whether
    the model is a mixture of experts, and the error."""
    if cv_json:
        runs = json.loads(Path(cv_json).read_text())["runs"]
        return [{k: r[k] for k in ("chip", "framework", "moe", "error")} for r in runs]
    from xpuplan.validate.calibrate import leave_one_source_out

    cv = leave_one_source_out()
    return [{"chip": c.chip, "framework": c.framework, "moe": c.id in cv.moe, "error": c.error} for c in cv.checks]


def training_bands(runs: list[dict]) -> dict:
    """The training section: dense and MoE over every run; dense again per chip and per chip and framework where
    :data:`MIN_RUNS` runs describe them; and the chips any published run ran on."""
    basis = "pre-training runs predicted blind (leave-one-source-out, or holdouts)"
    dense = [r for r in runs if not r["moe"]]
    out = {"dense": band([r["error"] for r in dense], f"dense {basis}"),
           "moe": band([r["error"] for r in runs if r["moe"]], f"mixture-of-experts {basis}"),
           "dense_by_chip": {}, "dense_by_chip_framework": {}}
    for chip in sorted({r["chip"] for r in dense}):
        mine = [r for r in dense if r["chip"] == chip]
        if len(mine) >= MIN_RUNS:
            out["dense_by_chip"][chip] = band([r["error"] for r in mine], f"dense {basis}, on {chip}")
        for framework in sorted({r["framework"] for r in mine}):
            both = [r["error"] for r in mine if r["framework"] == framework]
            if len(both) >= MIN_RUNS:
                out["dense_by_chip_framework"].setdefault(chip, {})[framework] = band(
                    both, f"dense {basis}, on {chip} under {framework}")
    out["chips_with_runs"] = sorted({r["chip"] for r in runs})
    return out


def fine_tuning_errors() -> list[float]:
    from xpuplan.validate import check_run

    return [check_run(r, w).error for r, w in load_runs(ROOT / "data" / "posttrain")]


def rl_errors() -> list[float]:
    out = []
    for name in STEP_FILES:
        for run in rl_runs(name):
            try:
                out.append(price_rl_run(run).step_time_s / run["step_time_s"] - 1.0)
            except XpuplanError:
                continue
    return out


def serving_checks() -> list:
    """The holdout serving runs, predicted (the validation runs once; each regime filters it)."""
    return run_inference_validation(role="holdout")


def serving_errors(checks: list, regime: str | None = None) -> dict[str, list[float]]:
    """Holdout serving errors per figure: every run, or one load regime of the runs that set a concurrency
    (:data:`REGIMES`)."""
    if regime is not None:
        checks = [c for c in checks if c.concurrency is not None and REGIMES[regime](c.concurrency)]
    return {k: [c.error for c in checks if c.metric in metrics] for k, metrics in SERVING.items()}


def serving_bands() -> dict:
    """The serving section: each figure over every holdout run, and again at low concurrency and under load."""
    basis = "holdout serving runs, from publishers nothing was fitted on"
    checks = serving_checks()
    out = {k: band(v, basis) for k, v in serving_errors(checks).items()}
    for regime in REGIMES:
        for k, v in serving_errors(checks, regime).items():
            if len(v) >= MIN_RUNS:
                out[f"{k}_{regime}"] = band(v, f"{basis}, {REGIME_WORDS[regime]}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cv", help="a saved `xpuplan validate --cv --json` whose runs give the training bands")
    args = parser.parse_args()
    doc = {
        "training": training_bands(training_runs(args.cv)),
        "fine_tuning": band(fine_tuning_errors(), "NVIDIA's published SFT and LoRA throughputs (NeMo, Megatron-Bridge, DGX Cloud, NeMo AutoModel), none fitted on"),
        "rl": band(rl_errors(), "NeMo RL's published GRPO step times, v0.4-v0.7, none fitted on"),
        "serving": serving_bands(),
    }
    head = ("# How far xpuplan's estimates land from published runs they were not fitted on: the median and the 90th\n"
            "# percentile of |predicted / measured - 1| over each kind of run (catalog/accuracy.py reads it; every\n"
            "# estimate carries its band as `expected_error`). Written by `.venv/bin/python benchmarks/accuracy.py`\n"
            f"# on {datetime.date.today()}; rerun it when the validation moves. Do not edit by hand.\n")
    OUT.write_text(head + yaml.safe_dump(doc, sort_keys=False, width=120))
    print(OUT.read_text())


if __name__ == "__main__":
    main()
