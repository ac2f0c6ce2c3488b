"""The weights of one serving replica, part by part: how a quantized checkpoint stores them and how a replica's
devices split them (pure arithmetic).

A quantized checkpoint keeps some parts in bf16 (``Model.unquantized``): every common format its input embedding and
output head (transformers' ``modules_to_not_convert``, llm-compressor's ``ignore``, ModelOpt's ``exclude_modules``),
gpt-oss's MXFP4 checkpoint its attention projections and router too. Tensor parallelism splits every matrix; expert
parallelism (with tensor parallelism inside it, :func:`moe_tp`) splits the routed experts; pipeline stages split the
layers."""

from __future__ import annotations

from ..plan import ServePlan
from ..specs import WEIGHT_FORMATS, Model
from ..specs.model import QUANT_FORMATS
from ..specs.serving import FOUR_BIT_FORMAT
from .flops import param_count


def moe_tp(plan: ServePlan) -> int:
    """Tensor-parallel ways of each expert when expert parallelism runs inside a larger tensor-parallel group
    (``--tp 8 --ep 4``: TensorRT-LLM's moe_tp_size 2); 1 when the expert-parallel group spans it or more."""
    return plan.tp // plan.ep if 1 < plan.ep < plan.tp else 1


def expert_split(plan: ServePlan) -> int:
    """Ways each expert's width is split on one device: its tensor parallelism inside the expert-parallel group
    (:func:`moe_tp`), or the replica's tp without expert parallelism."""
    return moe_tp(plan) if plan.ep > 1 else plan.tp


PART_OF = {"embedding": "embedding", "output": "head", "attention": "attention", "router": "router"}
""":func:`~.flops.param_count`'s parts that ``Model.unquantized`` can keep in bf16, by the name it gives them"""


def part_precision(model: Model, part: str, precision: str) -> str:
    """The format a part's weights are served in: bf16 where the model's quantized checkpoint keeps that part
    unquantized (``Model.unquantized``) and the serving precision is narrower, else the serving precision."""
    narrower = WEIGHT_FORMATS[precision][0] < WEIGHT_FORMATS["bf16"][0]
    return "bf16" if narrower and part in model.unquantized else precision


def scale_bytes(fmt: str, quant_format: str | None = None) -> float:
    """Bytes the block scales of a 4-bit format add to each weight (``specs.model.QUANT_FORMATS``): the checkpoint's
    own block format where it names one (``Model.quant_format``; gpt-oss: MXFP4, 1/32), else the precision's usual
    one (NVFP4 1/16, AWQ/GPTQ group 128 2.5/128); none for wider formats, whose per-channel or 128 x 128-block scales
    are below 0.03%."""
    if fmt not in FOUR_BIT_FORMAT:
        return 0.0
    return QUANT_FORMATS[quant_format or FOUR_BIT_FORMAT[fmt]]


def weight_bytes(model: Model, fmt: str) -> float:
    """Bytes one weight of ``model`` takes, and a kernel reads, in format ``fmt``: its width and its block scales."""
    return WEIGHT_FORMATS[fmt][0] + scale_bytes(fmt, model.quant_format)


def expert_weight_bytes(model: Model, plan: ServePlan, fmt: str) -> tuple[float, float]:
    """(bytes a kernel reads, bytes the device holds) per routed-expert weight of the checkpoint in format ``fmt``:
    its width and block scales (:func:`weight_bytes`), times the padding the engine's MXFP4 MoE backend lays each expert
    matrix out with on this chip, plus the scale copies it keeps (``ServeEngine.mxfp4_layout``; vLLM's Marlin pads
    gpt-oss's 2,880 x 2,880 experts to 2,944 x 3,072, its Triton backend kept the original E8M0 scales beside the
    swizzled ones through 0.24). Other formats: as stored."""
    w = weight_bytes(model, fmt)
    if model.quant_format != "mxfp4" or fmt not in FOUR_BIT_FORMAT or model.moe is None:
        return w, w
    multiple_i, multiple_h, copies = plan.engine.mxfp4_layout
    f, h = model.moe.expert_ffn_hidden, model.hidden
    pad = (-(-f // multiple_i) * multiple_i) * (-(-h // multiple_h) * multiple_h) / (f * h)
    return w * pad, w * pad + copies * pad * scale_bytes(fmt, model.quant_format)


def replica_weight_bytes(model: Model, plan: ServePlan) -> float:
    """Weight bytes per device of one replica, part by part: the routed experts split over the expert-parallel group
    (or tp without one), the rest over tp; pipeline stages split both. A part the checkpoint keeps unquantized
    (``Model.unquantized``: the embedding and head of every quantized format, gpt-oss's attention and router too)
    takes two bytes a weight whatever the serving precision; a 4-bit part adds its format's block scales
    (:func:`weight_bytes`), and MXFP4 experts the engine's layout (:func:`expert_weight_bytes`)."""
    split = plan.ep * expert_split(plan) if plan.ep > 1 else plan.tp
    total = 0.0
    for part, params in param_count(model).items():
        fmt = part_precision(model, PART_OF.get(part, "-"), plan.precision)
        held = expert_weight_bytes(model, plan, fmt)[1] if part == "routed_experts" else weight_bytes(model, fmt)
        total += params * held / (split if part == "routed_experts" else plan.tp)
    return total / plan.pp
