"""Job facts: what a training job asks for (how its framework runs it: :mod:`.framework`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import BadInput, UnknownName
from .framework import GRAD_REDUCE_BYTES, OPTIMIZER_STATES, RECOMPUTE, Framework
from .hardware import _positive

PLAN_MEMORY_MARGIN = 0.05  # share of device memory the planner keeps free unless told otherwise (--memory-margin)

FP16_GRAD_REDUCE = "fp16"
"""what an fp16 job accumulates and reduces its gradients in unless it says otherwise: every framework's default
(Megatron-LM forces fp32 only for bf16, arguments.py: ``accumulate_allreduce_grads_in_fp32`` is set for ``--bf16``
alone, so fp16 keeps a params-dtype grad buffer; DeepSpeed's ``fp32_allreduce`` is off by default; FairScale FSDP's
``fp32_reduce_scatter`` is off by default)"""
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
CUDA_GRAPH_SCOPES = ("attn", "mlp", "moe", "moe_router", "moe_preprocess", "layer")
"""parts of a layer a framework can capture in CUDA graphs: Megatron-Core's cuda_graph_modules (attn, mlp, moe,
moe_router, moe_preprocess; megatron/core/transformer/transformer_config.py), ``layer`` for its empty list (the whole
layer)"""
GRAPHED_MOE_ROUTER = ("moe_router", "moe_preprocess")
"""the scopes that replay a MoE layer's routing from CUDA graphs, as NVIDIA's GB200/GB300 MoE recipes set
--cuda-graph-modules (what ``plan`` tries and the advice names on a slow host)"""


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
    moe_grouped_gemm: bool | None = None
    """a MoE layer's local experts in one grouped GEMM (True) or in a loop of per-expert GEMMs (False: Megatron's
    SequentialMLP, without ``--moe-grouped-gemm``); None: the framework's ``moe_grouped_gemm``"""
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
    distribute_saved_activations: bool = False
    """under full recompute without sequence parallelism, each tensor-parallel rank keeps 1/tp of the layer inputs
    it saves and all-gathers them before the layer's recompute (Megatron-LM ``--distribute-saved-activations``,
    metaseq ``--distribute-checkpointed-activations``, which OPT-175B ran with); False: every rank keeps them whole"""
    grad_reduce: str | None = None
    """gradient accumulation and reduction dtype, fp32, bf16 or fp16 (None: the framework's; fp16 for an fp16 job,
    ``FP16_GRAD_REDUCE``)"""
    optimizer_state: str | None = None
    """Adam's state precision, one of ``OPTIMIZER_STATES`` (None: the framework's)"""
    grad_accumulation_fusion: bool | None = None
    """the weight-gradient GEMMs accumulate into the main gradients themselves (True) or a backward hook adds each
    micro-batch's gradients to them (False: Megatron's ``--no-gradient-accumulation-fusion``); None: the framework's"""
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
    cuda_graphs: tuple[str, ...] = ()
    """the parts of each layer the framework captures in CUDA graphs and replays (``CUDA_GRAPH_SCOPES``:
    Megatron-Core's ``cuda_graph_modules`` under ``cuda_graph_impl`` transformer_engine or local, ``layer`` for the
    whole layer); empty: every op dispatched from the host. A MoE layer's router and preprocessing replayed from a
    graph pay no per-op dispatch on a slower host (``Chip.host_time_factor``). A comma-separated string is
    accepted (``"attn,moe_router,moe_preprocess"``)."""
    vocab_tiles: int = 1
    """the output layer and the loss run over the micro-batch's tokens in this many chunks, only one chunk's logits
    alive at a time, each chunk's logits computed again in the backward (MaxText's ``num_vocab_tiling``,
    maxtext_utils.get_vocab_tiling_loss_linen: a scan over the chunks with a custom VJP that recomputes them)"""
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
        if isinstance(self.vocab_tiles, bool) or not isinstance(self.vocab_tiles, int) or self.vocab_tiles < 1:
            raise BadInput(f"--vocab-tiles must be a whole number >= 1, got {self.vocab_tiles!r}", "vocab_tiles")
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
        for name, known, what in (("remat_saved", REMAT_TENSORS, "layer tensor"),
                                  ("remat_offloaded", REMAT_TENSORS, "layer tensor"),
                                  ("cuda_graphs", CUDA_GRAPH_SCOPES, "CUDA graph scope")):
            value = getattr(self, name) or ()
            if not isinstance(value, (str, tuple, list)):
                raise BadInput(f"job: {name} must name {what}s, comma-separated; got {value!r}", name)
            names = tuple(v.strip() for v in value.split(",") if v.strip()) if isinstance(value, str) else tuple(value)
            for v in names:
                if v not in known:
                    raise UnknownName(what, v, list(known), name)
            object.__setattr__(self, name, names)
        both = sorted(set(self.remat_saved) & set(self.remat_offloaded))
        if both:
            raise BadInput(f"job: {', '.join(both)} cannot be both kept (remat_saved) and offloaded (remat_offloaded); "
                           f"name each tensor once", "remat_offloaded")
        _positive("job", seq_len=self.seq_len, global_batch=self.global_batch, tokens=self.tokens)
        if self.seq_len > 10_000_000:
            raise BadInput(f"job: seq_len={self.seq_len} is absurd", "seq_len")
        if self.distribute_saved_activations and self.framework.sequence_parallel:
            raise BadInput(f"--distribute-saved-activations splits the layer inputs full recompute saves across "
                           f"tensor-parallel ranks, which {self.framework.name}'s sequence parallelism already does: "
                           f"drop it", "distribute_saved_activations")
        if isinstance(self.offload_layers, bool) or not isinstance(self.offload_layers, int) or self.offload_layers < 0:
            raise BadInput(f"job: offload_layers must be a whole number >= 0, got {self.offload_layers}", "offload_layers")
        if self.grad_reduce is not None and self.grad_reduce not in GRAD_REDUCE_BYTES:
            raise BadInput(f"job: grad_reduce must be one of {', '.join(GRAD_REDUCE_BYTES)}, got {self.grad_reduce!r}",
                           "grad_reduce")
        if self.optimizer_state is not None and self.optimizer_state not in OPTIMIZER_STATES:
            raise BadInput(f"job: optimizer_state must be one of {', '.join(OPTIMIZER_STATES)}, got "
                           f"{self.optimizer_state!r}", "optimizer_state")
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
    def moe_host_graphed(self) -> bool:
        """Whether a MoE layer's router and token preprocessing replay from a CUDA graph (no per-op host dispatch)."""
        return bool(set(self.cuda_graphs) & {"moe_router", "moe", "layer"})

    @property
    def grad_bytes(self) -> int:
        """Bytes per gradient element held for accumulation and reduced across data parallelism."""
        return GRAD_REDUCE_BYTES[self.grad_reduce or self.framework.grad_reduce]

    @property
    def grad_accumulation_bytes(self) -> int:
        """HBM bytes a local weight costs each micro-batch beyond its weight-gradient GEMM where a backward hook adds
        its gradient to the main gradients (read the bf16 gradient, read and write the main one); 0 where the GEMMs
        accumulate themselves or the framework keeps no such buffer."""
        fused = self.accumulation_fused or not self.framework.grad_buffer_zeroed
        return 0 if fused else BF16_BYTES_PER_PARAM + 2 * self.grad_bytes

    @property
    def accumulation_fused(self) -> bool:
        """Whether the weight-gradient GEMMs accumulate into the main gradients (the job's choice, or its framework's)."""
        return self.framework.grad_accumulation_fusion if self.grad_accumulation_fusion is None \
            else self.grad_accumulation_fusion

    @property
    def grouped_experts(self) -> bool:
        """Whether a MoE layer's local experts run as one grouped GEMM (the job's choice, or its framework's)."""
        return self.framework.moe_grouped_gemm if self.moe_grouped_gemm is None else self.moe_grouped_gemm

    @property
    def optimizer_state_name(self) -> str:
        """The Adam state precision this job keeps (its own, or its framework's)."""
        return self.optimizer_state or self.framework.optimizer_state

    @property
    def optimizer_state_bytes(self) -> int:
        """Bytes of Adam state (master weights and moments) per owned parameter."""
        return OPTIMIZER_STATES[self.optimizer_state_name][0]

    @property
    def optimizer_traffic_bytes(self) -> int:
        """HBM bytes one owned parameter's Adam update reads and writes."""
        return OPTIMIZER_STATES[self.optimizer_state_name][1]

    @property
    def global_sequences(self) -> int:
        """Sequences one step trains (the global batch counts DPO pairs)."""
        return self.global_batch * self.sequences_per_sample

    @property
    def tokens_per_step(self) -> int:
        """Tokens of data one step trains on: padding, when examples are not packed, is not data."""
        rows = self.seq_len * self.global_sequences
        return rows if self.packed or self.task == "pretrain" else self.example_len * self.global_sequences
