"""Model facts: a decoder-only transformer, dense or mixture-of-experts, optionally with a vision encoder."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import BadInput
from .hardware import _positive


BALANCING = ("aux_loss", "loss_free")
QUANT_PARTS = ("embedding", "head", "attention", "router")
"""weights a quantized checkpoint may keep in bf16 (``Model.unquantized``): the input embedding, the output head,
the attention projections, the MoE router"""
QUANT_FORMATS = {
    "nvfp4": 1 / 16,         # one FP8 (E4M3) scale per 16 weights, and one FP32 per tensor (NVIDIA's NVFP4)
    "mxfp4": 1 / 32,         # one E8M0 byte per 32 weights (OCP Microscaling Formats (MX) v1.0, the MXFP4 element)
    "int4-g128": 2.5 / 128,  # AWQ / GPTQ, group 128: an fp16 scale and a 4-bit zero point per group of 128
    "int4-g64": 2.5 / 64,
    "int4-g32": 2.5 / 32,
}
"""block formats of a 4-bit checkpoint (``Model.quant_format``) -> bytes their scales add to each weight beyond its
half byte: a kernel reads them with the weights, and the device holds them"""


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
    balancing: str = "aux_loss"
    """how training keeps the experts' loads even: ``aux_loss`` (a balance loss, Megatron-Core's default) or
    ``loss_free`` (a per-expert routing bias, DeepSeek-V3's noaux_tc); sets the expert imbalance (cost/imbalance.py)"""

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
        if self.balancing not in BALANCING:
            raise BadInput(f"moe: balancing must be one of {', '.join(BALANCING)}, got {self.balancing!r}", "balancing")


@dataclass(frozen=True, kw_only=True, slots=True)
class Encoder:
    """A vision encoder (ViT) ahead of the language model, with the merger/projector that hands its output over.

    Its layers are transformer layers with full (bidirectional) attention over one image's patches; the workload's
    image size and images per sample are part of the description (they set the encoder's sequence length)."""

    layers: int
    """transformer layers of the encoder"""
    hidden: int
    """encoder width"""
    heads: int
    """attention heads (multi-head attention, head width hidden / heads)"""
    ffn_hidden: int
    """FFN width of an encoder layer"""
    patches: int
    """patch tokens one image makes at the workload's resolution: the encoder's sequence length (448 x 448 pixels in
    14-pixel patches: 1024)"""
    tokens_per_image: int
    """tokens one image hands to the language model after the merger (Qwen2.5-VL merges 2 x 2 patches: patches / 4);
    they are part of the language model's sequence"""
    images: int = 1
    """images per training sample (per request when serving)"""
    ffn_act: str = "gelu"
    """swiglu (gated FFN, 3 weight matrices) or gelu (2)"""
    patch_dim: int = 0
    """inputs of one patch (channels x temporal frames x patch side^2, Qwen2.5-VL: 3 x 2 x 14 x 14 = 1176): the patch
    embedding is a patch_dim x hidden matmul; 0 leaves it out"""
    projector_params: int = 0
    """parameters of the merger/projector MLP that maps encoder outputs to the language model's width; each token
    handed over runs through all of them"""
    window: int | None = None
    """patches a windowed layer attends to (Qwen2.5-VL: 8 x 8 = 64); None: every layer attends to the whole image"""
    window_layers: int = 0
    """layers that attend within ``window`` (Qwen2.5-VL: 28 of 32)"""
    frozen: bool = False
    """training leaves the encoder's weights as they are (common in fine-tuning): it runs forward only, keeps no
    activations, gradients or optimizer state; the projector still trains"""

    def __post_init__(self) -> None:
        _positive("encoder", layers=self.layers, hidden=self.hidden, heads=self.heads, ffn_hidden=self.ffn_hidden,
                  patches=self.patches, tokens_per_image=self.tokens_per_image, images=self.images)
        for name in ("layers", "hidden", "heads", "ffn_hidden", "patches", "tokens_per_image", "images", "patch_dim",
                     "projector_params", "window_layers"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise BadInput(f"encoder: {name} must be a whole number >= 0, got {value!r}", name)
        if self.ffn_act not in ("swiglu", "gelu"):
            raise BadInput(f"encoder: ffn_act must be swiglu or gelu, got {self.ffn_act!r}", "ffn_act")
        if self.hidden % self.heads:
            raise BadInput(f"encoder: hidden={self.hidden} is not a multiple of heads={self.heads}", "heads")
        if self.tokens_per_image > self.patches:
            raise BadInput(f"encoder: tokens_per_image={self.tokens_per_image} exceeds patches={self.patches} (the "
                           "merger hands over at most one token per patch)", "tokens_per_image")
        if (self.window_layers > 0) != (self.window is not None) or not 0 <= self.window_layers <= self.layers:
            raise BadInput("encoder: give window and window_layers (0 < window_layers <= layers) together", "window")
        if self.window is not None and self.window < 1:
            raise BadInput(f"encoder: window must be >= 1 patch, got {self.window}", "window")
        if not isinstance(self.frozen, bool):
            raise BadInput(f"encoder: frozen must be true or false, got {self.frozen!r}", "frozen")
        if self.layers > 1000 or self.hidden > 200_000 or self.patches > 10_000_000:
            raise BadInput(f"encoder: layers={self.layers}, hidden={self.hidden}, patches={self.patches} is absurd",
                           "layers")


@dataclass(frozen=True, kw_only=True, slots=True)
class Model:
    """A decoder-only transformer (dense or MoE, optionally fed by a vision encoder), in the DESIGN.md model schema."""

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
    encoder: Encoder | None = None
    """vision encoder and projector ahead of the first layer (a vision-language model), None for text-only models"""
    sliding_window: int | None = None
    """keys a windowed layer attends to (each query sees at most this many, itself included), tokens"""
    window_layers: int = 0
    """layers that attend within ``sliding_window`` (gpt-oss: every second one); the rest attend to the whole
    context"""
    unquantized: tuple[str, ...] = ("embedding", "head")
    """parts whose weights a quantized checkpoint of the model keeps in bf16 (of :data:`QUANT_PARTS`); the rest take
    the serving precision. Every common format leaves the embedding and the output head unquantized (Hugging Face
    ``quantization_config`` exclusions: gpt-oss's ``modules_to_not_convert``, llm-compressor's ``ignore``); gpt-oss's
    MXFP4 checkpoint also its attention and router"""
    quant_format: str | None = None
    """block format of the model's own 4-bit checkpoint (of :data:`QUANT_FORMATS`: gpt-oss ships MXFP4 experts);
    None: the usual one of the 4-bit serving precision (``specs.serving.FOUR_BIT_FORMAT``)"""
    mtp_layers: int = 0
    """multi-token prediction modules trained with the model (DeepSeek-V3's num_nextn_predict_layers, report §2.2):
    each adds a decoder layer of the model's kind on the last pipeline stage, and another pass through the shared
    output head and loss for every token; excluded from the parameter counts and model FLOPs (MFU), as DeepSeek
    excludes them"""
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
        if isinstance(self.mtp_layers, bool) or not isinstance(self.mtp_layers, int) or self.mtp_layers < 0:
            raise BadInput(f"{owner}: mtp_layers must be a whole number >= 0, got {self.mtp_layers!r}", "mtp_layers")
        if (self.window_layers > 0) != (self.sliding_window is not None) or not 0 <= self.window_layers <= self.layers:
            raise BadInput(f"{owner}: give sliding_window and window_layers (0 < window_layers <= layers) together",
                           "sliding_window")
        unknown = [part for part in self.unquantized if part not in QUANT_PARTS]
        if unknown:
            raise BadInput(f"{owner}: unquantized names {', '.join(map(repr, unknown))}; the parts are "
                           f"{', '.join(QUANT_PARTS)}", "unquantized")
        if self.quant_format is not None and self.quant_format not in QUANT_FORMATS:
            raise BadInput(f"{owner}: quant_format must be one of {', '.join(QUANT_FORMATS)}, got "
                           f"{self.quant_format!r:.40}", "quant_format")
        if self.sliding_window is not None and self.sliding_window < 1:
            raise BadInput(f"{owner}: sliding_window must be >= 1 token", "sliding_window")
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
