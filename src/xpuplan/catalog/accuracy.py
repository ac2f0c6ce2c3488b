"""How far xpuplan's estimates have landed from published measurements they were not fitted on: the expected error
an estimate carries (``expected_error`` in the ``--json`` objects, a line under each table).

The figures are data, ``catalog/accuracy.yaml``, written by ``benchmarks/accuracy.py`` from the validation itself:
training runs predicted with the calibration refitted without their own source (leave-one-source-out; holdouts with
the catalog's values, which never saw them), fine-tuning and RL steps and serving runs that nothing was fitted on.
This module reads them and picks the band that describes an estimate; it changes no estimate."""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass

from ..errors import BadInput
from .files import read_yaml

TRAINING_KINDS = ("dense", "moe")
SERVING_METRICS = ("output_tokens_per_s", "tpot_s", "ttft_s")
"""the serving figures a band is kept for, as the ``inference --json`` keys name them"""
LOW_CONCURRENCY = 8
"""the most sequences in flight a serving estimate may carry and take the low-concurrency bands (issue 22's split)"""


@dataclass(frozen=True, kw_only=True, slots=True)
class Band:
    """The spread of |predicted / measured - 1| over published runs of one kind that the estimate was not fitted on."""

    median: float
    p90: float
    runs: int
    basis: str
    """which runs, and how they were predicted"""

    def to_dict(self) -> dict:
        return {"median_abs": self.median, "p90_abs": self.p90, "runs": self.runs, "basis": self.basis}

    def text(self) -> str:
        return (f"expected error on runs it was not fitted on: ±{self.median:.0%} typical, ±{self.p90:.0%} at the 90th "
                f"percentile ({self.runs} published runs: {self.basis})")


def _band(entry, where: str) -> Band:
    if not isinstance(entry, dict):
        raise BadInput(f"catalog/accuracy.yaml: {where} must be a mapping of median, p90, runs and basis", where)
    try:
        band = Band(median=float(entry["median"]), p90=float(entry["p90"]), runs=int(entry["runs"]),
                    basis=str(entry["basis"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise BadInput(f"catalog/accuracy.yaml: {where} needs median, p90 (fractions), runs and basis ({exc})",
                       where) from None
    if not (0 <= band.median <= band.p90 and band.runs > 0):
        raise BadInput(f"catalog/accuracy.yaml: {where} must have 0 <= median <= p90 and runs > 0", where)
    return band


def _mapping(entry, where: str) -> dict:
    if entry is None:
        return {}
    if not isinstance(entry, dict):
        raise BadInput(f"catalog/accuracy.yaml: {where} must be a mapping", where)
    return entry


@functools.cache
def _doc() -> dict:
    from . import CATALOG_DIR

    return _mapping(read_yaml(CATALOG_DIR / "accuracy.yaml"), "the file")


@functools.cache
def _table() -> dict[str, Band]:
    doc = _doc()
    training = _mapping(doc.get("training"), "training")
    out = {f"training.{k}": _band(training.get(k), f"training.{k}") for k in TRAINING_KINDS}
    for chip, entry in _mapping(training.get("dense_by_chip"), "training.dense_by_chip").items():
        out[f"training.dense.{chip}"] = _band(entry, f"training.dense_by_chip.{chip}")
    for chip, frameworks in _mapping(training.get("dense_by_chip_framework"), "training.dense_by_chip_framework").items():
        for framework, entry in _mapping(frameworks, f"training.dense_by_chip_framework.{chip}").items():
            out[f"training.dense.{chip}.{framework}"] = _band(entry, f"training.dense_by_chip_framework.{chip}.{framework}")
    serving = _mapping(doc.get("serving"), "serving")
    out |= {f"serving.{k}": _band(entry, f"serving.{k}") for k, entry in serving.items()}
    missing = [k for k in SERVING_METRICS if f"serving.{k}" not in out]
    if missing:
        raise BadInput(f"catalog/accuracy.yaml: serving needs a band for {', '.join(missing)}", "serving")
    out["fine_tuning"] = _band(doc.get("fine_tuning"), "fine_tuning")
    out["rl"] = _band(doc.get("rl"), "rl")
    return out


@functools.cache
def _chips_with_runs() -> frozenset[str]:
    return frozenset(_mapping(_doc().get("training"), "training").get("chips_with_runs") or ())


def training_band(moe: bool, task: str = "pretrain", chip: str | None = None, framework: str | None = None) -> Band:
    """The band of a training estimate: a fine-tuning task's own (sft, lora, qlora, dpo); else MoE pre-training's;
    else dense pre-training's on this chip under this framework, or on this chip, where enough published runs describe
    them, or over every chip. A chip no published run ran on says so: its band is other chips' record."""
    table = _table()
    if task != "pretrain":
        return table["fine_tuning"]
    band = table["training.moe"] if moe else table.get(f"training.dense.{chip}.{framework}") \
        or table.get(f"training.dense.{chip}") or table["training.dense"]
    if chip is not None and chip not in _chips_with_runs():
        band = dataclasses.replace(band, basis=f"{band.basis}; no published training run on {chip} was predicted: "
                                               "these are other chips' errors")
    return band


def serving_bands(concurrency: int | None = None) -> dict[str, Band]:
    """The bands of a serving estimate, one for each figure of :data:`SERVING_METRICS`: those of its load regime
    (up to :data:`LOW_CONCURRENCY` sequences in flight, or more) where the file has them, else over every run."""
    table = _table()
    regime = None if concurrency is None else "at_low_concurrency" if concurrency <= LOW_CONCURRENCY else "under_load"
    return {k: table.get(f"serving.{k}_{regime}") or table[f"serving.{k}"] for k in SERVING_METRICS}


def rl_band() -> Band:
    """The band of an RL step estimate."""
    return _table()["rl"]
