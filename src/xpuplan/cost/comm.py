"""Collective communication time on a two-tier network.

A group of ``n`` ranks laid out with ``stride`` devices between neighbours has
``k = clip(domain // stride, 1, n)`` members in each scale-up domain. Inside
one domain (k >= n) a collective runs at the scale-up bandwidth; across
domains a hierarchical collective moves each domain's share over its k NICs,
so the cross-domain bus bandwidth is ``min(B_up, k * B_out)``.

Time = latency * steps + algorithm_bytes / bus_bandwidth, where for a message
of M bytes (the whole gathered/reduced tensor) ring algorithms move
``2(n-1)/n * M`` (all-reduce), ``(n-1)/n * M`` (all-gather, reduce-scatter,
all-to-all) per rank. Bandwidths are per direction and scaled by the chip's
achievable fraction (``Efficiency.scale_up``/``scale_out``).

A switched domain (NVSwitch) gives any group the full scale-up bandwidth. A
full-mesh domain of D devices (``Chip.scale_up_topology == "full_mesh"``) has
one direct link from each device to each of the other D - 1, and a group with
k members in the domain can drive only k - 1 of them: its bandwidth is
``(k - 1) / (D - 1)`` of the device's, and a point-to-point send uses one link.
"""

from __future__ import annotations

import numpy as np

from ..errors import BadInput
from ..specs import Chip, MoE

ALGORITHM_FACTOR = {"all_reduce": 2.0, "all_gather": 1.0, "reduce_scatter": 1.0, "all_to_all": 1.0}
SERVED_CROSS_DOMAIN_CALL_S = 1.13e-4
"""seconds each tensor-parallel all-reduce of a served iteration pays beyond the two-tier model below when the group
spans scale-up domains (the network instead of the engine's in-node all-reduce, with its proxy and host
synchronisation). FITTED: the median of (measured - predicted TPOT) / 122 all-reduces over the seven TPOT rows of the
one published run of this kind, DeepSeek-R1 at tp 16 on 2 x 8 H100 under SGLang (112-118 us; 118 us until session
24 refitted it, once every expert sat on every tensor-parallel rank and SGLang's MoE ran as its fused kernel;
data/validation/inference/tt-inference-server-dsr1-h100x16.yaml, role main since session 14). Its check is another
engine and model: NeMo RL's Qwen3-235B rollouts at tp 16 over two H100 nodes under vLLM (validation-posttrain.md)."""


def spans_domains(chip: Chip, tp: int) -> bool:
    """Whether a tensor-parallel group of ``tp`` consecutive devices spans scale-up domains (never for a chip whose
    domain is unknown: 1 in the catalog)."""
    return 1 < chip.scale_up_domain < tp


