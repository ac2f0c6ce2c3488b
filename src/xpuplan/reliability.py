"""Failures, checkpoints and goodput of a long training run.

Failures arrive as a Poisson process: each of N devices fails at r per day, so the job's mean time
between failures is M = 1 / (N r). Work is cut into segments of τ seconds, each followed by a
checkpoint that blocks for δ; a failure loses the segment in progress and costs a restart R
(detect + reschedule + reload), during which a failure can strike again. For that process the
expected wall time of a run needing T_s seconds of failure-free training is exactly

    T_w = M · e^{R/M} · (e^{(τ+δ)/M} − 1) · T_s / τ          (Daly 2006, eq. 20)

and the interval minimising it is found numerically, starting from Young's τ = √(2 δ M). Goodput is
T_s / T_w. A vectorised, seeded Monte Carlo simulates the same process failure by failure for the
spread (P10/P50/P90); its mean converges to the closed form.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import BadInput
from .units import DAY, MINUTE

# Restart overhead tiers (detect + diagnose + reschedule + init + reload), reliability.md §4
RESTART_TIERS_S = {"manual": 120 * MINUTE, "automated": 15 * MINUTE, "advanced": 3 * MINUTE, "in-memory": 0.75 * MINUTE}
# Full training state per parameter: bf16 weights (2) + the optimizer state (fp32 master weights and Adam moments: 12;
# less where the job keeps a smaller state, specs.framework.OPTIMIZER_STATES); BLOOM-176B's checkpoints were 2.3 TB,
# 14 bytes/param (reliability.md §3.2), its fp32 state
CHECKPOINT_WEIGHT_BYTES_PER_PARAM = 2
from .specs import HOST_LINK_BYTES_PER_S  # the device -> host copy an async checkpoint waits on
from .specs.framework import OPTIMIZER_STATES
# Sustained checkpoint write bandwidth per device when storage grows with the cluster (reliability.md §3.2): Meta's
# Tectonic sustains 2 TB/s for Llama 3's 16,384 GPUs (122 MB/s each); BLOOM wrote 2.3 TB in 40 s to GPFS from 384
# A100 (57 GB/s, 148 MB/s each). 125 MB/s a device is 1 GB/s per 8-device node.
STORAGE_BYTES_PER_S_PER_DEVICE = 125e6


def checkpoint_bytes(params: float, optimizer_state: str = "fp32") -> float:
    """Bytes one full checkpoint writes: the bf16 weights and the optimizer state of ``optimizer_state``."""
    return (CHECKPOINT_WEIGHT_BYTES_PER_PARAM + OPTIMIZER_STATES[optimizer_state][0]) * params


@dataclass(frozen=True, kw_only=True, slots=True)
class ReliabilityInputs:
    """What the reliability model needs; every default is visible in the output."""

    devices: int
    """devices in the job"""
    failures_per_device_day: float
    """unexpected job-interrupting failures per device per day"""
    checkpoint_bytes: float
    """bytes of one full checkpoint (whole job)"""
    checkpoint_bytes_per_s: float
    """aggregate storage write bandwidth of the job, bytes/s"""
    restart_s: float
    """seconds from a failure to training again (without the lost work)"""
    async_checkpoint: bool = False
    """copy to host memory and persist in the background: training blocks only for the copy"""
    checkpoint_interval_s: float | None = None
    """seconds of training between checkpoints; None: the optimum"""
    domains: int = 0
    """scale-up domains the job spans (for domain-wide failures)"""
    domain_failures_per_day: float = 0.0
    """failures per scale-up domain per day that take the whole domain down"""
    spares: int | None = None
    """spare devices standing by; None: enough (the restart tier already includes rescheduling)"""
    repair_s: float = 2 * 3600.0
    """time to return a failed device's node to the pool (automatic repair, reliability.md §8.2)"""

    def __post_init__(self) -> None:
        if not 0 < self.failures_per_device_day < 1:
            raise BadInput(f"--failure-rate must be in (0, 1) failures per device-day, got {self.failures_per_device_day}", "failure_rate")
        if not self.checkpoint_bytes_per_s > 0:
            raise BadInput(f"--checkpoint-bandwidth must be > 0, got {self.checkpoint_bytes_per_s}", "checkpoint_bandwidth")
        if not 0 <= self.restart_s < 30 * DAY:
            raise BadInput(f"--restart-time must be between 0 and 30 days, got {self.restart_s} s", "restart_time")
        if self.spares is not None and not 0 <= self.spares <= 10 * self.devices:
            raise BadInput(f"--spares must be between 0 and 10x the devices, got {self.spares}", "spares")
        if self.checkpoint_interval_s is not None and not self.checkpoint_interval_s > 0:
            raise BadInput(f"--checkpoint-interval must be > 0, got {self.checkpoint_interval_s}", "checkpoint_interval")

    @property
    def failures_per_day(self) -> float:
        """Job-interrupting failures per day: devices plus whole domains (racks, supernodes)."""
        return self.devices * self.failures_per_device_day + self.domains * self.domain_failures_per_day

    @property
    def job_mtbf_s(self) -> float:
        return DAY / self.failures_per_day

    @property
    def recommended_spares(self) -> int:
        """Spares covering the P99 of failures during one repair window (reliability.md §8.2)."""
        from scipy.special import pdtr  # Poisson CDF; imported here to keep the CLI's start fast

        mean, spares = self.failures_per_day * self.repair_s / DAY, 0
        while pdtr(spares, mean) < 0.99:
            spares += 1
        return spares

    @property
    def effective_restart_s(self) -> float:
        """Restart time, plus the repair wait whenever no spare is free (spares shorten rescheduling)."""
        if self.spares is None:
            return self.restart_s
        from scipy.special import pdtrc

        short = pdtrc(self.spares, self.failures_per_day * self.repair_s / DAY)  # P(more failures than spares)
        return self.restart_s + float(short) * self.repair_s

    @property
    def checkpoint_write_s(self) -> float:
        """Seconds to persist one checkpoint to storage."""
        return self.checkpoint_bytes / self.checkpoint_bytes_per_s

    @property
    def checkpoint_block_s(self) -> float:
        """Seconds training stops per checkpoint (δ)."""
        if self.async_checkpoint:
            return self.checkpoint_bytes / self.devices / HOST_LINK_BYTES_PER_S
        return self.checkpoint_write_s


