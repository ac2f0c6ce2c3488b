"""Validation: published runs in, predictions out, errors reported — with fitted (main) and held-out runs apart.

* :mod:`.train` — published training runs (``data/validation/*.yaml``)
* :mod:`.serve` — published serving runs (``data/validation/inference``)
* :mod:`.ranking` — where a published plan ranks among the planner's plans for the same job
"""

from .serve import (INFERENCE_DIR, INFERENCE_METRICS, INFERENCE_TARGET_MEDIAN, ServeCheck, inference_summary,
                    run_inference_validation, serving_engine)
from .train import (DATA_DIR, METRICS, TARGET_MEDIAN, TARGET_P90, RunCheck, RunSetup, ValidationReport, check_run,
                    load_runs, reported_tokens_per_s, run_framework, run_job, run_setup, run_validation)

__all__ = ["DATA_DIR", "INFERENCE_DIR", "INFERENCE_METRICS", "INFERENCE_TARGET_MEDIAN", "METRICS", "TARGET_MEDIAN",
           "TARGET_P90", "RunCheck", "RunSetup", "ServeCheck", "ValidationReport", "check_run", "inference_summary",
           "load_runs", "reported_tokens_per_s", "run_framework", "run_inference_validation", "run_job", "run_setup",
           "run_validation", "serving_engine"]
