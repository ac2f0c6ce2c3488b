"""Full recompute's saved layer inputs split over the tensor-parallel ranks (Megatron-LM
--distribute-saved-activations, metaseq --distribute-checkpointed-activations): memory divided, a gather priced."""

import pytest

from xpuplan import api
from xpuplan.catalog import load_chip, load_framework, load_model
from xpuplan.errors import BadInput
from xpuplan.plan import resolve_plan
from xpuplan.specs import TrainJob


def _opt(distribute: bool):
    """OPT-175B as metaseq ran it on 992 A100 80GB (Zhang et al. 2022 §2.4; metaseq/launcher/opt_baselines.py):
    tp 8, FSDP over 124 ranks without resharding after the forward, 8 sequences of 2,048 tokens a rank, full
    recompute, fp16."""
    model = load_model("opt-175b")
    chip = load_chip("a100-sxm-80gb")
    job = TrainJob(seq_len=2048, global_batch=992, framework=load_framework("fairseq"),
                   distribute_saved_activations=distribute, grad_reduce="fp16")
    plan = resolve_plan(model, job, 992, tp=8, dp=124, micro_batch=8, zero=2, recompute="full", precision="fp16")
    return api.estimate(model, chip, job, 992, plan)


@pytest.fixture(scope="module")
def opt_pair():
    return _opt(False), _opt(True)


def test_saved_inputs_shrink_by_the_tensor_parallel_degree(opt_pair):
    """Without sequence parallelism every rank keeps each layer's whole input (2 B x h a token); split, 1/tp of it:
    96 layers x 16,384 tokens x 12,288 x 2 B x 7/8 less."""
    whole, split = opt_pair
    saved = 96 * 8 * 2048 * 12288 * 2 * (1 - 1 / 8)
    assert whole.memory["activations_bytes"] - split.memory["activations_bytes"] == pytest.approx(saved, rel=1e-6)
    assert not whole.fits and split.fits  # the published plan ran on 80 GB A100s


def test_the_gather_before_each_recompute_is_paid(opt_pair):
    whole, split = opt_pair
    assert split.breakdown["tp_comm_s"] > whole.breakdown["tp_comm_s"]
    assert split.step_time_s > whole.step_time_s


def test_refused_where_it_splits_nothing():
    model, chip = load_model("llama3-8b"), load_chip("h100-sxm")
    with pytest.raises(BadInput, match="sequence parallelism already does"):
        TrainJob(seq_len=4096, global_batch=64, framework=load_framework("megatron"), distribute_saved_activations=True)
    with pytest.raises(BadInput, match="give --recompute full"):
        api.train(model=model, chip=chip, devices=8, tp=2, recompute="selective", framework="fairseq",
                  distribute_saved_activations=True)
