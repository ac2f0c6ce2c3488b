"""Calibrate the serving-engine profiles on the MAIN published serving runs (nothing per run).

trt-llm: kernel_scale, moe_scale, attention_efficiency; vllm: kernel_scale, attention_efficiency. Coordinate search minimising the
mean |log(predicted / reported)|; holdout runs are never read. Prints the values for
src/xpuplan/catalog/serving/*.yaml and the before/after errors.

    .venv/bin/python benchmarks/calibrate_serving.py
"""

from __future__ import annotations

import numpy as np

import dataclasses

from xpuplan import validate
from xpuplan.validate import serve as serving_validation

GRID = {"kernel_scale": np.round(np.arange(0.40, 1.01, 0.05), 2), "moe_scale": np.round(np.arange(0.2, 1.01, 0.05), 2),
        # FlashAttention-3 in FP8 reaches ~1.2 PFLOP/s of the H100's 1.98 (Shah et al. 2024): 0.6 is the ceiling searched
        "attention_efficiency": np.round(np.arange(0.2, 0.61, 0.05), 2)}
KNOBS = [("trt-llm", "kernel_scale"), ("trt-llm", "moe_scale"), ("trt-llm", "attention_efficiency"),
         ("vllm", "kernel_scale"), ("vllm", "attention_efficiency")]


def main() -> None:
    real = serving_validation.load_engine
    profiles = {name: dataclasses.asdict(real(name)) for name in ("trt-llm", "vllm")}
    serving_validation.load_engine = lambda name: dataclasses.replace(real(name), **{
        k: profiles[name][k] for k in ("kernel_scale", "moe_scale", "attention_efficiency")}) if name in profiles else real(name)

    def loss():
        checks = validate.run_inference_validation(role="main")
        err = np.array([c.error for c in checks])
        a = np.abs(err)
        return float(np.mean(np.abs(np.log1p(err)))), float(np.median(a)), float(np.percentile(a, 90))

    print("before: mean|log| %.3f  median %.3f  p90 %.3f" % loss())
    for sweep in range(2):
        for name, knob in KNOBS:
            best = min(GRID[knob], key=lambda v: (profiles[name].__setitem__(knob, float(v)), loss()[0])[1])
            profiles[name][knob] = float(best)
        print(f"sweep {sweep}: mean|log| %.3f  median %.3f  p90 %.3f" % loss(),
              {n: {k: profiles[n][k] for k in ("kernel_scale", "moe_scale", "attention_efficiency")} for n in profiles})


if __name__ == "__main__":
    main()
