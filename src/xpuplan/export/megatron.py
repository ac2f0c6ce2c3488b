"""Megatron-LM and MindSpeed-LLM argument files: the flags of ``pretrain_gpt.py`` that realise a training plan.

Flag names and value sets follow, for ``megatron``, Megatron-LM tag core_v0.19.0: megatron/training/arguments.py
(github.com/NVIDIA/Megatron-LM), whose parallel, recompute and FP8 flags it generates from
megatron/core/model_parallel_config.py and megatron/core/transformer/transformer_config.py. For ``mindspeed``,
MindSpeed-LLM 26.1.0 runs on Megatron-LM core_v0.12.1 (the same megatron/training/arguments.py at that tag) with
MindSpeed 26.0.0's features (mindspeed/features_manager/, e.g. --use-fused-rmsnorm, --use-fused-swiglu,
--context-parallel-algo, --moe-alltoall-overlap-comm; gitee.com/ascend/MindSpeed tag v26.0.0_core_r0.12.1) and its
own (mindspeed_llm/training/arguments.py, mindspeed_llm/features_manager/; tag v26.1.0), as its
examples/mcore/*/pretrain_*.sh scripts combine them. Data, tokenizer, checkpoint and learning-rate flags are the
user's to add.
"""

from __future__ import annotations

from ..cost.pipeline import ACCOUNTED, ENDS, model_split
from ..specs import Model
from .launch import TrainLaunch
from .text import Flag, cannot, comments, flag_lines, read_flags, whole

VERSIONS = {"megatron": "Megatron-LM core_v0.19.0",
            "mindspeed": "MindSpeed-LLM 26.1.0 (Megatron-LM core_v0.12.1, MindSpeed 26.0.0)"}
SOURCES = {"megatron": "megatron/training/arguments.py (NVIDIA/Megatron-LM, tag core_v0.19.0)",
           "mindspeed": "megatron/training/arguments.py (Megatron-LM core_v0.12.1), mindspeed/features_manager "
                        "(Ascend/MindSpeed v26.0.0_core_r0.12.1), mindspeed_llm/training/arguments.py "
                        "(Ascend/MindSpeed-LLM v26.1.0)"}
FSDP_STRATEGY = {2: "optim_grads", 3: "optim_grads_params"}
"""Megatron-FSDP --data-parallel-sharding-strategy for ZeRO-2 and ZeRO-3"""


def _refuse(fmt: str, launch: TrainLaunch) -> None:
    p, mindspeed = launch.plan, fmt == "mindspeed"
    if launch.task in ("lora", "qlora", "dpo"):
        raise cannot(fmt, f"--task {launch.task}: pretrain_gpt.py trains every weight on one objective "
                     "(LoRA and DPO run through Megatron-Bridge or NeMo); export --task pretrain or sft", "task")
    if mindspeed and p.precision == "fp8":
        raise cannot(fmt, "--precision fp8: MindSpeed-LLM 26.1.0 has no FP8 GEMM recipe flag; use bf16", "precision")
    if mindspeed and p.zero >= 2:
        raise cannot(fmt, f"--zero {p.zero}: MindSpeed-LLM's Megatron path shards only the optimizer "
                     "(--use-distributed-optimizer); use --zero 1", "zero")
    if mindspeed and launch.ep_dedup:
        raise cannot(fmt, "--ep-dedup (DeepEP's once-per-node dispatch): MindSpeed dispatches with alltoall; "
                     "leave out --ep-dedup", "ep_dedup")
    if launch.optimizer_state != "fp32" and (mindspeed or not p.zero):
        raise cannot(fmt, f"--optimizer-state {launch.optimizer_state}: "
                     + ("MindSpeed-LLM's Megatron-LM core_v0.12.1 has no bf16 moments nor 16-bit master remainders"
                        if mindspeed else "Megatron-LM's precision-aware optimizer needs the distributed optimizer; "
                        "use --zero 1") + "; or use --optimizer-state fp32", "optimizer_state")
    if launch.optimizer_state in ("bf16-moments", "bf16-no-master"):
        raise cannot(fmt, f"--optimizer-state {launch.optimizer_state}: Megatron-LM's precision-aware optimizer keeps "
                     "an fp32 master as 16-bit remainders beside the bf16 weight, so bf16 moments come with it as 6 "
                     "bytes a parameter; use --optimizer-state bf16 (6) or fp32-remainder (10)", "optimizer_state")
    if mindspeed and launch.offload_layers:
        raise cannot(fmt, "--offload-layers: Megatron-LM core_v0.12.1 has no --cpu-offloading-num-layers; use 0",
                     "offload_layers")


