"""A DeepSpeed JSON config and the Megatron-DeepSpeed flags that go with it.

Config keys follow DeepSpeed 0.19.8: deepspeed/runtime/constants.py (train_batch_size,
train_micro_batch_size_per_gpu, gradient_accumulation_steps, bf16, fp16), deepspeed/runtime/zero/config.py
(DeepSpeedZeroConfig: stage, overlap_comm, contiguous_gradients, zero_hpz_partition_size) and
deepspeed/runtime/activation_checkpointing/config.py. DeepSpeed checks train_batch_size = micro batch x gradient
accumulation x data-parallel size, where Megatron-DeepSpeed's data-parallel size is world / (tp x pp).
Launcher flags follow github.com/microsoft/Megatron-DeepSpeed megatron/arguments.py (commit f4157bea, 2024-12-24,
the last on its main branch; it has no releases) and deepspeed/__init__.py add_config_arguments (--deepspeed,
--deepspeed_config). Its pipeline is DeepSpeed's PipelineModule: no interleaved stages, and only ZeRO 0 or 1 with
pp > 1; its sequence parallelism beyond tp is DeepSpeed-Ulysses, not the ring attention xpuplan prices as cp.
"""

from __future__ import annotations

import json

from ..errors import BadInput
from .launch import TrainLaunch
from .text import Flag, cannot, comments, flag_lines, read_flags, whole

VERSION = "DeepSpeed 0.19.8 config, Megatron-DeepSpeed f4157bea (2024-12-24) flags"
SOURCE = ("deepspeed/runtime/constants.py, deepspeed/runtime/zero/config.py (deepspeed 0.19.8); megatron/arguments.py "
          "(microsoft/Megatron-DeepSpeed f4157bea)")
CONFIG_FILE = "ds_config.json"


def _refuse(launch: TrainLaunch) -> None:
    p, m, fmt = launch.plan, launch.model, "deepspeed"
    if p.vpp > 1:
        raise cannot(fmt, f"--vpp {p.vpp}: DeepSpeed's pipeline engine runs one stage per rank; use --vpp 1", "vpp")
    if p.cp > 1:
        raise cannot(fmt, f"--cp {p.cp}: ring context parallelism has no flag (--ds-sequence-parallel-size is "
                     "DeepSpeed-Ulysses, priced differently); use --cp 1", "cp")
    if p.precision == "fp8":
        raise cannot(fmt, "--precision fp8: no FP8 GEMM key or flag; use bf16", "precision")
    if p.pp > 1 and p.zero > 1:
        raise cannot(fmt, f"--zero {p.zero} with pp {p.pp}: the pipeline engine takes ZeRO 0 or 1 only", "zero")
    if p.ep > 1 and p.expert_tp not in (1, p.tp):
        raise cannot(fmt, f"--etp {p.expert_tp}: experts are split by all of tp or not at all", "etp")
    if launch.ep_dedup:
        raise cannot(fmt, "--ep-dedup (once-per-node expert dispatch): DeepSpeed-MoE sends one copy per expert; "
                     "leave it out", "ep_dedup")
    if m is not None and m.moe is not None and launch.moe_grouped_gemm:
        raise cannot(fmt, "--moe-grouped-gemm: DeepSpeed-MoE runs its local experts one after another; use "
                     "--no-moe-grouped-gemm", "moe_grouped_gemm")
    if m is not None and m.attention == "mla":
        raise cannot(fmt, f"{launch.model_name}'s multi-latent attention: Megatron-DeepSpeed has no MLA layer", "model")
    if launch.task in ("lora", "qlora", "dpo"):
        raise cannot(fmt, f"--task {launch.task}: pretrain_gpt.py trains every weight on one loss", "task")
    if launch.offload_layers:
        raise cannot(fmt, "--offload-layers: no activation offload of whole layers; use 0", "offload_layers")
    if launch.optimizer_state != "fp32":
        raise cannot(fmt, f"--optimizer-state {launch.optimizer_state}: the bf16 optimizer keeps fp32 master "
                     "weights and moments; use fp32", "optimizer_state")


def config(launch: TrainLaunch) -> dict:
    """The DeepSpeed config as a mapping."""
    _refuse(launch)
    p = launch.plan
    zero = {"stage": p.zero, "overlap_comm": launch.dp_overlap, "contiguous_gradients": True}
    if p.zero == 3 and 0 < launch.zero_shard < p.dp:
        zero["zero_hpz_partition_size"] = launch.zero_shard  # ZeRO++ hierarchical partitioning of the weights
    out = {"train_batch_size": launch.global_batch, "train_micro_batch_size_per_gpu": p.micro_batch,
           "gradient_accumulation_steps": launch.grad_accum,
           "fp16" if p.precision == "fp16" else "bf16": {"enabled": True}, "zero_optimization": zero}
    if p.recompute == "full":
        out["activation_checkpointing"] = {"partition_activations": p.tp > 1, "contiguous_memory_optimization": False,
                                           "cpu_checkpointing": False}
    return out


