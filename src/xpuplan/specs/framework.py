"""How a training framework runs a model: kernel fusion, overlap, schedules and defaults (data in catalog/frameworks)."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import BadInput
from .hardware import _positive

PIPELINE_SCHEDULES = ("1f1b", "dualpipe")
MOE_PERMUTES = ("eager", "fused", "in_dispatch")
MOE_OPTIONS = ("dedup", "overlap", "graphs")
GRAD_REDUCE_BYTES = {"fp32": 4, "bf16": 2, "fp16": 2}
"""bytes per gradient element kept for accumulation and reduced across data parallelism"""
OPTIMIZER_STATES = {  # name: (bytes of Adam state a parameter owns, HBM bytes its update moves)
    "fp32": (12, 30),            # fp32 master + fp32 moments: Megatron-Core's distributed optimizer, DeepSpeed, FSDP
    "fp32-remainder": (10, 28),  # the master's 16 low bits beside the bf16 weight + fp32 moments: apex's
    #                              DistributedFusedAdam as NeMo 1.x sets it for bf16 models (store_param_remainders)
    "bf16-moments": (8, 22),     # fp32 master + bf16 moments: DeepSeek-V3 (arXiv 2412.19437 §3.3.3)
    "bf16": (6, 18),             # bf16 moments + a 2-byte master: apex's optim.dtype bf16 with fp8 weights (a bf16
    #                              copy, store_params), or Megatron's precision-aware optimizer (fp32 master remainders)
    "bf16-no-master": (4, 16),   # bf16 moments, the bf16 weight updated in place: apex's optim.dtype bf16 on a bf16
    #                              model (store_params off), as NeMo 24.07's Nemotron-4 340B recipe runs
}
"""Adam's state per parameter, by precision. The update's traffic reads an fp32 gradient (4 bytes), reads and writes
the state and writes the bf16 weight (2); the remainder form reads the weight too (its high 16 bits). Derivation in
docs/model.md, "Optimizer state"."""
FP8_CACHES = ("none", "linear", "linear_swiglu")
RECOMPUTE = ("none", "selective", "full")
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
    grad_buffer_zeroed: bool = False
    """the framework keeps its gradients in a persistent contiguous buffer that it zeroes at the start of every step
    (Megatron-Core: training.py train_step calls zero_grad_buffer, param_and_grad_buffer.py's reset zeroes grad_data)
    and copies its owned bf16 shard to fp32 main gradients (distrib_optimizer.py, ``.float()``) before the clipping's
    gradient norm (arguments.py --clip-grad 1.0) reads them; False: gradients are freed between steps (PyTorch's
    zero_grad(set_to_none=True), FSDP's sharded gradients) and no such passes are priced"""
    grad_accumulation_fusion: bool = True
    """the weight-gradient GEMMs add their result into the persistent main-gradient buffer in their epilogue
    (Megatron-Core's ``gradient_accumulation_fusion``, on unless ``--no-gradient-accumulation-fusion``); False: each
    GEMM writes a bf16 ``param.grad`` that the data-parallel backward hook adds to the buffer
    (distributed_data_parallel.py ``param.main_grad.add_(param.grad.data)``), an element-wise pass over every local
    weight each micro-batch. Only a framework with that buffer (``grad_buffer_zeroed``) pays it; a job's
    ``grad_accumulation_fusion`` sets it for one run"""
    optimizer_state: str = "fp32"
    """Adam's state precision (``OPTIMIZER_STATES``): ``fp32`` (Megatron-Core's default), ``fp32-remainder``,
    ``bf16-moments``, ``bf16`` or ``bf16-no-master``; a job's ``optimizer_state`` sets it for one run"""
    moe_grouped_gemm: bool = True
    """a MoE layer's local experts run as one grouped GEMM kernel (Megatron-Core's TEGroupedMLP/GroupedMLP under
    ``--moe-grouped-gemm``, which NVIDIA's and MindSpeed's MoE recipes pass; torchtitan's ``grouped_mm``; MegaBlocks;
    DeepGEMM); False: a loop over the local experts, each its own GEMMs and launches (Megatron-Core's SequentialMLP,
    what Megatron-LM runs when the flag is left out, its argument default; DeepSpeed-MoE's ``Experts`` module). A job's
    ``moe_grouped_gemm`` sets it for one run"""
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
    is DeepEP's default. A named cost of overlapping, priced where the all-to-all is overlapped and wherever data-parallel
    collectives hide behind compute: NCCL's ring collectives hold 24 of an H100's 132 SMs on one node (16 across
    nodes), and overlapped compute runs 18.9% slower on average (arXiv 2507.03114), i.e. 0.16
    (docs/research/nccl-overlap-slowdown.md)"""
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
    fsdp_pipeline_reshard: bool = False
    """under a pipeline, FSDP reduce-scatters every micro-batch's gradients and reshards the weights after each
    backward, gathering them again at the next forward (FSDP2's defaults, reduce_grads and reshard_after_backward,
    where the pipeline stage's module is not itself an FSDP module, as in NeMo AutoModel before
    ``enable_fsdp_optimizations``); False: a stage's weights stay gathered and its gradients accumulate unsharded
    until the step's last micro-batch (torchtitan)"""
    fsdp_ignores_local_experts: bool = False
    """routed experts whose expert-data-parallel group is a single rank are left out of FSDP (NeMo AutoModel passes
    them as ``ignored_params`` when ep_shard is 1): never gathered or upcast, their gradients kept in the weights'
    bf16, no unsharded copies; False: FSDP wraps them like every other weight"""
    low_precision_grads_kept: bool = False
    """a bf16 job's optimizer keeps autograd's bf16 gradient of every local parameter allocated beside its fp32
    accumulation buffer, clearing it only before the next backward (DeepSpeed's BF16_Optimizer of 2022, PR 1801,
    under its pipeline engine: clear_lp_grads before each backward, update_hp_grads(clear_lp_grads=False) after it):
    2 more bytes a parameter, unsharded, where a pipelined job reduces fp32 gradients without sharding them
    (ZeRO <= 1); the engine without a pipeline was not read"""
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
    """MoE options it implements, which ``plan`` tries when the job does not pin them: ``dedup`` (a DeepEP/HybridEP-
    style dispatch), ``overlap`` (the all-to-all behind another micro-batch's compute), ``graphs`` (the router and
    preprocessing replayed from CUDA graphs, tried on a host slower than an x86 server's)"""
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
        unknown = sorted(set(self.moe_options) - set(MOE_OPTIONS))
        if unknown:
            raise BadInput(f"framework {self.name}: moe_options {', '.join(unknown)} not among {', '.join(MOE_OPTIONS)}",
                           "moe_options")
        if self.fp8_activation_cache not in FP8_CACHES:
            raise BadInput(f"framework {self.name}: fp8_activation_cache must be one of {', '.join(FP8_CACHES)}",
                           "fp8_activation_cache")
        if self.grad_reduce not in GRAD_REDUCE_BYTES:
            raise BadInput(f"framework {self.name}: grad_reduce must be one of {', '.join(GRAD_REDUCE_BYTES)}",
                           "grad_reduce")
        if self.optimizer_state not in OPTIMIZER_STATES:
            raise BadInput(f"framework {self.name}: optimizer_state must be one of {', '.join(OPTIMIZER_STATES)}",
                           "optimizer_state")
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


