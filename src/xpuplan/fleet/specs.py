"""What a fleet plan is asked: pools of devices, the site they stand in, and the work to place on them.

Frozen specs, parsed and checked by :mod:`xpuplan.fleet.inputs`; every figure in canonical units (seconds, watts,
requests/s, USD per device-hour).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..specs import Chip, Model, ServeEngine

TRAIN_KINDS = ("pretrain", "sft", "lora", "qlora", "dpo", "rl")
"""training workloads: the tasks of ``train --task`` and an ``rl`` post-training run"""
SERVE_KIND = "serve"
OBJECTIVES = ("cost", "makespan")


@dataclass(frozen=True, kw_only=True, slots=True)
class FleetPool:
    """Devices of one chip kind that the planner may allocate."""

    name: str
    """unique name (default: the chip's)"""
    chip: Chip | None
    """the catalog chip; None for a chip outside the catalog, which only workloads with a measured table may use"""
    chip_name: str
    """the chip as the file names it (the key of measured tables and of ``chips:`` lists)"""
    vendor: str
    """chip vendor (the default baseline is every NVIDIA chip kind)"""
    devices: int
    """most devices the pool offers at any time"""
    rentable: bool = False
    """written ``max:`` (rented or bought up to this many) rather than ``devices:`` (installed)"""
    usd_per_device_hour: float
    """price of one device-hour while allocated (rent, or ownership's depreciation + energy)"""
    price_source: str = "fleet file"
    """where the price comes from"""
    tdp_watts: float | None = None
    """device power (catalog TDP unless the pool overrides it); None: unknown"""
    failures_per_device_day: float | None = None
    """overrides the chip's catalog failure rate"""
    restart_s: float | None = None
    """overrides the restart time after a failure (default: the automated tier, 15 min)"""


@dataclass(frozen=True, kw_only=True, slots=True)
class Site:
    """Where the pools stand: the power they may draw together."""

    power_watts: float | None = None
    """facility power budget, watts (None: unlimited)"""
    pue: float = 1.3
    """power usage effectiveness: facility watts per IT watt"""
    power_usd_per_kwh: float = 0.08
    """electricity price, for owned pools' energy"""


@dataclass(frozen=True, kw_only=True, slots=True)
class TrainWorkload:
    """A training run to place: pre-training, fine-tuning (``train --task``) or RL post-training."""

    name: str
    kind: str
    """one of ``TRAIN_KINDS``"""
    model: Model
    work: float
    """tokens to train on (``rl``: optimizer steps)"""
    deadline_s: float | None
    """must finish within this many seconds of the plan's start (None: within the horizon)"""
    pools: tuple[str, ...]
    """names of the pools it may run on"""
    chips: tuple[str, ...] = ()
    """the chips or pool names the file allows (empty: any)"""
    counts: tuple[int, ...] | None
    """device counts to try (None: powers of two up to each pool's size, the largest ``MAX_COUNTS``)"""
    job: dict = field(default_factory=dict)
    """``training.make_job`` options (seq_len, global_batch, task, framework, ...)"""
    rl: dict = field(default_factory=dict)
    """``rl.step`` options (algorithm, rollouts_per_step, ...), for kind ``rl``"""
    precision: str = "bf16"
    measured: dict = field(default_factory=dict)
    """chip name -> measured tokens/s per device, used instead of the estimator on that chip"""
    where: str = ""
    """file and field, for messages"""


@dataclass(frozen=True, kw_only=True, slots=True)
class ServeWorkload:
    """A service to keep up: a request rate over buckets of request sizes, within a latency SLO."""

    name: str
    model: Model | None
    """None only when every pool it may use has a measured table (the estimator is never asked)"""
    model_name: str
    rate: float
    """requests/s at a profile multiplier of 1"""
    profile: tuple[float, ...] = (1.0,)
    """rate multipliers over equal windows of a day (one value: a flat day)"""
    input_lens: tuple[int, ...] = ()
    """representative prompt length of each bucket row, tokens"""
    output_lens: tuple[int, ...] = ()
    """representative response length of each bucket column, tokens"""
    distribution: tuple[tuple[float, ...], ...] = ((1.0,),)
    """share of requests per bucket (rows: input lengths, columns: output lengths), summing to 1"""
    slo_ttft_s: float | None = None
    slo_tpot_s: float | None = None
    slo_percentile: str = "mean"
    """what the SLOs bound, as ``inference --search --slo-percentile``: mean (closed loop) or p50/p90/p99 (Poisson)"""
    precision: str = "bf16"
    kv_precision: str = "bf16"
    engine: ServeEngine | None = None
    """the serving engine on every pool; None: each pool's vendor's own (``--engine auto``)"""
    measured: dict = field(default_factory=dict)
    """chip name -> requests/s one device sustains per bucket at the SLO (Mélange's profiles)"""
    slice_factor: int = 1
    """slices each bucket is cut into; each slice goes whole to one pool (Mélange's slice_factor)"""
    replica_devices: int | None = None
    """the most devices one replica may span (1: one-device instances, the bins of Mélange's setting); None: any
    tensor-parallel size within a scale-up domain"""
    pools: tuple[str, ...] = ()
    """names of the pools it may run on"""
    chips: tuple[str, ...] = ()
    """the chips or pool names the file allows (empty: any)"""
    where: str = ""

    @property
    def shares(self) -> tuple[float, ...]:
        """Bucket shares, row by row."""
        return tuple(s for row in self.distribution for s in row)

    def bucket_lens(self, index: int) -> tuple[int, int]:
        """(input_len, output_len) of bucket ``index`` (row-major)."""
        columns = len(self.distribution[0])
        return self.input_lens[index // columns], self.output_lens[index % columns]


@dataclass(frozen=True, kw_only=True, slots=True)
class FleetProblem:
    """Everything one solve needs."""

    pools: tuple[FleetPool, ...]
    site: Site
    training: tuple[TrainWorkload, ...]
    serving: tuple[ServeWorkload, ...]
    horizon_s: float
    """the span planned; services are paid for all of it"""
    objective: str = "cost"
    budget_usd: float | None = None
    files: tuple[str, str] = ("fleet", "workloads")
    """how the fleet and the workloads were given, for messages"""

    def pool(self, name: str) -> FleetPool:
        return next(p for p in self.pools if p.name == name)


def allowed_pools(chips: tuple[str, ...], measured: dict, pools: tuple[FleetPool, ...]) -> tuple[str, ...]:
    """Pools a workload may use: those ``chips`` names (by chip or pool name; empty: all), less chips outside the
    catalog it has no measured table for."""
    chosen = [p for p in pools if not chips or p.name in chips or p.chip_name in chips]
    return tuple(p.name for p in chosen if p.chip is not None or p.chip_name in measured)
