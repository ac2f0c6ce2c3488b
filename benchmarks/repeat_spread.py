"""How far apart the published measurements of one job under one plan are: the error floor of any model that,
like xpuplan, is told the plan but not the software release.

A group is every validation run with the same model, chip, device count, sequence, batch, precision and parallel plan
(tp, pp, dp, cp, ep, vpp, micro-batch, ZeRO, recompute), framework and TP-overlap flag, each with a published
throughput. Vendors' tables repeat a job in
successive releases; the spread s of a group is max / min - 1 of its measured tokens/s. Whatever one number a model
predicts for the group, its fastest or its slowest run is off by at least s / (2 + s) (the number equally far from
both, 2ab / (a + b), reaches that bound).

    .venv/bin/python benchmarks/repeat_spread.py >> benchmarks/results/validation.md
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from xpuplan import validate
from xpuplan.validate.train import run_setup


def key(run: dict, where: str) -> tuple:
    setup = run_setup(run, where)
    p = setup.plan
    plan = (p.tp, p.pp, p.dp, p.cp, p.ep, p.vpp, p.micro_batch, p.zero, p.recompute)
    return (setup.model.name, run["chip"], int(run["devices"]), int(run["seq_len"]), int(run["global_batch"]),
            run.get("precision"), plan, setup.job.framework.name, setup.job.tp_overlap)


def main() -> None:
    groups = defaultdict(list)
    for run, where in validate.load_runs():
        check = validate.check_run(run, where)
        groups[key(run, where)].append((run["id"], run.get("role", "main"), check.reported_tokens_per_s,
                                        check.predicted_tokens_per_s))
    repeated = {k: v for k, v in groups.items() if len(v) > 1}
    print("\n## Same job, same plan, different measurement (the data's own spread)\n")
    print("`.venv/bin/python benchmarks/repeat_spread.py`: validation runs that share model, chip, devices, sequence,")
    print("batch, precision, framework, TP-overlap flag and the whole parallel plan, so that xpuplan sees one job, but")
    print("were measured separately (a vendor's table in successive releases, or one sweep measured twice). xpuplan")
    print("is told the plan, not the release, so it predicts one number for each group; whatever it predicts,")
    print("the group's fastest or slowest run is off by at least s / (2 + s),")
    print("where s is the group's spread (max / min - 1).\n")
    print("| job | plan | runs (role: measured tokens/s) | spread s | least max error | predicted |")
    print("|---|---|---|---|---|---|")
    floors = []
    for k, rows in sorted(repeated.items(), key=lambda kv: -max(r[2] for r in kv[1]) / min(r[2] for r in kv[1])):
        measured = np.array([r[2] for r in rows])
        spread = measured.max() / measured.min() - 1
        floors.append(spread / (2 + spread))
        model, chip, devices, seq, batch, precision, plan, framework, _ = k
        tp, pp, dp, cp, ep, vpp, mb, zero, recompute = plan
        runs = "; ".join(f"{r[0]} ({r[1]}: {r[2]:,.0f})" for r in rows)
        job = f"{model} on {devices} x {chip}, seq {seq}, batch {batch}, {precision}, {framework}"
        plan = f"tp{tp} pp{pp} dp{dp} cp{cp} ep{ep} v{vpp} mb{mb} z{zero} {recompute}"
        print(f"| {job} | {plan} | {runs} | {spread:+.0%} | {floors[-1]:.1%} | {rows[0][3]:,.0f} |")
    print(f"\n- groups: {len(repeated)}, runs in them: {sum(len(v) for v in repeated.values())}; spread median "
          f"{np.median([max(r[2] for r in v) / min(r[2] for r in v) - 1 for v in repeated.values()]):.0%}")
    print(f"- the least error some run of each group must carry, for a model blind to the release: median "
          f"{np.median(floors):.1%}, max {max(floors):.1%}; groups where it exceeds 8%: "
          f"{sum(f > 0.08 for f in floors)}")


if __name__ == "__main__":
    main()
