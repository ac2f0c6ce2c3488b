"""Pipeline schedules: the bubble and the point-to-point traffic of 1F1B and interleaved 1F1B.

With pp stages, m micro-batches and v virtual stages per device, a 1F1B
schedule idles each device for (pp - 1) / v micro-batch times per step
(Narayanan et al. 2021, §2.2): bubble fraction (pp - 1) / (v * m).
Each micro-batch crosses a stage boundary v times forward and v times
backward; the transfers of the warm-up and cool-down are exposed, those of the
steady state sit between compute on the critical path unless the schedule
overlaps them (Megatron's interleaved schedule: ``p2p_exposed_s``).
"""

from __future__ import annotations

import functools

import numpy as np

from ..specs import Model


# shares of one micro-batch's forward + backward time T = F + B: the forward F ~ T/3 (a GEMM's backward does twice its
# forward's FLOPs) and the weight-gradient half of the backward W ~ T/3 (DeepSeek-V3 report §3.2.1's F, B, W)
FORWARD_SHARE = 1 / 3
WEIGHT_GRAD_SHARE = 1 / 3


def bubble_s(per_microbatch_s, pp, vpp, schedule: str = "1f1b") -> np.ndarray:
    """Idle seconds per step of the slowest stage: (pp - 1) / vpp micro-batch times under 1F1B (Narayanan et al.
    2021); under DualPipe (DeepSeek-V3 report Table 2) (pp/2 - 1)(F&B + B - 3W) with an overlapped forward-and-
    backward chunk F&B ~ F + B = T, so (pp/2 - 1)(2/3) T."""
    if schedule == "dualpipe":
        t = per_microbatch_s
        chunk = (t + (1 - FORWARD_SHARE) * t - 3 * WEIGHT_GRAD_SHARE * t)
        return np.maximum(pp / 2 - 1, 0) * chunk
    return (pp - 1) / vpp * per_microbatch_s


def p2p_transfers(pp, vpp, microbatches) -> np.ndarray:
    """Point-to-point transfers on the critical path per step: 2 (fwd + bwd) per chunk-slot."""
    return np.where(pp > 1, 2.0 * (vpp * microbatches + pp - 1), 0.0)


def p2p_exposed_s(pp, vpp, microbatches, transfer_s, chunk_s, overlap: bool) -> np.ndarray:
    """Seconds of point-to-point transfers a step exposes. Without overlap every transfer of
    :func:`p2p_transfers` waits. Megatron's interleaved schedule (vpp > 1) posts the steady state's sends and
    receives before it computes and waits after (``overlap_p2p_comm``, on by default in megatron/training, forced off
    for plain 1F1B): only the 2(pp - 1) transfers of the warm-up and cool-down wait whole, and a steady-state one
    only by what it takes beyond one chunk's compute (``chunk_s``: a virtual stage's forward or backward)."""
    count = p2p_transfers(pp, vpp, microbatches)
    edges = np.minimum(2.0 * (pp - 1), count)

    def times(n, seconds):  # n transfers of ``seconds``; none cost nothing even where one could not happen (inf)
        return np.where(n > 0, n * np.where(n > 0, seconds, 0.0), 0.0)
    hidden = times(count - edges, np.maximum(0.0, transfer_s - chunk_s)) + times(edges, transfer_s)
    return np.where(overlap & (vpp > 1), hidden, times(count, transfer_s))


EVEN, ACCOUNTED, ENDS, APPROXIMATE = 0, 1, 2, -1
"""how :func:`stage_layer_counts` split the layers: evenly; with the embedding and the loss counted as layers
(Megatron-Core's --account-for-embedding/loss-in-pipeline-split); with lighter first and last ranks
(--decoder-first/last-pipeline-num-layers); or in no way Megatron-Core accepts (ceil(L / pp) a rank, the rest last)"""


def model_split(model: Model, pp, vpp) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """:func:`stage_layer_counts` for ``model``: its output layer and loss counted as one layer, and each
    multi-token-prediction module (a decoder layer and another pass through the head) as two more."""
    return stage_layer_counts(model.layers, pp, vpp, 1 + 2 * model.mtp_layers)


def stage_layer_counts(layers: int, pp, vpp, head_units: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                                         np.ndarray]:
    """:func:`split_layers` per plan, looked up in a table of every (pp, vpp) up to the grid's largest (a search
    scores millions of plans over a few hundred pipeline shapes)."""
    pp, vpp = (np.asarray(x, dtype=np.int64) for x in np.broadcast_arrays(pp, vpp))
    if pp.size == 0:
        return pp.copy(), pp.copy(), pp.copy(), pp.copy()
    table = _split_table(int(layers), int(head_units), int(pp.max()), int(vpp.max()))
    return tuple(t[pp, vpp] for t in table)


