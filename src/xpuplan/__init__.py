"""xpuplan: plan training of large models on mixed accelerator fleets.

The public API is small and stable (locked by tests/test_public_api.py)::

    import xpuplan
    r = xpuplan.train(model="llama3-70b", chip="h100-sxm", devices=1024, tp=8, pp=4,
                      seq_len=8192, global_batch=512, tokens="15T")
    r.step_time_s, r.mfu, r.memory_per_device_bytes, r.to_dict()
    f = xpuplan.fleet(fleet="examples/fleet/seeds-fleet.yaml", workloads="examples/fleet/seeds-workloads.yaml")
    f.usd_total, f.saving_fraction, f.to_dict()["allocation"]
"""

from . import rl as _rl_module  # noqa: F401  (loaded first, so the name xpuplan.rl stays the function below)
from .api import fleet, rl, train
from .results import TrainResult
from .training import estimate, make_job
from .catalog import load_chip, load_framework, load_model, load_system
from .errors import BadInput, DoesNotFit, UnknownName, XpuplanError
from .plan import ParallelPlan, resolve_plan
from .specs import Chip, Efficiency, Framework, Model, MoE, System, TrainJob
from .validate import run_validation

__version__ = "0.1.0"

__all__ = [
    "BadInput",
    "Chip",
    "DoesNotFit",
    "Efficiency",
    "Framework",
    "MoE",
    "Model",
    "ParallelPlan",
    "System",
    "TrainJob",
    "TrainResult",
    "UnknownName",
    "XpuplanError",
    "estimate",
    "fleet",
    "load_chip",
    "load_framework",
    "load_model",
    "load_system",
    "make_job",
    "resolve_plan",
    "rl",
    "run_validation",
    "train",
]
