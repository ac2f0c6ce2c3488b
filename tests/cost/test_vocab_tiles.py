"""A tiled loss (MaxText's num_vocab_tiling): one chunk's logits alive at a time, each chunk's logits computed again
in the backward."""

import dataclasses

import pytest

from xpuplan import api
from xpuplan.catalog import load_chip, load_model
from xpuplan.cost.compute import logits_times
from xpuplan.errors import BadInput
from xpuplan.plan import PlanGrid

RECIPE = dict(model="llama3-405b", chip="tpu-v5p", devices=512, seq_len=8192, global_batch=1024, micro_batch=2, tp=1,
              pp=1, zero=3, recompute="selective", remat_offloaded="context,mlpwo", framework="xla")
"""MaxText's llama3_1_405b_8192_v5p_1024 (benchmarks/maxtext_v5p_model_configs.py @3eb77db): num_vocab_tiling 4"""


def test_tiles_hold_one_chunk_of_logits_and_run_the_output_layer_again():
    whole, tiled = api.train(**RECIPE), api.train(vocab_tiles=4, **RECIPE)
    m, job = load_model("llama3-405b"), tiled.job
    logits_bytes = 2 * 8192 * m.vocab * job.framework.loss_bytes_per_logit
    saved = whole.memory["activations_bytes"] - tiled.memory["activations_bytes"]
    assert saved == pytest.approx(logits_bytes * 3 / 4, rel=1e-9)
    g = PlanGrid.from_plans([tiled.plan])
    (f1, b1), (f4, b4) = (logits_times(m, load_chip("tpu-v5p"), g, dataclasses.replace(job, vocab_tiles=n))
                          for n in (1, 4))
    assert f4 == pytest.approx(f1) and b4 - b1 == pytest.approx(f1)  # the backward runs the forward once more
    assert tiled.step_time_s > whole.step_time_s


def test_the_maxtext_405b_recipe_fits_with_its_tiled_loss():
    """The published plan ran on 95 GiB chips; with its logits whole the memory model said it did not fit."""
    assert not api.train(**RECIPE).fits and api.train(vocab_tiles=4, **RECIPE).fits


def test_vocab_tiles_below_one_is_one_line():
    with pytest.raises(BadInput, match="--vocab-tiles must be a whole number >= 1"):
        api.train(vocab_tiles=0, **RECIPE)
