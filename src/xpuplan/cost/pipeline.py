"""Pipeline schedules: the bubble and the point-to-point traffic of 1F1B and interleaved 1F1B.

With pp stages, m micro-batches and v virtual stages per device, a 1F1B
schedule idles each device for (pp - 1) / v micro-batch times per step
(Narayanan et al. 2021, §2.2): bubble fraction (pp - 1) / (v * m).
Each micro-batch crosses a stage boundary v times forward and v times
backward; the transfers of the warm-up and cool-down are exposed, those of the
steady state sit between compute on the critical path.
"""

from __future__ import annotations

import numpy as np


def bubble_s(per_microbatch_s, pp, vpp) -> np.ndarray:
    """Idle seconds per step of the slowest stage: (pp - 1) / vpp micro-batch times."""
    return (pp - 1) / vpp * per_microbatch_s


def p2p_transfers(pp, vpp, microbatches) -> np.ndarray:
    """Point-to-point transfers on the critical path per step: 2 (fwd + bwd) per chunk-slot."""
    return np.where(pp > 1, 2.0 * (vpp * microbatches + pp - 1), 0.0)