def launcher(launch: TrainLaunch, config_file: str = CONFIG_FILE) -> list[Flag]:
    """The Megatron-DeepSpeed flags of the plan, pointing at the config file."""
    p, m = launch.plan, launch.model
    out: list[Flag] = [("--tensor-model-parallel-size", p.tp), ("--pipeline-model-parallel-size", p.pp)]
    if p.pp == 1:
        out.append(("--no-pipeline-parallel", None))
    if p.tp > 1:
        out.append(("--sequence-parallel", None))
    out += [("--micro-batch-size", p.micro_batch), ("--global-batch-size", launch.global_batch),
            ("--seq-length", launch.seq_len)]
    if launch.train_iters:
        out.append(("--train-iters", launch.train_iters))
    out.append(("--fp16", None) if p.precision == "fp16" else ("--bf16", None))
    if p.recompute == "selective":
        out.append(("--recompute-granularity", "selective"))
    elif p.recompute == "full":
        out += [("--checkpoint-activations", None), ("--deepspeed-activation-checkpointing", None)]
    if m is not None:
        out += [("--num-layers", m.layers), ("--hidden-size", m.hidden), ("--ffn-hidden-size", m.ffn_hidden),
                ("--num-attention-heads", m.heads), ("--num-key-value-heads", m.kv_heads),
                ("--max-position-embeddings", max(launch.seq_len, m.max_seq_len or 0))]
        out += [("--swiglu", None)] * (m.ffn_act == "swiglu") + [("--use-rotary-position-embeddings", None)] * \
            (m.position == "rope") + [("--untie-embeddings-and-output-weights", None)] * (not m.tied_embeddings)
    if p.ep > 1 or (m is not None and m.moe is not None):
        experts, top_k = (m.moe.experts, m.moe.top_k) if m is not None and m.moe else (p.ep, 1)
        out += [("--num-experts", experts), ("--moe-expert-parallel-size", p.ep), ("--topk", top_k)]
        if p.expert_tp == p.tp > 1:
            out.append(("--enable-expert-tensor-parallelism", None))
    return out + [("--zero-stage", p.zero), ("--deepspeed", None), ("--deepspeed_config", config_file)]


def render(launch: TrainLaunch, header: list[str], config_file: str = CONFIG_FILE) -> tuple[str, str]:
    """(the JSON config, the launcher flags file naming ``config_file``); JSON has no comments, so the version is
    named in the flags file and in ``--json``."""
    text = json.dumps(config(launch), indent=2) + "\n"
    p = launch.plan
    notes = [f"world size {launch.devices} = tp {p.tp} x pp {p.pp} x dp {p.dp}: deepspeed pretrain_gpt.py "
             "$(grep -v '^#' THIS_FILE)"]
    return text, comments(header + notes) + flag_lines(launcher(launch, config_file))


ARITY = {"--tensor-model-parallel-size": 1, "--pipeline-model-parallel-size": 1, "--recompute-granularity": 1,
         "--checkpoint-activations": 0, "--moe-expert-parallel-size": 1, "--enable-expert-tensor-parallelism": 0,
         "--zero-stage": 1, "--seq-length": 1}


def read(config_text: str, launcher_text: str) -> dict:
    """The plan a DeepSpeed config and its launcher flags state (dp = batch / (micro x accumulation))."""
    try:
        cfg = json.loads(config_text)
    except json.JSONDecodeError as exc:
        raise BadInput(f"not a JSON DeepSpeed config: {exc}", "text") from None
    f = read_flags(launcher_text, ARITY)
    tp = whole(f.get("--tensor-model-parallel-size", 1), "--tensor-model-parallel-size")
    micro, accum = cfg["train_micro_batch_size_per_gpu"], cfg.get("gradient_accumulation_steps", 1)
    recompute = "full" if "--checkpoint-activations" in f else f.get("--recompute-granularity", "none")
    ep = whole(f.get("--moe-expert-parallel-size", 1), "--moe-expert-parallel-size")
    return {"tp": tp, "pp": whole(f.get("--pipeline-model-parallel-size", 1), "--pipeline-model-parallel-size"),
            "dp": cfg["train_batch_size"] // (micro * accum), "cp": 1, "ep": ep,
            "etp": tp if "--enable-expert-tensor-parallelism" in f else (1 if ep > 1 else tp), "vpp": 1,
            "micro_batch": micro, "zero": cfg.get("zero_optimization", {}).get("stage", 0), "recompute": recompute,
            "precision": "fp16" if cfg.get("fp16", {}).get("enabled") else "bf16",
            "global_batch": cfg["train_batch_size"], "seq_len": whole(f.get("--seq-length"), "--seq-length")}
