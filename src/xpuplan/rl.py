"""One step of RL post-training (GRPO, PPO): rollouts priced by the serving model, log-prob/reference/critic passes and
the policy update by the training model, and the weight transfer from the trainer to the rollout engine. No second
cost model: every phase is the estimate xpuplan already makes for that kind of work.

A step (HybridFlow/verl, NeMo RL, OpenRLHF):

1. **generation**: ``rollouts`` responses of mean length ``response_len`` to prompts of ``prompt_len`` tokens, spread
   over rollout replicas of ``rollout_tp`` devices with continuous batching. Response lengths are long-tailed (taken
   exponential, cut at ``max_seq_len - prompt_len``, with the mean after the cut the given one): the batch thins as
   responses finish and the slowest sets the pace (the expected longest of n is the scale x H_n). When more rollouts are
   waiting than the KV cache holds, the running batch stays full and the rest queue.
2. **inference passes**: a forward of every sequence for the old policy's log-probs and the reference model's (the KL
   term); PPO adds the critic's values; a ``reward_model`` adds its scores. With ``force_on_policy_ratio`` (one
   optimizer step a step, so the policy that generated is the one updated) the old policy's pass is skipped and its
   ratio taken as 1, as NeMo RL v0.7 does (``loss_fn.force_on_policy_ratio``, grpo.py at v0.7.0).
3. **training**: ``rollouts / train_global_batch`` optimizer steps of the training plan (sequences packed first-fit
   decreasing into ``max_seq_len`` rows, :mod:`.cost.packing`); PPO also updates the critic (the policy's size).
4. **weight sync**: the trainer's weights (bf16) reach the rollout engine's layout: over the scale-up links when the
   pool is shared (colocated), over the network when the rollouts run on their own devices (disaggregated: NeMo RL
   broadcasts every tensor whole to every rollout device, :func:`weight_sync_s`).
5. **engine switch** (colocated only): one pool holds the trainer and the rollout engine in turn, so each step moves
   state between device and host memory, as NeMo RL v0.4 does by default (``nemo_rl/algorithms/grpo.py`` and its
   Megatron policy worker at tag v0.4.0): the trainer's gradients and optimizer state out before generation and back
   before training, its weights out and back, the rollout engine's weights out (vLLM sleep level 1) and back (wake),
   and for the KL reference the policy's weights out, the reference's in and the policy's back; the onloads before
   the log-probs and the update are in the measured orchestration (6.), the rest here or in the refit. The rollout engine
   also gets only part of each device (vLLM ``gpu_memory_utilization`` 0.6 in NeMo RL's GRPO configs), which caps the
   rollouts decoding at once.
6. **orchestration**: the controller's own work each step (data processing, reward, batch preparation, Ray calls,
   the trainer's onloads), as measured around NeMo RL's timed phases.

Colocated, the phases run one after another on every device. Disaggregated and on-policy, each pool waits for the
other; with ``off_policy_steps`` >= 1 generation of the next batch overlaps this batch's passes and update (AReaL,
StreamRL): the step is the longer of the two, plus the refit, which neither pool overlaps: NeMo RL's asynchronous
loop (``async_grpo_train``, v0.5.0 ``nemo_rl/algorithms/grpo.py``) times ``weight_sync`` inside the trainer's step
after ``policy_training``, and the rollout engine loads the broadcast between its iterations (in-flight weight
updates, on in every async performance recipe) while new rollouts are held back. Such a pool streams, each prompt
holding its place until all ``samples_per_prompt`` of its samples have ended (:func:`.rollout.group_occupancy`). The
rest of a pool's step is its idle time.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import numpy as np

from .cost.flops import total_params
from .cost.packing import exponential_scale, packed_rows
from .cost.serve_memory import max_concurrency, replica_costs
from .errors import BadInput, DoesNotFit, UnknownName
from .plan import ServePlan
from .results import TrainResult, rl_expected_error
from .rollout import ASYNC_ENGINE_MAX_SEQS, generation_s, rollout_plan
from .search import SearchSpace, best_plans
from .serving.estimate import cross_domain_notes
from .serving.load import running_limit
from .specs import ROOFLINE, Chip, Framework, Model, ServeEngine
from .specs.job import BF16_BYTES_PER_PARAM as WEIGHT_BYTES, RECOMPUTE
from .training import BLACKWELL, RunOptions, make_job, run_outcome, train

ALGORITHMS = ("grpo", "ppo")
SAMPLES_PER_PROMPT = {"grpo": 16, "ppo": 1}
"""responses sampled from each prompt by default: GRPO's group, NeMo RL's ``grpo.num_generations_per_prompt`` (16 in
examples/configs/grpo_math_1B.yaml, v0.3.0-v0.7.0); PPO scores one response a prompt with its critic"""
HOST_COPY_BYTES_PER_S = 16e9
"""host <-> device copy rate of a colocated engine switch, per device: vLLM 0.11's level-1 wake measured 2.85-2.89 s
for Qwen3-30B in bf16 on one A100 (about 61 GB, 21 GB/s) and 5.27-5.66 s for Qwen3-235B-A22B in fp8 over four (about
59 GB each, 11 GB/s) (blog.vllm.ai 2025-10-26, "Zero-Reload Model Switching with vLLM Sleep Mode"); the middle of
that range. NeMo RL's own trainer offload uses pageable ``tensor.to("cpu")`` copies, no faster"""
COLOCATED_ROLLOUT_MEMORY_SHARE = 0.6
"""share of each device the rollout engine may fill when it shares the pool with the trainer: NeMo RL v0.4's GRPO
configs (examples/configs/grpo_math_1B.yaml, ``vllm_cfg.gpu_memory_utilization: 0.6``, inherited by its
performance recipes)"""
NODE_DOMAIN_DEVICES = 8
"""the devices of a node-sized NVLink/HCCS domain (DGX/HGX boards); a chip whose scale-up domain is larger spans racks
of nodes, where a job's placement decides whether its expert-parallel groups stay inside one domain"""
EP_PLACEMENT_NOTE = ("this step keeps each expert-parallel group inside one NVLink domain; set it so (NeMo RL: "
                     "cluster.segment_size = ep / GPUs per node and sbatch --segment, its docs/cluster.md 'Topology-"
                     "Aware Placement for MoE'): its releases before that placement (PR 2612, May 2026) did not, and "
                     "an expert all-to-all split across racks crosses them over InfiniBand")
