import pytest

from xpuplan.catalog import load_model
from xpuplan.errors import BadInput
from xpuplan.plan import resolve_plan
from xpuplan.specs import TrainJob

JOB = TrainJob(seq_len=4096, global_batch=512)


def test_dp_is_filled_in():
    plan = resolve_plan(load_model("llama3-70b"), JOB, 256, tp=8, pp=4)
    assert (plan.tp, plan.pp, plan.dp, plan.cp, plan.ep, plan.vpp) == (8, 4, 8, 1, 1, 1)
    assert plan.devices == 256


@pytest.mark.parametrize("given,match", [
    ({"tp": 8, "pp": 4, "dp": 4}, r"tp\*pp\*dp\*cp = 8\*4\*4\*1 = 128, but --devices is 256"),
    ({"tp": 3}, r"--devices 256 is not divisible by tp\*pp\*cp = 3"),
    ({"tp": 128, "pp": 1}, r"heads=64 is not divisible by tp=128"),
    ({"tp": 8, "pp": 4, "micro_batch": 3}, r"global batch 512 is not divisible by dp\*micro_batch = 8\*3"),
    ({"tp": 8, "pp": 1, "ep": 2}, r"ep=2 needs a MoE model"),
    ({"tp": 8, "pp": 2, "vpp": 64}, r"vpp=64 needs pp > 1 and layers=80 >= pp\*vpp=128"),
    ({"tp": 0}, r"--tp must be a whole number >= 1, got 0"),
    ({"zero": 5}, r"--zero must be 0, 1, 2 or 3"),
    ({"recompute": "some"}, r"--recompute must be one of none, selective, full"),
])
def test_invalid_plans_name_the_numbers(given, match):
    with pytest.raises(BadInput, match=match):
        resolve_plan(load_model("llama3-70b"), JOB, 256, **given)


def test_expert_parallel_is_carved_from_dp():
    model = load_model("mixtral-8x7b")
    plan = resolve_plan(model, JOB, 64, tp=2, ep=8)
    assert plan.dp == 32 and plan.ep == 8 and plan.expert_tp == 2
    with pytest.raises(BadInput, match=r"ep=16 does not divide the 8 experts"):
        resolve_plan(model, JOB, 64, tp=2, ep=16)


def test_folding_tp_into_the_expert_groups_allows_a_larger_ep():
    """Megatron-Core's MoE parallel folding: with experts unsplit (etp=1), ep is carved from tp*dp*cp, as NVIDIA's
    Qwen3-235B recipe on 256 H100 does (tp 2, pp 8, ep 32)."""
    model, job = load_model("qwen3-235b-a22b"), TrainJob(seq_len=4096, global_batch=8192)
    with pytest.raises(BadInput, match=r"ep\*etp = 32\*2 does not divide tp\*dp\*cp = 32; use a smaller ep, or --etp 1"):
        resolve_plan(model, job, 256, tp=2, pp=8, ep=32)
    plan = resolve_plan(model, job, 256, tp=2, pp=8, ep=32, etp=1)
    assert (plan.dp, plan.ep, plan.expert_tp) == (16, 32, 1)
    assert resolve_plan(model, job, 256, tp=2, pp=8, ep=8, etp=2) == resolve_plan(model, job, 256, tp=2, pp=8, ep=8)
    with pytest.raises(BadInput, match=r"etp=3 does not divide tp=2"):
        resolve_plan(model, job, 256, tp=2, pp=8, ep=8, etp=3)
    with pytest.raises(BadInput, match=r"etp=1 needs a MoE model"):
        resolve_plan(load_model("llama3-70b"), JOB, 256, tp=8, etp=1)
