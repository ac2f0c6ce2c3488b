"""A real training step of a small GPT, timed, and xpuplan's prediction of the same step.

The model is plain PyTorch in the nanoGPT mould: token and learned position
embeddings, pre-norm blocks (causal SDPA attention, GELU MLP of width 4h), a
final norm and logits tied to the token embedding; no biases. It trains with
AdamW under bf16 autocast where the device supports it. The measured step time
is compared with ``xpuplan.api.estimate`` for the same model, batch and chip
profile (framework ``torch``: eager kernels, no ZeRO, no recompute).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

from .device import Backend
from .timing import median_seconds


@dataclass(frozen=True, kw_only=True, slots=True)
class GptConfig:
    """Size of the probe model and its batch."""

    layers: int
    hidden: int
    heads: int
    vocab: int
    seq_len: int
    batch: int
    """sequences per step (one micro-batch)"""


def gpt_config(backend: Backend, quick: bool) -> GptConfig:
    """A model sized to the device: ~3M parameters on cpu, 125M (quick) to ~0.9B on accelerators."""
    if backend.is_cpu:
        if quick:
            return GptConfig(layers=4, hidden=192, heads=4, vocab=8192, seq_len=256, batch=4)
        return GptConfig(layers=6, hidden=384, heads=6, vocab=16384, seq_len=512, batch=8)
    if quick or backend.memory_bytes() < 60e9:  # the ~0.9B model needs ~45 GB (fp32 Adam states, bf16 activations)
        return GptConfig(layers=12, hidden=768, heads=12, vocab=32768, seq_len=1024, batch=8)
    return GptConfig(layers=16, hidden=2048, heads=16, vocab=32768, seq_len=2048, batch=8)


def build_gpt(torch, cfg: GptConfig):
    """The probe GPT as a torch.nn.Module mapping token ids (b, s) to logits (b, s, vocab)."""
    nn, F = torch.nn, torch.nn.functional

    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            h = cfg.hidden
            self.norm1, self.norm2 = nn.LayerNorm(h, bias=False), nn.LayerNorm(h, bias=False)
            self.qkv, self.proj = nn.Linear(h, 3 * h, bias=False), nn.Linear(h, h, bias=False)
            self.up, self.down = nn.Linear(h, 4 * h, bias=False), nn.Linear(4 * h, h, bias=False)

        def forward(self, x):
            b, s, h = x.shape
            q, k, v = self.qkv(self.norm1(x)).view(b, s, 3, cfg.heads, h // cfg.heads).permute(2, 0, 3, 1, 4)
            attn = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            x = x + self.proj(attn.transpose(1, 2).reshape(b, s, h))
            return x + self.down(F.gelu(self.up(self.norm2(x))))

    class Gpt(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.tokens = nn.Embedding(cfg.vocab, cfg.hidden)
            self.positions = nn.Embedding(cfg.seq_len, cfg.hidden)
            self.blocks = nn.ModuleList(Block() for _ in range(cfg.layers))
            self.norm = nn.LayerNorm(cfg.hidden, bias=False)
            for p in self.parameters():
                if p.dim() == 2:
                    nn.init.normal_(p, std=0.02)

        def forward(self, ids):
            x = self.tokens(ids) + self.positions(torch.arange(ids.shape[1], device=ids.device))
            for block in self.blocks:
                x = block(x)
            return self.norm(x) @ self.tokens.weight.t()  # tied logits

    return Gpt()


def _autocast(backend: Backend):
    """bf16 autocast on the device, or None where it is unavailable."""
    torch = backend.torch
    try:
        ctx = torch.autocast(device_type=backend.kind, dtype=torch.bfloat16)
        with ctx:
            torch.ones(2, 2, device=backend.device) @ torch.ones(2, 2, device=backend.device)
        return lambda: torch.autocast(device_type=backend.kind, dtype=torch.bfloat16)
    except (RuntimeError, ValueError, TypeError):
        return None


def measure_train_step(backend: Backend, cfg: GptConfig, quick: bool,
                       progress: Callable[[str], None] | None = None) -> dict:
    """Train the probe GPT and time whole steps; {'params', 'step_s', 'tokens_per_s', 'autocast'}."""
    torch = backend.torch
    torch.manual_seed(0)
    model = build_gpt(torch, cfg).to(backend.device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    ids = torch.randint(0, cfg.vocab, (cfg.batch, cfg.seq_len), device=backend.device)
    targets = torch.randint(0, cfg.vocab, (cfg.batch, cfg.seq_len), device=backend.device)
    autocast = _autocast(backend)
    losses = []

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        if autocast is not None:
            with autocast():
                logits = model(ids)
        else:
            logits = model(ids)
        loss = torch.nn.functional.cross_entropy(logits.float().view(-1, cfg.vocab), targets.view(-1))
        loss.backward()
        optimizer.step()
        losses.append(loss.detach())

    if progress:
        progress(f"train step: GPT {cfg.layers}x{cfg.hidden}, batch {cfg.batch}x{cfg.seq_len}")
    step_s = median_seconds(step, backend, warmup=2 if quick else 3, repeats=5 if quick else 10)
    params = sum(p.numel() for p in model.parameters())
    final_loss = float(losses[-1])
    if not math.isfinite(final_loss):
        raise RuntimeError(f"probe GPT diverged on {backend.kind}: loss {final_loss}")
    return {"params": int(params), "step_s": step_s, "tokens_per_s": cfg.batch * cfg.seq_len / step_s,
            "autocast": "bf16" if autocast is not None else "none", "loss": final_loss}


def xpuplan_model(cfg: GptConfig):
    """The probe GPT as an xpuplan Model."""
    from ..specs import Model

    return Model(name=f"probe-gpt-{cfg.layers}x{cfg.hidden}", layers=cfg.layers, hidden=cfg.hidden,
                 heads=cfg.heads, kv_heads=cfg.heads, ffn_hidden=4 * cfg.hidden, vocab=cfg.vocab,
                 ffn_act="gelu", attention="mha", tied_embeddings=True, position="learned")


def predict_train_step(cfg: GptConfig, chip) -> dict:
    """xpuplan's estimate of one probe step on one device of ``chip``: {'step_s', 'mfu', 'model'}."""
    from ..training import estimate
    from ..catalog import load_framework
    from ..plan import ParallelPlan
    from ..specs import TrainJob

    model = xpuplan_model(cfg)
    job = TrainJob(seq_len=cfg.seq_len, global_batch=cfg.batch, framework=load_framework("torch"))
    plan = ParallelPlan(zero=0, recompute="none", micro_batch=cfg.batch)
    result = estimate(model, chip, job, devices=1, plan=plan)
    return {"step_s": result.step_time_s, "mfu": result.mfu, "model": model}


def compare(measured: dict, predicted: dict, cfg: GptConfig, peak_flops_per_s: float) -> dict:
    """The ``measured.train_step`` block: throughput, MFU and the prediction error."""
    from ..cost.flops import model_flops_per_token

    flops_per_token = model_flops_per_token(predicted["model"], cfg.seq_len)
    error = (predicted["step_s"] - measured["step_s"]) / measured["step_s"]
    return {
        "params": measured["params"],
        "layers": cfg.layers, "hidden": cfg.hidden, "heads": cfg.heads, "vocab": cfg.vocab,
        "seq_len": cfg.seq_len, "batch": cfg.batch, "autocast": measured["autocast"],
        "tokens_per_s": measured["tokens_per_s"],
        "mfu": flops_per_token * measured["tokens_per_s"] / peak_flops_per_s,
        "predicted_step_s": predicted["step_s"],
        "measured_step_s": measured["step_s"],
        "error": error,
    }