PUBLISHED_REFITS = (  # (bf16 weight bytes, seconds) of NeMo RL's colocated refits with its v0.3 code
    (16.06e9, 5.0),    # Llama 3.1 8B       NeMo RL v0.3 blog (2025-07-21), Table 1
    (61.1e9, 12.0),    # Qwen3-30B-A3B      same table
    (65.5e9, 7.0),     # Qwen3-32B          same table
    (141.1e9, 14.0),   # Llama 3.1 70B      same table
    (1342e9, 55.0),    # DeepSeek-V3        NVIDIA-NeMo/RL PR 638 (merged 2025-07-10, before v0.3.0), offload included
)
_SECONDS_PER_BYTE, _FIXED = np.polyfit(*zip(*PUBLISHED_REFITS), 1)
REFIT_FIXED_S = float(_FIXED)
REFIT_BYTES_PER_S = float(1.0 / _SECONDS_PER_BYTE)
"""NeMo RL's colocated refit (trainer state offloaded, the engine woken, every weight streamed through CUDA IPC in
the Hugging Face layout): the least-squares line through every refit NeMo RL published for its v0.3 code
(``PUBLISHED_REFITS``; 6.9 s + bytes at 27.8 GB/s). DeepSeek-V3's is PR 638's, after it prepared the refit metadata
once and enlarged the refit buffer (from 420 s and 105 s before). Until session 15 the line went through the 8B
refit and DeepSeek-V3's 120 s of PR 634, a measurement from before PR 638 that no release since runs. Phase timings,
not the step times rl_check.py judges. The rate does not grow with the pool: one pass over the whole model"""
ORCHESTRATION_S = 2.8
"""the controller's per-step work outside generation, log-probs, training and refit: NeMo RL v0.3's GRPO table
(nvidia-nemo.github.io/blog/2025/07/21/nemo-rl-v0.3, Table 1) leaves 3, 3, 2, 4 and 2 s of its five rows' steps
outside those four timers (8B on 8 H100 to 70B on 128); their mean. It holds data processing, the reward, and the
trainer's onloads before the log-probs and the update (grpo.py's ``logprob_inference_prep`` and ``training_prep``)"""


