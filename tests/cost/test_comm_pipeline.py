"""Collectives on the two-tier network and the pipeline schedule formulas."""

import dataclasses

import numpy as np
import pytest

from xpuplan.catalog import load_chip
from xpuplan.catalog import chip_from_dict
from xpuplan.cost.comm import collective_s, expert_dispatch_s, members_per_domain, p2p_s, remote_domains_per_token
from xpuplan.errors import BadInput
from xpuplan.cost.pipeline import bubble_s, p2p_transfers
from xpuplan.specs import MoE

H100 = load_chip("h100-sxm")  # 8-GPU NVLink domain, 400 Gb/s NIC per GPU
ASCEND = load_chip("ascend-910b")  # 8-NPU HCCS full mesh


def test_members_per_domain():
    assert members_per_domain(1, 8, 8) == 8          # tp group inside one node
    assert members_per_domain(8, 16, 8) == 1         # dp group of tp=8 ranks: one member per node
    assert members_per_domain(2, 64, 8) == 4         # stride 2: four members share a node


def test_all_reduce_inside_a_node_runs_at_nvlink_speed():
    nbytes = 1e9
    t = float(collective_s("all_reduce", nbytes, 8, 1, H100))
    bus = H100.scale_up_bytes_per_s * H100.efficiency.scale_up
    assert t == pytest.approx(2 * 7 / 8 * nbytes / bus, rel=0.01)


def test_across_nodes_each_domain_uses_all_its_nics():
    nbytes = 1e9
    one_per_node = float(collective_s("all_gather", nbytes, 16, 8, H100))    # k = 1: one NIC's worth
    eight_per_node = float(collective_s("all_gather", nbytes, 128, 1, H100))  # k = 8: eight NICs
    assert one_per_node > 4 * eight_per_node


def test_no_group_no_time_and_no_link_needed():
    assert float(collective_s("all_reduce", 1e9, 1, 1, H100)) == 0.0


def test_all_to_all_crossing_nodes_is_slower_than_inside():
    inside = float(collective_s("all_to_all", 1e8, 8, 1, H100))
    across = float(collective_s("all_to_all", 1e8, 64, 1, H100))
    assert across > inside


@pytest.mark.parametrize("pp,vpp,m", [(4, 1, 16), (8, 2, 32), (16, 4, 64)])
def test_bubble_fraction_is_narayanan(pp, vpp, m):
    per_mb = 0.1
    assert bubble_s(per_mb, pp, vpp) / (m * per_mb) == pytest.approx((pp - 1) / (vpp * m))
    assert p2p_transfers(np.array(pp), vpp, m) == 2 * (vpp * m + pp - 1)


def test_full_mesh_group_drives_one_link_per_peer():
    """On a full mesh a group of k members of one domain uses k - 1 of the D - 1 direct links:
    the per-byte cost of TP2 is 7/1 times that of TP8's links on an 8-NPU HCCS node."""
    assert ASCEND.scale_up_topology == "full_mesh"
    nbytes = 1e9
    link = ASCEND.scale_up_bytes_per_s * ASCEND.efficiency.scale_up / 7
    for k in (2, 4, 8):
        t = float(collective_s("all_gather", nbytes, k, 1, ASCEND))
        latency = float(collective_s("all_gather", 0.0, k, 1, ASCEND))
        assert t - latency == pytest.approx((k - 1) / k * nbytes / ((k - 1) * link), rel=1e-9)
    # one pipeline neighbour inside the node: one link
    t = float(p2p_s(nbytes, False, ASCEND)) - ASCEND.efficiency.scale_up_latency_s
    assert t == pytest.approx(nbytes / link, rel=1e-9)


def test_switch_and_mesh_agree_for_a_whole_domain_and_across_domains():
    switched = dataclasses.replace(ASCEND, scale_up_topology="switch")
    for size, stride in ((8, 1), (64, 8), (64, 1)):
        assert float(collective_s("reduce_scatter", 1e9, size, stride, ASCEND)) == pytest.approx(
            float(collective_s("reduce_scatter", 1e9, size, stride, switched)))
    # a small group inside one node is slower on the mesh
    assert float(collective_s("all_reduce", 1e9, 2, 1, ASCEND)) > 3 * float(collective_s("all_reduce", 1e9, 2, 1, switched))
    # NVSwitch gives a pair the whole bandwidth
    assert H100.scale_up_topology == "switch"


def test_unknown_topology_is_refused_naming_the_field():
    data = {"name": "x", "peak_flops": {"bf16": "100TFLOPS"}, "hbm": {"capacity": "64GB"},
            "scale_up": {"bandwidth": "100GB/s", "domain": 8, "topology": "torus"}}
    with pytest.raises(BadInput, match="scale_up.topology must be one of switch, full_mesh"):
        chip_from_dict(data)


def _moe(**kw):
    return MoE(**{"experts": 256, "top_k": 8, "expert_ffn_hidden": 2048} | kw)


def test_remote_domains_per_token_matches_sampling_and_the_node_limit():
    # unrestricted top-8 of 256 experts over 8 nodes: sample the routing and count the other nodes reached
    rng = np.random.default_rng(0)
    picks = np.argsort(rng.random((20000, 256)), axis=1)[:, :8]
    nodes = picks // 32
    sampled = np.mean([len(set(row) - {0}) for row in nodes])
    assert float(remote_domains_per_token(_moe(), 64, 8)) == pytest.approx(sampled, rel=0.02)
    # DeepSeek-V3's node-limited routing: 4 of 8 groups, one group per node: 4 nodes, 3.5 of them remote on average
    assert float(remote_domains_per_token(_moe(route_groups=8, route_topk_groups=4), 64, 8)) == pytest.approx(3.5)
    assert float(remote_domains_per_token(_moe(), 8, 8)) == 0.0  # one node: nothing leaves it


def test_deduplicated_dispatch_only_helps_across_domains():
    chip = load_chip("h800")
    moe, token_bytes = _moe(route_groups=8, route_topk_groups=4), 4096 * 7168 * 2.0
    inside = [float(expert_dispatch_s(token_bytes, moe, 8, 1, chip, dedup)) for dedup in (False, True)]
    assert inside[0] == pytest.approx(inside[1])
    assert inside[0] == pytest.approx(float(collective_s("all_to_all", token_bytes * 8, 8, 1, chip)))
    plain, dedup = (float(expert_dispatch_s(token_bytes, moe, 64, 1, chip, d)) for d in (False, True))
    assert dedup < plain / 1.8  # 3.5 copies cross the network per token instead of 8 * 56/64 = 7


def test_route_groups_come_in_pairs_and_divide_the_experts():
    with pytest.raises(BadInput, match="route_groups and route_topk_groups together"):
        _moe(route_groups=8)
    with pytest.raises(BadInput, match="must divide experts"):
        _moe(route_groups=7, route_topk_groups=4)