def expected_wall_s(work_s, interval_s, block_s, restart_s, mtbf_s):
    """Daly's expected wall time for ``work_s`` of failure-free training (arrays broadcast)."""
    return mtbf_s * np.exp(restart_s / mtbf_s) * np.expm1((interval_s + block_s) / mtbf_s) * work_s / interval_s


def optimal_interval_s(block_s: float, restart_s: float, mtbf_s: float, min_interval_s: float = 0.0) -> float:
    """The τ ≥ ``min_interval_s`` minimising Daly's expected wall time (searched around Young's √(2δM))."""
    young = np.sqrt(2 * block_s * mtbf_s) if block_s > 0 else mtbf_s / 100
    grid = np.maximum(young * np.geomspace(0.05, 20, 2001), min_interval_s)
    return float(grid[np.argmin(expected_wall_s(1.0, grid, block_s, restart_s, mtbf_s))])


EXACT_SUM_TERMS = 32
"""failures per trial up to which their lost times are drawn one by one; beyond, their sum is drawn from the normal
law with the same mean and variance (the sum of 32 i.i.d. bounded terms is normal to within a few parts in 1e3)"""


def _truncated_exp_moments(length_s: float, mean_s: float) -> tuple[float, float]:
    """Mean and variance of the time to a failure that strikes within an attempt of ``length_s``, failures arriving
    at mean interval ``mean_s`` (an exponential truncated to [0, length_s))."""
    x = length_s / mean_s
    if x < 1e-4:  # nearly uniform on [0, length)
        return length_s / 2, length_s**2 / 12
    m1 = mean_s * (1 - x / np.expm1(x))
    m2 = mean_s**2 * (2 - (x * x + 2 * x) / np.expm1(x))
    return float(m1), float(max(m2 - m1 * m1, 0.0))


def _lost_s(rng, counts: np.ndarray, length_s: float, mean_s: float) -> np.ndarray:
    """Per trial, the total time lost to ``counts`` failed attempts of ``length_s`` (time from the attempt's start to
    its failure): exact draws while counts are small, the normal law of their sum beyond (cost independent of counts)."""
    counts = np.asarray(counts, dtype=float)
    p_fail = -np.expm1(-length_s / mean_s)
    k = int(min(counts.max(initial=0.0), EXACT_SUM_TERMS))
    u = rng.random((counts.size, k))
    draws = -mean_s * np.log1p(-u * p_fail)                   # inverse CDF of the truncated exponential
    exact = np.where(np.arange(k)[None, :] < counts[:, None], draws, 0.0).sum(axis=1)
    mu, var = _truncated_exp_moments(length_s, mean_s)
    normal = np.maximum(counts * mu + np.sqrt(counts * var) * rng.standard_normal(counts.size), 0.0)
    return np.where(counts <= EXACT_SUM_TERMS, exact, normal)


