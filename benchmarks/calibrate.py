"""Calibrate the chip and framework profiles on the MAIN validation runs, and print the values to copy.

The procedure is the package's (``xpuplan.validate.calibrate``: one value per chip family or framework, grids inside
physical bands, coordinate search on mean |log(predicted / reported)|, holdouts never read); ``xpuplan validate
--cv`` runs the same procedure without each source in turn. This script starts from the catalog's values, prints
the before/after errors, every value (with a mark where it ends on its grid's edge) and the allocator overhead fitted
to the published per-device memory readings.

    .venv/bin/python benchmarks/calibrate.py
"""

from __future__ import annotations

import dataclasses

import numpy as np

from xpuplan.validate import calibrate
from xpuplan.validate.train import check_run, load_runs

MEMORY_OWNERS = ("torch", "torch-compile")
GRID_MEMORY_OVERHEAD = np.round(np.arange(0.0, 0.51, 0.02), 2)


def main() -> None:
    main_runs = [(r, w) for r, w in load_runs() if r.get("role", "main") == "main"]
    ks = calibrate.knobs()
    start = calibrate.catalog_values(ks)
    print(f"before: mean|log| {calibrate.loss(calibrate.predict(main_runs, ks, start)):.4f}")
    values = calibrate.fit(main_runs, ks, start, sweeps=2)
    print(f"after:  mean|log| {calibrate.loss(calibrate.predict(main_runs, ks, values)):.4f}")
    for k in ks:
        on_edge = (values[k.key] == k.grid[0] and k.grid[0] > k.band[0]) or \
            (values[k.key] == k.grid[-1] and k.grid[-1] < k.band[1])
        folder = "efficiency" if k.kind == "chip" else "frameworks"
        print(f"{folder}/{k.owner}.yaml: {k.field}: {values[k.key]:g}" + ("  (ON ITS GRID EDGE)" if on_edge else "")
              + ("" if values[k.key] == start[k.key] else f"  (was {start[k.key]:g})"))
    for name in MEMORY_OWNERS:
        with_memory = [(r, w) for r, w in main_runs if r.get("reported_memory_gib") is not None
                       and (r.get("framework") or "megatron") == name]

        def memory_loss(value, name=name, with_memory=with_memory):
            adjust = (lambda f: dataclasses.replace(f, memory_overhead=value) if f.name == name else f)
            return float(np.mean([abs(np.log1p(check_run(r, w, None, adjust).memory_error)) for r, w in with_memory]))
        if with_memory:
            best = float(min(GRID_MEMORY_OVERHEAD, key=memory_loss))
            print(f"frameworks/{name}.yaml: memory_overhead: {best}  ({len(with_memory)} main runs with a reading: "
                  f"mean|log| {memory_loss(0.0):.3f} at 0 -> {memory_loss(best):.3f})")


if __name__ == "__main__":
    main()
