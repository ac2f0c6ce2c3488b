"""Every result type and its JSON contract (DESIGN.md §3): ``to_dict`` is the ``--json`` object of its command.

Results carry the specs they were priced with, so a report can name the chip's confidence and the profile used;
all figures are in canonical units (seconds, bytes, FLOP/s).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .catalog.accuracy import Band, rl_band, serving_bands, training_band
from .cost.pipeline import model_split
from .cost.task import model_flops_per_token as task_model_flops_per_token
from .plan import ParallelPlan, ServePlan
from .specs import Chip, Model, Pool, TrainJob
from .specs.framework import OPTIMIZER_STATES
from .specs.hardware import STEP_FIGURES
from .specs.serving import WEIGHT_FORMATS
from .units import HOUR, format_bytes

MEMORY_KEYS = ("weights_bytes", "gradients_bytes", "optimizer_bytes", "activations_bytes", "buffers_bytes")


def serving_expected_error(concurrency: int | None) -> dict:
    """The ``expected_error`` block of a serving result: one band for each figure, of its load regime
    (:mod:`xpuplan.catalog.accuracy`)."""
    return {k: b.to_dict() for k, b in serving_bands(concurrency).items()}


def rl_expected_error() -> dict:
    """The ``expected_error`` block of an RL step result (:mod:`xpuplan.catalog.accuracy`)."""
    return rl_band().to_dict()


def merged_warnings(results) -> list[str]:
    """The ``warnings`` of several results (or exceptions, which have none), each line once, in order."""
    return list(dict.fromkeys(w for r in results for w in getattr(r, "warnings", ())))


def _serve_figures(chip: Chip, precision: str) -> list[str]:
    """The figures a serving estimate rests on: the peak its GEMMs run at, memory and links."""
    return [chip.peak_key(WEIGHT_FORMATS.get(precision, (0, "bf16"))[1]), *STEP_FIGURES]


@dataclass(frozen=True, kw_only=True, slots=True)
class TrainResult:
    """One training estimate; ``to_dict`` gives the ``train --json`` object (DESIGN.md §3)."""

    model: Model
    chip: Chip
    job: TrainJob
    devices: int
    plan: ParallelPlan
    step_time_s: float
    tokens_per_s: float
    mfu: float
    hfu: float
    breakdown: dict[str, float]
    memory: dict[str, float]
    memory_per_device_bytes: float
    fits: bool
    extra: dict = field(default_factory=dict)

    @property
    def tokens_per_s_per_device(self) -> float:
        return self.tokens_per_s / self.devices

    @property
    def total_time_s(self) -> float | None:
        return None if self.job.tokens is None else self.job.tokens / self.tokens_per_s

    @property
    def device_hours(self) -> float | None:
        t = self.total_time_s
        return None if t is None else t * self.devices / HOUR

    @property
    def warnings(self) -> list[str]:
        """A line naming the low-confidence (and the ``--override``) figures this estimate rests on: the peak of its
        precision, memory and links; the failure rates with a reliability block; TDP and price with a cost block."""
        keys = [self.chip.peak_key(self.plan.precision), *STEP_FIGURES]
        if "reliability" in self.extra:
            keys += ["failures_per_device_day", "domain_failures_per_day"]
        cost = self.extra.get("cost")
        if cost:
            a = cost["assumptions"]
            keys.append("tdp")
            if a.get("mode") == "ownership" and a.get("purchase_usd") == self.chip.purchase_usd:
                keys.append("price.purchase_usd")
            elif a.get("mode") == "rental" and a.get("usd_per_device_hour") == self.chip.usd_per_hour:
                keys.append("price.usd_per_hour")
        return self.chip.figure_warnings(keys)

    def not_fit_reason(self) -> str:
        cap = self.chip.hbm_bytes * (1 - self.job.memory_margin)
        largest = max(MEMORY_KEYS, key=lambda k: self.memory[k]).removesuffix("_bytes")
        fixes = {  # the remedies that shrink the largest part first
            "optimizer": "a higher --zero, more data parallelism, more tp/pp, or a smaller --optimizer-state (this job "
                         f"keeps {self.job.optimizer_state_name}, {self.job.optimizer_state_bytes} bytes a parameter; "
                         f"bf16-moments keeps {OPTIMIZER_STATES['bf16-moments'][0]})",
            "activations": "--recompute selective or full, a smaller --micro-batch, more tp/pp/cp, or --offload-layers",
            "gradients": "a higher --zero (2 shards gradients), more tp/pp, or --grad-reduce bf16",
        }
        fix = fixes.get(largest, "more tp/pp, a higher --zero, --recompute full or a smaller --micro-batch")
        return (f"does not fit: needs {format_bytes(self.memory_per_device_bytes)} per device, "
                f"{self.chip.name} has {format_bytes(cap)} usable (largest part: {largest}); try {fix}")

    def to_dict(self) -> dict:
        return {
            "model": self.model.name,
            "chip": self.chip.name,
            "devices": self.devices,
            "seq_len": self.job.seq_len,
            "global_batch": self.job.global_batch,
            "tokens_per_step": self.job.tokens_per_step,
            "step_time_s": self.step_time_s,
            "tokens_per_s": self.tokens_per_s,
            "tokens_per_s_per_device": self.tokens_per_s_per_device,
            "mfu": self.mfu,
            "hfu": self.hfu,
            "model_flops_per_token": task_model_flops_per_token(self.model, self.job),
            "task": self.job.task,
            "memory_per_device_bytes": self.memory_per_device_bytes,
            "memory": dict(self.memory),
            "hbm_bytes": self.chip.hbm_bytes,
            "fits": self.fits,
            "tokens": self.job.tokens,
            "total_time_s": self.total_time_s,
            "device_hours": self.device_hours,
            "breakdown": dict(self.breakdown),
            "plan": self.plan.to_dict(),
            "pipeline_layers": self.pipeline_layers,
            "framework": self.job.framework.name,
            "optimizer_state": self.job.optimizer_state_name,
            "moe_grouped_gemm": self.job.grouped_experts,
            "grad_accumulation_fusion": self.job.accumulation_fused,
            "chip_confidence": self.chip.confidence,
            "efficiency_source": self.chip.efficiency.source,
            "warnings": self.warnings,
            "expected_error": self.expected_error.to_dict(),
            **self.extra,
        }

    @property
    def pipeline_layers(self) -> dict:
        """Transformer layers on the first, each middle and the last pipeline rank as priced, and how they were split
        (:func:`xpuplan.cost.pipeline.model_split`)."""
        first, middle, last, how = (int(x) for x in model_split(self.model, self.plan.pp, self.plan.vpp))
        return {"first": first, "middle": middle, "last": last, "split": SPLITS[how]}

    @property
    def expected_error(self) -> Band:
        """How far estimates of this kind have landed from published runs they were not fitted on
        (:mod:`xpuplan.catalog.accuracy`)."""
        return training_band(self.model.moe is not None, self.job.task, self.chip.name, self.job.framework.name)


SPLITS = {0: "even", 1: "embedding and loss counted as layers", 2: "uneven first and last ranks",
          -1: "approximate: ceil(layers / pp) a rank, no split Megatron-Core accepts"}
"""``pipeline_layers.split`` by :func:`xpuplan.cost.pipeline.stage_layer_counts`'s code"""


