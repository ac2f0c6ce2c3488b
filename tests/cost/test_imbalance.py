"""The hottest expert-parallel rank: statistics that must hold, and the figures it rests on."""

import numpy as np
import pytest
from scipy.stats import norm

from xpuplan import api
from xpuplan.catalog import load_model, model_from_dict
from xpuplan.errors import BadInput
from xpuplan.cost.imbalance import MAXVIO_GLOBAL, expected_max_normal, hottest_rank_factor


@pytest.mark.parametrize("count", [4, 8, 16, 64, 256])
def test_expected_maximum_of_normals_matches_the_integral(count):
    x = np.linspace(-10, 10, 100001)
    exact = np.trapezoid(x * count * norm.pdf(x) * norm.cdf(x) ** (count - 1), x)
    assert float(expected_max_normal(count)) == pytest.approx(exact, rel=0.02)


def test_one_rank_holding_every_expert_waits_for_nobody():
    assert float(hottest_rank_factor("aux_loss", 128, 1, 1000)) == 1.0


def test_fewer_tokens_and_a_balance_loss_leave_the_hottest_rank_further_ahead():
    few, many = hottest_rank_factor("loss_free", 256, 64, np.array([1e4, 1e6]))
    assert few > many > 1.0
    assert float(hottest_rank_factor("aux_loss", 256, 64, 1e6)) > float(many)


def test_long_run_skew_alone_reproduces_the_measured_maximum_over_64_single_expert_ranks():
    """With one expert per rank and endless tokens the hottest rank is the hottest expert: MaxVio_global itself."""
    for balancing, maxvio in MAXVIO_GLOBAL.items():
        assert float(hottest_rank_factor(balancing, 64, 64, 1e15)) == pytest.approx(1.0 + maxvio, rel=1e-6)


def test_the_imbalance_is_a_named_part_of_a_moe_step_and_absent_from_a_dense_one():
    moe = api.train(model="qwen3-30b-a3b", chip="h100-sxm", devices=8, tp=1, pp=1, ep=8, seq_len=4096,
                    global_batch=64, micro_batch=1, precision="bf16")
    dense = api.train(model="llama3-8b", chip="h100-sxm", devices=8, tp=1, pp=1, seq_len=4096, global_batch=64,
                      micro_batch=1, precision="bf16")
    assert moe.breakdown["moe_imbalance_s"] > 0.0
    assert dense.breakdown["moe_imbalance_s"] == 0.0
    no_ep = api.train(model="qwen3-30b-a3b", chip="h100-sxm", devices=8, tp=1, pp=1, ep=1, seq_len=4096,
                      global_batch=64, micro_batch=1, precision="bf16", zero=3)
    assert no_ep.breakdown["moe_imbalance_s"] == 0.0


def test_deepseek_v3_trains_with_its_loss_free_router_and_a_wrong_method_is_one_clear_line():
    assert load_model("deepseek-v3").moe.balancing == "loss_free"
    assert load_model("qwen3-30b-a3b").moe.balancing == "aux_loss"
    data = {"name": "m", "layers": 2, "hidden": 64, "heads": 4, "ffn_hidden": 128, "vocab": 100,
            "moe": {"experts": 8, "top_k": 2, "expert_ffn_hidden": 32, "balancing": "sinkhorn"}}
    with pytest.raises(BadInput, match="balancing must be one of aux_loss, loss_free"):
        model_from_dict(data)


def test_a_benchmark_routers_forced_balance_leaves_only_noise_and_padding_to_capacity_none():
    aux, forced, capacity = (float(hottest_rank_factor(b, 128, 8, 8 * 4096 * 8)) for b in ("aux_loss", "forced", "capacity"))
    assert capacity == 1.0 < forced < 1.01 < aux
    kw = dict(model="qwen3-30b-a3b", chip="h100-sxm", devices=8, tp=1, pp=1, ep=8, seq_len=4096, global_batch=64,
              micro_batch=1, precision="bf16")
    runs = {b: api.train(moe_balancing=b, **kw) for b in ("aux_loss", "forced", "capacity")}
    assert runs["capacity"].breakdown["moe_imbalance_s"] == 0.0
    assert runs["aux_loss"].step_time_s > runs["forced"].step_time_s > runs["capacity"].step_time_s
    with pytest.raises(BadInput, match="moe_balancing must be one of"):
        api.train(moe_balancing="sinkhorn", **kw)
