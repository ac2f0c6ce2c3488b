"""The rollout phase of an RL step: one rollout replica's prompts prefilled, then decoded over a batch that thins as
long-tailed responses finish (or, off-policy on a pool of its own, streamed at a steady batch), priced by the serving
model's per-iteration cost (:mod:`.cost.serve`), with speculative decoding where the engine drafts."""

from __future__ import annotations

import math

import numpy as np
from scipy.integrate import trapezoid

from .cost.launches import with_host_s
from .cost.serve import decode_step_s, draft_s, prefill_s
from .cost.serve_memory import replica_costs
from .errors import BadInput, DoesNotFit
from .plan import ServePlan, resolve_serve_plan, tp_candidates
from .specs import Chip, Model

TIME_POINTS = 64
"""decode-time samples of the thinning batch"""
ASYNC_ENGINE_MAX_SEQS = 128
"""sequences one vLLM replica runs at once when it is built as an asynchronous engine from engine arguments, as NeMo
RL's asynchronous GRPO must build it (``vllm_cfg.async_engine: true``; ``AsyncLLM.from_engine_args`` in
``nemo_rl/models/generation/vllm/vllm_worker_async.py``, v0.5.0-v0.7.0) with no ``max_num_seqs`` of its own: that
call's usage context (``ENGINE_CONTEXT``, vllm/v1/engine/async_llm.py) is not among those ``get_batch_defaults``
raises to 1,024 on large devices, so the engine keeps ``SchedulerConfig``'s default of 128 (vllm/engine/arg_utils.py,
vllm/config/scheduler.py ``DEFAULT_MAX_NUM_SEQS``; 0.10-0.20). ``vllm.LLM`` (NeMo RL's synchronous engine) gets 1,024"""


def decode_token_s(model: Model, chip: Chip, plan: ServePlan, batch, context) -> np.ndarray:
    """Seconds per generated token of each of ``batch`` decoding sequences at mean ``context``: one decode iteration
    over them, divided by the tokens it yields each. Under speculative decoding (the engine's ``speculative``) the
    iteration verifies 1 + k tokens a sequence after k draft passes and yields tau = (1 - a^(k+1)) / (1 - a) of them
    (:class:`~xpuplan.specs.serving.Speculative`), as ``inference`` prices it; the engine's host time per iteration
    and per sequence is paid as serving pays it (:func:`~.cost.launches.with_host_s`), its HTTP front end is not."""
    engine = plan.engine
    step = decode_step_s(model, chip, plan, batch, context, engine.verify_tokens) + draft_s(model, chip, plan, batch,
                                                                                          context)
    return with_host_s(engine, step, batch) / engine.tokens_per_step


def longest_response(scale: float, cap: float, n: int) -> float:
    """Expected longest of ``n`` exponential response lengths of scale ``scale`` (their mean before the cut), cut at
    ``cap`` tokens."""
    harmonic = sum(1.0 / k for k in range(1, min(n, 100_000) + 1)) if n < 100_000 else math.log(n) + 0.5772
    return min(cap, scale * harmonic)


def group_occupancy(scale: float, cap: float, group: int) -> float:
    """Share of the time a prompt group holds its place in flight that each of its ``group`` responses spends
    decoding: the place is freed when the group's longest response ends, so by the renewal-reward theorem a place
    decodes group x E[L] / E[max of group L] sequences on average, L exponential of scale ``scale`` cut at ``cap``
    (E[min(X, cap)] = integral over [0, cap] of P(X > x))."""
    if group <= 1:
        return 1.0
    x = np.linspace(0.0, min(cap, scale * (math.log(group) + 40.0)), 2049)  # past that, both tails are nil
    one = np.exp(-x / scale)
    return float(trapezoid(one, x) / trapezoid(1.0 - (1.0 - one) ** group, x))


def generation_s(model: Model, chip: Chip, plan: ServePlan, rollouts_per_replica: int, prompt_len: int,
                 response_scale: float, max_response: float, capacity: int, mean_response: float | None = None,
                 ahead: int = 0, group: int = 1) -> float:
    """Seconds one rollout replica takes for its rollouts: their prompts' prefill, then decode steps over a batch that
    thins as exponential response lengths (of ``response_scale``, cut at ``max_response``) end, full while more wait.

    With ``mean_response`` the replica streams instead (off-policy on a pool of its own: NeMo RL's asynchronous GRPO
    collector, AReaL): it admits later steps' prompts as responses finish, so no step waits for its slowest response;
    the step's tokens run at the steady batch and the mean context. The batch is the ``ahead`` steps' rollouts the
    collector keeps in flight (NeMo RL v0.5.0 ``nemo_rl/algorithms/async_utils.py`` caps in-flight prompts at
    ``num_prompts_per_step x max_trajectory_age_steps``), at most what the KV cache holds. The collector holds each
    prompt's place until its whole group of ``group`` responses has ended (``_run_prompt_group_worker`` releases the
    place after the group's rollout), so the in-flight sequences decode at :func:`group_occupancy` of that batch."""
    n = rollouts_per_replica
    prefill = prefill_s(model, chip, plan, float(n * prompt_len), prompt_len)
    if mean_response is not None:
        running = float(min(max(ahead, 1) * n * group_occupancy(response_scale, max_response, group), capacity))
        step = decode_token_s(model, chip, plan, running, prompt_len + mean_response / 2.0)
        return float(prefill + n * mean_response / running * step)
    end = longest_response(response_scale, max_response, n)
    dt = end / TIME_POINTS
    t = (np.arange(TIME_POINTS) + 0.5) * dt
    alive = np.maximum(n * np.exp(-t / response_scale), 1.0)
    running = np.minimum(alive, capacity)
    steps = decode_token_s(model, chip, plan, running, prompt_len + t) * (alive / running)
    return float(prefill + np.sum(steps) * dt)


def rollout_tps(model: Model, chip: Chip, devices: int) -> list[int]:
    """Rollout replica sizes worth trying: tensor-parallel degrees within one scale-up domain that divide the pool."""
    return tp_candidates(model, min(devices, max(chip.scale_up_domain, 1)), divides=devices)


def rollout_plan(model: Model, chip: Chip, devices: int, tp: int | None, precision: str, engine,
                 share: float = 1.0) -> ServePlan:
    """One rollout replica: ``tp`` devices, or the fewest (a power of two within a scale-up domain) whose memory, of
    which the engine may fill ``share``, holds the weights and some KV cache."""
    if tp is not None:
        if tp > devices or devices % tp:
            raise BadInput(f"--rollout-tp {tp} must divide the {devices} rollout devices", "rollout_tp")
        return resolve_serve_plan(model, chip, tp, tp=tp, pp=1, dp=1, precision=precision, kv_precision="bf16",
                                  engine=engine)
    for t in rollout_tps(model, chip, devices):
        plan = resolve_serve_plan(model, chip, t, tp=t, pp=1, dp=1, precision=precision, kv_precision="bf16",
                                  engine=engine)
        if replica_costs(model, chip, plan, 1.0 - share).free_bytes > 0.2 * share * chip.hbm_bytes:
            return plan
    raise DoesNotFit(f"does not fit: no rollout replica of up to {min(devices, chip.scale_up_domain)} x {chip.name} "
                     f"holds {model.name}'s weights with room for KV cache; give more rollout devices or a larger chip")
