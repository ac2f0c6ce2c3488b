"""What a training engineer would want said about a plan: the framework features assumed, and the settings users
commonly get wrong, each with the fix.

Pure functions of specs and a priced step; :func:`xpuplan.training.estimate` adds their lines to a result's notes.
"""

from __future__ import annotations

from .cost.pipeline import APPROXIMATE, model_split
from .plan import ParallelPlan
from .specs import Framework, Model, TrainJob
from .specs.job import GRAPHED_MOE_ROUTER

BUBBLE_WARN_SHARE = 0.10
"""pipeline bubble share of the step above which a plan with vpp 1 is flagged (Narayanan et al. 2021 keep it under
this with interleaving and enough micro-batches)"""
EP_WARN_SHARE = 0.15
"""exposed expert all-to-all share of the step above which a non-overlapped MoE plan is flagged"""
VPP_TRIED = (2, 3, 4, 6, 8)
DP_WARN_SHARE = 0.10
"""exposed data-parallel share of the step above which a ZeRO-2 plan with gradient accumulation is flagged"""
GROUPED_WARN_GAIN = 0.02
"""share of the step a grouped expert GEMM would save above which a plan looping over its experts is flagged"""
ROUTE_WARN_SHARE = 0.10
"""MoE routing share of the step above which routing dispatched op by op from a slow host (Grace) is flagged"""


def assumed_features(framework: Framework, job: TrainJob) -> str:
    """The framework behaviour a result assumes, in one line."""
    parts = [
        "fused kernels" if framework.elementwise_passes <= 1.0 else f"element-wise work x{framework.elementwise_passes:g}",
        "flash attention" if framework.flash_attention else "unfused attention",
        f"DP overlap {'on' if job.dp_overlap and framework.dp_overlap else 'off'}",
        f"TP overlap {job.tp_overlap:.0%}" if job.tp_overlap else "TP overlap off",
        f"{'DualPipe' if framework.pipeline_schedule == 'dualpipe' else '1F1B'} pipeline",
        "dedup (DeepEP-style) dispatch" if job.ep_dedup else "all-to-all dispatch (a copy per expert)",
        f"EP overlap {job.ep_overlap:.0%}" if job.ep_overlap else "EP overlap off",
        f"{framework.moe_permute.replace('_', ' ')} MoE permutation",
        "grouped expert GEMMs" if job.grouped_experts else "a GEMM per expert (no grouped GEMM)",
        f"{framework.attention_kernel or 'reference'} attention kernel",
        f"{job.grad_reduce or framework.grad_reduce} gradients",
        f"{job.optimizer_state_name} Adam state",
    ]
    if framework.grad_buffer_zeroed and not job.accumulation_fused:
        parts.append("gradients added to the main gradients by a hook (no accumulation fusion)")
    parts.append("CUDA graphs: " + ", ".join(job.cuda_graphs) if job.cuda_graphs else "no CUDA graphs")
    if job.remat_policy:
        parts.append("selective recompute keeps " + (", ".join(job.remat_saved) or "the layer input") +
                     (f", offloads {', '.join(job.remat_offloaded)}" if job.remat_offloaded else ""))
    if job.distribute_saved_activations:
        parts.append("full recompute's saved inputs split over the tensor-parallel ranks")
    if framework.fsdp and framework.fsdp_pipeline_reshard:
        parts.append("FSDP reshards and reduce-scatters every micro-batch under a pipeline")
    if framework.fsdp and framework.fsdp_ignores_local_experts:
        parts.append("whole local experts outside FSDP")
    version = f" ({framework.version})" if framework.version else ""
    return f"assumed: {framework.name}{version}: " + ", ".join(parts)


def plan_warnings(model: Model, job: TrainJob, plan: ParallelPlan, breakdown: dict[str, float],
                  step_time_s: float, host_time_factor: float = 1.0, grouped_step_s: float | None = None) -> list[str]:
    """The mis-settings users often make, each with the nearest fix (``host_time_factor``: the chip's host, 1 for an
    x86 server; ``grouped_step_s``: the same step with the experts in one grouped GEMM, where the job runs them one by
    one on a framework that can group them)."""
    out = []
    if grouped_step_s is not None and grouped_step_s < (1 - GROUPED_WARN_GAIN) * step_time_s:
        local = model.moe.experts // plan.ep
        out.append(f"the {local} local experts of each MoE layer run one GEMM after another (Megatron-Core's "
                   f"SequentialMLP: Megatron-LM's default unless --moe-grouped-gemm is passed); --moe-grouped-gemm "
                   f"runs them as one kernel, a step {1 - grouped_step_s / step_time_s:.0%} shorter")
    m = job.global_sequences // (plan.dp * plan.micro_batch)
    bubble = breakdown.get("pp_bubble_s", 0.0) / step_time_s
    if plan.pp > 1 and plan.vpp == 1 and bubble > BUBBLE_WARN_SHARE:
        # a vpp whose layers split in a way the frameworks run (evenly, or with the embedding and the loss counted
        # as layers, or lighter ends; cost.pipeline.model_split)
        fixes = [v for v in VPP_TRIED if model.layers >= plan.pp * v and m % plan.pp == 0 and
                 int(model_split(model, plan.pp, v)[3]) != APPROXIMATE]
        fix = f"--vpp {fixes[0]} (interleaved 1F1B divides the bubble by vpp)" if fixes else \
            "a larger global batch or a smaller --micro-batch (more micro-batches per step)"
        out.append(f"the pipeline bubble is {bubble:.0%} of the step: pp={plan.pp} with vpp 1 and only {m} "
                   f"micro-batches; try {fix}")
    exposed = breakdown.get("ep_comm_s", 0.0) / step_time_s
    if model.moe and plan.ep > 1 and job.ep_overlap == 0 and exposed > EP_WARN_SHARE:
        fix = "--ep-overlap 1 (DualPipe; Megatron-Core --overlap-moe-expert-parallel-comm)"
        if not job.ep_dedup:
            fix += " and --ep-dedup (DeepEP/HybridEP dispatch, Megatron-Core --moe-token-dispatcher-type flex)"
        out.append(f"the expert all-to-all is {exposed:.0%} of the step and not overlapped; frameworks hide it with "
                   f"{fix}")
    dp_share = breakdown.get("dp_comm_s", 0.0) / step_time_s
    if plan.zero == 2 and m > 1 and dp_share > DP_WARN_SHARE:
        out.append(f"data-parallel communication is {dp_share:.0%} of the step: ZeRO-2 keeps only a shard of the "
                   f"gradients, so each of the {m} micro-batches reduce-scatters them again; --zero 1 reduces once a "
                   f"step (the gradients then take their full memory)")
    route = breakdown.get("moe_route_s", 0.0) / step_time_s
    if host_time_factor > 1.0 and not job.moe_host_graphed and route > ROUTE_WARN_SHARE:
        out.append(f"MoE routing is {route:.0%} of the step, dispatched op by op from a host {host_time_factor:g}x "
                   "slower than an x86 server's; recipes on Grace capture it in CUDA graphs: --cuda-graphs "
                   f"{','.join(GRAPHED_MOE_ROUTER)} (Megatron --cuda-graph-impl transformer_engine --cuda-graph-modules "
                   f"{' '.join(GRAPHED_MOE_ROUTER)})")
    return out
