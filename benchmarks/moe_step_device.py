"""Real training steps of a small MoE GPT and of its dense twin on one accelerator, for xpuplan to predict.

The MoE model: pre-norm blocks with grouped-query causal attention (SDPA) and a MoE FFN (softmax router, top-k,
tokens sorted by expert, SwiGLU experts run as one grouped GEMM each way, weighted scatter-add back); the dense twin
has one SwiGLU FFN of the same width as the k routed experts together, so both do the same FLOPs per token. Both
train with fused AdamW under bf16 autocast. One device, so no all-to-all: what is measured is the MoE layer's compute
and its routing, the part xpuplan prices per device.

    python3 benchmarks/moe_step_device.py OUT.json      # on the device machine (PyTorch with CUDA)
"""

import json
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

CFG = dict(layers=8, hidden=2048, heads=16, kv_heads=4, experts=64, top_k=8, expert_ffn=768, vocab=32768, seq=4096,
           batch=2)


class Attention(nn.Module):
    def __init__(self, h, heads, kv_heads):
        super().__init__()
        self.heads, self.kv, self.d = heads, kv_heads, h // heads
        self.qkv = nn.Linear(h, (heads + 2 * kv_heads) * self.d, bias=False)
        self.o = nn.Linear(heads * self.d, h, bias=False)

    def forward(self, x):
        b, s, _ = x.shape
        q, k, v = self.qkv(x).split([self.heads * self.d, self.kv * self.d, self.kv * self.d], dim=-1)
        q = q.view(b, s, self.heads, self.d).transpose(1, 2)
        k = k.view(b, s, self.kv, self.d).transpose(1, 2)
        v = v.view(b, s, self.kv, self.d).transpose(1, 2)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
        return self.o(y.transpose(1, 2).reshape(b, s, -1))


class MoE(nn.Module):
    def __init__(self, h, experts, top_k, f):
        super().__init__()
        self.experts, self.top_k = experts, top_k
        self.router = nn.Linear(h, experts, bias=False)
        self.w_up = nn.Parameter(torch.randn(experts, 2 * f, h) * 0.02)
        self.w_down = nn.Parameter(torch.randn(experts, h, f) * 0.02)

    def forward(self, x):
        shape = x.shape
        x = x.reshape(-1, shape[-1])
        probs = torch.softmax(self.router(x).float(), dim=-1)
        weights, chosen = torch.topk(probs, self.top_k, dim=-1)
        flat = chosen.reshape(-1)
        order = torch.argsort(flat, stable=True)
        token_of_row = order // self.top_k
        counts = torch.bincount(flat, minlength=self.experts)
        # each expert's group padded to 16 rows, the alignment grouped GEMM kernels want (torchtitan pads likewise)
        padded = (counts + 15) // 16 * 16
        ends = torch.cumsum(padded, 0)
        sorted_experts = flat[order]
        rank = torch.arange(flat.numel(), device=x.device) - (torch.cumsum(counts, 0) - counts)[sorted_experts]
        pos = (ends - padded)[sorted_experts] + rank
        bf = torch.bfloat16
        rows = x.index_select(0, token_of_row).to(bf)
        rows = rows.new_zeros(int(ends[-1]), rows.shape[1]).index_copy(0, pos, rows)
        offs = ends.to(torch.int32)
        up = torch._grouped_mm(rows, self.w_up.to(bf).transpose(-2, -1), offs=offs)
        gate, lin = up.chunk(2, dim=-1)
        out = torch._grouped_mm(F.silu(gate) * lin, self.w_down.to(bf).transpose(-2, -1), offs=offs)
        out = out.index_select(0, pos) * weights.reshape(-1)[order].unsqueeze(-1).to(bf)
        y = torch.zeros_like(x).index_add(0, token_of_row, out.to(x.dtype))
        return y.reshape(shape)


class Dense(nn.Module):
    def __init__(self, h, f):
        super().__init__()
        self.up = nn.Linear(h, 2 * f, bias=False)
        self.down = nn.Linear(f, h, bias=False)

    def forward(self, x):
        gate, lin = self.up(x).chunk(2, dim=-1)
        return self.down(F.silu(gate) * lin)


class Block(nn.Module):
    def __init__(self, c, moe):
        super().__init__()
        h = c["hidden"]
        self.n1, self.n2 = nn.RMSNorm(h), nn.RMSNorm(h)
        self.attn = Attention(h, c["heads"], c["kv_heads"])
        self.ffn = MoE(h, c["experts"], c["top_k"], c["expert_ffn"]) if moe else Dense(h, c["top_k"] * c["expert_ffn"])

    def forward(self, x):
        x = x + self.attn(self.n1(x))
        return x + self.ffn(self.n2(x))


class Model(nn.Module):
    def __init__(self, c, moe):
        super().__init__()
        self.emb = nn.Embedding(c["vocab"], c["hidden"])
        self.blocks = nn.ModuleList(Block(c, moe) for _ in range(c["layers"]))
        self.norm = nn.RMSNorm(c["hidden"])
        self.out = nn.Linear(c["hidden"], c["vocab"], bias=False)

    def forward(self, ids):
        x = self.emb(ids)
        for b in self.blocks:
            x = b(x)
        return self.out(self.norm(x))


def measure(moe):
    torch.manual_seed(0)
    c = CFG
    model = Model(c, moe).cuda()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=True)
    ids = torch.randint(0, c["vocab"], (c["batch"], c["seq"]), device="cuda")
    tgt = torch.randint(0, c["vocab"], (c["batch"], c["seq"]), device="cuda")

    def step():
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cuda", dtype=torch.bfloat16):
            logits = model(ids)
        loss = F.cross_entropy(logits.float().view(-1, c["vocab"]), tgt.view(-1))
        loss.backward()
        opt.step()
        return loss

    for _ in range(3):
        step()
    torch.cuda.synchronize()
    times = []
    for _ in range(10):
        t0 = time.perf_counter()
        loss = step()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    params = sum(p.numel() for p in model.parameters())
    return {"moe": moe, "params": params, "step_s": statistics.median(times), "min_step_s": min(times),
            "loss": float(loss), "peak_memory_bytes": torch.cuda.max_memory_allocated()}


def main():
    out = {"config": CFG, "device": torch.cuda.get_device_name(), "torch": torch.__version__, "runs": []}
    for moe in (True, False):
        try:
            r = measure(moe)
        except Exception as exc:  # noqa: BLE001 - keep the other model's figures
            r = {"moe": moe, "failed": f"{type(exc).__name__}: {str(exc)[:300]}"}
        print(json.dumps(r), flush=True)
        out["runs"].append(r)
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    with open(sys.argv[1], "w") as handle:
        json.dump(out, handle, indent=1)


if __name__ == "__main__":
    main()
