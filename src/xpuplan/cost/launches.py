"""The host's share of a served iteration: the kernels one forward launches and what launching them costs where no
captured graph replays them, and the engine's scheduling work for the iteration and its sequences.

A decode batch the engine captured as a graph (CUDA graph) replays its kernels with a small gap each
(``Efficiency.kernel_overhead_s``, priced in :mod:`.serve`). An iteration that carries prefill, or a decode batch
larger than the captured graphs, is launched op by op from the host: by the engine's Python model code in SGLang
(prefill runs eagerly unless piecewise graphs are switched on) and in vLLM 0.2 (graphs for decode only), by compiled
code elsewhere. The host then needs :func:`eager_kernels` x ``ServeEngine.eager_launch_s`` for the forward, and the
device waits for it where its own work is shorter (``cost.serve.iteration_s``)."""

from __future__ import annotations

import numpy as np

from ..plan import ServePlan
from ..specs import WEIGHT_FORMATS, Model, ServeEngine

DECODE_KERNELS_PER_LAYER = 10  # with CUDA-graph style launch: the per-kernel gap remains
MOE_EXTRA_KERNELS = 6
"""kernels a MoE layer launches beyond a dense layer's: router top-k, the sort/align of token ids by expert, the
permutation, the experts' activation, the unpermutation and its weighted reduction (vLLM's and SGLang's fused-MoE
path, TensorRT-LLM's MoE plugin run the same steps)"""
QUANTISE_KERNELS_PER_LAYER = 4
"""kernels a layer adds where its weight GEMMs take quantised activations (fp8, int8 W8A8): one quantisation of the
activations before each of its four GEMM groups (QKV, attention output, gate-up, down)"""
MLA_EXTRA_KERNELS = 9
"""kernels an MLA attention block launches beyond a GQA one in an eager forward: two more GEMMs (the query and the
key/value up-projections after the fused down-projection), the two latent norms, four copies (the latent made
contiguous, the key assembled from its no-rope and rope parts, the latent cache row) and the attention's
log-sum-exp transpose. Counted in SGLang 0.4.9.post2's deepseek_v2.py prefill path (FA3, fp8 block-quantised
DeepGEMM linears): 21 kernels in the attention half of a DeepSeek-V3 layer against a GQA layer's 10; with the
quantisation of the two extra GEMM groups (:data:`MLA_EXTRA_GEMM_GROUPS`) a DeepSeek-V3 layer launches 27 (dense)
or 33 (MoE) kernels, ~2,000 a forward (docs/research/deepseek-prefill-kernels.md)"""
MLA_EXTRA_GEMM_GROUPS = 2
"""GEMM groups an MLA block adds, each with its activation quantisation where activations are quantised"""


def eager_kernels(model: Model, plan: ServePlan) -> float:
    """Kernels one pipeline stage's forward launches from the host: :data:`DECODE_KERNELS_PER_LAYER` a layer, with
    :data:`QUANTISE_KERNELS_PER_LAYER` more where activations are quantised, :data:`MLA_EXTRA_KERNELS` more (and
    :data:`MLA_EXTRA_GEMM_GROUPS` more quantisations) in an MLA layer and :data:`MOE_EXTRA_KERNELS` more in each MoE
    layer."""
    quantised = WEIGHT_FORMATS[plan.precision][1] in ("fp8", "int8")
    per_layer = DECODE_KERNELS_PER_LAYER + (QUANTISE_KERNELS_PER_LAYER if quantised else 0)
    if model.attention == "mla":
        per_layer += MLA_EXTRA_KERNELS + (MLA_EXTRA_GEMM_GROUPS if quantised else 0)
    moe_layers = model.moe_layers if model.moe else 0
    return (model.layers * per_layer + moe_layers * MOE_EXTRA_KERNELS) / plan.pp


def with_host_s(engine: ServeEngine, device_s, sequences) -> np.ndarray:
    """An iteration's seconds from its device seconds and the ``sequences`` it carries: the engine's per-sequence host
    work added where it schedules synchronously, overlapped where it schedules a step ahead (the longer of the two),
    then its host time an iteration that nothing hides (``iteration_overhead_s``)."""
    work = engine.sequence_overhead_s * np.asarray(sequences, dtype=float)
    step = np.maximum(device_s, work) if engine.async_scheduling else device_s + work
    return step + engine.iteration_overhead_s