@functools.lru_cache(maxsize=256)
def _split_table(layers: int, head_units: int, max_pp: int, max_vpp: int) -> tuple[np.ndarray, ...]:
    pp, vpp = np.meshgrid(np.arange(max_pp + 1), np.arange(max_vpp + 1), indexing="ij")
    pp, vpp = np.maximum(pp, 1), np.maximum(vpp, 1)  # index 0 is never read
    tables = split_layers(layers, pp, vpp, head_units)
    for t in tables:
        t.setflags(write=False)
    return tables


def split_layers(layers: int, pp, vpp, head_units: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                                   np.ndarray]:
    """Transformer layers on the first, on each middle and on the last pipeline rank, and how they were split
    (:data:`EVEN`, :data:`ACCOUNTED`, :data:`ENDS` or :data:`APPROXIMATE`), arrays over plans.

    Where ``layers`` divides by pp x vpp every rank holds layers / pp (Megatron-Core's default). Otherwise, where
    layers + 2 does, the embedding and the loss count as a layer each (Megatron-Core's account_for_embedding/loss_in_
    pipeline_split, which NVIDIA's Megatron-Bridge recipes set): the first and last ranks hold one layer fewer than
    the others, Llama 3 405B's 126 layers on 16 ranks 7, 14 x 8, 7, as Meta describes its split ("we reduce one
    Transformer layer each from the first and the last stages", arXiv 2407.21783 §3.3.2) and BLOOM's 70 on 12 as
    Megatron-DeepSpeed's 'type:transformer|embedding' partition does. Otherwise lighter ends set explicitly
    (--decoder-first/last-pipeline-num-layers, counts per rank, each divisible by vpp, the middle ranks equal), chosen
    so that the slowest rank is as light as it can be, the last rank's output layer and loss counted as ``head_units``
    layers (1; a multi-token-prediction module adds a layer and another pass through the head) and the embedding
    lookup as none, between equally slow splits the lighter first rank (it holds the most micro-batches in flight):
    DeepSeek-V3's 61 layers with its MTP module on 16 ranks, 4, 14 x 4, 1, as Megatron-Bridge lays them out. Where no
    such split exists, or the one that does is slower than ceil(layers / pp) on every rank but the last (which takes
    the rest; where that places every layer once), that approximation is priced (:data:`APPROXIMATE`; Megatron-Core
    would refuse it, and the export says so)."""
    pp, vpp = (np.asarray(x, dtype=np.int64) for x in np.broadcast_arrays(pp, vpp))
    full = -(-layers // pp)
    first, middle, last = full.copy(), full.copy(), np.maximum(layers - (pp - 1) * full, 1)
    how = np.where((layers % (pp * vpp) == 0) | (pp == 1), EVEN, APPROXIMATE)
    accounted = (how == APPROXIMATE) & ((layers + 2) % (pp * vpp) == 0)
    unit = (layers + 2) // pp
    first, middle, last = (np.where(accounted, unit - 1, first), np.where(accounted, unit, middle),
                           np.where(accounted, unit - 1, last))
    how = np.where(accounted, ACCOUNTED, how)
    todo = (how == APPROXIMATE) & (pp >= 2) & (layers % vpp == 0)
    if not todo.any():
        return first, middle, last, how
    middle_ranks = pp - 2
    # the approximation's slowest rank, to beat where it places every layer once (with (pp - 1) ceil(L / pp) > L it
    # places more: then any split is better)
    placed = (pp - 1) * full + last == layers
    best = np.where(placed, np.maximum(full, last + head_units), np.iinfo(np.int64).max)
    target = -(-(layers + head_units) // pp)  # layers and head spread evenly
    for shift in (-1, 0, 1):  # middle counts around the even spread, each a multiple of vpp
        m = np.maximum((-(-target // vpp) + shift) * vpp, vpp)
        rest = layers - m * middle_ranks
        # max(f, l + head) is convex in the first rank's count f: its best multiple of vpp is one of the two around
        # (rest + head) / 2
        low = (rest + head_units) // 2 // vpp * vpp
        for f in (low, low + vpp):
            l = rest - f
            slowest = np.maximum(np.maximum(f, np.where(middle_ranks > 0, m, 0)), l + head_units)
            ok = todo & (f >= vpp) & (l >= vpp) & ((slowest < best) | ((slowest == best) & (how == APPROXIMATE)))
            first, last = np.where(ok, f, first), np.where(ok, l, last)
            middle = np.where(ok, np.where(middle_ranks > 0, m, l), middle)
            best, how = np.where(ok, slowest, best), np.where(ok, ENDS, how)
    # between equally slow splits, the lightest first rank whose last one stays within the slowest
    ends = how == ENDS
    rest = layers - np.where(middle_ranks > 0, middle, 0) * middle_ranks
    lightest = np.maximum(-(-(rest + head_units - np.where(ends, best, 0)) // vpp) * vpp, vpp)
    first = np.where(ends, np.minimum(first, lightest), first)
    last = np.where(ends, rest - first, last)
    return first, middle, last, how