def members_per_domain(stride, size, domain: int) -> np.ndarray:
    """Ranks of a group that share one scale-up domain."""
    stride = np.maximum(stride, 1)
    return np.minimum(np.maximum(np.where(stride >= domain, 1, domain // stride), 1), np.maximum(size, 1))


def _bandwidths(chip: Chip) -> tuple[float, float]:
    out = chip.scale_out_bytes_per_s
    up = chip.scale_up_bytes_per_s
    if out is None and up is None:
        raise BadInput(f"chip {chip.name} has no published link bandwidth; give scale_up/scale_out in a chip file", "chip")
    eff = chip.efficiency
    up_bw = (up if up is not None else out) * (eff.scale_up if up is not None else eff.scale_out)
    out_bw = (out if out is not None else up) * eff.scale_out
    return up_bw, out_bw


def mesh_share(k, chip: Chip):
    """Share of a device's scale-up bandwidth that a group with ``k`` members in one domain can use:
    1 on a switched domain, (k - 1) / (D - 1) of the direct links on a full mesh."""
    k = np.asarray(k, dtype=float)
    if chip.scale_up_topology != "full_mesh" or chip.scale_up_domain <= 1:
        return np.ones_like(k)
    return np.where(k >= 2, (k - 1.0) / (chip.scale_up_domain - 1.0), 1.0)


def collective_parts(kind: str, message_bytes, size, stride, chip: Chip) -> tuple[np.ndarray, np.ndarray]:
    """(transfer seconds, latency seconds) of one collective of ``kind`` over ``size`` ranks spaced ``stride`` apart;
    the latency part alone prices each further bucket of the same collective."""
    n = np.maximum(np.asarray(size, dtype=float), 1.0)
    if np.all(n <= 1):
        zero = np.zeros(np.broadcast(n, np.asarray(message_bytes, dtype=float)).shape)  # no group, no traffic
        return zero, zero
    k = members_per_domain(stride, n, chip.scale_up_domain).astype(float)
    up_bw, out_bw = _bandwidths(chip)
    if chip.scale_up_topology == "full_mesh":
        up_bw = up_bw * mesh_share(k, chip)
    inside = k >= n
    eff = chip.efficiency
    if kind == "all_to_all":
        local = message_bytes * (k - 1) / n / up_bw
        remote = message_bytes * (n - k) / n / out_bw
        time = np.where(inside, message_bytes * (n - 1) / n / up_bw, local + remote)
        # peers are reached concurrently (NCCL/DeepEP post all sends at once): latency grows like log n
        steps = np.ceil(np.log2(n))
    else:
        bus = np.where(inside, up_bw, np.minimum(up_bw, k * out_bw))
        time = ALGORITHM_FACTOR[kind] * message_bytes * (n - 1) / n / bus
        # all-reduce: NCCL picks a tree (log steps) at scale; all-gather/reduce-scatter run as rings (n-1 steps)
        steps = 2 * np.ceil(np.log2(n)) if kind == "all_reduce" else n - 1
    # of a ring's hops, n/k cross domains (scale-out latency) and the rest stay inside (scale-up latency)
    cross_share = np.where(inside, 0.0, 1.0 / k)
    hop_latency = eff.scale_up_latency_s * (1.0 - cross_share) + eff.scale_out_latency_s * cross_share
    alone = n > 1
    return np.where(alone, time, 0.0), np.where(alone, hop_latency * steps, 0.0)


def collective_s(kind: str, message_bytes, size, stride, chip: Chip) -> np.ndarray:
    """Seconds for one collective of ``kind`` over ``size`` ranks spaced ``stride`` apart."""
    transfer, latency = collective_parts(kind, message_bytes, size, stride, chip)
    return transfer + latency


def _none_hit_share(total, in_domain, picks):
    """Chance that ``picks`` draws without replacement from ``total`` items miss all ``in_domain`` of them:
    C(total - in_domain, picks) / C(total, picks)."""
    total, in_domain, picks = (np.asarray(x, dtype=float) for x in (total, in_domain, picks))
    rest = total - in_domain
    from scipy.special import gammaln  # here, not at import: a dense plan never needs scipy (a faster start)

    log_share = (gammaln(rest + 1) - gammaln(rest - picks + 1)) - (gammaln(total + 1) - gammaln(total - picks + 1))
    return np.where(rest >= picks, np.exp(log_share), 0.0)


def remote_domains_per_token(moe: MoE, size, members) -> np.ndarray:
    """Expected number of other scale-up domains one token's routed experts sit in, for experts spread evenly over an
    expert-parallel group of ``size`` ranks with ``members`` ranks per domain and balanced routing (as in the
    benchmarks that force-balance tokens). With group-limited routing the token's experts lie in ``route_topk_groups``
    of the ``route_groups`` groups, which bounds the domains it reaches (DeepSeek-V3: at most 4 nodes)."""
    domains = np.maximum(np.asarray(size, dtype=float) / np.maximum(members, 1), 1.0)
    reached = domains * (1.0 - _none_hit_share(moe.experts, moe.experts / domains, moe.top_k))
    if moe.route_groups is not None:  # groups placed contiguously: a domain holds route_groups / domains of them
        by_groups = domains * (1.0 - _none_hit_share(moe.route_groups, moe.route_groups / domains, moe.route_topk_groups))
        reached = np.where(domains <= moe.route_groups, np.minimum(reached, by_groups), reached)
    return reached * (domains - 1.0) / domains


def expert_dispatch_s(copy_bytes, moe: MoE, size, stride, chip: Chip, dedup: bool) -> np.ndarray:
    """Seconds for one expert dispatch (or combine) over an expert-parallel group of ``size`` ranks ``stride`` apart,
    where each token is ``copy_bytes`` and goes to ``moe.top_k`` experts.

    Without ``dedup`` it is an all-to-all of one copy per routed expert. With ``dedup`` a token crosses to each remote
    domain once (``remote_domains_per_token``) and is forwarded to its experts over the scale-up links there, as
    DeepEP does; every copy still moves once over scale-up, concurrently with the scale-out transfers."""
    copies = copy_bytes * moe.top_k
    if not dedup:
        return collective_s("all_to_all", copies, size, stride, chip)
    n = np.maximum(np.asarray(size, dtype=float), 1.0)
    k = members_per_domain(stride, n, chip.scale_up_domain).astype(float)
    up_bw, out_bw = _bandwidths(chip)
    up_bw = up_bw * mesh_share(k, chip)
    # the forwarding inside a domain runs while later chunks are still arriving: the slower link sets the time
    crossing = np.maximum(copies * (n - 1) / n / up_bw, copy_bytes * remote_domains_per_token(moe, n, k) / out_bw)
    eff = chip.efficiency
    latency = np.ceil(np.log2(n)) * np.where(k >= n, eff.scale_up_latency_s, eff.scale_out_latency_s)
    return np.where(k >= n, collective_s("all_to_all", copies, size, stride, chip), np.where(n > 1, crossing + latency, 0.0))


def latency_s(kind: str, size, stride, chip: Chip) -> np.ndarray:
    """The latency part alone of one collective (for counting many small ones)."""
    return collective_s(kind, 0.0, size, stride, chip)


def p2p_s(message_bytes, crosses_domain, chip: Chip) -> np.ndarray:
    """Seconds to send ``message_bytes`` to one neighbour (pipeline stages)."""
    if chip.scale_up_bytes_per_s is None and chip.scale_out_bytes_per_s is None:
        return np.where(np.asarray(message_bytes) > 0, np.inf, 0.0)  # pipelining needs a link; the plan is unusable
    up_bw, out_bw = _bandwidths(chip)
    up_bw = up_bw * mesh_share(2, chip)  # one neighbour: one link of a mesh
    eff = chip.efficiency
    return np.where(crosses_domain, message_bytes / out_bw + eff.scale_out_latency_s,
                    message_bytes / up_bw + eff.scale_up_latency_s)
