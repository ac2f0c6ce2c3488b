"""xpuplan: plan training of large models on mixed accelerator fleets.

The public API is small and stable (locked by tests/test_public_api.py)::

    import xpuplan
    r = xpuplan.train(model="llama3-70b", chip="h100-sxm", devices=1024, tp=8, pp=4,
                      seq_len=8192, global_batch=512, tokens="15T")
    r.step_time_s, r.mfu, r.memory_per_device_bytes, r.to_dict()
    f = xpuplan.fleet(fleet="examples/fleet/seeds-fleet.yaml", workloads="examples/fleet/seeds-workloads.yaml")
    f.usd_total, f.saving_fraction, f.to_dict()["allocation"]

The names load on first use (PEP 562), so ``import xpuplan`` and ``xpuplan --help`` pull in neither numpy nor
scipy; ``xpuplan.rl``, ``xpuplan.fleet`` and ``xpuplan.sweep`` stay the API functions even after their modules are
imported. ``xpuplan.sweep("SPEC.yaml")`` runs a grid of points and returns a pandas DataFrame (:mod:`xpuplan.sweep`)."""

import sys
import types
from importlib import import_module

_HOMES = {
    "BadInput": "errors", "DoesNotFit": "errors", "UnknownName": "errors", "XpuplanError": "errors",
    "Chip": "specs", "Efficiency": "specs", "Framework": "specs", "MoE": "specs", "Model": "specs", "System": "specs",
    "TrainJob": "specs", "ParallelPlan": "plan", "resolve_plan": "plan", "TrainResult": "results",
    "estimate": "training", "make_job": "training", "fleet": "api", "rl": "api", "train": "api",
    "load_chip": "catalog", "load_framework": "catalog", "load_model": "catalog", "load_system": "catalog",
    "run_validation": "validate", "schema": "api", "sweep": "sweep",
}
"""public name -> the module that defines it"""
_FUNCTIONS_NAMED_LIKE_MODULES = ("fleet", "rl", "sweep")

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
    "schema",
    "sweep",
    "train",
]


def __getattr__(name: str):
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            value = version("xpuplan")
        except PackageNotFoundError:  # a source tree that was never installed
            value = "0+unknown"
    elif name in _HOMES:
        value = getattr(import_module(f".{_HOMES[name]}", __name__), name)
    else:
        raise AttributeError(f"module 'xpuplan' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__) | {"__version__"})


class _Package(types.ModuleType):
    """Importing the submodule ``xpuplan.rl`` (or ``xpuplan.fleet``, ``xpuplan.sweep``) would bind it over the API
    function of the same name; the module stays reachable in ``sys.modules``, the attribute stays the function."""

    def __setattr__(self, name: str, value) -> None:
        if name in _FUNCTIONS_NAMED_LIKE_MODULES and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
