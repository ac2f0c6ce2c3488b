"""Expert load imbalance: the hottest expert-parallel rank paces a MoE layer.

Every rank of an expert-parallel group waits at the layer's all-to-all for the others, so a MoE layer takes as long
as the rank that received the most routed tokens. That rank's excess over the mean has two independent parts:

- **popularity skew**: experts are not equally popular even over many batches. Wang et al. 2024 (Auxiliary-Loss-Free
  Load Balancing Strategy for Mixture-of-Experts, arXiv 2408.15664, Table 2; 64 routed experts, top-6, 1B and 3B
  models) measure MaxVio_global, the most loaded expert's excess over the mean on held-out data: 0.72 and 0.52 with
  an auxiliary balance loss, 0.04 with their bias-based (loss-free) balancing, the router DeepSeek-V3 trains with.
  (Read from two secondary summaries that agree; the PDF was not available here: medium confidence.) Taking each
  expert's excess as an independent normal deviate of spread ``c``, that maximum over 64 experts is ``z(64) c``, so
  ``c = MaxVio_global / z(64)``; a rank holding ``m`` experts carries their mean, of spread ``c / sqrt(m)``.
- **sampling noise**: a micro-batch routes ``n`` token copies across the group's ``R`` ranks; a rank's share is
  binomial, of relative spread ``sqrt((R - 1) / n)``.

The hottest of ``R`` ranks sits ``z(R)`` spreads above the mean, ``z(R)`` the expected maximum of ``R`` standard
normal deviates (Blom's approximation ``Phi^-1((R - 0.375) / (R + 0.25))``: 4.5% above the exact value at R = 2, within 2% from
R = 4).
The layer's expert GEMMs and all-to-all therefore take ``1 + z(R) sqrt(c^2 / m + (R - 1) / n)`` times their balanced
time. No value here is fitted. Not modelled: capacity factors that drop tokens (off in Megatron-Core by default) and
the systematic skew of the first few hundred steps. A run names its router's balancing (``moe_balancing``):
``forced`` random logits leave only the sampling noise; ``capacity`` (dropped and padded tokens) none.
"""

from __future__ import annotations

import numpy as np

MAXVIO_GLOBAL = {"aux_loss": 0.62, "loss_free": 0.04, "forced": 0.0}
"""the most loaded expert's long-run excess over the mean, by balancing method (Wang et al. 2024, Table 2: aux loss
0.72 at 1B and 0.52 at 3B, their mean; loss-free 0.04 at both); ``forced`` (random router logits, Megatron-Core's
benchmarking switch) makes every expert equally popular, leaving the sampling noise. ``capacity`` (tokens dropped
and padded to a capacity factor of 1) gives every rank exactly its share: no excess at all"""
MAXVIO_EXPERTS = 64
"""routed experts of the models those figures were measured on"""


def expected_max_normal(count) -> np.ndarray:
    """Expected maximum of ``count`` independent standard normal deviates (0 for one), Blom's approximation."""
    count = np.asarray(count, dtype=float)
    from scipy.special import ndtri  # here, not at import: a dense plan never needs scipy (a faster start)

    return np.where(count > 1, ndtri((count - 0.375) / (count + 0.25)), 0.0)


def hottest_rank_factor(balancing: str, experts: int, ranks, copies) -> np.ndarray:
    """Time of a MoE layer's expert work on its most loaded rank over the balanced time (>= 1), when ``experts``
    routed experts are spread over ``ranks`` expert-parallel ranks and one micro-batch routes ``copies`` token copies
    (tokens x top_k) across them."""
    ranks = np.asarray(ranks, dtype=float)
    if balancing == "capacity":
        return 1.0 + 0.0 * ranks
    spread = MAXVIO_GLOBAL[balancing] / float(expected_max_normal(MAXVIO_EXPERTS))
    local_experts = experts / ranks
    sigma = np.sqrt(spread ** 2 / local_experts + (ranks - 1.0) / np.maximum(np.asarray(copies, dtype=float), 1.0))
    return 1.0 + expected_max_normal(ranks) * sigma
