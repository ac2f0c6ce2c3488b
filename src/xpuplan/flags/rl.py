"""Rows of the options table for ``rl``: the RL step's pools, batch, lengths, plans and run.

Plain calls of ``row(name, type, help, **bounds)`` collected as tuples, so this module imports nothing;
:mod:`xpuplan.flags` turns them into ``Option``s in the rl panel."""


def _rl(name, kind, help, **kw):
    return name, kind, help, kw


RL_ROWS = (
    _rl("chip", str, "chip id or file of the training devices (and of the rollouts, unless --rollout-chip)",
        required=("rl",), catalog_id=True, example="h100-sxm"),
    _rl("devices", int, "training devices (the whole pool when colocated)", required=("rl",), ge=1, le=10_000_000,
        example=8),
    _rl("algorithm", str, "grpo (no critic) or ppo (a critic of the policy's size)", default="grpo",
        choices=("grpo", "ppo"), example="ppo"),
    _rl("rollouts_per_step", int, "responses generated per step (prompts x samples per prompt)", default=512, ge=1,
        le=10_000_000, example=256),
    _rl("train_global_batch", int, "sequences per optimizer step; must divide --rollouts-per-step", default=128,
        ge=1, le=10_000_000, example=64),
    _rl("prompt_len", int, "prompt tokens", default=512, ge=1, le=10_000_000, unit="tokens", example=256),
    _rl("response_len", int, "mean response tokens (lengths long-tailed: exponential, cut at the limit, this mean)",
        default=2048, ge=1, le=10_000_000, unit="tokens", example=1024),
    _rl("max_seq_len", int, "longest prompt + response; responses are cut there", default=8192, ge=2,
        le=10_000_000, unit="tokens", example=4096),
    _rl("off_policy_steps", int, "steps generation may run ahead of training (0: on-policy); overlaps the phases "
        "when the rollouts have their own devices", default=0, ge=0, le=1000, example=1),
    _rl("rollout_tp", int, "devices per rollout replica (default: the fewest that hold the weights and KV)", ge=1,
        example=2),
    *(_rl(f"train_{d}", int, f"training {what} (default: searched)", ge=1, example=e) for d, what, e in
      (("tp", "tensor parallel", 2), ("pp", "pipeline stages", 1), ("cp", "context parallel", 1),
       ("ep", "expert parallel", 1), ("etp", "expert tensor parallel (1: experts unsplit)", 1))),
    _rl("train_recompute", str, "training activation recompute (default: searched)", choices=("none", "selective", "full"),
        example="full"),
    _rl("samples_per_prompt", int, "responses sampled from each prompt (GRPO's group; default 16 for grpo, NeMo RL's, 1 "
        "for ppo); a pool running ahead holds a prompt until its whole group has ended", ge=1, le=100_000, example=8),
    _rl("force_on_policy_ratio", bool, "skip the old policy's log-prob pass, its ratio taken as 1 (NeMo RL v0.7's "
        "loss_fn.force_on_policy_ratio); needs --train-global-batch = --rollouts-per-step", default=False, example=True),
    _rl("rollout_max_seqs", int, "most sequences a rollout replica decodes at once (vLLM max_num_seqs; default: "
        "the engine's, and 128 for rollouts running ahead on their own pool: NeMo RL's asynchronous vLLM engine)",
        ge=1, le=1_000_000, example=256),
    _rl("rollout_chip", str, "chip of a separate rollout pool (with --rollout-devices)", catalog_id=True,
        example="ascend-910b"),
    _rl("rollout_devices", int, "devices of that pool", ge=1, le=10_000_000, example=8),
    _rl("rollout_memory_share", float, "share of each rollout device the engine may fill (vLLM "
        "gpu_memory_utilization; default 0.6 colocated, as NeMo RL's GRPO configs, else the engine's own)", gt=0.0,
        le=1.0, unit="fraction", example=0.8),
    _rl("reward_model", str, "a reward model scored on every rollout (default: a rule-based reward, free)",
        catalog_id=True, example="llama3-8b"),
    _rl("search", bool, "try the rollout tp, and for one pool of one chip kind sharing or splitting it",
        default=False, example=True),
    _rl("objective", str, "with --search: the fastest step (time) or the cheapest (cost, at catalog prices)",
        default="time", choices=("time", "cost"), example="cost"),
    _rl("steps", int, "steps of the whole run: adds its wall-clock time with failures, device-hours and cost",
        ge=1, le=100_000_000, example=100),
    _rl("precision", str, "GEMM precision of training and rollouts", default="bf16", choices=("bf16", "fp8"),
        example="fp8"),
    _rl("framework", str, "training framework profile (see `xpuplan catalog frameworks`; nemo-rl, nemo-rl@0.7: "
        "NeMo RL's own switches)", default="megatron", catalog_id=True, example="torch"),
)
