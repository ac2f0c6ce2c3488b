import xpuplan

EXPECTED = ["BadInput", "Chip", "DoesNotFit", "Efficiency", "Framework", "MoE", "Model", "ParallelPlan", "System",
            "TrainJob", "TrainResult", "UnknownName", "XpuplanError", "estimate", "fleet", "load_chip", "load_framework",
            "load_model", "load_system", "make_job", "resolve_plan", "rl", "run_validation", "schema", "sweep", "train"]


def test_public_api_is_sorted_and_locked():
    assert xpuplan.__all__ == sorted(xpuplan.__all__)
    assert xpuplan.__all__ == EXPECTED
    for name in xpuplan.__all__:
        assert hasattr(xpuplan, name)
