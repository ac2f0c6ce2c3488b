"""One MoE layer on one accelerator, timed by phase: what an expert-parallel rank does besides its expert GEMMs.

Measures, for MoE shapes of published models, the forward of router (GEMM + softmax + top-k), token permutation
(sort by expert + gather), the expert GEMMs (one grouped GEMM up, SwiGLU, one grouped GEMM down), unpermutation
(weighted scatter-add back to tokens) and the host sync an all-to-all dispatcher pays to learn the per-expert token
counts (``.tolist()``), then the whole layer forward and forward+backward under autograd; and the expert GEMMs
alone. The ratio of the whole to the GEMMs is the MoE overhead issue 15 item 2 asks to name. One rank's share of
an expert-parallel layer is emulated on one device: ``local`` experts receive the tokens a balanced router sends
them (no all-to-all is timed here).

    python3 benchmarks/moe_layer_device.py OUT.json      # on the device machine (PyTorch with CUDA)
"""

import json
import statistics
import sys
import time

import torch
import torch.nn.functional as F

CASES = [
    # name, hidden, expert ffn, experts, top_k, local experts, tokens per micro-batch on the rank
    ("qwen3-30b-a3b ep1", 2048, 768, 128, 8, 128, 4096),
    ("qwen3-30b-a3b ep8", 2048, 768, 128, 8, 16, 4096),
    ("deepseek-v3 ep64", 7168, 2048, 256, 8, 4, 4096),
    ("deepseek-v3 ep8", 7168, 2048, 256, 8, 32, 4096),
    ("gpt-oss-120b ep8", 2880, 2880, 128, 4, 16, 4096),
]


def timed(fn, repeats=10):
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    samples = []
    for _ in range(repeats):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        samples.append(start.elapsed_time(end) / 1e3)
    return statistics.median(samples)


def grouped(x, w, offs):
    return torch._grouped_mm(x, w.transpose(-2, -1), offs=offs, out_dtype=torch.bfloat16)


def case(name, h, f, experts, top_k, local, tokens):
    dev, bf = "cuda", torch.bfloat16
    # the rank's tokens after dispatch: a balanced router gives each local expert tokens * top_k / experts * ep
    # routed rows, ep = experts / local; the rank also routes its own tokens (router over all experts)
    ep = experts // local
    rows_per_expert = tokens * top_k * ep // experts
    rows = rows_per_expert * local
    x = torch.randn(tokens, h, device=dev, dtype=bf, requires_grad=True)
    router_w = torch.randn(experts, h, device=dev, dtype=bf, requires_grad=True)
    w_up = (torch.randn(local, 2 * f, h, device=dev, dtype=bf) * 0.02).requires_grad_()
    w_down = (torch.randn(local, h, f, device=dev, dtype=bf) * 0.02).requires_grad_()
    received = torch.randn(rows, h, device=dev, dtype=bf, requires_grad=True)  # what dispatch delivers
    counts = torch.full((local,), rows_per_expert, device=dev, dtype=torch.int32)
    offs = torch.cumsum(counts, 0).to(torch.int32)
    expert_of_row = torch.randint(0, local, (rows,), device=dev)

    def router():
        logits = F.linear(x, router_w)
        probs = torch.softmax(logits.float(), dim=-1)
        return torch.topk(probs, top_k, dim=-1)

    def permute():
        order = torch.argsort(expert_of_row, stable=True)
        return received.index_select(0, order), order

    def host_sync():
        return torch.bincount(expert_of_row, minlength=local).tolist()

    def experts_only():
        up = grouped(received, w_up, offs)
        gate, lin = up.chunk(2, dim=-1)
        return grouped(F.silu(gate) * lin, w_down, offs)

    def unpermute(y, order):
        out = torch.zeros(tokens, h, device=dev, dtype=bf)
        index = order % tokens
        return out.index_add_(0, index, y)

    def layer():
        weights, _ = router()
        permuted, order = permute()
        host_sync()
        y = experts_only()
        del permuted
        return unpermute(y, order), weights

    def layer_fwd_bwd():
        out, weights = layer()
        (out.float().sum() + weights.sum()).backward()

    def experts_fwd_bwd():
        experts_only().float().sum().backward()

    flops_fwd = 2.0 * rows * h * 2 * f + 2.0 * rows * f * h
    result = {"case": name, "hidden": h, "expert_ffn": f, "experts": experts, "top_k": top_k, "local_experts": local,
              "tokens": tokens, "rows_per_expert": rows_per_expert, "expert_gemm_flops_fwd": flops_fwd}
    for key, fn in (("router_s", router), ("permute_s", permute), ("host_sync_s", host_sync),
                    ("experts_fwd_s", experts_only), ("layer_fwd_s", layer), ("layer_fwd_bwd_s", layer_fwd_bwd),
                    ("experts_fwd_bwd_s", experts_fwd_bwd)):
        try:
            result[key] = timed(fn)
        except Exception as exc:  # noqa: BLE001 - record and go on: one failing phase must not lose the others
            result[key] = f"failed: {type(exc).__name__}: {str(exc)[:120]}"
    if isinstance(result["experts_fwd_s"], float):
        result["experts_fwd_tflops"] = flops_fwd / result["experts_fwd_s"] / 1e12
    return result


def main():
    out = sys.argv[1]
    results = []
    t0 = time.perf_counter()
    for c in CASES:
        r = case(*c)
        results.append(r)
        print(json.dumps(r), flush=True)
        torch.cuda.empty_cache()
    info = {"device": torch.cuda.get_device_name(), "torch": torch.__version__, "seconds": time.perf_counter() - t0}
    with open(out, "w") as handle:
        json.dump({"info": info, "cases": results}, handle, indent=1)
    print(info)


if __name__ == "__main__":
    main()
