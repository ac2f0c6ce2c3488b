"""Job facts: how a framework runs a model, and what a training job asks for."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import BadInput, UnknownName
from .hardware import _positive

PLAN_MEMORY_MARGIN = 0.05  # share of device memory the planner keeps free unless told otherwise (--memory-margin)

PIPELINE_SCHEDULES = ("1f1b", "dualpipe")
MOE_PERMUTES = ("eager", "fused", "in_dispatch")
GRAD_REDUCE_BYTES = {"fp32": 4, "bf16": 2, "fp16": 2}
"""bytes per gradient element kept for accumulation and reduced across data parallelism"""
FP16_GRAD_REDUCE = "fp16"
"""what an fp16 job accumulates and reduces its gradients in unless it says otherwise: every framework's default
(Megatron-LM forces fp32 only for bf16, arguments.py: ``accumulate_allreduce_grads_in_fp32`` is set for ``--bf16``
alone, so fp16 keeps a params-dtype grad buffer; DeepSpeed's ``fp32_allreduce`` is off by default; FairScale FSDP's
``fp32_reduce_scatter`` is off by default)"""
FP8_CACHES = ("none", "linear", "linear_swiglu")
RECOMPUTE = ("none", "selective", "full")
MOE_BALANCING = ("aux_loss", "loss_free", "forced", "capacity")
"""router balancing a job may name (cost/imbalance.py)"""
TASKS = ("pretrain", "sft", "lora", "qlora", "dpo")
"""what a training job trains: pre-training, full supervised fine-tuning, low-rank adapters on a frozen base (in bf16,
or 4-bit NF4 for qlora), direct preference optimisation"""
LORA_TARGETS = ("qkv", "o", "mlp")
"""the linear layers LoRA adapts: the q/k/v projection, the attention output projection, the MLP (fc1 and fc2)"""
REFERENCES = ("live", "precomputed")
BF16_BYTES_PER_PARAM = 2
"""a bf16 weight: the one figure memory, the post-training tasks and the RL weight sync use"""
NF4_BYTES_PER_PARAM = 4.127 / 8
"""QLoRA's 4-bit NormalFloat with double quantisation: 4 bits + 0.127 bits of block constants a parameter (Dettmers
et al. 2023, QLoRA, section 3)"""
REMAT_TENSORS = ("decoder_layer_input", "query_proj", "key_proj", "value_proj", "qkv_proj", "context", "out_proj",
                 "mlpwi", "mlpwi_0", "mlpwi_1", "mlpwo")
"""a layer's tensors a named per-tensor recompute policy keeps or offloads (MaxText's ``remat_policy: custom``
names; ``qkv_proj`` is the three projections, ``mlpwi`` both halves of a gated FFN's input projection)"""
"""activation-recompute modes, in the order plan arrays index them"""

FRAMEWORK_RANGES = {  # the physically sensible range of each numeric framework field
    "compute_scale": (0.05, 1.5), "attention_scale": (0.05, 1.5), "dp_bandwidth_scale": (0.05, 1.5),
    "zero3_bandwidth_scale": (0.05, 1.5),
    "loss_bytes_per_logit": (2.0, 20.0), "loss_traffic_bytes_per_logit": (2.0, 80.0), "memory_overhead": (0.0, 1.0), "microbatch_overhead_s": (0.0, 1.0),
    "tp_overlap_efficiency": (0.0, 1.0), "selective_gemm_share": (0.0, 1.0), "dp_overlap_efficiency": (0.0, 1.0),
    "ep_overlap_efficiency": (0.0, 1.0), "elementwise_passes": (0.5, 10.0), "overlap_compute_share": (0.0, 0.5),
    "dp_bucket_params": (0.0, 1e12), "dp_bucket_params_per_rank": (0.0, 1e9), "moe_layer_overhead_s": (0.0, 0.01),
}


