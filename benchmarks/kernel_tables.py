"""What the kernel tables say against what the catalog uses, and what switching a chip family to its table does.

For each kernel table (src/xpuplan/catalog/kernels/*.yaml) it prints the derived efficiencies beside the catalog
profile's, then predicts every published validation run twice, once with the catalog's profiles and once with the
table-derived figures put into the chips named (nothing refitted), and prints the signed and absolute median error
per (role, chip, framework) group and the DeepSeek-V3 GPU-hour check. Holdouts are printed, never used to choose
anything.

    .venv/bin/python benchmarks/kernel_tables.py [h100-sxm:h100-sxm,h800,h200 b200:b200]
"""

from __future__ import annotations

import collections
import dataclasses
import sys

import numpy as np

from xpuplan import api
from xpuplan.catalog import load_chip
from xpuplan.catalog.kernels import kernel_efficiency
from xpuplan.validate.train import check_run, load_runs

DEFAULT = ("h100-sxm:h100-sxm,h800,h200", "b200:b200")


def table_adjuster(pairs: dict[str, str]):
    def adjust(chip):
        table = pairs.get(chip.name)
        if table is None:
            return chip
        return dataclasses.replace(chip, efficiency=dataclasses.replace(chip.efficiency, **kernel_efficiency(table)))
    return adjust


def summary(checks) -> dict:
    groups = collections.defaultdict(list)
    for c in checks:
        groups[(c.role, c.chip, c.framework)].append(c.error)
    return {k: (float(np.median(v)), float(np.median(np.abs(v))), len(v)) for k, v in groups.items()}


def deepseek_hours(adjust) -> float:
    """GPU-hours of DeepSeek-V3's pre-training as issue 15 checks it, on the (adjusted) H800."""
    chip = adjust(load_chip("h800"))
    r = api.train(model="deepseek-v3", chip=chip, devices=2048, tp=1, pp=16, ep=64, seq_len=4096,
                  global_batch=15360, precision="fp8", tokens="14.8T", framework="hai-llm")
    return r.device_hours


def main(args: list[str]) -> None:
    pairs = {}
    for arg in args or DEFAULT:
        table, chips = arg.split(":")
        pairs |= {chip: table for chip in chips.split(",")}
    for table in sorted(set(pairs.values())):
        derived = kernel_efficiency(table)
        chip = next(c for c, t in pairs.items() if t == table)
        now = load_chip(chip).efficiency
        print(f"kernel table {table} (catalog profile of {chip} in brackets):")
        for key, value in derived.items():
            print(f"  {key}: {value}" + (f"  [{getattr(now, key)}]" if hasattr(now, key) else ""))
    runs = load_runs()
    adjust = table_adjuster(pairs)
    before = summary([check_run(r, w) for r, w in runs])
    after = summary([check_run(r, w, adjust) for r, w in runs])
    print("\nsigned median / |median| error, catalog -> kernel tables (n runs):")
    for key in sorted(before, key=str):
        if key[1] in pairs:
            b, a = before[key], after[key]
            print(f"  {key[0]:8s} {key[1]:10s} {key[2]:14s} n={b[2]:3d}  {b[0]:+.3f} / {b[1]:.3f}  ->  {a[0]:+.3f} / {a[1]:.3f}")
    print(f"\nDeepSeek-V3 on 2,048 H800, --framework hai-llm: {deepseek_hours(lambda c: c) / 1e6:.2f}M GPU-h "
          f"-> {deepseek_hours(adjust) / 1e6:.2f}M (published 2.664M)")


if __name__ == "__main__":
    main(sys.argv[1:])
