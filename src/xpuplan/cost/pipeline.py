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

import numpy as np


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
