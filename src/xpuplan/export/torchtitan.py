"""A torchtitan TOML job file (``--job.config_file``) that realises a training plan.

Sections and field names follow torchtitan 0.2.2, torchtitan/config/job_config.py (github.com/pytorch/torchtitan,
tag v0.2.2; the last release configured by TOML files), and the float8 converter name of
torchtitan/components/quantization/float8.py. How torchtitan reads them (torchtitan/train.py,
torchtitan/distributed/pipeline_parallel.py at that tag): gradient accumulation = global_batch_size /
(local_batch_size x data-parallel degree); with pipeline parallelism each rank's local batch is cut into micro-batches
of pipeline_parallel_microbatch_size; virtual stages = ceil((layers + first_stage_less_layers +
last_stage_less_layers) / pipeline_parallel_layers_per_stage), two per rank by default for looped schedules.

Data parallelism is FSDP2 (``fully_shard``): ZeRO-3 is data_parallel_shard_degree (HSDP with a replicate degree when
the shard group is smaller), ZeRO-2 the same with fsdp_reshard_after_forward = "never" (weights stay gathered
between forward and backward: PyTorch's SHARD_GRAD_OP), ZeRO-0 plain replication (DDP). There is no ZeRO-1.
"""

from __future__ import annotations

import json
import math

from ..errors import BadInput
from .launch import TrainLaunch
from .text import cannot, comments

VERSION = "torchtitan 0.2.2"
SOURCE = "torchtitan/config/job_config.py (pytorch/torchtitan, tag v0.2.2)"
FLOAT8 = "quantize.linear.float8"
"""the float8 converter's registered name (torchtitan/components/quantization/float8.py)"""


def _refuse(launch: TrainLaunch) -> None:
    p, fmt = launch.plan, "torchtitan"
    if p.zero == 1:
        raise cannot(fmt, "--zero 1 (a sharded optimizer with whole weights and gradients): FSDP2 shards all three "
                     "or none; use --zero 2 (reshard_after_forward never), 3, or 0", "zero")
    if p.precision == "fp16":
        raise cannot(fmt, "--precision fp16: training.mixed_precision_param is bfloat16 or float32; use bf16",
                     "precision")
    if launch.grad_reduce == "bf16":
        raise cannot(fmt, "--grad-reduce bf16: training.mixed_precision_reduce is float32 only; use fp32",
                     "grad_reduce")
    if launch.optimizer_state != "fp32":
        raise cannot(fmt, f"--optimizer-state {launch.optimizer_state}: FSDP2's sharded fp32 parameters are the "
                     "master weights and the optimizer's moments follow them; use fp32", "optimizer_state")
    if p.ep > 1 and p.expert_tp not in (1, p.tp):
        raise cannot(fmt, f"--etp {p.expert_tp}: expert_tensor_parallel_degree is 1 or tp ({p.tp})", "etp")
    if launch.task in ("lora", "qlora", "dpo"):
        raise cannot(fmt, f"--task {launch.task}: the trainer trains every weight on one loss; use pretrain or sft",
                     "task")
    if launch.offload_layers:
        raise cannot(fmt, "--offload-layers: no activation offload field (training.enable_cpu_offload moves the "
                     "optimizer, not activations); use 0", "offload_layers")


def _pipeline(launch: TrainLaunch) -> dict:
    """Schedule and virtual stages: Interleaved1F1B with the layers per stage that give pp * vpp stages."""
    p, m = launch.plan, launch.model
    if p.vpp == 1:
        return {"pipeline_parallel_schedule": "1F1B"}
    out = {"pipeline_parallel_schedule": "Interleaved1F1B"}
    if m is None:
        if p.vpp == 2:  # torchtitan's default for looped schedules
            return out
        raise cannot("torchtitan", f"--vpp {p.vpp} for model {launch.model_name!r}: the layers per stage need its "
                     "layer count, and it is not in the catalog; export with --model FILE", "vpp")
    per_stage = math.ceil(m.layers / (p.pp * p.vpp))
    if math.ceil(m.layers / per_stage) != p.pp * p.vpp:
        raise cannot("torchtitan", f"--vpp {p.vpp}: {m.layers} layers in stages of equal size give "
                     f"{math.ceil(m.layers / per_stage)} stages, not pp x vpp = {p.pp * p.vpp}", "vpp")
    return {**out, "pipeline_parallel_layers_per_stage": per_stage, "pipeline_parallel_first_stage_less_layers": 0,
            "pipeline_parallel_last_stage_less_layers": 0}