@dataclass(frozen=True, kw_only=True)
class PlanResult:
    """The best plans for one device count, best first, and what the search covered."""

    plans: list[TrainResult]
    enumerated: int
    valid: int
    fitting: int
    objective: str

    def to_list(self) -> list[dict]:
        return [p.to_dict() for p in self.plans]


@dataclass(frozen=True, kw_only=True)
class ServeResult:
    """One serving configuration; ``to_dict`` is the ``inference --json`` object."""

    model: Model
    chip: Chip
    plan: ServePlan
    devices: int
    input_len: int
    output_len: int
    concurrency: int
    ttft_s: float
    tpot_s: float
    output_tokens_per_s: float
    input_tokens_per_s: float
    max_concurrency: int
    memory: dict
    fits: bool
    usd_per_million_output_tokens: float | None
    extra: dict = field(default_factory=dict)

    @property
    def memory_per_device_bytes(self) -> float:
        return float(sum(self.memory.values()))

    @property
    def warnings(self) -> list[str]:
        """A line naming the low-confidence (and the ``--override``) figures this estimate rests on."""
        keys = _serve_figures(self.chip, self.plan.precision)
        usd, price = self.usd_per_million_output_tokens, self.chip.usd_per_hour
        if usd is not None and price and abs(usd * self.output_tokens_per_s * 3600 / (self.devices * 1e6) - price) \
                <= 1e-9 * price:
            keys.append("price.usd_per_hour")
        return self.chip.figure_warnings(keys)

    def to_dict(self) -> dict:
        return {
            "model": self.model.name, "chip": self.chip.name, "devices": self.devices,
            "input_len": self.input_len, "output_len": self.output_len, "concurrency": self.concurrency,
            "ttft_s": self.ttft_s, "tpot_s": self.tpot_s,
            "output_tokens_per_s": self.output_tokens_per_s,
            "output_tokens_per_s_per_device": self.output_tokens_per_s / self.devices,
            "input_tokens_per_s": self.input_tokens_per_s,
            "max_concurrency": self.max_concurrency,
            "memory_per_device_bytes": self.memory_per_device_bytes, "memory": dict(self.memory),
            "fits": self.fits, "usd_per_million_output_tokens": self.usd_per_million_output_tokens,
            "plan": self.plan.to_dict(), "warnings": self.warnings,
            "expected_error": serving_expected_error(self.concurrency), **self.extra,
        }