def simulate_wall_s(work_s: float, interval_s: float, block_s: float, restart_s: float, mtbf_s: float,
                    trials: int, seed: int) -> np.ndarray:
    """Monte Carlo of the same process, drawn segment group by segment group: its cost does not grow with the run.

    Work is cut into segments (``interval_s`` of training + ``block_s`` of checkpoint). Failures are memoryless, so a
    segment completes on its first attempt with probability q0 = exp(-s/M); otherwise each further attempt (restart R,
    then the segment) succeeds with q1 = exp(-(R + s)/M). Over n segments the number that fail at first is
    Binomial(n, 1 - q0) = B, and their failed retries total NegativeBinomial(B, q1). Wall time = the segments + B
    restarts that succeeded + the time lost in every failed attempt (the failure's time into its attempt).
    """
    rng = np.random.default_rng(seed)
    segment = interval_s + block_s
    n_full, last = divmod(work_s, interval_s)
    groups = [(n_full, segment)] + ([(1, last + block_s)] if last > 0 else [])
    wall = np.zeros(trials)
    for n, length in groups:
        if n <= 0:
            continue
        first_fail = rng.binomial(int(n), -np.expm1(-length / mtbf_s), trials)
        q1 = np.exp(-(restart_s + length) / mtbf_s)
        if q1 <= 0.0:
            raise BadInput(f"the run cannot make progress: a restart of {restart_s:.0f} s plus a {length:.0f} s segment "
                           f"outlasts the job's mean time between failures ({mtbf_s:.0f} s) almost surely; use fewer "
                           "devices, a faster --restart-tier or more frequent checkpoints", "restart_time")
        retries = np.where(first_fail > 0, rng.negative_binomial(np.maximum(first_fail, 1), q1), 0)
        wall += (n * length + first_fail * restart_s + _lost_s(rng, first_fail, length, mtbf_s)
                 + _lost_s(rng, retries, restart_s + length, mtbf_s))
    return wall


@dataclass(frozen=True, kw_only=True, slots=True)
class ReliabilityResult:
    inputs: ReliabilityInputs
    checkpoint_interval_s: float
    total_time_s: float
    goodput: float
    expected_interruptions: float
    percentiles_s: tuple[float, float, float]
    trials: int
    seed: int

    @property
    def lost_s_per_interruption(self) -> float:
        """Wall time one interruption costs: the restart, plus the work since the last checkpoint (half a segment on
        average)."""
        return self.inputs.effective_restart_s + (self.checkpoint_interval_s + self.inputs.checkpoint_block_s) / 2

    def to_dict(self) -> dict:
        i = self.inputs
        return {
            "failures_per_device_day": i.failures_per_device_day,
            "job_mtbf_s": i.job_mtbf_s,
            "checkpoint_bytes": i.checkpoint_bytes,
            "checkpoint_write_s": i.checkpoint_write_s,
            "checkpoint_block_s": i.checkpoint_block_s,
            "async_checkpoint": i.async_checkpoint,
            "checkpoint_interval_s": self.checkpoint_interval_s,
            "restart_s": i.effective_restart_s,
            "failures_per_domain_day": i.domain_failures_per_day,
            "spares": i.spares,
            "recommended_spares": i.recommended_spares,
            "checkpoint_bytes_per_s": i.checkpoint_bytes_per_s,
            "expected_interruptions": self.expected_interruptions,
            "lost_s_per_interruption": self.lost_s_per_interruption,
            "goodput": self.goodput,
            "total_time_s": self.total_time_s,
            "total_time_s_p10": self.percentiles_s[0],
            "total_time_s_p50": self.percentiles_s[1],
            "total_time_s_p90": self.percentiles_s[2],
            "trials": self.trials,
            "seed": self.seed,
        }


def reliability(inputs: ReliabilityInputs, work_s: float, trials: int = 2000, seed: int = 0) -> ReliabilityResult:
    """Expected and simulated wall time of ``work_s`` seconds of failure-free training."""
    if not isinstance(trials, int) or not 1 <= trials <= 1_000_000:
        raise BadInput(f"--trials must be a whole number in 1..1000000, got {trials}", "trials")
    mtbf, block, restart = inputs.job_mtbf_s, inputs.checkpoint_block_s, inputs.effective_restart_s
    # an asynchronous checkpoint must be persisted before the next one starts
    floor = inputs.checkpoint_write_s if inputs.async_checkpoint else 0.0
    interval = inputs.checkpoint_interval_s or optimal_interval_s(block, restart, mtbf, floor)
    total = float(expected_wall_s(work_s, interval, block, restart, mtbf))
    sims = simulate_wall_s(work_s, interval, block, restart, mtbf, trials, seed)
    p10, p50, p90 = (float(v) for v in np.percentile(sims, [10, 50, 90]))
    return ReliabilityResult(inputs=inputs, checkpoint_interval_s=interval, total_time_s=total,
                             goodput=work_s / total, expected_interruptions=total / mtbf,
                             percentiles_s=(p10, p50, p90), trials=trials, seed=seed)
