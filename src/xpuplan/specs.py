"""Specifications: what a chip, a system, a model and a training job are.

Frozen dataclasses with one line per field giving its meaning and unit. They
hold facts only; what follows from them (parameter counts, FLOPs, times) lives
in :mod:`xpuplan.cost`. Construction checks ranges and raises
:class:`~xpuplan.errors.BadInput` naming the field.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .errors import BadInput

DTYPES = ("bf16", "fp16", "fp8", "int8", "fp4")
CONFIDENCES = ("high", "medium", "low")
SCALE_UP_TOPOLOGIES = ("switch", "full_mesh")
PLAN_MEMORY_MARGIN = 0.05  # share of device memory the planner keeps free unless told otherwise (--memory-margin)


def _positive(owner: str, **values: float | int | None) -> None:
    for name, value in values.items():
        if value is not None and not value > 0:
            raise BadInput(f"{owner}: {name} must be > 0, got {value}", name)


@dataclass(frozen=True, kw_only=True, slots=True)
class Efficiency:
    """Achievable fractions of a chip's peaks; calibrated data, not datasheet facts.

    GEMM efficiency follows a saturating curve in the GEMM's size:
    ``eff(f) = gemm_max * f / (f + gemm_half_flops)``, so small GEMMs run
    further below peak than large ones.
    """

    gemm_max: float = 0.80
    """fraction of the dense peak a large bf16/fp16 GEMM reaches"""
    gemm_fp8_max: float = 0.65
    """fraction of the fp8 peak a large fp8 GEMM reaches"""
    gemm_half_flops: float = 2.0e9
    """GEMM size (FLOPs of one call) at which efficiency is half of its maximum"""
    attention_fwd: float = 0.55
    """fraction of the bf16 peak a flash-style attention forward reaches at long sequences"""
    attention_bwd: float = 0.45
    """same for the attention backward"""
    hbm: float = 0.80
    """fraction of the HBM bandwidth streaming (element-wise) kernels reach"""
    scale_up: float = 0.75
    """fraction of the scale-up link bandwidth collectives reach (bus bandwidth)"""
    scale_out: float = 0.80
    """fraction of the NIC bandwidth collectives reach across domains"""
    scale_up_latency_s: float = 5e-6
    """latency of one collective step inside the scale-up domain, seconds"""
    scale_out_latency_s: float = 15e-6
    """latency of one collective step across the scale-out network, seconds"""
    kernel_overhead_s: float = 4e-6
    """launch and synchronisation cost per kernel not hidden by the framework, seconds"""
    reserve_bytes: float = 3 * 2**30
    """device memory taken by the runtime, communication buffers and fragmentation, bytes"""
    source: str = "xpuplan generic defaults (docs/model.md)"
    """where these fractions come from"""

    def __post_init__(self) -> None:
        for name in ("gemm_max", "gemm_fp8_max", "attention_fwd", "attention_bwd", "hbm", "scale_up", "scale_out"):
            value = getattr(self, name)
            if not 0 < value <= 1:
                raise BadInput(f"efficiency: {name} must be a fraction in (0, 1], got {value}", name)
        _positive("efficiency", gemm_half_flops=self.gemm_half_flops)


@dataclass(frozen=True, kw_only=True, slots=True)
class Chip:
    """One accelerator as the cost model sees it (per device, dense, per direction)."""

    name: str
    """catalog id, e.g. ``h100-sxm``"""
    vendor: str = "unknown"
    """maker"""
    display_name: str = ""
    """human name"""
    peak_flops_per_s: dict[str, float | None] = field(default_factory=dict)
    """dense peak FLOP/s by dtype (bf16, fp16, fp8, int8, fp4); None = has it, figure unknown"""
    hbm_bytes: float | None = None
    """device memory capacity, bytes"""
    hbm_bytes_per_s: float | None = None
    """device memory bandwidth, bytes/s"""
    scale_up_name: str = ""
    """name of the scale-up link (NVLink 4, HCCS, ICI, ...)"""
    scale_up_bytes_per_s: float | None = None
    """scale-up bandwidth per device, per direction, bytes/s"""
    scale_up_domain: int = 1
    """devices in one scale-up domain (8 for an HGX node, 72 for NVL72)"""
    scale_up_topology: str = "switch"
    """how the domain is wired: ``switch`` (any group gets the full scale-up bandwidth, as through NVSwitch)
    or ``full_mesh`` (one direct link to each of the other ``domain - 1`` devices, so a group of k members
    of one domain reaches only k - 1 of them: HCCS on Atlas 800T A2, xGMI on MI300X, Gaudi's RoCE ports)"""
    scale_out_bytes_per_s: float | None = None
    """scale-out (NIC) bandwidth per device, per direction, bytes/s"""
    tdp_watts: float | None = None
    """board power, watts"""
    purchase_usd: float | None = None
    """purchase price per device, USD"""
    usd_per_hour: float | None = None
    """rental price per device-hour, USD"""
    failures_per_device_day: float | None = None
    """failure rate per device per day"""
    domain_failures_per_day: float | None = None
    """failures that take a whole scale-up domain down (rack, supernode), per domain per day"""
    confidence: str = "low"
    """overall confidence in the figures: high | medium | low"""
    field_confidence: dict[str, str] = field(default_factory=dict)
    """confidence of single fields that differ from the overall one"""
    notes: str = ""
    """what is measured, claimed or rumoured"""
    sources: tuple[str, ...] = ()
    """where the figures come from"""
    efficiency: Efficiency = field(default_factory=Efficiency)
    """achievable fractions of the peaks"""
    measured: dict | None = None
    """probe provenance when the profile was measured"""

    def __post_init__(self) -> None:
        if self.confidence not in CONFIDENCES:
            raise BadInput(f"chip {self.name}: confidence must be one of {', '.join(CONFIDENCES)}", "confidence")
        _positive(
            f"chip {self.name}",
            hbm_bytes=self.hbm_bytes,
            hbm_bytes_per_s=self.hbm_bytes_per_s,
            scale_up_bytes_per_s=self.scale_up_bytes_per_s,
            scale_up_domain=self.scale_up_domain,
            scale_out_bytes_per_s=self.scale_out_bytes_per_s,
            tdp_watts=self.tdp_watts,
        )
        if self.scale_up_topology not in SCALE_UP_TOPOLOGIES:
            raise BadInput(
                f"chip {self.name}: scale_up.topology must be one of {', '.join(SCALE_UP_TOPOLOGIES)}, "
                f"not {self.scale_up_topology!r}", "scale_up.topology")
        for dtype, value in self.peak_flops_per_s.items():
            if dtype not in DTYPES:
                raise BadInput(f"chip {self.name}: unknown dtype {dtype!r} in peak_flops (use {', '.join(DTYPES)})", "peak_flops")
            if value is not None and not 1e9 <= value <= 1e17:
                raise BadInput(f"chip {self.name}: peak_flops.{dtype}={value:g} FLOP/s is absurd (expect 1e12..1e16)", "peak_flops")

    def peak(self, dtype: str) -> float:
        """Dense peak FLOP/s for ``dtype``; fp8/int8 fall back to bf16 when the chip lacks them."""
        value = self.peak_flops_per_s.get(dtype)
        if value is None and dtype in ("fp8", "int8", "fp4"):
            return self.peak("bf16")
        if value is None and dtype == "bf16":
            value = self.peak_flops_per_s.get("fp16")
        if value is None:
            raise BadInput(
                f"chip {self.name} has no published {dtype} peak; measure it with `xpuplan probe` and pass --chip FILE",
                "chip",
            )
        return value

    def require(self, *names: str) -> None:
        """Raise BadInput if a figure the estimate needs is unknown for this chip."""
        labels = {"hbm_bytes": "HBM capacity (hbm.capacity)", "hbm_bytes_per_s": "HBM bandwidth (hbm.bandwidth)"}
        for name in names:
            if getattr(self, name) is None:
                raise BadInput(
                    f"chip {self.name} has no published {labels.get(name, name)}; give it in a chip file "
                    "(--chip FILE) or measure it with `xpuplan probe`",
                    "chip",
                )


@dataclass(frozen=True, kw_only=True, slots=True)
class System:
    """A node or rack built from one chip kind, with its networks."""

    name: str
    """catalog id"""
    chip: str
    """chip catalog id"""
    display_name: str = ""
    """human name"""
    devices_per_node: int = 8
    """devices in one node"""
    nodes: int = 1
    """nodes in this system"""
    scale_up_domain: int | None = None
    """devices per scale-up domain, overriding the chip's"""
    scale_up_bytes_per_s: float | None = None
    """scale-up bandwidth per device per direction, overriding the chip's"""
    scale_up_topology: str | None = None
    """switch | full_mesh, overriding the chip's"""
    scale_out_bytes_per_s: float | None = None
    """NIC bandwidth per device per direction, overriding the chip's"""
    power_watts: float | None = None
    """whole-system power, watts"""
    confidence: str = "low"
    """high | medium | low"""
    notes: str = ""
    """free text"""
    sources: tuple[str, ...] = ()
    """where the figures come from"""


@dataclass(frozen=True, kw_only=True, slots=True)
class MoE:
    """Mixture-of-experts block of a model."""

    experts: int
    """routed experts per MoE layer"""
    top_k: int
    """routed experts each token visits"""
    expert_ffn_hidden: int
    """FFN width of one expert"""
    shared_experts: int = 0
    """always-active experts per MoE layer, each of width expert_ffn_hidden"""
    dense_layers: int = 0
    """leading layers with a dense FFN of width ffn_hidden"""
    layer_freq: int = 1
    """after the dense layers, every layer_freq-th layer is MoE"""
    route_groups: int | None = None
    """group-limited routing: the experts form this many equal groups (DeepSeek's n_group); None: no groups"""
    route_topk_groups: int | None = None
    """each token picks its experts inside this many groups (DeepSeek's topk_group)"""

    def __post_init__(self) -> None:
        _positive("moe", experts=self.experts, top_k=self.top_k, expert_ffn_hidden=self.expert_ffn_hidden, layer_freq=self.layer_freq)
        if self.top_k > self.experts:
            raise BadInput(f"moe: top_k={self.top_k} exceeds experts={self.experts}", "top_k")
        if (self.route_groups is None) != (self.route_topk_groups is None):
            raise BadInput("moe: give route_groups and route_topk_groups together (or neither)", "route_groups")
        if self.route_groups is not None:
            _positive("moe", route_groups=self.route_groups, route_topk_groups=self.route_topk_groups)
            if self.experts % self.route_groups or self.route_topk_groups > self.route_groups:
                raise BadInput(f"moe: route_groups={self.route_groups} must divide experts={self.experts} and be at least "
                               f"route_topk_groups={self.route_topk_groups}", "route_groups")
        if self.shared_experts < 0 or self.dense_layers < 0:
            raise BadInput("moe: shared_experts and dense_layers must be >= 0", "moe")


@dataclass(frozen=True, kw_only=True, slots=True)
class Model:
    """A decoder-only transformer (dense or MoE), in the DESIGN.md model schema."""

    name: str
    """catalog id"""
    layers: int
    """transformer layers"""
    hidden: int
    """model width d_model"""
    heads: int
    """query heads"""
    kv_heads: int
    """key/value heads (= heads for MHA)"""
    ffn_hidden: int
    """dense FFN width"""
    vocab: int
    """vocabulary size"""
    head_dim: int = 0
    """per-head width; 0 means hidden / heads"""
    ffn_act: str = "swiglu"
    """swiglu (3 weight matrices) or gelu (2)"""
    tied_embeddings: bool = False
    """input embedding shared with the output layer"""
    attention: str = "gqa"
    """mha | gqa | mla"""
    position: str = "rope"
    """rope | learned | alibi"""
    q_lora_rank: int | None = None
    """MLA: query down-projection rank (None: no query compression)"""
    kv_lora_rank: int = 0
    """MLA: key/value compression rank"""
    qk_rope_head_dim: int = 0
    """MLA: rotary part of a query/key head"""
    qk_nope_head_dim: int = 0
    """MLA: non-rotary part of a query/key head"""
    v_head_dim: int = 0
    """MLA: value head width"""
    moe: MoE | None = None
    """mixture-of-experts block, None for dense models"""
    display_name: str = ""
    """human name"""
    max_seq_len: int | None = None
    """released context length, tokens"""
    params_total: float | None = None
    """parameter count reported by the source"""
    params_active: float | None = None
    """activated parameters per token reported by the source"""
    confidence: str = "high"
    """high | medium | low"""
    notes: str = ""
    """free text"""
    sources: tuple[str, ...] = ()
    """where the configuration comes from"""

    def __post_init__(self) -> None:
        owner = f"model {self.name}"
        _positive(owner, layers=self.layers, hidden=self.hidden, heads=self.heads, kv_heads=self.kv_heads,
                  ffn_hidden=self.ffn_hidden, vocab=self.vocab)
        if self.head_dim < 0:
            raise BadInput(f"{owner}: head_dim must be >= 0", "head_dim")
        if self.ffn_act not in ("swiglu", "gelu"):
            raise BadInput(f"{owner}: ffn_act must be swiglu or gelu, got {self.ffn_act!r}", "ffn_act")
        if self.attention not in ("mha", "gqa", "mla"):
            raise BadInput(f"{owner}: attention must be mha, gqa or mla, got {self.attention!r}", "attention")
        if self.heads % self.kv_heads:
            raise BadInput(f"{owner}: heads={self.heads} is not a multiple of kv_heads={self.kv_heads}", "kv_heads")
        if self.attention == "mla" and not (self.kv_lora_rank and self.qk_rope_head_dim and self.v_head_dim):
            raise BadInput(f"{owner}: mla needs kv_lora_rank, qk_rope_head_dim, qk_nope_head_dim and v_head_dim", "attention")
        if self.layers > 1000 or self.hidden > 200_000:
            raise BadInput(f"{owner}: layers={self.layers}, hidden={self.hidden} is absurd", "layers")

    @property
    def d_head(self) -> int:
        """Per-head width used for queries and keys (non-MLA)."""
        return self.head_dim or self.hidden // self.heads

    @property
    def is_moe(self) -> bool:
        return self.moe is not None

    @property
    def moe_layers(self) -> int:
        """Number of layers whose FFN is a mixture of experts."""
        if self.moe is None:
            return 0
        return len(range(self.moe.dense_layers, self.layers, self.moe.layer_freq))


RECOMPUTE = ("none", "selective", "full")
"""activation-recompute modes, in the order plan arrays index them"""

FRAMEWORK_RANGES = {  # the physically sensible range of each numeric framework field
    "compute_scale": (0.05, 1.5), "attention_scale": (0.05, 1.5), "dp_bandwidth_scale": (0.05, 1.5),
    "loss_bytes_per_logit": (2.0, 20.0), "memory_overhead": (0.0, 1.0), "microbatch_overhead_s": (0.0, 1.0),
    "tp_overlap_efficiency": (0.0, 1.0), "selective_gemm_share": (0.0, 1.0), "dp_overlap_efficiency": (0.0, 1.0),
    "ep_overlap_efficiency": (0.0, 1.0), "elementwise_passes": (0.5, 10.0),
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
    dp_bandwidth_scale: float = 1.0
    """fraction of the modelled bus bandwidth the framework's data-parallel collectives reach"""
    dp_overlap: bool = True
    """overlaps data-parallel communication with compute"""
    dp_overlap_efficiency: float = 1.0
    """share of the compute window that actually hides data-parallel collectives (1.0: all of it; 0.0: none,
    as when the collectives wait on hooks or contend with the GEMMs for SMs and memory bandwidth)"""
    zero3_gathers_per_microbatch: int = 2
    """ZeRO-3 weight all-gathers per micro-batch (forward and backward)"""
    tp_overlap_efficiency: float = 0.0
    """share of tensor-parallel communication its fused GEMM-collective kernels hide when a run turns them on
    (Megatron's --tp-comm-overlap, MindSpeed's --use-mc2); a job's ``tp_overlap`` sets it for one run"""
    ep_overlap_efficiency: float = 0.85
    """share of the expert all-to-all that hides behind another micro-batch's compute of the same layer (never more
    than that compute) when a run overlaps them (DeepSeek's DualPipe, Megatron-Core's
    --overlap-moe-expert-parallel-comm); a job's ``ep_overlap`` sets it for one run. The rest is the compute lost to
    the SMs the dispatch kernels hold while they run: DeepSeek-V3 hides the all-to-all fully with 20 of the H800's 132
    SMs (report section 3.2.2), and 20 is DeepEP's default, so 1 - 20/132 = 0.85; no main run measures it"""
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
    recompute_modes: tuple[str, ...] = RECOMPUTE
    """activation-recompute modes the framework implements (selective: norms, activation function and
    attention core recomputed; full: every layer from its input)"""
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
    memory_margin: float = 0.0
    """fraction of device memory kept free as safety margin"""
    framework: Framework = field(default_factory=Framework)
    """training framework: kernel fusion and overlap behaviour"""

    def __post_init__(self) -> None:
        _positive("job", seq_len=self.seq_len, global_batch=self.global_batch, tokens=self.tokens)
        if self.seq_len > 10_000_000:
            raise BadInput(f"job: seq_len={self.seq_len} is absurd", "seq_len")
        for name in ("tp_overlap", "ep_overlap", "memory_margin"):
            if not 0 <= getattr(self, name) < 1 + (name != "memory_margin") * 1e-9:
                raise BadInput(f"job: {name} must be a fraction in [0, 1], got {getattr(self, name)}", name)

    @property
    def tokens_per_step(self) -> int:
        return self.seq_len * self.global_batch
