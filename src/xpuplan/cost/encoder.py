"""A vision encoder's share of a training step: its layers and projector on the first pipeline stage.

A vision-language model (``Model.encoder``: GLM-4.1V / Qwen2.5-VL / RoboBrain style) runs each sample's images through
a ViT before the language model sees their tokens. Per micro-batch of b samples with n images of P patches each, the
first pipeline stage encodes T_e = b·n·P patch tokens:

* each encoder layer is priced as a transformer layer of the encoder's own width h_e at sequence length P: its GEMMs
  (q, k, v, o and the FFN, tp splitting one side of each, as the language model's), its element-wise kernels, and
  attention over all P patches without a causal mask (or over the ``window`` in windowed layers), a flash kernel at
  the chip's attention efficiency with its tiles filled by the keys a query sees;
* the patch embedding (T_e x patch_dim x h_e) and the projector over the b·n·k tokens handed to the language model;
* the encoder's tensor-parallel traffic: the language model's sequence-parallel all-gathers and reduce-scatters at
  width h_e.

Placement: the encoder runs on the first pipeline stage, as MindSpeed-MM places Qwen2.5-VL's ViT
(``vit_pp_layers [32, 0, 0, 0]``, examples/qwen2.5vl/README.md) and as Megatron-Core's LLaVA model does with no
encoder pipeline of its own, split over the language model's tensor-parallel group (Megatron-Core's
``encoder_tensor_model_parallel_size`` defaults to it). Every context-parallel rank encodes the micro-batch's
images whole: the language model's sequence is split after the image tokens are placed in it. Encoder GEMMs run in
bf16 whatever the language model's precision.

A trained encoder's backward is 2x its forward and full recompute runs its forward again (selective recompute its
element-wise work). A frozen encoder (``Encoder.frozen``) runs forward only: nothing upstream of it needs gradients,
so it keeps no activations and computes no backward; the projector still trains (its weight gradient only). Under
LoRA (``TrainJob.adapters``) encoder and projector are frozen base weights alike.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import BadInput
from ..plan import PlanGrid
from ..specs import Chip, Efficiency, Model, TrainJob
from .comm import collective_s
from .compute import elementwise_bytes_fwd, elementwise_s, gemm_s
from .flops import encoder_model, layer_shapes


@dataclass(frozen=True, kw_only=True, slots=True)
class EncoderTimes:
    """Seconds of one micro-batch's images through the vision encoder and projector on one device of the first
    pipeline stage (arrays over plans)."""

    fwd_s: np.ndarray
    """encoder layers, patch embedding and projector, forward"""
    bwd_s: np.ndarray
    """their backward (a frozen encoder: the projector's weight gradient only)"""
    recompute_s: np.ndarray
    """forward work activation recompute adds in the backward"""
    tp_s: np.ndarray
    """the encoder layers' exposed tensor-parallel collectives"""

    @property
    def total_s(self) -> np.ndarray:
        return self.fwd_s + self.bwd_s + self.recompute_s + self.tp_s


def check_images_fit(model: Model, seq_len: int) -> None:
    """A sample's image tokens are part of its sequence: refuse a sequence too short to hold them (one line)."""
    e = model.encoder
    if e is not None and e.images * e.tokens_per_image > seq_len:
        raise BadInput(f"--seq-len {seq_len} cannot hold {e.images} image(s) of {e.tokens_per_image} tokens "
                       f"({model.name}'s encoder); give a longer --seq-len or fewer images", "seq_len")


def encoder_tokens(model: Model, g: PlanGrid) -> tuple[np.ndarray, np.ndarray]:
    """(patch tokens the encoder runs, tokens handed to the language model) per micro-batch on one device."""
    e = model.encoder
    return g.micro_batch * e.images * e.patches, g.micro_batch * e.images * e.tokens_per_image


def attention_fwd_s(model: Model, chip: Chip, eff: Efficiency, tp, kernel: str, scale: float, tokens) -> np.ndarray:
    """One encoder layer's attention forward (mean over its full and windowed layers) on one device at the kernel
    efficiencies ``eff``: 2·a_e·2d_e FLOPs per query and key, every key of the image (the window in windowed layers)
    with no causal mask; a flash kernel whose tiles fill with the keys a query sees (B/(B + 256), as the decoder's)."""
    e = model.encoder
    kernel_fwd, _ = eff.attention(kernel)
    per_key = tokens * 2.0 * e.heads / tp * 2.0 * (e.hidden // e.heads)

    def layer(keys: int):
        fill = keys / (keys + eff.attention_block_tokens)
        return per_key * keys / (chip.peak("bf16") * kernel_fwd * scale * fill)

    windowed = layer(min(e.window, e.patches)) if e.window_layers else 0.0
    return ((e.layers - e.window_layers) * layer(e.patches) + e.window_layers * windowed) / e.layers


def encoder_times(model: Model, chip: Chip, job: TrainJob, g: PlanGrid) -> EncoderTimes:
    """Forward, backward, recompute and tensor-parallel seconds of the encoder and projector for one micro-batch on one
    device of the first stage (see the module docstring); all zero for a text-only model."""
    fw = job.framework
    if model.encoder is None:
        zero = 0.0 * g.micro_batch
        return EncoderTimes(fwd_s=zero, bwd_s=zero, recompute_s=zero, tp_s=zero)
    e, em = model.encoder, encoder_model(model)
    s = layer_shapes(em)
    h, f, tp, scale = e.hidden, e.ffn_hidden, g.tp, fw.compute_scale
    tokens, handed = encoder_tokens(model, g)
    gemm = (gemm_s(tokens, h, (s.q_out + s.kv_out) / tp, chip, 0) + gemm_s(tokens, s.attn_out_in / tp, h, chip, 0)
            + gemm_s(tokens, h, (s.ffn_mats - 1) * f / tp, chip, 0) + gemm_s(tokens, f / tp, h, chip, 0))
    attn = attention_fwd_s(model, chip, chip.efficiency, tp, fw.attention_kernel, fw.attention_scale, tokens)
    on_hidden, inside = elementwise_bytes_fwd(em, False)
    split = tp if fw.sequence_parallel else 1.0
    elementwise = elementwise_s(tokens * (on_hidden / split + inside / tp) * fw.elementwise_passes, chip)
    kernels = fw.kernels_per_layer * chip.efficiency.kernel_overhead_s
    patch = gemm_s(tokens, e.patch_dim, h / tp, chip, 0) if e.patch_dim else 0.0 * tokens
    width = model.hidden  # the projector ends at the language model's width
    proj = gemm_s(handed, e.projector_params / width, width / tp, chip, 0) if e.projector_params else 0.0 * tokens
    layer_fwd = (gemm + attn + elementwise) / scale + kernels
    fwd = e.layers * layer_fwd + (patch + proj) / scale
    kernel_fwd, kernel_bwd = chip.efficiency.attention(fw.attention_kernel)
    layer_bwd = (2.0 * gemm + 2.0 * elementwise + 2.0 * attn * kernel_fwd / kernel_bwd) / scale + 2.0 * kernels

    def gather_scatter(nbytes):  # one all-gather + one reduce-scatter of a sequence-parallel tensor over tp
        return collective_s("all_gather", nbytes, tp, 1, chip) + collective_s("reduce_scatter", nbytes, tp, 1, chip)

    per_pass = e.layers * 2.0 * gather_scatter(tokens * h * 2.0) * (1.0 - job.tp_overlap)
    if e.frozen or job.adapters:  # forward only; a trained projector computes its weight gradient, its input needs none
        zero = 0.0 * fwd
        return EncoderTimes(fwd_s=fwd, bwd_s=zero if job.adapters else proj / scale, recompute_s=zero, tp_s=per_pass)
    bwd = e.layers * layer_bwd + (patch + 2.0 * proj) / scale  # the patch embedding's input (pixels) needs no gradient
    recompute = np.where(g.recompute == 2, e.layers * layer_fwd,
                         np.where(g.recompute == 1, e.layers * elementwise / scale, 0.0))
    passes = np.where(g.recompute == 2, 3.0, 2.0)
    return EncoderTimes(fwd_s=fwd, bwd_s=bwd, recompute_s=recompute, tp_s=passes * per_pass)


def serve_prefill_s(model: Model, chip: Chip, tp: int, kernel: str, requests, gemm, eff: Efficiency) -> np.ndarray:
    """A vision encoder's forward for ``requests`` requests' images on one serving replica (0 for a text-only model):
    once per request, with its prompt, on the first pipeline stage. The layers as in training, priced with serving's
    kernels: ``gemm(tokens, k, n)`` one bf16 GEMM, ``eff`` the kernel efficiencies, ``kernel`` the engine's attention
    kernel; two TP all-reduces a layer; the projector over the tokens handed to the decoder."""
    r = np.asarray(requests, dtype=float)
    if model.encoder is None:
        return 0.0 * r
    e, em = model.encoder, encoder_model(model)
    s, h = layer_shapes(em), e.hidden
    tokens, handed = r * e.images * e.patches, r * e.images * e.tokens_per_image
    mats = [(h, (s.q_out + s.kv_out) / tp), (s.attn_out_in / tp, h), (h, (s.ffn_mats - 1) * e.ffn_hidden / tp),
            (e.ffn_hidden / tp, h)]
    gemms = e.layers * sum(gemm(tokens, k, n) for k, n in mats)
    if e.patch_dim:
        gemms = gemms + gemm(tokens, e.patch_dim, h / tp)
    if e.projector_params:
        gemms = gemms + gemm(handed, e.projector_params / model.hidden, model.hidden / tp)
    on_hidden, inside = elementwise_bytes_fwd(em, False)
    elementwise = tokens * e.layers * (on_hidden + inside / tp) / (chip.hbm_bytes_per_s * eff.elementwise_hbm)
    attention = e.layers * attention_fwd_s(model, chip, eff, tp, kernel, 1.0, tokens)
    comm = 2 * e.layers * collective_s("all_reduce", np.maximum(tokens, 1.0) * h * 2.0, tp, 1, chip)
    return np.where(r > 0, gemms + elementwise + attention + comm, 0.0)
