"""Sequence packing (cost/packing.py): first-fit decreasing rows, and the response-length distribution whose mean
after the length limit is the mean a user gives."""

import math

import numpy as np
import pytest

from xpuplan.cost.packing import exponential_lengths, exponential_scale, first_fit_decreasing_rows, packed_rows


def test_first_fit_decreasing_places_whole_examples():
    assert first_fit_decreasing_rows(np.array([3000, 3000, 1000, 1000]), 4096) == 2  # 3000+1000 twice
    assert first_fit_decreasing_rows(np.array([2100, 2100, 2100]), 4096) == 3  # no two fit: a row each
    assert first_fit_decreasing_rows(np.array([512] * 16), 4096) == 2


@pytest.mark.parametrize("mean,cap", [(860, 3896), (545, 1336), (2954, 3896), (5471, 7992)])
def test_the_scale_gives_the_stated_mean_after_the_cut(mean, cap):
    scale = exponential_scale(mean, cap)
    assert scale >= mean
    assert scale * -math.expm1(-cap / scale) == pytest.approx(mean, rel=1e-9)
    lengths = exponential_lengths(100_000, 0, scale, cap)  # the quantile sample, each rounded up to 64 tokens
    assert mean - 1 <= lengths.mean() <= mean + 64


def test_a_mean_at_or_beyond_the_limit_is_refused():
    with pytest.raises(ValueError, match="length limit"):
        exponential_scale(4000, 3896)


def test_packing_never_beats_the_tokens_and_short_examples_pack_tightly():
    for mean, cap, row in [(200, 3896, 4096), (2954, 3896, 4096), (5471, 7992, 8192)]:
        scale = exponential_scale(mean, cap)
        rows = packed_rows(512, 200, scale, cap, row)
        tokens = exponential_lengths(512, 200, scale, cap).sum()
        assert rows >= math.ceil(tokens / row)
    short = packed_rows(512, 200, exponential_scale(100, 3896), 3896, 4096)
    assert short <= 1.05 * math.ceil(512 * 320 / 4096)  # examples of ~300 tokens leave almost no gaps
