"""Jobs over two chip kinds."""

import pytest

from xpuplan.errors import BadInput
from xpuplan.api import hetero as hetero_plan


@pytest.fixture(scope="module")
def mixed():
    return hetero_plan(pools=["h800:64", "ascend-910b:128"], model="llama3-70b", seq_len=4096, global_batch=256,
                       tokens="1T")


def test_both_strategies_and_each_pool_alone_are_reported(mixed):
    strategies = {p.strategy for p in mixed.plans}
    assert {"pipeline split", "data-parallel split"} <= strategies
    assert all(r is not None for r in mixed.alone)
    assert [p.step_time_s for p in mixed.plans] == sorted(p.step_time_s for p in mixed.plans)


def test_pipeline_split_uses_every_layer_and_fits(mixed):
    for p in mixed.plans:
        if p.strategy != "pipeline split":
            continue
        pools = p.detail["pools"]
        assert sum(q["layers"] for q in pools) == 80
        for q, pool in zip(pools, [pp for name in [q["chip"] for q in pools] for pp in mixed.pools if pp.chip.name == name]):
            assert q["memory_per_device_bytes"] <= pool.chip.hbm_bytes
            assert q["tp"] * q["pp"] * p.detail["dp"] == pool.devices


def test_mixing_adds_throughput_over_the_faster_pool(mixed):
    best_alone = max(r.tokens_per_s for r in mixed.alone)
    assert mixed.plans[0].tokens_per_s > best_alone


def test_data_parallel_split_shares_the_batch(mixed):
    split = next(p for p in mixed.plans if p.strategy == "data-parallel split")
    assert sum(q["sequences"] for q in split.detail["pools"]) == 256


@pytest.mark.parametrize("pools,match", [(["h800:64"], "exactly two"), (["h800", "ascend-910b:8"], "CHIP:COUNT"),
                                         (["h800:0", "ascend-910b:8"], "CHIP:COUNT")])
def test_bad_pools(pools, match):
    with pytest.raises(BadInput, match=match):
        hetero_plan(pools=pools, model="llama3-8b")


def test_nothing_fits_names_the_memory_needed():
    from xpuplan.errors import DoesNotFit

    with pytest.raises(DoesNotFit, match=r"need [\d.]+ GiB per device when spread over all 16"):
        hetero_plan(pools=["h800:8", "ascend-910b:8"], model="llama3-405b", seq_len=8192, global_batch=64)
