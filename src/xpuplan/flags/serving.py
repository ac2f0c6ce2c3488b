"""Rows of the options table for serving under load: speculative decoding and fleet sizing (``inference``).

Plain rows (name, type, help, bounds) so this module imports nothing; :mod:`xpuplan.flags` turns them into
``Option``s in the serving panel."""

SLO_PERCENTILES = ("mean", "p50", "p90", "p99")
"""what a serving SLO may bound: the closed-loop mean, or a percentile under Poisson arrivals (``inference --search``
and a fleet service's ``slo.percentile``)"""

SPECULATIVE = ("speculative", "accept_rate", "draft_tokens")
"""rows ``rl`` takes too: its rollouts' speculative decoding"""

SERVING_ROWS = (
    ("speculative", str, "speculative decoding: mtp (the model's MTP layers), eagle (a draft head) or draft "
     "(a small draft model)", {"choices": ("mtp", "eagle", "draft"), "example": "mtp"}),
    ("accept_rate", float, "speculative: chance each drafted token is accepted (default 0.8; DeepSeek-V3 MTP 0.85-0.9)",
     {"ge": 0.0, "lt": 1.0, "unit": "fraction", "example": 0.7}),
    ("draft_tokens", int, "speculative: tokens drafted per decode step (default 1)", {"ge": 1, "le": 16, "example": 2}),
    *((f"{pool}_{deg}", int, f"disaggregated: {what} of the {pool} pool (default: the largest tp a scale-up domain and the "
       f"heads allow; ep 1)" if deg == "tp" else f"disaggregated: {what} of the {pool} pool (MoE; default 1)",
       {"ge": 1, "le": 4096, "example": 8}) for pool in ("prefill", "decode")
      for deg, what in (("tp", "tensor parallelism"), ("ep", "expert parallelism"))),
    ("attention_dp", int, "MoE: attention data-parallel inside each engine instance of --tp devices (every pool's): "
     "attention on --tp / N devices, N times the batches and KV caches, experts over --ep (default --tp): SGLang's "
     "--attn-dp-size N, TensorRT-LLM's enable_attention_dp (N = --tp)", {"ge": 1, "le": 4096, "example": 8}),
    ("slo_percentile", str, "what the SLOs bound in --search: mean (closed loop) or p50/p90/p99 under Poisson arrivals",
     {"default": "mean", "choices": SLO_PERCENTILES, "example": "p99"}),
    ("demand", str, "with --search: requests/s to serve, e.g. 20000req/s; each chip's row gives the devices and "
     "USD/hour that serve it at the SLO", {"example": "100req/s"}),
)