@dataclass(frozen=True, kw_only=True, slots=True)
class Framework:
    """How a training framework runs the model: kernel fusion and overlap (data in catalog/frameworks)."""

    name: str = "megatron"
    """catalog id"""
    display_name: str = ""
    """human name"""
    elementwise_passes: float = 1.0
    """HBM traffic of element-wise work relative to fully fused kernels (1.0 = fused)"""
    kernels_per_layer: int = 11
    """kernel launches per layer forward"""
    flash_attention: bool = True
    """attention as one fused flash kernel; False: batched GEMMs + softmax over the s x s score matrix"""
    compute_scale: float = 1.0
    """fraction of the chip's calibrated kernel efficiency this framework reaches (Megatron = 1.0)"""
    attention_scale: float = 1.0
    """speed of the framework's attention kernel relative to FlashAttention-2 (the chip profile's reference)"""
    grad_reduce: str = "fp32"
    """dtype gradients are accumulated in and reduced across data parallelism: ``fp32`` (Megatron-LM turns
    accumulate_allreduce_grads_in_fp32 on for bf16; NeMo's bf16-mixed default; torchtitan's reduce_dtype) or ``bf16``
    (a recipe's grad_reduce_in_fp32 False / grad_sync_dtype bf16: half the gradient memory and traffic); a job's
    ``grad_reduce`` sets it for one run"""
    moe_permute: str = "eager"
    """how a MoE layer moves tokens to and from their experts: ``eager`` (a gather by expert, then a scatter-add of the
    weighted expert outputs with atomics, PyTorch ops), ``fused`` (Transformer Engine's / MindSpeed's permute and
    unpermute kernels: both ways at gather speed) or ``in_dispatch`` (the all-to-all kernels lay tokens out by expert
    and combine them, as DeepEP does: no separate pass). Priced in ``moe_route_s``"""
    moe_layer_overhead_s: float = 0.0
    """seconds per MoE layer and direction the framework's MoE layer spends outside the kernels the chip's
    ``moe_layer_fixed_s`` measured (router, sort, one host sync, in plain PyTorch): the extra host work of its token
    dispatcher, whose device-to-host syncs of token counts leave the launches after them host-bound (the reason
    Megatron-Core builds sync-free dispatch and CUDA graphs for MoE). Priced in ``moe_route_s``; calibrated on the
    main MoE runs of the framework, inside a band (0-3 ms)"""
    attention_kernel: str = ""
    """the attention kernel kind the framework runs by default (cudnn for Transformer Engine on Hopper and later,
    flash2 for PyTorch SDPA and flash-attn, ...): priced at the chip's kernel-table figure for that kind where the
    table has one, else at the chip's reference (FlashAttention-2) figure; "" = the reference"""
    dp_bandwidth_scale: float = 1.0
    """fraction of the modelled bus bandwidth the framework's ZeRO-0/1/2 data-parallel collectives reach (contiguous
    gradient buckets, weight all-gathers)"""
    zero3_bandwidth_scale: float = 1.0
    """the same for ZeRO-3 / FSDP (weights fetched and gradients scattered tensor by tensor every micro-batch)"""
    dp_overlap: bool = True
    """overlaps data-parallel communication with compute"""
    p2p_overlap: bool = False
    """the interleaved pipeline schedule (vpp > 1) overlaps its steady-state point-to-point transfers with compute,
    leaving only the warm-up and cool-down ones exposed (Megatron: ``overlap_p2p_comm``, on by default in
    megatron/training/arguments.py, ``--no-overlap-p2p-communication`` turns it off; off for plain 1F1B)"""
    dp_bucket_params: float = 40e6
    """parameters per data-parallel communication bucket outside ZeRO-3 (one gradient reduction, and one weight
    all-gather with a distributed optimizer, per bucket): every extra bucket pays the collective's latency once more,
    (n - 1) ring hops for a reduce-scatter or all-gather over n ranks. Megatron-Core's default is
    max(40M, 1M x dp_cp) ("larger DP sizes need larger buckets to ensure collectives do not become latency-bound",
    megatron/core/distributed/distributed_data_parallel_config.py), hence ``dp_bucket_params_per_rank``; 0: one
    collective for all parameters"""
    dp_bucket_params_per_rank: float = 1e6
    """bucket parameters added per data-parallel rank (Megatron-Core: 1M; 0 for a fixed bucket size)"""
    dp_overlap_efficiency: float = 1.0
    """share of the compute window that actually hides data-parallel collectives (1.0: all of it; 0.0: none,
    as when the collectives wait on hooks or contend with the GEMMs for SMs and memory bandwidth)"""
    zero3_gathers_per_microbatch: int = 2
    """ZeRO-3 weight all-gathers per micro-batch (forward and backward)"""
    tp_overlap_efficiency: float = 0.0
    """share of tensor-parallel communication its fused GEMM-collective kernels hide when a run turns them on
    (Megatron's --tp-comm-overlap, MindSpeed's --use-mc2); a job's ``tp_overlap`` sets it for one run"""
    ep_overlap_efficiency: float = 1.0
    """share of the expert all-to-all that can hide behind another micro-batch's compute of the same layer (never more
    than that compute) when a run overlaps them (DeepSeek's DualPipe, Megatron-Core's
    --overlap-moe-expert-parallel-comm); a job's ``ep_overlap`` sets it for one run. DeepSeek-V3 reports the
    all-to-all fully hidden (report §3.2.2), so 1.0; what the overlap costs is ``overlap_compute_share``"""
    overlap_compute_share: float = 20 / 132
    """share of the device's compute units the dispatch/combine kernels hold while they overlap compute, which runs
    that much slower meanwhile: DeepSeek-V3's all-to-all kernels use 20 of the H800's 132 SMs (report §3.2.2), and 20
    is DeepEP's default. A named cost of overlapping, priced only where the all-to-all is overlapped"""
    sequence_parallel: bool = True
    """tensor-parallel ranks also split the norm and GEMM-input activations along the sequence (Korthikanti et al.
    2022); False: each rank keeps them whole"""
    microbatch_overhead_s: float = 0.0
    """fixed seconds each pipeline stage spends per micro-batch outside the kernels (schedule bookkeeping, blocking
    point-to-point handshakes, per-micro-batch Python work)"""
    loss_bytes_per_logit: float = 6.0
    """bytes per logit (token x vocabulary entry, before tp) the output layer and loss keep at their peak: 6 for a
    fused vocabulary-parallel cross-entropy (bf16 logits + fp32 softmax), 10 for eager PyTorch (bf16 logits, fp32
    log-softmax output and its fp32 gradient)"""
    loss_traffic_bytes_per_logit: float = 10.0
    """HBM bytes per logit the loss moves over forward and backward, half priced in each pass: one fused kernel reads
    the bf16 logits and writes their gradient, ~10; Megatron-Core's cross-entropy 28 fused, 52 unfused (the derivation:
    ``xpuplan.cost.compute.CROSS_ENTROPY_BYTES_PER_LOGIT``). Traffic; ``loss_bytes_per_logit`` is memory at the peak"""
    memory_overhead: float = 0.0
    """peak device memory the framework's allocator holds beyond the counted tensors, as a fraction of them (PyTorch's
    caching allocator keeps freed blocks it cannot reuse); calibrated on published per-device memory readings"""
    fsdp: bool = False
    """shards data parallelism with FSDP units: ZeRO-2 is FSDP's SHARD_GRAD_OP, which gathers the weights again
    for every micro-batch's forward and reduce-scatters every micro-batch's gradients"""
    zero3_collectives_per_layer: int = 1
    """separate ZeRO-3 collectives per layer (1 for FSDP units; one per tensor in DeepSpeed)"""
    max_tp: int = 1 << 20
    """largest tensor-parallel degree the framework implements (1: none)"""
    max_pp: int = 1 << 20
    """largest pipeline degree (1: no pipeline parallelism)"""
    max_cp: int = 1 << 20
    """largest context-parallel degree (1: no context parallelism)"""
    max_vpp: int = 1 << 20
    """largest virtual-pipeline degree (1: no interleaved schedule)"""
    max_ep: int = 1 << 20
    """largest expert-parallel degree"""
    zero_stages: tuple[int, ...] = (0, 1, 2, 3)
    """ZeRO stages the framework implements"""
    zero_stages_with_pp: tuple[int, ...] | None = None
    """ZeRO stages allowed together with pipeline parallelism (None: the same as ``zero_stages``)"""
    selective_gemm_share: float = 0.0
    """share of the forward GEMM work that selective recompute runs again, keeping the other GEMM outputs (0 for
    Megatron's, which recomputes element-wise work and attention scores; 0.5 for torchtitan's per-op policy, which
    saves every matmul output except every second one)"""
    recompute_mla_up: bool = False
    """selective recompute also runs an MLA model's query and key/value up-projections again in the backward
    instead of keeping their outputs (DeepSeek-V3 report §3.2.3: 'we recompute all RMSNorm operations and MLA
    up-projections during back-propagation')"""
    recompute_modes: tuple[str, ...] = RECOMPUTE
    """activation-recompute modes the framework implements (selective: norms, activation function and
    attention core recomputed; full: every layer from its input)"""
    pipeline_schedule: str = "1f1b"
    """pipeline schedule: ``1f1b`` (interleaved when vpp > 1, Megatron) or ``dualpipe`` (DeepSeek-V3 §3.2.1: two
    directions at once, forward and backward chunks of different micro-batches overlapped; bubble
    (pp/2 - 1)(F&B + B - 3W) instead of (pp - 1)(F + B), two copies of the parameters)"""
    fp8_activation_cache: str = "none"
    """what an fp8 job caches for the backward in FP8 (one byte) instead of bf16: ``none``; ``linear`` — the inputs of
    its Linear layers (Transformer Engine keeps the FP8 copy its GEMM used); ``linear_swiglu`` — those and the SwiGLU
    inputs (DeepSeek-V3 report §3.3.3)"""
    ep_dedup: bool = False
    """its MoE dispatch sends each token once per remote node by default (DeepEP/HybridEP-style, node-limited
    routing); a job's ``ep_dedup`` overrides it"""
    ep_comm_overlap: bool = False
    """it overlaps the expert all-to-all with another micro-batch's compute by default (DualPipe); then a job's
    ``ep_overlap`` defaults to ``ep_overlap_efficiency``"""
    moe_options: tuple[str, ...] = ()
    """MoE communication options it implements, which ``plan`` tries when the job does not pin them: ``dedup`` (a
    DeepEP/HybridEP-style dispatch), ``overlap`` (the all-to-all behind another micro-batch's compute)"""
    version: str = ""
    """the release (or the report) whose defaults this profile describes"""
    async_checkpoint: bool = False
    """saves checkpoints asynchronously by default (training blocks only for the device-to-host copy, then storage is
    written in the background): NeMo 2's MegatronStrategy (``ckpt_async_save=True``, Megatron-Core dist-ckpt) and
    MaxText (``async_checkpointing: true``, Orbax) do; torchtitan's DCP (``async_mode = "disabled"``), DeepSpeed and
    Megatron-LM's own ``--async-save`` do not unless asked"""
    notes: str = ""
    """free text"""
    sources: tuple[str, ...] = ()
    """where the behaviour is documented"""

    def space_summary(self) -> str:
        """What this framework lets the planner choose, in one line."""
        parts = [f"ZeRO {','.join(map(str, self.zero_stages))}"]
        if self.zero_stages_with_pp is not None:
            parts[0] += f" ({','.join(map(str, self.zero_stages_with_pp))} with pp > 1)"
        parts.append(f"recompute {'/'.join(self.recompute_modes)}")
        for axis in ("tp", "pp", "cp", "vpp", "ep"):
            limit = getattr(self, f"max_{axis}")
            if limit == 1:
                parts.append(f"no {axis}")
            elif limit < 1 << 20:
                parts.append(f"{axis} <= {limit}")
        return f"framework {self.name}: " + "; ".join(parts)

    def __post_init__(self) -> None:
        for name, (low, high) in FRAMEWORK_RANGES.items():
            if not low <= getattr(self, name) <= high:
                raise BadInput(f"framework {self.name}: {name} must be in [{low:g}, {high:g}]", name)
        if self.fp8_activation_cache not in FP8_CACHES:
            raise BadInput(f"framework {self.name}: fp8_activation_cache must be one of {', '.join(FP8_CACHES)}",
                           "fp8_activation_cache")
        if self.grad_reduce not in GRAD_REDUCE_BYTES:
            raise BadInput(f"framework {self.name}: grad_reduce must be one of {', '.join(GRAD_REDUCE_BYTES)}",
                           "grad_reduce")
        if self.moe_permute not in MOE_PERMUTES:
            raise BadInput(f"framework {self.name}: moe_permute must be one of {', '.join(MOE_PERMUTES)}", "moe_permute")
        if self.pipeline_schedule not in PIPELINE_SCHEDULES:
            raise BadInput(f"framework {self.name}: pipeline_schedule must be one of {', '.join(PIPELINE_SCHEDULES)}",
                           "pipeline_schedule")
        bad = [m for m in self.recompute_modes if m not in RECOMPUTE]
        if bad or not self.recompute_modes:
            raise BadInput(f"framework {self.name}: recompute_modes must list some of none, selective, full; got {bad or '[]'}",
                           "recompute_modes")
        _positive(f"framework {self.name}", kernels_per_layer=self.kernels_per_layer,
                  zero3_collectives_per_layer=self.zero3_collectives_per_layer)


