"""How far xpuplan's estimates have landed from published measurements they were not fitted on: the expected error
an estimate carries (``expected_error`` in the ``--json`` objects, a line under each table).

The figures are data, ``catalog/accuracy.yaml``, written by ``benchmarks/accuracy.py`` from the validation itself:
training runs predicted with the calibration refitted without their own source (leave-one-source-out; holdouts with
the catalog's values, which never saw them), fine-tuning and RL steps and serving runs that nothing was fitted on.
This module reads them and picks the band that describes an estimate; it changes no estimate."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from ..errors import BadInput
from .files import read_yaml

TRAINING_KINDS = ("dense", "moe")
SERVING_METRICS = ("output_tokens_per_s", "tpot_s", "ttft_s")
"""the serving figures a band is kept for, as the ``inference --json`` keys name them"""


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


@functools.cache
def _table() -> dict[str, Band]:
    from . import CATALOG_DIR

    doc = read_yaml(CATALOG_DIR / "accuracy.yaml")
    out = {f"training.{k}": _band((doc.get("training") or {}).get(k), f"training.{k}") for k in TRAINING_KINDS}
    out |= {f"serving.{k}": _band((doc.get("serving") or {}).get(k), f"serving.{k}") for k in SERVING_METRICS}
    out["fine_tuning"] = _band(doc.get("fine_tuning"), "fine_tuning")
    out["rl"] = _band(doc.get("rl"), "rl")
    return out


def training_band(moe: bool, task: str = "pretrain") -> Band:
    """The band of a training estimate: a fine-tuning task's own (sft, lora, qlora, dpo), else dense or MoE
    pre-training's."""
    if task != "pretrain":
        return _table()["fine_tuning"]
    return _table()["training.moe" if moe else "training.dense"]


def serving_bands() -> dict[str, Band]:
    """The bands of a serving estimate, one for each figure of :data:`SERVING_METRICS`."""
    return {k: _table()[f"serving.{k}"] for k in SERVING_METRICS}


def rl_band() -> Band:
    """The band of an RL step estimate."""
    return _table()["rl"]
