"""What ``xpuplan probe`` prints about the profile it measured."""

from __future__ import annotations


def probe_lines(profile: dict, out: str) -> list[str]:
    """The measured peaks, bandwidth, fitted efficiencies and the train-step check, one line each."""
    eff, step = profile["efficiency"], profile["measured"]["train_step"]
    peaks = ", ".join(f"{k} {v}" for k, v in profile["peak_flops"].items())
    return [
        f"{profile['name']}: {profile['measured']['device_name']}",
        f"  peak (measured GEMM)  {peaks}",
        f"  memory bandwidth      {profile['hbm']['bandwidth']}",
        f"  GEMM fit              gemm_max {eff['gemm_max']:.3f}, gemm_half_flops {eff['gemm_half_flops']:.3g} FLOP",
        f"  attention fwd / bwd   {eff['attention_fwd']:.3f} / {eff['attention_bwd']:.3f} of the peak",
        f"  train step            {step['params'] / 1e6:.1f}M params, {step['tokens_per_s']:.4g} tokens/s, "
        f"MFU {step['mfu']:.1%}; xpuplan predicts {step['predicted_step_s']:.4g} s vs "
        f"{step['measured_step_s']:.4g} s measured ({step['error']:+.1%})",
        f"wrote {out}; use it with: xpuplan train --chip {out} ...",
    ]