def config(launch: TrainLaunch) -> dict[str, dict]:
    """The job file as TOML tables (section -> field -> value)."""
    _refuse(launch)
    p = launch.plan
    shard = p.dp if p.zero else 1
    if p.zero == 3 and 0 < launch.zero_shard < p.dp and p.dp % launch.zero_shard == 0:
        shard = launch.zero_shard  # HSDP: shard within the group, replicate across groups
    local = p.micro_batch if p.pp == 1 else launch.global_batch // p.dp
    training = {"local_batch_size": local, "global_batch_size": launch.global_batch, "seq_len": launch.seq_len,
                "mixed_precision_param": "bfloat16", "mixed_precision_reduce": "float32"}
    if launch.train_iters:
        training["steps"] = launch.train_iters
    parallelism = {"data_parallel_replicate_degree": p.dp // shard, "data_parallel_shard_degree": shard,
                   "fsdp_reshard_after_forward": "never" if p.zero == 2 else "default",
                   "tensor_parallel_degree": p.tp, "enable_async_tensor_parallel": p.tp > 1 and launch.tp_overlap > 0,
                   "pipeline_parallel_degree": p.pp, **_pipeline(launch),
                   "pipeline_parallel_microbatch_size": p.micro_batch, "context_parallel_degree": p.cp,
                   "expert_parallel_degree": p.ep, "expert_tensor_parallel_degree": p.expert_tp if p.ep > 1 else 1}
    if p.ep > 1:
        parallelism["expert_parallel_comm_backend"] = "deepep" if launch.ep_dedup else "standard"
    checkpointing = {"mode": p.recompute}
    if p.recompute == "selective":
        checkpointing["selective_ac_option"] = "op"  # per-op policy: keep matmul outputs, recompute the rest
    out = {"model": {"converters": [FLOAT8] if p.precision == "fp8" else []}, "training": training,
           "parallelism": parallelism, "activation_checkpoint": checkpointing,
           "compile": {"enable": launch.framework == "torch-compile", "components": ["model", "loss"]}}
    if p.precision == "fp8":  # tensorwise scaling, with float8 all-gathers when FSDP shards the weights
        out["quantize.linear.float8"] = {"recipe_name": "tensorwise", "enable_fsdp_float8_all_gather": p.zero == 3,
                                         "precompute_float8_dynamic_scale_for_fsdp": p.zero == 3}
    return out


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value)  # numbers, strings and lists of strings are written alike in TOML and JSON


def render(launch: TrainLaunch, header: list[str]) -> str:
    tables = config(launch)
    note = [f"[model] name and flavor: torchtitan's entry for {launch.model_name}; world size {launch.devices}",
            "run: torchrun ... -m torchtitan.train --job.config_file THIS_FILE"]
    body = "".join(f"\n[{section}]\n" + "".join(f"{k} = {_toml_value(v)}\n" for k, v in fields.items())
                   for section, fields in tables.items())
    return comments(header + note) + body


def read(text: str, layers: int | None = None) -> dict:
    """The plan a torchtitan job file states (vpp from the layers per stage needs the model's ``layers``)."""
    try:
        import tomllib
    except ImportError:  # Python 3.10
        raise BadInput("reading a TOML job file needs Python 3.11 or later (tomllib)", "format") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise BadInput(f"not a TOML job file: {exc}", "text") from None
    par, train = data.get("parallelism", {}), data.get("training", {})
    pp = par.get("pipeline_parallel_degree", 1)
    vpp = 1
    if pp > 1 and par.get("pipeline_parallel_schedule", "1F1B") not in ("1F1B", "GPipe"):
        per_stage = par.get("pipeline_parallel_layers_per_stage")
        if per_stage is None:
            vpp = 2
        elif layers is None:
            raise BadInput("the virtual stages come from the model's layer count: give layers", "layers")
        else:
            extra = par.get("pipeline_parallel_first_stage_less_layers", 1) + \
                par.get("pipeline_parallel_last_stage_less_layers", 1)
            vpp = math.ceil((layers + extra) / per_stage) // pp
    shard, replicate = par.get("data_parallel_shard_degree", -1), par.get("data_parallel_replicate_degree", 1)
    dp = replicate * max(shard, 1)
    zero = 0 if shard <= 1 else (2 if par.get("fsdp_reshard_after_forward") == "never" else 3)
    micro = par.get("pipeline_parallel_microbatch_size", 1) if pp > 1 else train.get("local_batch_size", 8)
    mode = data.get("activation_checkpoint", {}).get("mode", "selective")
    fp8 = FLOAT8 in data.get("model", {}).get("converters", [])
    return {"tp": par.get("tensor_parallel_degree", 1), "pp": pp, "dp": dp, "cp": par.get("context_parallel_degree", 1),
            "ep": par.get("expert_parallel_degree", 1), "etp": par.get("expert_tensor_parallel_degree", 1),
            "vpp": vpp, "micro_batch": micro, "zero": zero, "recompute": mode, "precision": "fp8" if fp8 else "bf16",
            "global_batch": train.get("global_batch_size"), "seq_len": train.get("seq_len")}