@dataclass(frozen=True, kw_only=True, slots=True)
class TrainJob:
    """What to train: sequence length, batch, token budget, and framework behaviour."""

    seq_len: int = 4096
    """tokens per sequence"""
    global_batch: int = 1024
    """sequences per optimizer step"""
    tokens: float | None = None
    """token budget of the whole run (None: report per-step figures only)"""
    tp_overlap: float = 0.0
    """fraction of TP communication hidden behind compute (0: Megatron default, no overlap)"""
    dp_overlap: bool = True
    """overlap data-parallel gradient reduction / parameter gathering with compute"""
    ep_overlap: float = 0.0
    """fraction of the expert all-to-all that may hide behind another micro-batch's compute of the same layer
    (DualPipe, Megatron-Core's --overlap-moe-expert-parallel-comm); no more than that compute can hide it"""
    ep_dedup: bool = False
    """the expert dispatch sends each token once to each remote scale-up domain it needs and fans it out inside
    (DeepEP, HybridEP, DeepSeek-V3's own kernels); False: one copy per routed expert (an all-to-all of copies)"""
    moe_balancing: str | None = None
    """how the router spreads tokens over the experts in this run (None: the model's ``moe.balancing``):
    ``aux_loss``, ``loss_free``, ``forced`` (Megatron-Core's benchmarking ``moe_router_force_load_balancing``: random
    router logits, so only the sampling noise is left) or ``capacity`` (tokens dropped and padded to a capacity factor
    of 1: every expert computes exactly its share). Sets the expert imbalance (cost/imbalance.py)"""
    memory_margin: float = 0.0
    """fraction of device memory kept free as safety margin"""
    offload_layers: int = 0
    """layers per pipeline stage whose activations wait in host memory between forward and backward (Megatron's
    --cpu-offloading-num-layers; GB200/GB300 with Grace memory)"""
    grad_reduce: str | None = None
    """gradient accumulation and reduction dtype, fp32, bf16 or fp16 (None: the framework's; fp16 for an fp16 job,
    ``FP16_GRAD_REDUCE``)"""
    zero_shard: int = 0
    """data-parallel ranks one ZeRO/FSDP shard group spans (0: all of them). A smaller group, e.g. the 8 GPUs of a
    node, keeps ``dp*cp / zero_shard`` replicas of the sharded state: the shards' reduce-scatter and all-gather stay
    inside the group (on the scale-up links when it fits in a domain) and only the replicas all-reduce their shard
    across groups (hybrid sharding: PyTorch HSDP, Megatron-Core --num-distributed-optimizer-instances, DeepSpeed
    ZeRO++ hpZ / MiCS, InternEvo's zero1 size); the state takes ``dp*cp / zero_shard`` times more memory"""
    remat_saved: tuple[str, ...] = ()
    """with recompute ``selective``: the layer tensors kept on the device for the backward, by name
    (``REMAT_TENSORS``); every other tensor the backward needs is computed again, unless offloaded. Empty, with
    ``remat_offloaded`` empty too: the framework's own selective policy. The layer input is always kept unless
    offloaded. A comma-separated string is accepted (``"query_proj,out_proj"``)."""
    remat_offloaded: tuple[str, ...] = ()
    """with recompute ``selective``: the layer tensors that wait in host memory between forward and backward
    (MaxText's ``offload``), priced as copies over the host link that compute does not hide"""
    task: str = "pretrain"
    """``TASKS``: pretrain; sft (every weight trained on packed or padded examples); lora/qlora (rank-``lora_rank``
    adapters on ``lora_targets`` of a frozen base: no weight-gradient GEMMs, gradients, optimizer state or gradient
    reduction for the base; qlora keeps it in 4-bit NF4 and dequantises it for every GEMM); dpo (each sample a
    chosen and a rejected sequence trained together, plus a frozen reference model's forward of both unless its
    log-probs are ``precomputed``)"""
    lora_rank: int = 32
    """LoRA adapter rank (Megatron-Bridge's LoRA default dim 32)"""
    lora_targets: tuple[str, ...] = LORA_TARGETS
    """``LORA_TARGETS`` adapted (Megatron-Bridge's default: linear_qkv, linear_proj, linear_fc1, linear_fc2 = all);
    a comma-separated string is accepted"""
    packed: bool = True
    """sft/lora/qlora/dpo: examples packed into ``seq_len`` rows, attending within themselves; False: one example a
    row, padded to ``seq_len`` (the padding is computed and wasted)"""
    mean_seq_len: int | None = None
    """mean example length of a fine-tuning dataset, tokens (None: ``seq_len``, examples fill their rows)"""
    reference: str = "live"
    """dpo: the reference model's log-probs computed in the step (live) or beforehand (precomputed)"""
    framework: Framework = field(default_factory=Framework)
    """training framework: kernel fusion and overlap behaviour"""

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise UnknownName("task", str(self.task), list(TASKS), "task")
        if self.reference not in REFERENCES:
            raise BadInput(f"job: reference must be one of {', '.join(REFERENCES)}, got {self.reference!r}", "reference")
        if isinstance(self.lora_rank, bool) or not isinstance(self.lora_rank, int) or self.lora_rank <= 0:
            raise BadInput(f"--lora-rank must be a whole number >= 1, got {self.lora_rank!r}", "lora_rank")
        targets = self.lora_targets or ()
        targets = tuple(t.strip() for t in targets.split(",") if t.strip()) if isinstance(targets, str) else tuple(targets)
        for t in targets:
            if t not in LORA_TARGETS:
                raise UnknownName("LoRA target", t, list(LORA_TARGETS), "lora_targets")
        if self.task in ("lora", "qlora") and not targets:
            raise BadInput("--lora-targets must name at least one of qkv, o, mlp", "lora_targets")
        object.__setattr__(self, "lora_targets", targets)
        if self.mean_seq_len is not None:
            if isinstance(self.mean_seq_len, bool) or not isinstance(self.mean_seq_len, int) or self.mean_seq_len <= 0:
                raise BadInput(f"--mean-seq-len must be a whole number of tokens >= 1, got {self.mean_seq_len!r}",
                               "mean_seq_len")
            if self.mean_seq_len > self.seq_len:
                raise BadInput(f"--mean-seq-len {self.mean_seq_len} is longer than --seq-len {self.seq_len}: an example "
                               f"must fit in a row; raise --seq-len or lower --mean-seq-len", "mean_seq_len")
        for name in ("remat_saved", "remat_offloaded"):
            value = getattr(self, name) or ()
            if not isinstance(value, (str, tuple, list)):
                raise BadInput(f"job: {name} must name layer tensors, comma-separated; got {value!r}", name)
            names = tuple(v.strip() for v in value.split(",") if v.strip()) if isinstance(value, str) else tuple(value)
            for v in names:
                if v not in REMAT_TENSORS:
                    raise UnknownName("layer tensor", v, list(REMAT_TENSORS), name)
            object.__setattr__(self, name, names)
        both = sorted(set(self.remat_saved) & set(self.remat_offloaded))
        if both:
            raise BadInput(f"job: {', '.join(both)} cannot be both kept (remat_saved) and offloaded (remat_offloaded); "
                           f"name each tensor once", "remat_offloaded")
        _positive("job", seq_len=self.seq_len, global_batch=self.global_batch, tokens=self.tokens)
        if self.seq_len > 10_000_000:
            raise BadInput(f"job: seq_len={self.seq_len} is absurd", "seq_len")
        if isinstance(self.offload_layers, bool) or not isinstance(self.offload_layers, int) or self.offload_layers < 0:
            raise BadInput(f"job: offload_layers must be a whole number >= 0, got {self.offload_layers}", "offload_layers")
        if self.grad_reduce is not None and self.grad_reduce not in GRAD_REDUCE_BYTES:
            raise BadInput(f"job: grad_reduce must be one of {', '.join(GRAD_REDUCE_BYTES)}, got {self.grad_reduce!r}",
                           "grad_reduce")
        if self.moe_balancing is not None and self.moe_balancing not in MOE_BALANCING:
            raise BadInput(f"job: moe_balancing must be one of {', '.join(MOE_BALANCING)}, got {self.moe_balancing!r}",
                           "moe_balancing")
        if isinstance(self.zero_shard, bool) or not isinstance(self.zero_shard, int) or self.zero_shard < 0:
            raise BadInput(f"job: zero_shard must be a whole number of ranks >= 0 (0: all data-parallel ranks), got "
                           f"{self.zero_shard!r}", "zero_shard")
        for name in ("tp_overlap", "ep_overlap", "memory_margin"):
            if not 0 <= getattr(self, name) < 1 + (name != "memory_margin") * 1e-9:
                raise BadInput(f"job: {name} must be a fraction in [0, 1], got {getattr(self, name)}", name)

    @property
    def adapters(self) -> bool:
        """Whether only low-rank adapters train (lora, qlora): the base weights are frozen."""
        return self.task in ("lora", "qlora")

    @property
    def sequences_per_sample(self) -> int:
        """Sequences one sample of the global batch trains: a DPO pair is a chosen and a rejected one."""
        return 2 if self.task == "dpo" else 1

    @property
    def example_len(self) -> int:
        """Tokens of one example: ``mean_seq_len`` where given, else a full row."""
        return self.mean_seq_len or self.seq_len

    @property
    def attend_len(self) -> int:
        """Tokens a query's example spans: a packed example attends within itself, a padded one over its row."""
        return self.example_len if (self.packed and self.task != "pretrain") else self.seq_len

    @property
    def remat_policy(self) -> bool:
        """Whether selective recompute follows the job's named per-tensor policy rather than the framework's."""
        return bool(self.remat_saved or self.remat_offloaded)

    @property
    def grad_bytes(self) -> int:
        """Bytes per gradient element held for accumulation and reduced across data parallelism."""
        return GRAD_REDUCE_BYTES[self.grad_reduce or self.framework.grad_reduce]

    @property
    def global_sequences(self) -> int:
        """Sequences one step trains (the global batch counts DPO pairs)."""
        return self.global_batch * self.sequences_per_sample

    @property
    def tokens_per_step(self) -> int:
        """Tokens of data one step trains on: padding, when examples are not packed, is not data."""
        rows = self.seq_len * self.global_sequences
        return rows if self.packed or self.task == "pretrain" else self.example_len * self.global_sequences
