"""Serving: continuous batching over one replica's costs — TTFT, TPOT, throughput, $/1M tokens, SLO search.

* :mod:`.load` — engine iterations shared by requests: the closed form and the event simulation
* :mod:`.estimate` — one configuration (memory, load), and disaggregated prefill/decode pools
* :mod:`.search` — per chip, the cheapest configuration meeting an SLO, and the devices a demand needs
* :mod:`.inputs` — checking the user's serving options (the api's arguments)
"""

from .estimate import closed_loop, disaggregated, open_loop, rounds, serve
from .load import simulate, steady_state
from .search import MAX_SEARCH_DEVICES, search_slo

__all__ = ["MAX_SEARCH_DEVICES", "closed_loop", "disaggregated", "open_loop", "rounds", "search_slo", "serve",
           "simulate", "steady_state"]
