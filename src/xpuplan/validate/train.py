"""Training validation: predict published training runs and report the error.

Each run in ``data/validation/*.yaml`` (schema in ``data/validation/README.md``)
gives a model, a chip, a plan and one reported figure. The reported figure is
converted to tokens/s with the source's own FLOP count (never ours), the run
is predicted with the chip's default efficiency profile (nothing fitted per
run), and the error is ``predicted / reported - 1``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..catalog import load_chip, load_framework, load_model, model_from_dict, read_yaml
from ..cost.compute import CROSS_ENTROPY_BYTES_PER_LOGIT
from ..errors import BadInput
from ..plan import ParallelPlan, resolve_plan
from ..specs import Chip, Model, TrainJob
from ..training import estimate, make_job
from ..units import HOUR, parse_quantity


def _data_dir() -> Path:
    """The published runs: the copy an installed wheel carries (``xpuplan/_validation``, put there by the build hook
    in setup.py from the checkout's ``data/validation``, the one copy in git), else the checkout's own folder."""
    from importlib.resources import files

    packaged = Path(str(files("xpuplan") / "_validation"))
    return packaged if packaged.is_dir() else Path(__file__).resolve().parents[3] / "data" / "validation"


DATA_DIR = _data_dir()
GIB = 2**30
TARGET_MEDIAN, TARGET_P90 = 0.10, 0.20
METRICS = ("flops_per_s_per_device", "mfu", "tokens_per_s", "tokens_per_s_per_device", "step_time_s", "device_hours")


@dataclass(frozen=True, kw_only=True, slots=True)
class RunCheck:
    """One published run against its prediction."""

    id: str
    source: str
    role: str
    model: str
    chip: str
    framework: str
    devices: int
    plan: str
    metric: str
    reported_tokens_per_s: float
    predicted_tokens_per_s: float
    predicted_mfu: float
    fits: bool
    plan_complete: bool
    predicted_memory_gib: float = 0.0
    reported_memory_gib: float | None = None
    """the source's per-device memory reading, where it gives one"""

    @property
    def error(self) -> float:
        return self.predicted_tokens_per_s / self.reported_tokens_per_s - 1.0

    @property
    def memory_error(self) -> float | None:
        return None if self.reported_memory_gib is None else self.predicted_memory_gib / self.reported_memory_gib - 1.0


@dataclass(frozen=True, kw_only=True, slots=True)
class ValidationReport:
    runs: list[RunCheck]

    def errors(self, role: str | None = None) -> np.ndarray:
        return np.array([abs(r.error) for r in self.runs if role is None or r.role == role])

    def summary(self, role: str | None = None) -> dict:
        e = self.errors(role)
        if e.size == 0:
            return {"runs": 0, "median_abs_error": None, "p90_abs_error": None}
        return {"runs": int(e.size), "median_abs_error": float(np.median(e)), "p90_abs_error": float(np.percentile(e, 90))}

    def memory_summary(self) -> dict:
        """Predicted vs published per-device memory, over the runs whose source gives it."""
        e = np.array([abs(r.memory_error) for r in self.runs if r.memory_error is not None])
        if e.size == 0:
            return {"runs": 0, "median_abs_error": None, "p90_abs_error": None}
        return {"runs": int(e.size), "median_abs_error": float(np.median(e)), "p90_abs_error": float(np.percentile(e, 90))}

    def to_dict(self) -> dict:
        return {
            "summary": {"all": self.summary(), "main": self.summary("main"), "holdout": self.summary("holdout"),
                        "memory": self.memory_summary(),
                        "target": {"median_abs_error": TARGET_MEDIAN, "p90_abs_error": TARGET_P90}},
            "runs": [dataclasses.asdict(r) | {"error": r.error, "memory_error": r.memory_error} for r in self.runs],
        }


def reported_tokens_per_s(run: dict, where: str) -> float:
    """The run's reported figure as tokens/s, using the source's own FLOPs per token."""
    rep = run["reported"]
    metric, value = rep.get("metric"), rep.get("value")
    devices, tokens_per_step = run["devices"], run["seq_len"] * run["global_batch"]
    if metric not in METRICS:
        raise BadInput(f"{where}: reported.metric must be one of {', '.join(METRICS)}, got {metric!r}", "metric")
    if not isinstance(value, (int, float)) or value <= 0:
        raise BadInput(f"{where}: reported.value must be a positive number", "value")
    if metric == "flops_per_s_per_device":
        return value * devices / float(rep["flops_per_token"])
    if metric == "mfu":
        return value * float(rep["peak_flops_per_s"]) * devices / float(rep["flops_per_token"])
    if metric == "tokens_per_s":
        return float(value)
    if metric == "tokens_per_s_per_device":
        return value * devices
    if metric == "step_time_s":
        return tokens_per_step / value
    return float(rep["tokens"]) / (value * HOUR) * devices  # device_hours


def run_framework(run: dict, plan_in: dict, adjust=None):
    """The run's framework profile; a published ``sequence_parallel`` flag (popped from ``plan_in``) and a run's
    ``recompute_mla_up``, ``attention_kernel`` and ``cross_entropy`` override the profile's defaults.
    ``adjust(framework)`` replaces profile values (calibration)."""
    framework = load_framework(run.get("framework") or "megatron")
    framework = adjust(framework) if adjust else framework
    sp = plan_in.pop("sequence_parallel", None)
    framework = framework if sp is None else dataclasses.replace(framework, sequence_parallel=bool(sp))
    if run.get("recompute_mla_up") is not None:  # Megatron-Core recompute_modules ['mla_up_proj', ...]
        framework = dataclasses.replace(framework, recompute_mla_up=bool(run["recompute_mla_up"]))
    if run.get("attention_kernel"):  # the kernel the run's own configuration chose over the profile's default
        framework = dataclasses.replace(framework, attention_kernel=str(run["attention_kernel"]))
    if run.get("cross_entropy") is not None:  # the loss implementation the run's recipe chose
        kind = str(run["cross_entropy"])
        if kind not in CROSS_ENTROPY_BYTES_PER_LOGIT:
            raise BadInput(f"run {run.get('id')}: cross_entropy must be one of "
                           f"{', '.join(CROSS_ENTROPY_BYTES_PER_LOGIT)}, got {kind!r}", "cross_entropy")
        framework = dataclasses.replace(framework, loss_traffic_bytes_per_logit=CROSS_ENTROPY_BYTES_PER_LOGIT[kind])
    return framework


def run_job(run: dict, plan_in: dict, adjust=None):
    """The run's job: its sequence, batch and framework, with the framework's TP and EP overlap where the run used them
    and the deduplicating expert dispatch where it ran one."""
    framework = run_framework(run, plan_in, adjust)
    return make_job(seq_len=int(run["seq_len"]), global_batch=int(run["global_batch"]), framework=framework,
                    precision=run.get("precision"),
                    tp_overlap=framework.tp_overlap_efficiency if run.get("tp_comm_overlap") else 0.0,
                    ep_overlap=framework.ep_overlap_efficiency if run.get("ep_comm_overlap") else 0.0,
                    ep_dedup=bool(run.get("ep_dedup", False)), grad_reduce=run.get("grad_reduce"),
                    moe_grouped_gemm=run.get("moe_grouped_gemm"),
                    grad_accumulation_fusion=run.get("grad_accumulation_fusion"),
                    optimizer_state=run.get("optimizer_state"),
                    moe_balancing=run.get("moe_balancing"),
                    zero_shard=int(run.get("zero_shard") or 0), offload_layers=int(run.get("offload_layers") or 0),
                    remat_saved=tuple(run.get("remat_saved") or ()),
                    remat_offloaded=tuple(run.get("remat_offloaded") or ()),
                    vocab_tiles=int(run.get("vocab_tiles") or 1),
                    distribute_saved_activations=bool(run.get("distribute_saved_activations", False)),
                    cuda_graphs=tuple(run.get("cuda_graphs") or ()), **_task_fields(run))


TASK_FIELDS = ("task", "lora_rank", "lora_targets", "packed", "mean_seq_len", "reference")
"""a post-training run's task and its settings (TrainJob fields of the same names)"""


def _task_fields(run: dict) -> dict:
    out = {k: run[k] for k in TASK_FIELDS if run.get(k) is not None}
    if isinstance(out.get("lora_targets"), list):
        out["lora_targets"] = tuple(out["lora_targets"])
    return out


@dataclass(frozen=True, slots=True)
class RunSetup:
    """A published run as the estimator sees it."""

    model: Model
    chip: Chip
    job: TrainJob
    plan: ParallelPlan
    """the plan as published"""
    precision: str
    devices: int


def run_setup(run: dict, where: str, adjust_chip=None, adjust_framework=None) -> RunSetup:
    """The model, chip (with the run's own NIC bandwidth), job and published plan of one run; the ``adjust_*``
    functions replace profile values (the calibration tries values through them)."""
    model_spec = run["model"]
    model = model_from_dict(model_spec, f"{where}: model") if isinstance(model_spec, dict) else load_model(model_spec)
    if run.get("mtp_layers") is not None:  # the run trained a different number of multi-token prediction modules
        model = dataclasses.replace(model, mtp_layers=int(run["mtp_layers"]))
    chip = load_chip(run["chip"])
    chip = adjust_chip(chip) if adjust_chip else chip
    if run.get("scale_out"):
        chip = dataclasses.replace(chip, scale_out_bytes_per_s=parse_quantity(run["scale_out"], "bytes_per_s"))
    plan_in = dict(run.get("plan") or {})
    precision = "fp8" if run.get("precision") == "fp8" else "bf16"
    job = run_job(run, plan_in, adjust_framework)
    plan = resolve_plan(model, job, int(run["devices"]), micro_batch=run.get("micro_batch") or 1,
                        precision=precision, **plan_in)
    return RunSetup(model=model, chip=chip, job=job, plan=plan, precision=precision, devices=int(run["devices"]))


def check_run(run: dict, where: str, adjust_chip=None, adjust_framework=None) -> RunCheck:
    """Predict one published run (with profile values replaced by ``adjust_*`` when given)."""
    setup = run_setup(run, where, adjust_chip, adjust_framework)
    model, chip, job, plan = setup.model, setup.chip, setup.job, setup.plan
    result = estimate(model, chip, job, setup.devices, plan)
    p = plan
    plan_text = f"tp{p.tp} pp{p.pp} dp{p.dp}" + (f" cp{p.cp}" if p.cp > 1 else "") + (f" ep{p.ep}" if p.ep > 1 else "") \
        + (f" etp{p.expert_tp}" if p.expert_tp != p.tp else "") \
        + (f" v{p.vpp}" if p.vpp > 1 else "") + f" mb{p.micro_batch} z{p.zero} {p.recompute[:3]}"
    return RunCheck(
        id=run["id"], source=where, role=run.get("role", "main"), model=model.name, chip=chip.name,
        framework=job.framework.name,
        devices=int(run["devices"]), plan=plan_text, metric=run["reported"]["metric"],
        reported_tokens_per_s=reported_tokens_per_s(run, where), predicted_tokens_per_s=result.tokens_per_s,
        predicted_mfu=result.mfu, fits=result.fits, plan_complete=bool(run.get("plan_complete", False)),
        predicted_memory_gib=result.memory_per_device_bytes / GIB,
        reported_memory_gib=None if run.get("reported_memory_gib") is None else float(run["reported_memory_gib"]),
    )


def load_runs(data: str | Path | None = None) -> list[tuple[dict, str]]:
    """(run, file name) pairs from a validation file or folder."""
    path = Path(data) if data else DATA_DIR
    files = sorted(path.glob("*.yaml")) if path.is_dir() else [path]
    if not files or not files[0].exists():
        raise BadInput(f"--data {path}: no validation YAML files found", "data")
    out = []
    for f in files:
        doc = read_yaml(f)
        if not isinstance(doc, dict) or not isinstance(doc.get("runs"), list):
            raise BadInput(f"{f}: expected a mapping with a 'runs' list", "runs")
        default_framework = (doc.get("source") or {}).get("framework")
        out += [({"framework": default_framework} | run, f.name) for run in doc["runs"]]
    return out


def run_validation(data: str | Path | None = None, role: str | None = None) -> ValidationReport:
    """Predict every run (optionally only one role) and collect the errors."""
    if role not in (None, "main", "holdout"):
        raise BadInput(f"--role must be main or holdout, got {role!r}", "role")
    checks = [check_run(run, where) for run, where in load_runs(data) if role is None or run.get("role", "main") == role]
    return ValidationReport(runs=checks)