def _stages(fmt: str, launch: TrainLaunch) -> list[Flag]:
    """Pipeline stages as the cost model splits them (:func:`xpuplan.cost.pipeline.stage_layer_counts`): layers per
    virtual stage when they split evenly over pp x vpp; else the virtual stage count per rank and either the
    embedding and the loss counted as layers or the first and last ranks' layer counts."""
    p, m = launch.plan, launch.model
    stages = p.pp * p.vpp
    if m is None or m.layers % stages == 0:
        if p.vpp == 1:
            return []
        if m is not None:
            return [("--num-layers-per-virtual-pipeline-stage", m.layers // stages)]
        return [("--num-virtual-stages-per-pipeline-rank", p.vpp)]
    first, _, last, how = model_split(m, p.pp, p.vpp)
    out: list[Flag] = [("--num-virtual-stages-per-pipeline-rank", p.vpp)] if p.vpp > 1 else []
    if how == ACCOUNTED:
        return out + [("--account-for-embedding-in-pipeline-split", None),
                      ("--account-for-loss-in-pipeline-split", None)]
    if how == ENDS:
        return out + [("--decoder-first-pipeline-num-layers", int(first)),
                      ("--decoder-last-pipeline-num-layers", int(last))]
    raise cannot(fmt, f"{m.layers} layers over pp x vpp = {stages} stages: no even split, none with the embedding and "
                 f"the loss counted as layers, nor one with smaller first and last ranks whose layer counts divide by "
                 f"vpp = {p.vpp}", "pp")


def _moe(fmt: str, launch: TrainLaunch) -> list[Flag]:
    p = launch.plan
    out: list[Flag] = [("--expert-model-parallel-size", p.ep), ("--expert-tensor-parallel-size", p.expert_tp)]
    if launch.moe_grouped_gemm:  # left out, Megatron-Core loops over the local experts (SequentialMLP)
        out.append(("--moe-grouped-gemm", None))
    if launch.ep_dedup:  # DeepEP behind the flex dispatcher (core_v0.19.0: --moe-flex-dispatcher-backend)
        out += [("--moe-token-dispatcher-type", "flex"), ("--moe-flex-dispatcher-backend", "deepep")]
    else:
        out.append(("--moe-token-dispatcher-type", "alltoall"))
    if launch.ep_overlap > 0:
        out.append(("--moe-alltoall-overlap-comm", None) if fmt == "mindspeed"
                   else ("--overlap-moe-expert-parallel-comm", None))
    return out


def _optimizer(launch: TrainLaunch) -> list[Flag]:
    """ZeRO-1: the distributed optimizer; ZeRO-2/3: Megatron-FSDP; a shard group smaller than dp: instances."""
    p = launch.plan
    out: list[Flag] = []
    if p.zero == 1:
        out.append(("--use-distributed-optimizer", None))
    elif p.zero >= 2:
        out += [("--use-megatron-fsdp", None), ("--data-parallel-sharding-strategy", FSDP_STRATEGY[p.zero])]
    if p.zero and 0 < launch.zero_shard < p.dp and p.dp % launch.zero_shard == 0:
        out.append(("--num-distributed-optimizer-instances", p.dp // launch.zero_shard))
    if launch.optimizer_state in ("fp32-remainder", "bf16"):  # TE's FusedAdam: master as remainders (TE >= 2.1)
        out.append(("--use-precision-aware-optimizer", None))
    if launch.optimizer_state == "bf16":
        out += [("--exp-avg-dtype", "bf16"), ("--exp-avg-sq-dtype", "bf16")]
    if not launch.grad_accumulation_fusion:  # the backward hook adds each micro-batch's gradients instead
        out.append(("--no-gradient-accumulation-fusion", None))
    if p.dp > 1 and launch.dp_overlap:
        out.append(("--overlap-grad-reduce", None))
        if p.zero:
            out.append(("--overlap-param-gather", None))
    return out


def _precision(launch: TrainLaunch) -> list[Flag]:
    p = launch.plan
    out: list[Flag] = [("--fp16", None)] if p.precision == "fp16" else [("--bf16", None)]
    if p.precision == "fp8":  # E4M3 forward, E5M2 gradients (Transformer Engine's hybrid format)
        out.append(("--fp8-format", "hybrid"))
    if launch.grad_reduce == "bf16":
        out.append(("--grad-reduce-in-bf16", None))
    return out


def _recompute(mode: str) -> list[Flag]:
    if mode == "selective":
        return [("--recompute-granularity", "selective")]
    if mode == "full":
        return [("--recompute-granularity", "full"), ("--recompute-method", "uniform"), ("--recompute-num-layers", 1)]
    return []


def _moe_layer_freq(m: Model) -> str | int:
    """Which layers are MoE, as Megatron's --moe-layer-freq reads it (a Python list expression)."""
    moe = m.moe
    if moe.dense_layers == 0 and moe.layer_freq == 1:
        return 1
    if moe.layer_freq == 1:
        return f"[0]*{moe.dense_layers}+[1]*{m.layers - moe.dense_layers}"
    pattern = [int(i >= moe.dense_layers and (i - moe.dense_layers) % moe.layer_freq == 0) for i in range(m.layers)]
    return "[" + ",".join(map(str, pattern)) + "]"


def _shape(m: Model, seq_len: int) -> list[Flag]:
    """The model's shape (what the catalog entry says; vocabulary comes from the tokenizer)."""
    out: list[Flag] = [("--num-layers", m.layers), ("--hidden-size", m.hidden), ("--ffn-hidden-size", m.ffn_hidden),
                       ("--num-attention-heads", m.heads)]
    if m.attention == "mla":
        out.append(("--multi-latent-attention", None))
        if m.q_lora_rank:
            out.append(("--q-lora-rank", m.q_lora_rank))
        out += [("--kv-lora-rank", m.kv_lora_rank), ("--qk-head-dim", m.qk_nope_head_dim),
                ("--qk-pos-emb-head-dim", m.qk_rope_head_dim), ("--v-head-dim", m.v_head_dim)]
    else:
        if m.kv_heads != m.heads:
            out += [("--group-query-attention", None), ("--num-query-groups", m.kv_heads)]
        if m.head_dim and m.head_dim * m.heads != m.hidden:
            out.append(("--kv-channels", m.head_dim))
    if m.ffn_act == "swiglu":
        out.append(("--swiglu", None))
    if not m.tied_embeddings:
        out.append(("--untie-embeddings-and-output-weights", None))
    if m.position == "rope":
        out.append(("--position-embedding-type", "rope"))
    out.append(("--max-position-embeddings", max(seq_len, m.max_seq_len or 0)))
    if m.moe is not None:
        out += [("--num-experts", m.moe.experts), ("--moe-router-topk", m.moe.top_k),
                ("--moe-ffn-hidden-size", m.moe.expert_ffn_hidden), ("--moe-layer-freq", _moe_layer_freq(m))]
        if m.moe.shared_experts:
            out.append(("--moe-shared-expert-intermediate-size", m.moe.shared_experts * m.moe.expert_ffn_hidden))
    if m.mtp_layers:
        out.append(("--mtp-num-layers", m.mtp_layers))
    return out


def _ascend(launch: TrainLaunch) -> list[Flag]:
    """MindSpeed's fused kernels and Megatron-Core models, as MindSpeed-LLM's example scripts switch them on."""
    m = launch.model
    out: list[Flag] = [("--use-mcore-models", None), ("--use-flash-attn", None), ("--use-fused-rmsnorm", None)]
    if m is None or m.ffn_act == "swiglu":
        out.append(("--use-fused-swiglu", None))
    if m is None or m.position == "rope":
        out.append(("--use-fused-rotary-pos-emb", None))
    return out


def flags(fmt: str, launch: TrainLaunch) -> list[Flag]:
    """Every flag of the plan, in the order a launch script groups them."""
    _refuse(fmt, launch)
    p, m = launch.plan, launch.model
    out: list[Flag] = [("--tensor-model-parallel-size", p.tp), ("--pipeline-model-parallel-size", p.pp)]
    out += _stages(fmt, launch)
    if p.cp > 1:
        out.append(("--context-parallel-size", p.cp))
        if fmt == "mindspeed":  # ring attention, as xpuplan prices cp
            out.append(("--context-parallel-algo", "megatron_cp_algo"))
    if p.tp > 1:
        out.append(("--sequence-parallel", None))
    if p.ep > 1 or (m is not None and m.moe is not None):
        out += _moe(fmt, launch)
    out += [("--micro-batch-size", p.micro_batch), ("--global-batch-size", launch.global_batch),
            ("--seq-length", launch.seq_len)]
    if launch.train_iters:
        out.append(("--train-iters", launch.train_iters))
    out += _recompute(p.recompute) + _optimizer(launch) + _precision(launch)
    if p.tp > 1 and launch.tp_overlap > 0 and fmt == "megatron":  # Transformer Engine userbuffers
        out.append(("--tp-comm-overlap", None))
    if launch.offload_layers:
        out.append(("--cpu-offloading-num-layers", launch.offload_layers))
    if m is not None:
        out += _shape(m, launch.seq_len)
    if fmt == "mindspeed":
        out += _ascend(launch)
    return out


def render(fmt: str, launch: TrainLaunch, header: list[str]) -> str:
    p = launch.plan
    notes = [f"world size {launch.devices} = tp {p.tp} x pp {p.pp} x cp {p.cp} x dp {p.dp}: torchrun over "
             f"{launch.devices} devices, pretrain_gpt.py $(grep -v '^#' THIS_FILE)"]
    if launch.model is None:
        notes.append(f"model {launch.model_name!r} is not in the catalog: add its shape flags (--num-layers, ...)")
    if fmt == "mindspeed" and p.tp > 1 and launch.tp_overlap > 0:
        notes.append("TP overlap priced; MindSpeed turns it on with its own communication-overlap features (not set)")
    return comments(header + notes) + flag_lines(flags(fmt, launch))


ARITY = {"--tensor-model-parallel-size": 1, "--pipeline-model-parallel-size": 1, "--context-parallel-size": 1,
         "--expert-model-parallel-size": 1, "--expert-tensor-parallel-size": 1,
         "--num-layers-per-virtual-pipeline-stage": 1, "--num-virtual-stages-per-pipeline-rank": 1,
         "--num-layers": 1, "--micro-batch-size": 1, "--global-batch-size": 1, "--seq-length": 1,
         "--recompute-granularity": 1, "--use-distributed-optimizer": 0, "--use-megatron-fsdp": 0,
         "--use-torch-fsdp2": 0, "--data-parallel-sharding-strategy": 1, "--fp8-format": 1, "--bf16": 0, "--fp16": 0}


def read(text: str, devices: int | None = None) -> dict:
    """The plan a Megatron or MindSpeed argument file states (dp needs the world size, which torchrun sets)."""
    f = read_flags(text, ARITY)

    def n(flag: str, default: int = 1) -> int:
        return whole(f[flag], flag) if flag in f else default

    tp, pp, cp = n("--tensor-model-parallel-size"), n("--pipeline-model-parallel-size"), n("--context-parallel-size")
    vpp = n("--num-virtual-stages-per-pipeline-rank")
    if "--num-layers-per-virtual-pipeline-stage" in f:
        vpp = n("--num-layers") // (pp * n("--num-layers-per-virtual-pipeline-stage"))
    strategy = f.get("--data-parallel-sharding-strategy")
    zero = {"optim_grads": 2, "optim_grads_params": 3}.get(strategy, 3 if "--use-torch-fsdp2" in f else 0) \
        if ("--use-megatron-fsdp" in f or "--use-torch-fsdp2" in f) else int("--use-distributed-optimizer" in f)
    out = {"tp": tp, "pp": pp, "cp": cp, "ep": n("--expert-model-parallel-size"),
           "etp": n("--expert-tensor-parallel-size", tp), "vpp": vpp, "micro_batch": n("--micro-batch-size"),
           "zero": zero, "recompute": f.get("--recompute-granularity", "none"),
           "precision": "fp8" if "--fp8-format" in f else ("fp16" if "--fp16" in f else "bf16"),
           "global_batch": n("--global-batch-size"), "seq_len": n("--seq-length")}
    if devices is not None:
        out["dp"] = devices // (tp * pp * cp)
    return out