@dataclass(frozen=True, kw_only=True)
class DisaggregatedResult:
    """Prefill on one pool, decode on another; ``to_dict`` is the ``inference --json`` object of that setup."""

    model: Model
    prefill: tuple[Chip, ServePlan, int]
    """chip, plan and devices of the prefill pool"""
    decode: tuple[Chip, ServePlan, int]
    """chip, plan and devices of the decode pool"""
    ttft_s: float
    tpot_s: float
    output_tokens_per_s: float
    input_tokens_per_s: float
    kv_transfer_s: float
    """seconds to move one prompt's KV cache from the prefill to the decode pool"""
    bound: str
    """which pool limits the throughput: prefill or decode"""
    max_concurrency: int
    concurrency: int
    prefill_requests_per_s: float
    decode_requests_per_s: float

    @property
    def warnings(self) -> list[str]:
        """The low-confidence (and ``--override``) figures of both pools this estimate rests on."""
        return list(dict.fromkeys(w for chip, plan, _ in (self.prefill, self.decode)
                                  for w in chip.figure_warnings(_serve_figures(chip, plan.precision))))

    def to_dict(self) -> dict:
        (p_chip, p_plan, p_devices), (d_chip, d_plan, d_devices) = self.prefill, self.decode
        return {"ttft_s": self.ttft_s, "tpot_s": self.tpot_s, "output_tokens_per_s": self.output_tokens_per_s,
                "input_tokens_per_s": self.input_tokens_per_s, "kv_transfer_s": self.kv_transfer_s,
                "warnings": self.warnings,
                "bound": self.bound, "max_concurrency": self.max_concurrency, "concurrency": self.concurrency,
                "prefill": {"chip": p_chip.name, "devices": p_devices, "plan": p_plan.to_dict(),
                            "requests_per_s": self.prefill_requests_per_s},
                "decode": {"chip": d_chip.name, "devices": d_devices, "plan": d_plan.to_dict(),
                           "requests_per_s": self.decode_requests_per_s},
                "expected_error": serving_expected_error(self.concurrency)}


@dataclass(frozen=True, kw_only=True)
class HeteroPlan:
    """The best split of one kind, in plain numbers."""

    strategy: str
    step_time_s: float
    tokens_per_s: float
    mfu: float
    detail: dict

    def to_dict(self, job: TrainJob) -> dict:
        total = None if job.tokens is None else job.tokens / self.tokens_per_s
        return {"strategy": self.strategy, "step_time_s": self.step_time_s, "tokens_per_s": self.tokens_per_s,
                "mfu": self.mfu, "total_time_s": total, **self.detail}


@dataclass(frozen=True, kw_only=True)
class HeteroResult:
    model: Model
    job: TrainJob
    pools: tuple[Pool, Pool]
    plans: list[HeteroPlan]
    """mixed plans, best first"""
    alone: list[TrainResult | None]
    """best plan on each pool alone (None where the job does not fit there)"""

    @property
    def warnings(self) -> list[str]:
        """The low-confidence (and ``--override``) figures of both pools this estimate rests on."""
        return list(dict.fromkeys(w for p in self.pools
                                  for w in p.chip.figure_warnings([p.chip.peak_key("bf16"), *STEP_FIGURES])))

    def to_dict(self) -> dict:
        return {
            "model": self.model.name,
            "warnings": self.warnings,
            "pools": [{"chip": p.chip.name, "devices": p.devices} for p in self.pools],
            "plans": [p.to_dict(self.job) for p in self.plans],
            "alone": [None if r is None else r.to_dict() for r in self.alone],
        }
