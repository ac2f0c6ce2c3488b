"""What a post-training task changes in a training step (``TrainJob.task``).

* **lora / qlora** (Hu et al. 2021; Dettmers et al. 2023): the base weights are frozen, so the backward runs only the
  activation-gradient GEMM of each base matmul (no weight gradient: 2 of the 3 passes, the 2/3 NVIDIA's LoRA model
  FLOPs count), and gradients, optimizer state, the gradient reduction and the optimizer update cover only the
  adapters: for each adapted matrix of ``d_in x d_out``, ``A`` (``d_in x r``) and ``B`` (``r x d_out``), whose three
  passes are skinny GEMMs of their own. qlora stores the base in 4-bit NF4 and dequantises each matrix to bf16 before
  each use (read 0.52 B, write 2 B a parameter, at HBM speed).
* **sft**: every weight trains, as pre-training; a packed example attends only within itself
  (:attr:`TrainJob.attend_len`), an unpacked one fills its row with padding the step computes for nothing.
* **dpo** (Rafailov et al. 2023): a sample is a chosen and a rejected sequence, both trained; a frozen reference model
  runs the forward of both (``reference: live``) unless their log-probs were computed beforehand.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..plan import PlanGrid
from ..specs import Chip, Model, TrainJob
from ..specs.job import BF16_BYTES_PER_PARAM as WEIGHT_BYTES, NF4_BYTES_PER_PARAM
from .flops import (attention_core_flops_per_token, encoder_flops_per_token, encoder_param_count, layer_shapes,
                    matmul_flops_per_token)


class Adapted(NamedTuple):
    """One kind of matrix a layer's LoRA adapts (tensor parallelism not applied)."""

    d_in: float
    d_out: float
    per_token: float
    """copies of it a token runs through (a MoE layer's routed top-k, its shared experts)"""
    held: float
    """copies of it the layer holds, each with its own adapter (all routed experts)"""
    routed: bool
    """a routed expert's matrix: sharded over ep and etp, not tp"""


def adapted_matrices(model: Model, moe: bool, job: TrainJob) -> list[Adapted]:
    """Every kind of matrix of one layer the job's LoRA adapts; empty unless the task trains adapters."""
    if not job.adapters:
        return []
    s = layer_shapes(model)
    h = model.hidden
    out = []
    if "qkv" in job.lora_targets:
        out.append(Adapted(h, s.q_out + s.kv_out, 1.0, 1.0, False))
    if "o" in job.lora_targets:
        out.append(Adapted(s.attn_out_in, h, 1.0, 1.0, False))
    if "mlp" in job.lora_targets:
        width = model.moe.expert_ffn_hidden if moe else model.ffn_hidden
        e = model.moe
        kinds = [(e.top_k, e.experts, True), (e.shared_experts, e.shared_experts, False)] if moe else \
            [(1.0, 1.0, False)]
        for per_token, held, routed in kinds:
            if per_token:
                out += [Adapted(h, (s.ffn_mats - 1) * width, per_token, held, routed),
                        Adapted(width, h, per_token, held, routed)]
    return out


def layer_adapter_params(model: Model, moe: bool, job: TrainJob) -> tuple[float, float]:
    """(adapter parameters replicated like dense weights, adapter parameters on all routed experts) of one layer."""
    params = [(job.lora_rank * (m.d_in + m.d_out) * m.held, m.routed) for m in adapted_matrices(model, moe, job)]
    return sum(n for n, routed in params if not routed), sum(n for n, routed in params if routed)


def adapter_s(chip: Chip, rows, d_in, d_out, rank: int) -> np.ndarray:
    """Forward seconds of one adapter on ``rows`` tokens: x A (rows x d_in x r) and (x A) B (rows x r x d_out) added to
    the base output. Rank-r GEMMs are skinny: each takes the longer of its FLOPs at the chip's GEMM ceiling and its
    bytes at streaming bandwidth (x read, the r-wide product, the base output read and the sum written; bf16)."""
    flops = 2.0 * rows * rank * (d_in + d_out)
    nbytes = WEIGHT_BYTES * (rows * d_in + 2 * rows * rank + rank * (d_in + d_out) + 2 * rows * d_out)
    compute = flops / (chip.peak("bf16") * chip.efficiency.gemm_max)
    stream = nbytes / (chip.hbm_bytes_per_s * chip.efficiency.hbm)
    return np.maximum(compute, stream)


def adapter_fwd_flops_per_token(model: Model, moe: bool, job: TrainJob) -> float:
    """Forward FLOPs per token of one layer's adapters: x A then (x A) B for each adapted matrix."""
    return sum(2.0 * job.lora_rank * (m.d_in + m.d_out) * m.per_token for m in adapted_matrices(model, moe, job))


def base_bytes_per_param(job: TrainJob) -> float:
    """Bytes a base weight takes: bf16, or NF4 under qlora."""
    return NF4_BYTES_PER_PARAM if job.task == "qlora" else WEIGHT_BYTES


def trainable(model: Model, job: TrainJob, g: PlanGrid, params: tuple, dense_n, moe_n, embed=False) -> tuple:
    """Of a stage's (dense, expert) parameters per device, those that train: all of them but a frozen vision encoder's
    (on the first stage, ``embed``), or its layers' adapters (sharded over tp like the matrices they adapt; a routed
    expert's over ep and etp like the expert)."""
    if not job.adapters:
        if model.encoder is None or not model.encoder.frozen:
            return params
        dense, experts = params
        return dense - np.where(embed, encoder_param_count(model)["vision_encoder"] / g.tp, 0.0), experts
    dense_layer, _ = layer_adapter_params(model, False, job)
    moe_dense, moe_experts = layer_adapter_params(model, True, job) if model.moe else (0.0, 0.0)
    dense = (dense_n * dense_layer + moe_n * moe_dense) / g.tp
    return dense, moe_n * moe_experts / (g.ep * g.etp) + 0.0 * dense


def dequant_s(chip: Chip, layer_params) -> np.ndarray:
    """One qlora dequantisation of ``layer_params`` base parameters on one device: NF4 read, bf16 written, at the
    chip's streaming bandwidth."""
    return layer_params * (NF4_BYTES_PER_PARAM + WEIGHT_BYTES) / (chip.hbm_bytes_per_s * chip.efficiency.hbm)


def model_flops_per_token(model: Model, job: TrainJob) -> float:
    """The job's model FLOPs per token of data, the numerator of its MFU: 3 x (forward matmuls + attention over the
    span a query attends) for pre-training, sft and dpo; under lora/qlora the base matmuls count twice (forward and
    activation gradient, NVIDIA's LoRA model-FLOP count) and the adapters three times. A vision encoder adds its
    share per token (:func:`~.flops.encoder_flops_per_token`)."""
    matmul = sum(matmul_flops_per_token(model).values())
    attention = attention_core_flops_per_token(model, job.attend_len)
    encoder = encoder_flops_per_token(model, job.seq_len, job.adapters) if model.encoder else 0.0
    if not job.adapters:
        return 3.0 * (matmul + attention) + encoder
    dense_layers = model.layers - model.moe_layers
    adapters = dense_layers * adapter_fwd_flops_per_token(model, False, job)
    if model.moe:
        adapters += model.moe_layers * adapter_fwd_flops_per_token(model, True, job)
    return 2.0 * matmul + 3.0 * (attention + adapters) + encoder
