"""How a model's layers are split over pipeline ranks where they do not divide evenly (cost/pipeline.py
stage_layer_counts): the splits Megatron-Core, torchtitan and Megatron-DeepSpeed run, priced in the step and memory."""

import itertools

import numpy as np
import pytest

from xpuplan import api
from xpuplan.cost.pipeline import ACCOUNTED, APPROXIMATE, ENDS, EVEN, stage_layer_counts

SHAPES = [(layers, pp, vpp)
          for layers, pp, vpp in itertools.product((7, 32, 48, 61, 70, 80, 94, 95, 126), range(1, 33), (1, 2, 3, 4, 8))
          if pp <= layers and (vpp == 1 or (pp > 1 and layers >= pp * vpp))]


def test_every_split_places_every_layer_once_and_leaves_no_rank_empty():
    layers, pp, vpp = (np.array(c) for c in zip(*SHAPES))
    for L in np.unique(layers):
        at = layers == L
        first, middle, last, how = stage_layer_counts(int(L), pp[at], vpp[at])
        total = np.where(pp[at] == 1, first, first + middle * np.maximum(pp[at] - 2, 0) + np.where(pp[at] > 1, last, 0))
        assert (first >= 1).all() and (last >= 1).all() and (middle >= 1).all()
        assert set(np.unique(how)) <= {EVEN, ACCOUNTED, ENDS, APPROXIMATE}
        # the approximation prices the fullest rank at ceil(L / pp) and may book more layers than the model has where
        # (pp - 1) ceil(L / pp) > L and no split Megatron-Core accepts exists (32 layers on 9 ranks of 3 chunks)
        assert (total[how != APPROXIMATE] == L).all()
        assert (first[how == APPROXIMATE] == -(-L // pp[at][how == APPROXIMATE])).all()


def test_every_split_but_the_approximation_is_one_megatron_core_accepts():
    """Even: layers divide by pp x vpp. Accounted: layers + 2 divide by pp and a rank's share by vpp (the first and
    last ranks one layer lighter). Ends: per-rank counts divisible by vpp, the middle ranks equal."""
    for layers, pp, vpp in SHAPES:
        first, middle, last, how = (int(x) for x in stage_layer_counts(layers, pp, vpp))
        if how == EVEN:
            assert layers % (pp * vpp) == 0 and first == middle == last == layers // pp
        elif how == ACCOUNTED:
            unit = (layers + 2) // pp
            assert (layers + 2) % pp == 0 and unit % vpp == 0 and (first, middle, last) == (unit - 1, unit, unit - 1)
        elif how == ENDS:
            assert first % vpp == 0 and last % vpp == 0 and (pp == 2 or middle % vpp == 0)
        else:  # no split Megatron-Core accepts, or none lighter than ceil(L / pp) a rank
            full = -(-layers // pp)
            assert (first, middle) == (full, full)


@pytest.mark.parametrize("head_units", [1, 3])
def test_no_split_is_slower_than_the_approximation(head_units):
    """Counting the last rank's head as ``head_units`` layers and the embedding lookup as none, the slowest rank of the
    split priced is never heavier than that of ceil(L / pp) on every rank but the last, where that places every
    layer."""
    for layers, pp, vpp in SHAPES:
        if pp < 2:
            continue
        first, middle, last, how = (int(x) for x in stage_layer_counts(layers, pp, vpp, head_units))
        full = -(-layers // pp)
        if (pp - 1) * full >= layers:  # the approximation books more layers than there are: nothing to compare with
            continue
        slowest = max(first, middle if pp > 2 else 0, last + head_units)
        assert how in (EVEN, ACCOUNTED) or slowest <= max(full, layers - (pp - 1) * full + head_units)


def test_published_splits():
    """Llama 3 405B on 16 ranks: 7, 14 x 8, 7 (Meta, arXiv 2407.21783 §3.3.2: one layer fewer on the first and the last
    stage); BLOOM's 70 layers on 12: 5, 10 x 6, 5 (Megatron-DeepSpeed's 'type:transformer|embedding' partition);
    DeepSeek-V3's 61 with its MTP module on 16: 4, 14 x 4, 1 (Megatron-Bridge's layout); Qwen3-235B-A22B's 94 on 8
    ranks of 2 virtual stages: 11, 6 x 12, 11 (Megatron-Bridge's account_for_embedding/loss_in_pipeline_split)."""
    assert [int(x) for x in stage_layer_counts(126, 16, 1)] == [7, 8, 7, ACCOUNTED]
    assert [int(x) for x in stage_layer_counts(126, 16, 2)] == [7, 8, 7, ACCOUNTED]
    assert [int(x) for x in stage_layer_counts(70, 12, 1)] == [5, 6, 5, ACCOUNTED]
    assert [int(x) for x in stage_layer_counts(61, 16, 1, head_units=3)] == [4, 4, 1, ENDS]
    assert [int(x) for x in stage_layer_counts(94, 8, 2)] == [11, 12, 11, ACCOUNTED]
    assert [int(x) for x in stage_layer_counts(80, 8, 1)] == [10, 10, 10, EVEN]


def test_llama3_405b_fits_on_8192_h100_as_meta_ran_it():
    """Issue 15 item 7: Meta trained Llama 3 405B on 8,192 H100 at tp 8, pp 16, dp 64 (Table 4). With the first rank
    one layer lighter, as Meta split it, the published plan fits; ceil(126 / 16) = 8 layers and the embedding on the
    first rank (the split priced before) needed 85.3 GiB."""
    r = api.train(model="llama3-405b", chip="h100-sxm", devices=8192, seq_len=8192, global_batch=2048, micro_batch=1,
                  tp=8, pp=16, dp=64, vpp=2, zero=1, recompute="selective")
    assert r.fits and r.memory_per_device_bytes <= 80 * 2**30