@dataclass(frozen=True, kw_only=True)
class RLResult:
    """One RL step, its phases, and the plans that price them."""

    model: Model
    algorithm: str
    train_chip: Chip
    train_devices: int
    rollout_chip: Chip
    rollout_devices: int
    colocated: bool
    rollouts: int
    train_global_batch: int
    prompt_len: int
    response_len: int
    max_seq_len: int
    off_policy_steps: int
    samples_per_prompt: int
    force_on_policy_ratio: bool
    generation_s: float
    inference_passes_s: float
    training_s: float
    weight_sync_s: float
    engine_switch_s: float
    """colocated: the host <-> device copies of trainer and rollout-engine state (module docstring, 5.)"""
    orchestration_s: float
    step_time_s: float
    idle_s: dict
    train: TrainResult
    """one optimizer step of the training plan"""
    rollout_plan: ServePlan
    rollout_replicas: int
    rollout_max_seqs: int
    """sequences one rollout replica decodes at once at most: its KV cache, then the engine's max_num_seqs"""
    memory: dict
    fits: bool
    notes: list = field(default_factory=list)
    extra: dict = field(default_factory=dict)
    """with ``steps``: the run's ``reliability`` and ``cost`` blocks, as ``train --tokens`` gives them"""

    @property
    def devices(self) -> int:
        return self.train_devices + (0 if self.colocated else self.rollout_devices)

    @property
    def tokens_per_step(self) -> int:
        return self.rollouts * (self.prompt_len + self.response_len)

    def to_dict(self) -> dict:
        return {
            "model": self.model.name, "algorithm": self.algorithm, "colocated": self.colocated,
            "force_on_policy_ratio": self.force_on_policy_ratio, "samples_per_prompt": self.samples_per_prompt,
            "step_time_s": self.step_time_s, "generation_s": self.generation_s,
            "inference_passes_s": self.inference_passes_s, "training_s": self.training_s,
            "weight_sync_s": self.weight_sync_s, "engine_switch_s": self.engine_switch_s,
            "orchestration_s": self.orchestration_s, "idle_s": dict(self.idle_s),
            "tokens_per_step": self.tokens_per_step,
            "tokens_per_s_per_device": self.tokens_per_step / self.step_time_s / self.devices,
            "samples_per_s": self.rollouts / self.step_time_s,
            "plan": {"train": {"chip": self.train_chip.name, "devices": self.train_devices,
                               **self.train.plan.to_dict()},
                     "rollout": {"chip": self.rollout_chip.name, "devices": self.rollout_devices,
                                 "replicas": self.rollout_replicas, "max_seqs": self.rollout_max_seqs,
                                 **self.rollout_plan.to_dict()}},
            "memory_per_device_bytes": dict(self.memory), "fits": self.fits, "notes": list(self.notes),
            "expected_error": rl_expected_error(), **self.extra,
        }


