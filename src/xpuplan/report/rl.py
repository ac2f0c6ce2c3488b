"""The RL step as a person reads it: its phases, the two plans, memory per phase."""

from __future__ import annotations

from rich.table import Table

from ..catalog.accuracy import rl_band
from ..units import format_bytes


def rl_table(r) -> Table:
    pools = "colocated" if r.colocated else f"rollouts on {r.rollout_devices} x {r.rollout_chip.name}"
    table = Table(title=f"{r.algorithm.upper()} step: {r.model.name}, training on {r.train_devices} x "
                        f"{r.train_chip.name}, {pools}", header_style="bold")
    table.add_column("quantity")
    table.add_column("value", justify="right")
    d = r.to_dict()
    step = r.step_time_s
    table.add_row("step time", f"{step:,.2f} s")
    for key, label in (("generation_s", "generation (rollouts)"), ("weight_sync_s", "weight sync (refit)"),
                       ("engine_switch_s", "engine switch (host copies)"),
                       ("inference_passes_s", "log-prob / reference / critic passes"),
                       ("training_s", "training (policy update)"), ("orchestration_s", "orchestration")):
        table.add_row(f"  {label}", f"{d[key]:,.2f} s ({d[key] / step:.0%})")
    for pool, idle in r.idle_s.items():
        if idle > 0:
            table.add_row(f"  idle, {pool} pool", f"{idle:,.2f} s")
    table.add_row("rollouts per step", f"{r.rollouts:,} of {r.prompt_len} + ~{r.response_len} tokens "
                  f"(max {r.max_seq_len})")
    table.add_row("tokens/s per device", f"{d['tokens_per_s_per_device']:,.0f}")
    table.add_row("samples/s", f"{d['samples_per_s']:,.2f}")
    t = r.train.plan
    table.add_row("training plan", f"tp{t.tp} pp{t.pp} dp{t.dp} cp{t.cp} ep{t.ep}, mbs {t.micro_batch}, zero {t.zero}, "
                  f"recompute {t.recompute}; {r.rollouts // r.train_global_batch} optimizer steps")
    spec = r.rollout_plan.engine.speculative
    drafting = f"; {spec.method}, {spec.draft_tokens} draft, {spec.tokens_per_step:.2f} tokens a step" if spec else ""
    table.add_row("rollout plan", f"{r.rollout_replicas} replicas x tp{r.rollout_plan.tp}{drafting}")
    if r.force_on_policy_ratio:
        table.add_row("old-policy log-probs", "skipped (ratio forced to 1)")
    for phase, nbytes in r.memory.items():
        table.add_row(f"memory per device, {phase}", format_bytes(nbytes))
    if r.extra:
        rel, cost = r.extra["reliability"], r.extra["cost"]
        table.add_row("run: wall-clock time with failures", f"{rel['total_time_s'] / 86400:,.1f} days "
                      f"(goodput {rel['goodput']:.1%})")
        table.add_row("run: device-hours", f"{cost['device_hours']:,.0f} device-h")
        table.add_row("run: cost", "—" if cost.get("usd") is None else f"${cost['usd']:,.0f}")
    table.caption = "\n".join([f"note: {n}" for n in r.notes] + [rl_band().text()])
    return table
