"""Calibration on the main published runs, and its honest check: leave one source out.

A *knob* is one profile value shared by a family of chips or frameworks (nothing is fitted per run), searched over a
grid that lies inside the value's physical band. :func:`fit` is a coordinate search minimising the mean
|log(predicted / reported)| over the main runs; holdout runs are never read. :func:`leave_one_source_out` refits
without each source of main runs in turn and predicts that source with the values fitted on the others; holdout
sources are predicted with the values fitted on every main run. Its error is the one that says how the model does on
runs it never saw.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..catalog import load_chip, load_framework
from .train import RunCheck, check_run, load_runs


@dataclass(frozen=True, kw_only=True, slots=True)
class Knob:
    """One calibrated profile value."""

    kind: str
    """chip (an efficiency field) or framework (a framework field)"""
    owner: str
    """the profile that holds it (efficiency/<owner>.yaml or frameworks/<owner>.yaml)"""
    members: tuple[str, ...]
    """chips or frameworks that take the same value"""
    field: str
    grid: tuple[float, ...]
    band: tuple[float, float]
    """the physically sensible range; every grid value lies inside it"""
    why: str
    """where the band comes from"""

    @property
    def key(self) -> tuple[str, str, str]:
        return self.kind, self.owner, self.field


def _grid(start: float, stop: float, step: float) -> tuple[float, ...]:
    return tuple(float(v) for v in np.round(np.arange(start, stop + step / 2, step), 4))


CHIP_FAMILIES = {
    "a100-sxm-80gb": ("a100-sxm-80gb", "a100-sxm-40gb", "a800"),
    "h100-sxm": ("h100-sxm", "h800", "h200", "b200"),
    "h100-96gb-500w": ("h100-96gb-500w",),
    "ascend-910b": ("ascend-910b",),
}
MICROBENCH_ATTENTION_FWD = {"a100-sxm-80gb": 0.65, "h100-sxm": 0.35, "h100-96gb-500w": 0.35, "ascend-910b": 0.50}
"""flash-attention forward / bf16 peak in published kernel benchmarks (FlashAttention-2 on A100 ~ 0.65; FA2 on H100
~ 0.35; torch_npu's fused attention forward on a 910B2, 0.49-0.52 of 353.9 TFLOP/s at 32k-128k tokens, one head
of 128, pto-isa's tables: docs/research/ascend-910b-attention-microbenchmarks.md): the attention grid spans 0.6-1.1x
of it"""


def _table_fields(owner: str) -> set[str]:
    """The efficiency fields ``owner``'s profile takes from its kernel table: measured, so never fitted."""
    from ..catalog.kernels import kernel_efficiency

    table = load_chip(owner).efficiency.kernel_table
    return set(kernel_efficiency(table)) if table else set()


def knobs() -> list[Knob]:
    """Every calibrated value, with its grid and physical band (those of benchmarks/calibrate.py before it)."""
    out = []
    for owner, members in CHIP_FAMILIES.items():
        micro = MICROBENCH_ATTENTION_FWD[owner]
        measured = _table_fields(owner)
        out += [k for k in [
            Knob(kind="chip", owner=owner, members=members, field="gemm_max", grid=_grid(0.50, 0.90, 0.01),
                 band=(0.5, 0.95), why="large-GEMM efficiency of vendor BLAS (cuBLAS, hipBLASLt, CANN): 0.6-0.9"),
            Knob(kind="chip", owner=owner, members=members, field="gemm_half_flops",
                 grid=(1e9, 2e9, 4e9, 7e9, 1e10, 1.5e10, 2e10, 3e10, 5e10, 7e10, 1e11), band=(5e8, 2e11),
                 why="GEMM size at half efficiency"),
            Knob(kind="chip", owner=owner, members=members, field="attention_fwd",
                 grid=tuple(v for v in _grid(0.15, 0.80, 0.03) if 0.6 <= v / micro <= 1.1),
                 band=(0.6 * micro, 1.1 * micro), why="0.6-1.1x the published flash-attention microbenchmark"),
            Knob(kind="chip", owner=owner, members=members, field="scale_out_latency_s",
                 grid=(1e-6, 1.5e-6, 2e-6, 3e-6, 4e-6, 6e-6, 8e-6, 12e-6, 16e-6), band=(1e-6, 2e-5),
                 why="NCCL per-hop latency across InfiniBand/RoCE: a few to ~15 us"),
        ] if k.field not in measured]
    # PyTorch's own profiles (torchtitan) run Megatron's cuBLAS GEMMs and name what differs, so their compute_scale is 1,
    # not fitted; the 2022 eager stacks of fairseq (OPT) and fairscale with xformers (LLaMA-1) keep one fitted value
    shared = {"fairscale-xformers": ("fairscale-xformers", "fairseq")}
    for name in ("fairscale-xformers", "llm-foundry", "deepspeed", "megatron-2021"):
        members = shared.get(name, (name,))
        out.append(Knob(kind="framework", owner=name, members=members, field="compute_scale", grid=_grid(0.50, 1.20, 0.02),
                        band=(0.4, 1.3), why="a framework's kernels against Megatron's"))
        # fairseq's and fairscale's own passes are not fitted; torch's and torch-compile's are derived from the byte
        # counts of torchtitan's eager and compiled layer (docs/research/torchtitan-elementwise-bytes.md)
        if name == "llm-foundry":
            out.append(Knob(kind="framework", owner=name, members=(name,), field="elementwise_passes",
                            grid=(1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0), band=(1.0, 10.0),
                            why="unfused element-wise kernels pass over HBM several times"))
    out += [
        Knob(kind="framework", owner="deepspeed", members=("deepspeed",), field="microbatch_overhead_s",
             grid=(0.0, 0.005, 0.01, 0.02, 0.03, 0.05, 0.1), band=(0.0, 0.2),
             why="DeepSpeed's pipeline engine: Python work per micro-batch and stage"),
        Knob(kind="framework", owner="deepspeed", members=("deepspeed",), field="dp_bandwidth_scale",
             grid=(0.1, 0.125, 0.15, 0.2, 0.25, 0.33, 0.5, 0.75, 1.0), band=(0.05, 1.0),
             why="DeepSpeed's ZeRO-1/2 gradient reduction against NCCL's bus bandwidth"),
        Knob(kind="framework", owner="deepspeed", members=("deepspeed",), field="zero3_bandwidth_scale",
             grid=(0.1, 0.125, 0.15, 0.2, 0.25, 0.33, 0.5, 0.75, 1.0), band=(0.05, 1.0),
             why="DeepSpeed's per-tensor ZeRO-3 collectives against NCCL's bus bandwidth"),
        Knob(kind="framework", owner="torch", members=("torch", "torch-compile"), field="dp_overlap_efficiency",
             grid=_grid(0.0, 1.0, 0.1), band=(0.0, 1.0), why="share of the compute window FSDP2 hides collectives in"),
        Knob(kind="framework", owner="llm-foundry", members=("llm-foundry", "fairseq", "fairscale-xformers"),
             field="dp_overlap_efficiency", grid=_grid(0.0, 1.0, 0.1), band=(0.0, 1.0),
             why="share of the compute window FSDP1 hides collectives in"),
    ]
    out.append(Knob(kind="framework", owner="megatron", members=("megatron",), field="moe_layer_overhead_s",
                    grid=(0.0, 2.5e-4, 5e-4, 7.5e-4, 1e-3, 1.5e-3, 2e-3, 2.5e-3, 3e-3), band=(0.0, 3e-3),
                    why="host work of a MoE token dispatcher beyond the measured router/sort/sync: 0-3 ms a layer"))
    for owner, members in (("mindspeed", ("mindspeed",)), ("torch", ("torch", "torch-compile")),
                           ("megatron", ("megatron",))):
        out.append(Knob(kind="framework", owner=owner, members=members, field="tp_overlap_efficiency",
                        grid=_grid(0.0, 1.0, 0.1), band=(0.0, 1.0),
                        why="share of TP communication fused GEMM-collective kernels hide"))
    return out


Values = dict[tuple[str, str, str], float]


def catalog_values(ks: list[Knob]) -> Values:
    """The values the catalog holds now."""
    def value(k: Knob) -> float:
        if k.kind == "chip":
            return float(getattr(load_chip(k.owner).efficiency, k.field))
        return float(getattr(load_framework(k.owner), k.field))
    return {k.key: value(k) for k in ks}


def prior_values(ks: list[Knob]) -> Values:
    """What a knob is before any fitting: the generic chip prior (efficiency/default.yaml under generic.yaml) and
    the framework dataclass's defaults (Megatron's behaviour). Cross-validation starts here, so a knob no remaining run informs
    cannot carry what the left-out source taught it."""
    from ..catalog import efficiency_from_dict, read_yaml
    from ..catalog import CATALOG_DIR
    from ..specs import Framework

    layers = [read_yaml(CATALOG_DIR / "efficiency" / f"{name}.yaml") for name in ("default", "generic")]
    generic = efficiency_from_dict({k: v for layer in layers for k, v in layer.items() if k != "sources"}, "generic")
    plain = Framework()

    def nearest(k: Knob, value: float) -> float:
        return min(k.grid, key=lambda v: abs(v - value))
    return {k.key: nearest(k, getattr(generic if k.kind == "chip" else plain, k.field)) for k in ks}


def _adjusters(ks: list[Knob], values: Values):
    by_chip: dict[str, dict[str, float]] = {}
    by_framework: dict[str, dict[str, float]] = {}
    ratio = {owner: load_chip(owner).efficiency.attention_bwd / load_chip(owner).efficiency.attention_fwd
             for owner in CHIP_FAMILIES}
    now = catalog_values(ks)
    for k in ks:
        if values[k.key] == now[k.key]:
            continue  # the catalog's value: leave the profile exactly as it is
        target = by_chip if k.kind == "chip" else by_framework
        for member in k.members:
            fields = target.setdefault(member, {})
            fields[k.field] = values[k.key]
            if k.field == "attention_fwd":  # the backward keeps its measured ratio to the forward
                fields["attention_bwd"] = min(values[k.key] * ratio[k.owner], 1.0)

    def chip(c):
        fields = by_chip.get(c.name)
        return dataclasses.replace(c, efficiency=dataclasses.replace(c.efficiency, **fields)) if fields else c

    def framework(f):
        fields = by_framework.get(f.name)
        return dataclasses.replace(f, **fields) if fields else f
    return chip, framework


def predict(runs: list[tuple[dict, str]], ks: list[Knob], values: Values) -> list[RunCheck]:
    chip, framework = _adjusters(ks, values)
    return [check_run(run, where, chip, framework) for run, where in runs]


def loss(checks: list[RunCheck]) -> float:
    """Mean |log(predicted / reported)|: symmetric in over- and under-prediction."""
    return float(np.mean([abs(np.log1p(c.error)) for c in checks]))


PESSIMISTIC = {"compute_scale": min, "elementwise_passes": max, "microbatch_overhead_s": max, "dp_bandwidth_scale": min,
               "zero3_bandwidth_scale": min, "dp_overlap_efficiency": min, "tp_overlap_efficiency": min, "moe_layer_overhead_s": max,
               "gemm_max": min, "gemm_half_flops": max, "attention_fwd": min, "scale_out_latency_s": max}
"""For each fitted field, which end of the fitted values is the slower prediction."""


def class_prior(k: Knob, ks: list[Knob], values: Values, informed: set) -> float:
    """The value a knob no run informs takes: the least optimistic of the values its class (same kind and field) was
    fitted to, on the grid; the least optimistic end of its own grid if no other member of the class was fitted. A
    framework or chip family that no run describes is thus never predicted faster than the calibrated ones (issue 15
    item 5: the rule the generic chip prior already follows), where the framework dataclass's defaults are Megatron's,
    the fastest reference."""
    fitted = [values[o.key] for o in ks if o.key in informed and o.kind == k.kind and o.field == k.field]
    if not fitted:  # nothing of its class was fitted either: the least optimistic end of its own grid
        return PESSIMISTIC[k.field](k.grid)
    return min(k.grid, key=lambda v: abs(v - PESSIMISTIC[k.field](fitted)))


MIN_GAIN = 1e-4
"""mean |log| a knob's new value must gain over its current one on the runs it touches: the fit cannot tell values
closer than that apart (the H100's NCCL latency moved 4 -> 2 us, its grid's edge, for 1e-5), so it keeps the one it has;
a knob whose whole grid scores within it is uninformed (:func:`class_prior`), not set by whichever value a tie picks"""


def fit(runs: list[tuple[dict, str]], ks: list[Knob], start: Values, sweeps: int = 2,
        progress: Callable[[str], None] | None = None) -> Values:
    """Coordinate search over the knobs' grids from ``start`` (a knob moves only for a gain of :data:`MIN_GAIN`); a
    knob the runs do not inform takes its class prior (:func:`class_prior`)."""
    values = dict(start)
    informed_keys = set()
    for sweep in range(sweeps):
        for i, k in enumerate(ks):
            if progress:
                progress(f"sweep {sweep + 1}/{sweeps}, {k.owner} {k.field} ({i + 1}/{len(ks)})")
            informed = [(r, w) for r, w in runs if _touches(k, r)]
            if not informed:
                continue
            scores = {v: loss(predict(informed, ks, values | {k.key: v})) for v in k.grid}
            if max(scores.values()) - min(scores.values()) < MIN_GAIN:
                continue  # the runs it touches do not depend on it (ZeRO-1 runs and a ZeRO-3 knob): uninformed
            informed_keys.add(k.key)
            best = min(scores, key=scores.get)
            now = scores[values[k.key]] if values[k.key] in scores else loss(predict(informed, ks, values))
            if scores[best] < now - MIN_GAIN:  # a flat valley does not move the knob (towards an edge)
                values[k.key] = best
    return values | {k.key: class_prior(k, ks, values, informed_keys) for k in ks if k.key not in informed_keys}


def _touches(k: Knob, run: dict) -> bool:
    """Whether a run's prediction depends on the knob (its chip family or its framework)."""
    if k.kind == "chip":
        return load_chip(run["chip"]).name in k.members
    return (run.get("framework") or "megatron") in k.members


@dataclass(frozen=True, kw_only=True)
class CrossValidation:
    """Leave-one-source-out predictions of every published run."""

    checks: list[RunCheck]
    """each run predicted with values fitted without its source"""
    fitted: list[RunCheck]
    """each run predicted with the catalog's values (main runs were fitted on)"""
    moe: set[str]
    """ids of runs of mixture-of-experts models"""

    def summary(self, which: str = "cv", subset: str | None = None) -> dict:
        checks = self.checks if which == "cv" else self.fitted
        if subset == "dense":
            checks = [c for c in checks if c.id not in self.moe]
        elif subset == "moe":
            checks = [c for c in checks if c.id in self.moe]
        elif subset in ("main", "holdout"):
            checks = [c for c in checks if c.role == subset]
        e = np.array([abs(c.error) for c in checks])
        if not e.size:
            return {"runs": 0, "median_abs_error": None, "p90_abs_error": None}
        return {"runs": int(e.size), "median_abs_error": float(np.median(e)), "p90_abs_error": float(np.percentile(e, 90))}

    def by_source(self) -> dict[str, dict]:
        """Per source file, worst leave-one-source-out median first: its role, runs, fitted and left-out median |error|
        and the left-out signed median (which way the source is missed when nothing was fitted on it)."""
        pairs: dict[str, list[tuple[RunCheck, RunCheck]]] = {}
        for c, f in zip(self.checks, self.fitted):
            pairs.setdefault(c.source, []).append((c, f))
        out = {source: {"role": "+".join(sorted({c.role for c, _ in cf}, reverse=True)), "runs": len(cf),
                        "fitted_median_abs_error": float(np.median([abs(f.error) for _, f in cf])),
                        "median_abs_error": float(np.median([abs(c.error) for c, _ in cf])),
                        "median_error": float(np.median([c.error for c, _ in cf]))}
               for source, cf in pairs.items()}
        return dict(sorted(out.items(), key=lambda kv: -kv[1]["median_abs_error"]))


def _fit_without(args) -> list[RunCheck]:
    """One fold: fit on the main runs of every other source, predict this one's (a process-pool task)."""
    data, source, sweeps = args
    ks = knobs()
    main = [(r, w) for r, w in load_runs(data) if r.get("role", "main") == "main"]
    values = fit([(r, w) for r, w in main if w != source], ks, prior_values(ks), sweeps)
    return predict([(r, w) for r, w in main if w == source], ks, values)


def leave_one_source_out(data=None, sweeps: int = 2, progress: Callable[[str], None] | None = None,
                         workers: int | None = None) -> CrossValidation:
    """Refit without each source of main runs (from the priors, ``sweeps`` coordinate sweeps, as a fresh
    calibration would) and predict it; holdout sources are predicted with the catalog's values, which never saw
    them. Folds run in ``workers`` processes (default: the machine's cores)."""
    import concurrent.futures
    import os

    from ..catalog import load_model, model_from_dict

    runs = load_runs(data)
    ks = knobs()
    main = [(r, w) for r, w in runs if r.get("role", "main") == "main"]
    sources = sorted({w for _, w in main})
    fitted = predict(runs, ks, catalog_values(ks))
    by_id = {c.id: c for c in fitted}
    workers = workers or min(os.cpu_count() or 1, len(sources))
    tasks = [(data, source, sweeps) for source in sources]
    with concurrent.futures.ProcessPoolExecutor(workers) as pool:
        for done, checks in enumerate(pool.map(_fit_without, tasks), 1):
            if progress:
                progress(f"{done}/{len(sources)} sources refitted without themselves")
            by_id |= {c.id: c for c in checks}
    moe = set()
    for run, where in runs:
        spec = run["model"]
        model = model_from_dict(spec, where) if isinstance(spec, dict) else load_model(spec)
        if model.moe is not None:
            moe.add(run["id"])
    return CrossValidation(checks=[by_id[c.id] for c in fitted], fitted=fitted, moe=moe)