def weight_sync_s(model: Model, train_chip: Chip, rollout_chip: Chip, rollout_tp: int, colocated: bool) -> float:
    """The trainer's bf16 weights reaching the rollout layout. Colocated: NeMo RL's refit (``REFIT_FIXED_S`` +
    every weight byte at ``REFIT_BYTES_PER_S``), never less than each rollout device receiving its 1/tp shard over
    the scale-up links. Disaggregated: NeMo RL's collective refit (v0.5.0, ``broadcast_weights_for_collective`` and
    vLLM's ``update_weights_from_collective``) broadcasts every tensor whole, in the Hugging Face layout, from the
    trainer's first rank to every rollout rank, each loading full tensors and keeping its shard: the whole model
    crosses each rollout device's link, at the slower pool's per-device network bandwidth (DeepSeek-V3: 1.34 TB in
    27 s at 50 GB/s; NeMo RL's checkpoint-engine guide measured 14-37 s for it with newer transfers)."""
    shard = WEIGHT_BYTES * total_params(model) / rollout_tp
    if colocated:
        link = train_chip.scale_up_bytes_per_s or train_chip.scale_out_bytes_per_s
    else:
        links = [c.scale_out_bytes_per_s for c in (train_chip, rollout_chip) if c.scale_out_bytes_per_s]
        link = min(links) if links else None
    if not link:
        raise BadInput(f"{train_chip.name} has no published link bandwidth to move weights over; give "
                       "scale_up/scale_out in a chip file", "chip")
    if colocated:
        return max(shard / link, REFIT_FIXED_S + WEIGHT_BYTES * total_params(model) / REFIT_BYTES_PER_S)
    return WEIGHT_BYTES * total_params(model) / link


def engine_switch_s(update: TrainResult, rollout_weight_bytes: float, reference: bool) -> float:
    """Seconds a colocated step spends moving state between device and host outside the refit and the orchestration
    (module docstring, 5.): the rollout engine's weights out after generation (vLLM sleep level 1, inside NeMo RL's
    ``generation`` timer) and, with a KL reference, three weight copies (policy out, reference in, policy back, inside
    its ``policy_and_reference_logprobs`` timer). The outbound half of the trainer's offload and the engine's wake sit
    inside the refit; the trainer's weights, gradients and optimizer state back before the passes and the update run
    in its ``logprob_inference_prep`` and ``training_prep`` timers (grpo.py at v0.3.0 and v0.4.0), outside the four
    phases its tables time, so inside ``ORCHESTRATION_S``, the measured remainder (until session 14 they were
    counted here as well, twice)."""
    weights = update.memory["weights_bytes"]
    return (rollout_weight_bytes + (3.0 * weights if reference else 0.0)) / HOST_COPY_BYTES_PER_S


def compose(generation: float, passes: float, training: float, sync: float, colocated: bool,
            off_policy_steps: int, switch: float = 0.0, orchestration: float = 0.0) -> tuple[float, dict]:
    """(step seconds, idle seconds per pool) from the phases."""
    if colocated:
        return generation + sync + switch + passes + training + orchestration, {"shared": 0.0}
    if off_policy_steps >= 1:  # the refit holds both pools: the trainer sends it, the rollout engine loads it
        step = max(generation, passes + training) + sync + orchestration
    else:
        step = generation + sync + passes + training + orchestration
    return step, {"rollout": step - generation - sync, "train": step - passes - training - sync}  # both hold the refit


