"""The RL layouts a user leaves open: the rollout replicas' tensor-parallel size, and for one pool of one chip kind
whether to share it between training and rollouts (colocated) or split it, and where; each priced by
:func:`xpuplan.rl.step`, the fastest or cheapest kept."""

from __future__ import annotations

import math

from .errors import BadInput, DoesNotFit
from .rl import RLResult, step
from .rollout import rollout_tps
from .specs import Chip, Model

SPLIT_STEPS = 8
"""at most this many training/rollout splits of one pool are tried (whole nodes where the pool has them)"""


def usd_per_step(r: RLResult) -> float | None:
    """What one step costs at the chips' catalog prices (None where a price is missing)."""
    prices = [(r.train_chip.usd_per_hour, r.train_devices)]
    if not r.colocated:
        prices.append((r.rollout_chip.usd_per_hour, r.rollout_devices))
    if any(p is None for p, _ in prices):
        return None
    return r.step_time_s / 3600 * sum(p * n for p, n in prices)


def search(*, model: Model, chip: Chip, devices: int, objective: str = "time", rollout_chip: Chip | None = None,
           rollout_devices: int | None = None, **options) -> RLResult:
    """The fastest (or cheapest) step over what a user leaves open: the rollout replicas' tp, and for one pool of one
    chip kind whether to share it (colocated) or split it between training and rollouts, and where.

    Pools of two chip kinds keep their sizes: only the rollout tp is searched. The training plan is the best ``plan``
    finds for each pool (unless ``train_tp/pp/ep`` pin it)."""
    if objective not in ("time", "cost"):
        raise BadInput(f"--objective must be time or cost for rl, got {objective!r}", "objective")
    options.pop("rollout_tp", None)
    if rollout_chip is not None or rollout_devices is not None:
        layouts = [dict(devices=devices, rollout_chip=rollout_chip, rollout_devices=rollout_devices)]
    else:
        node = max(min(chip.scale_up_domain, devices // 2), 1)
        splits = [k for k in range(node, devices, node)]
        splits = splits[:: max(1, math.ceil(len(splits) / SPLIT_STEPS))]
        layouts = [dict(devices=devices)] + [dict(devices=k, rollout_chip=chip, rollout_devices=devices - k)
                                              for k in splits]
    tried, best = 0, None
    for layout in layouts:
        pool = layout.get("rollout_devices") or layout["devices"]
        gen_chip = layout.get("rollout_chip") or chip
        for tp in rollout_tps(model, gen_chip, pool):
            try:
                r = step(model=model, chip=chip, rollout_tp=tp, **layout, **options)
            except (BadInput, DoesNotFit):
                continue  # a split or tp that cannot hold the job is not a candidate
            tried += 1
            key = r.step_time_s if objective == "time" else usd_per_step(r)
            if key is None:
                raise BadInput(f"--objective cost needs a price for {chip.name}"
                               + (f" and {gen_chip.name}" if gen_chip is not chip else "")
                               + "; give usd_per_hour in a chip file or use --objective time", "objective")
            if best is None or key < best[0]:
                best = (key, r)
    if best is None:
        raise DoesNotFit(f"does not fit: no colocated or split layout of {devices} x {chip.name} holds "
                         f"{model.name}'s rollouts and training; add devices or pick a chip with more memory")
    r = best[1]
    layout = "colocated" if r.colocated else f"{r.train_devices} training + {r.rollout_devices} rollout devices"
    r.notes.insert(0, f"searched {tried} layouts by {objective}: best {layout}, rollout tp {r.rollout_plan.tp}")
    return r
