"""Sequence packing: variable-length examples placed into fixed rows, and the padding that placement leaves.

A packed micro-batch is a row of ``row_tokens`` tokens holding whole examples (each attends within itself). Frameworks
place examples by first-fit decreasing (NeMo RL ``sequence_packing.algorithm: modified_first_fit_decreasing``, its
bins ``train_mb_tokens = max_total_sequence_length x train_micro_batch_size``; lengths rounded up to
``sequence_length_round``, 64). An example never straddles two rows, so a row keeps the gap its last example could not
fill: with examples that are a large share of a row (RL responses of 3-6k tokens in 4-8k rows) most rows hold one
example and much padding, and the step computes the padded rows.
"""

from __future__ import annotations

import math

import numpy as np

LENGTH_ROUND = 64
"""tokens each example is rounded up to before packing (NeMo RL ``sequence_length_round``)"""
SAMPLE_EXAMPLES = 1024
"""examples placed to measure the packing (quantiles of the length distribution; more changes the share by < 1%)"""


def exponential_scale(mean: float, cap: float) -> float:
    """Scale of the exponential whose lengths, cut at ``cap``, average ``mean`` (< cap): mu (1 - exp(-cap / mu)) =
    mean. A published mean response length is measured after the cut (every response stops at the length limit), so
    the uncut scale is larger: Qwen3-235B's 5,471-token mean under a 7,992-token limit is a scale of about 9,900,
    with 45% of the responses at the limit. The left side grows with mu towards ``cap``: one root, above the mean."""
    if not 0 < mean < cap:
        raise ValueError(f"the mean response ({mean}) must lie between 0 and the length limit ({cap})")
    from scipy.optimize import brentq  # here, not at import: only an RL step needs it (a faster start)

    def short_by(mu: float) -> float:
        return mu * -math.expm1(-cap / mu) - mean

    hi = 2.0 * mean
    while short_by(hi) < 0:
        hi *= 2.0
    return float(brentq(short_by, mean, hi, xtol=1e-9 * mean))


def exponential_lengths(n: int, prompt_len: int, response_scale: float, response_cap: float) -> np.ndarray:
    """``n`` example lengths at evenly spaced quantiles of prompt + an exponential response of scale
    ``response_scale`` cut at ``response_cap`` (the distribution :mod:`xpuplan.rl` prices generation with), rounded
    up to :data:`LENGTH_ROUND`."""
    u = (np.arange(n) + 0.5) / n
    response = np.minimum(-response_scale * np.log1p(-u), response_cap)
    return np.ceil((prompt_len + response) / LENGTH_ROUND) * LENGTH_ROUND


def first_fit_decreasing_rows(lengths: np.ndarray, row_tokens: int) -> int:
    """Rows first-fit decreasing needs for ``lengths`` (each at most ``row_tokens``)."""
    free = np.empty(0)
    for length in np.sort(np.minimum(lengths, row_tokens))[::-1]:
        fits = np.flatnonzero(free >= length)
        if fits.size:
            free[fits[0]] -= length
        else:
            free = np.append(free, row_tokens - length)
    return int(free.size)


def packed_rows(examples: int, prompt_len: int, response_scale: float, response_cap: float, row_tokens: int) -> int:
    """Rows of ``row_tokens`` that ``examples`` RL sequences fill when packed first-fit decreasing: the rows per
    example, measured on a quantile sample of the length distribution, applied to the whole batch."""
    n = min(examples, SAMPLE_EXAMPLES)
    lengths = exponential_lengths(n, prompt_len, response_scale, response_cap)
    rows_per_example = first_fit_decreasing_rows(lengths, row_tokens) / n
    return max(1, math.ceil(examples * rows_per_example))