def step(*, model: Model, chip: Chip, devices: int, algorithm: str = "grpo", rollouts_per_step: int = 512,
         train_global_batch: int = 128, prompt_len: int = 512, response_len: int = 2048, max_seq_len: int = 8192,
         off_policy_steps: int = 0, rollout_tp: int | None = None, train_tp: int | None = None,
         train_pp: int | None = None, train_cp: int | None = None, train_ep: int | None = None,
         train_etp: int | None = None, train_recompute: str | None = None, steps: int | None = None,
         rollout_chip: Chip | None = None, rollout_devices: int | None = None, reward_model: Model | None = None,
         precision: str = "bf16", rollout_memory_share: float | None = None, force_on_policy_ratio: bool = False,
         samples_per_prompt: int | None = None, rollout_max_seqs: int | None = None,
         framework: Framework = Framework(), engine: ServeEngine = ROOFLINE) -> RLResult:
    """Price one RL step (module docstring): colocated on ``devices`` x ``chip``, or with the rollouts on their own
    ``rollout_devices`` x ``rollout_chip``. ``rollout_memory_share``: the share of each rollout device the engine may
    fill (vLLM ``gpu_memory_utilization``); by default NeMo RL's 0.6 colocated, the engine's own default on a pool of
    its own. ``rollout_max_seqs``: the most sequences a rollout replica decodes at once (vLLM ``max_num_seqs``); by
    default the engine's own, or for vLLM rollouts running ahead on a pool of their own NeMo RL's asynchronous engine's
    (:data:`~.rollout.ASYNC_ENGINE_MAX_SEQS`)."""
    if algorithm not in ALGORITHMS:
        raise UnknownName("algorithm", str(algorithm), list(ALGORITHMS), "algorithm")
    for name, value in (("devices", devices), ("rollouts_per_step", rollouts_per_step),
                        ("train_global_batch", train_global_batch), ("prompt_len", prompt_len),
                        ("response_len", response_len), ("max_seq_len", max_seq_len)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise BadInput(f"--{name.replace('_', '-')} must be a whole number >= 1, got {value!r}", name)
    if isinstance(off_policy_steps, bool) or not isinstance(off_policy_steps, int) or off_policy_steps < 0:
        raise BadInput(f"--off-policy-steps must be a whole number >= 0, got {off_policy_steps!r}", "off_policy_steps")
    if rollouts_per_step % train_global_batch:
        near = sorted({d for d in range(1, rollouts_per_step + 1) if rollouts_per_step % d == 0},
                      key=lambda d: (abs(d - train_global_batch), d))[:2]
        raise BadInput(f"--train-global-batch {train_global_batch} does not divide --rollouts-per-step "
                       f"{rollouts_per_step}; the nearest that do: {' or '.join(map(str, sorted(near)))}",
                       "train_global_batch")
    samples = SAMPLES_PER_PROMPT[algorithm] if samples_per_prompt is None else samples_per_prompt
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1 or rollouts_per_step % samples:
        raise BadInput(f"--rollouts-per-step {rollouts_per_step} must be whole prompts of --samples-per-prompt "
                       f"{samples!r} (a whole number >= 1; {algorithm}'s default {SAMPLES_PER_PROMPT[algorithm]})",
                       "samples_per_prompt")
    if rollout_max_seqs is not None and (isinstance(rollout_max_seqs, bool) or not isinstance(rollout_max_seqs, int)
                                         or rollout_max_seqs < 1):
        raise BadInput(f"--rollout-max-seqs must be a whole number >= 1 (vLLM's max_num_seqs), got "
                       f"{rollout_max_seqs!r}", "rollout_max_seqs")
    if force_on_policy_ratio and train_global_batch != rollouts_per_step:
        raise BadInput(f"--force-on-policy-ratio needs one optimizer step a step: --train-global-batch "
                       f"{train_global_batch} must equal --rollouts-per-step {rollouts_per_step}",
                       "force_on_policy_ratio")
    if prompt_len + response_len >= max_seq_len:
        raise BadInput(f"--prompt-len {prompt_len} + --response-len {response_len} (the mean) must stay below "
                       f"--max-seq-len {max_seq_len}, the longest a response may grow to", "max_seq_len")
    if rollout_memory_share is not None and (isinstance(rollout_memory_share, bool) or not isinstance(
            rollout_memory_share, (int, float)) or not 0 < rollout_memory_share <= 1):
        raise BadInput(f"--rollout-memory-share must be a fraction above 0 and at most 1 (vLLM's "
                       f"gpu_memory_utilization), got {rollout_memory_share!r}", "rollout_memory_share")
    if (rollout_chip is None) != (rollout_devices is None):
        raise BadInput("disaggregated rollouts need both --rollout-chip and --rollout-devices", "rollout_devices")
    train_chip = chip
    colocated = rollout_devices is None
    gen_chip = train_chip if colocated else rollout_chip
    gen_devices = devices if colocated else int(rollout_devices)
    if not colocated and (isinstance(rollout_devices, bool) or not isinstance(rollout_devices, int)
                          or rollout_devices < 1):
        raise BadInput(f"--rollout-devices must be a whole number >= 1, got {rollout_devices!r}", "rollout_devices")

    # training: whole sequences packed first-fit decreasing into max_seq_len rows, one optimizer step a mini-batch
    seq_tokens = prompt_len + response_len
    scale = exponential_scale(response_len, max_seq_len - prompt_len)  # response_len is the mean after the cut
    rows = packed_rows(train_global_batch, prompt_len, scale, max_seq_len - prompt_len, max_seq_len)
    degrees = dict(tp=train_tp, pp=train_pp, cp=train_cp, ep=train_ep, etp=train_etp)
    if train_recompute is not None and train_recompute not in RECOMPUTE:
        raise BadInput(f"--train-recompute must be one of {', '.join(RECOMPUTE)}, got {train_recompute!r}",
                       "train_recompute")
    rows = _rows_for(rows, devices, degrees)
    sequences = dict(seq_len=max_seq_len, global_batch=rows, task="sft", mean_seq_len=seq_tokens, framework=framework)
    if any(v is not None for v in degrees.values()):
        recompute = {} if train_recompute is None else {"recompute": train_recompute}
        update = train(model=model, chip=train_chip, devices=devices, precision=precision, **sequences, **degrees,
                       **recompute)
    else:
        modes = {} if train_recompute is None else {"recompute": (RECOMPUTE.index(train_recompute),)}
        space = SearchSpace(precision=precision, **modes)
        update = best_plans(model, train_chip, make_job(**sequences), devices, space, "time", train_chip.usd_per_hour,
                            RunOptions(), 1).plans[0]
    minibatches = rollouts_per_step // train_global_batch
    critic = 2 if algorithm == "ppo" else 1
    training = critic * minibatches * update.step_time_s
    forward = minibatches * update.extra["forward_pass_s"]
    passes = ((3 if algorithm == "ppo" else 2) - int(bool(force_on_policy_ratio))) * forward  # the old policy's skipped
    notes = []  # how far such steps land from published ones: the result's expected_error (catalog/accuracy.yaml)
    for c in sorted({train_chip.name, gen_chip.name} & BLACKWELL):  # GB200-NVL72: 28 steps of v0.5-v0.7
        notes.append(f"{c}: NeMo RL's published steps on GB200-NVL72 are predicted within 19% at the median of its "
                     "v0.7 table (17% and 14% in v0.5 and v0.6), but those whose rollout replicas are one device each "
                     "took 4-38% longer than predicted there; read such a step as a lower bound")
    if update.plan.ep > 1 and train_chip.scale_up_domain > NODE_DOMAIN_DEVICES:  # rack-scale: GB200-NVL72, CloudMatrix
        notes.append(EP_PLACEMENT_NOTE)
    if reward_model is not None:
        scored = train(model=reward_model, chip=train_chip, devices=devices, precision=precision, **sequences,
                       **{k: v for k, v in update.plan.to_dict().items() if k in ("tp", "pp", "cp", "micro_batch")})
        passes += minibatches * scored.extra["forward_pass_s"]

    # generation: rollout replicas over the rollout devices
    share = rollout_memory_share or (COLOCATED_ROLLOUT_MEMORY_SHARE if colocated else 1.0)
    streams = not colocated and off_policy_steps >= 1  # the rollout pool runs ahead: no step waits for its tail
    async_default = rollout_max_seqs is None and streams and engine.name.split("@")[0] == "vllm"
    max_seqs = ASYNC_ENGINE_MAX_SEQS if async_default else rollout_max_seqs
    if max_seqs is not None:  # the engine's max_num_seqs on every device: it also sizes its memory profile's sampler
        engine = dataclasses.replace(engine, max_batch=max_seqs, small_device_batch=None, large_device_batch=None,
                                     max_batch_chips=())
    serve_plan = rollout_plan(model, gen_chip, gen_devices, rollout_tp, precision, engine, share)
    notes += cross_domain_notes(gen_chip, serve_plan)  # the rollouts' decode, where the estimate is weakest
    replicas = gen_devices // serve_plan.devices
    per_replica = math.ceil(rollouts_per_step / replicas)
    capacity = max_concurrency(model, gen_chip, serve_plan, prompt_len, max_seq_len - prompt_len,
                               memory_margin=1.0 - share)
    if capacity < 1:
        raise DoesNotFit(f"does not fit: one rollout of {max_seq_len} tokens needs more KV cache than a "
                         f"{serve_plan.devices} x {gen_chip.name} replica has left; raise --rollout-tp")
    if async_default and capacity > max_seqs:
        notes.append(f"rollouts running ahead: vLLM's asynchronous engine (NeMo RL's async GRPO) runs at most "
                     f"{max_seqs} sequences a replica unless told more, where the KV cache holds "
                     f"{capacity}; to use it set policy.generation.vllm_kwargs.max_num_seqs and price it with "
                     f"--rollout-max-seqs")
    capacity = running_limit(serve_plan, capacity)  # and no more than the engine's max_num_seqs
    generation = generation_s(model, gen_chip, serve_plan, per_replica, prompt_len, scale,
                              float(max_seq_len - prompt_len), capacity, float(response_len) if streams else None,
                              off_policy_steps, samples)
    sync = weight_sync_s(model, train_chip, gen_chip, serve_plan.tp, colocated)
    rc = replica_costs(model, gen_chip, serve_plan)
    switch = engine_switch_s(update, rc.weight_bytes, reference=True) if colocated else 0.0
    step_s, idle = compose(generation, passes, training, sync, colocated, off_policy_steps, switch, ORCHESTRATION_S)
    if colocated and off_policy_steps:
        notes.append("a colocated pool time-shares generation and training, so --off-policy-steps cannot overlap them")
    if colocated:
        notes.append("colocated: each phase's memory is priced alone, the other phase's state offloaded or freed")
    memory = {"generation": rc.weight_bytes + rc.kv_bytes_per_token * min(per_replica, capacity)
              * max_seq_len / serve_plan.devices,
              "training": update.memory_per_device_bytes}
    extra = {}
    if steps is not None:  # the whole run: failures, checkpoints and cost over every device of the job
        pool = devices + (0 if colocated else gen_devices)
        per_step = rollouts_per_step * seq_tokens
        extra = run_outcome(model, train_chip, pool, steps * per_step, per_step / step_s, RunOptions(), framework)
        if gen_chip is not train_chip and gen_chip.name != train_chip.name:
            notes.append(f"the run's failures and price are {train_chip.name}'s for all {pool} devices")
    return RLResult(extra=extra, model=model, algorithm=algorithm, train_chip=train_chip, train_devices=devices,
                    rollout_chip=gen_chip, rollout_devices=gen_devices, colocated=colocated,
                    rollouts=rollouts_per_step, train_global_batch=train_global_batch, prompt_len=prompt_len,
                    response_len=response_len, max_seq_len=max_seq_len, off_policy_steps=off_policy_steps,
                    force_on_policy_ratio=bool(force_on_policy_ratio), samples_per_prompt=samples,
                    generation_s=generation, inference_passes_s=passes, training_s=training, weight_sync_s=sync,
                    engine_switch_s=switch, orchestration_s=ORCHESTRATION_S,
                    step_time_s=step_s, idle_s=idle, train=update, rollout_plan=serve_plan, rollout_replicas=replicas,
                    rollout_max_seqs=int(capacity),
                    memory=memory, fits=bool(update.fits), notes=notes)


def _rows_for(rows: int, devices: int, degrees: dict) -> int:
    """Packed rows of a mini-batch, rounded up to a multiple of the data-parallel ranks the given degrees leave."""
    model_parallel = (degrees.get("tp") or 1) * (degrees.get("pp") or 1) * (degrees.get("cp") or 1)
    dp = max(devices // model_parallel, 1) if devices % model_parallel == 0 else 1
    return -(-rows // dp) * dp
