#!/usr/bin/env python3
"""Peer for `attune` training throughput: the same ~19M-parameter Llama-like model and the same step
(forward + next-token cross-entropy + backward + global-norm clipping + AdamW) in plain PyTorch.

Shapes as Attune's bench model: vocab 8192, hidden 384, 8 layers, 6 heads (head dim 64), 2 KV heads
(grouped-query attention, K/V repeated), gated SiLU MLP 1024, RMSNorm, rotary embeddings, untied
output head; batch 8 x sequence 256, float32, CPU. Written for Debian's python3-torch 1.13 (no
scaled_dot_product_attention there, so attention is written out with a causal mask).

    /usr/bin/python3 bench/peers/train_throughput_torch.py --steps 10 --warmup 2 --threads 2
    /usr/bin/python3 bench/peers/train_throughput_torch.py --autocast bf16   # the step under torch.autocast("cpu", dtype=torch.bfloat16)
    /usr/bin/python3 bench/peers/train_throughput_torch.py --gemm            # only the GEMM rates, float32 and bfloat16

Run it with the OpenBLAS variables of this machine unset (env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE ...).
"""
import contextlib
import argparse
import json
import math
import resource
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

VOCAB, HIDDEN, LAYERS, HEADS, KV_HEADS, MLP = 8192, 384, 8, 6, 2, 1024
HEAD_DIM = HIDDEN // HEADS


class RMSNorm(nn.Module):
    def __init__(self, n, eps=1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(n))
        self.eps = eps

    def forward(self, x):
        return self.weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps))


def rope_tables(t):
    inv = 1.0 / (10000.0 ** (torch.arange(0, HEAD_DIM, 2).float() / HEAD_DIM))
    freqs = torch.outer(torch.arange(t).float(), inv)
    emb = torch.cat([freqs, freqs], dim=-1)
    return emb.cos(), emb.sin()


def rotate(x, cos, sin):
    x1, x2 = x[..., : HEAD_DIM // 2], x[..., HEAD_DIM // 2 :]
    return x * cos + torch.cat([-x2, x1], dim=-1) * sin


class Attention(nn.Module):
    def __init__(self):
        super().__init__()
        self.q_proj = nn.Linear(HIDDEN, HEADS * HEAD_DIM, bias=False)
        self.k_proj = nn.Linear(HIDDEN, KV_HEADS * HEAD_DIM, bias=False)
        self.v_proj = nn.Linear(HIDDEN, KV_HEADS * HEAD_DIM, bias=False)
        self.o_proj = nn.Linear(HEADS * HEAD_DIM, HIDDEN, bias=False)

    def forward(self, x, cos, sin, mask):
        b, t, _ = x.shape
        q = self.q_proj(x).view(b, t, HEADS, HEAD_DIM).transpose(1, 2)
        k = self.k_proj(x).view(b, t, KV_HEADS, HEAD_DIM).transpose(1, 2)
        v = self.v_proj(x).view(b, t, KV_HEADS, HEAD_DIM).transpose(1, 2)
        q, k = rotate(q, cos, sin), rotate(k, cos, sin)
        k = k.repeat_interleave(HEADS // KV_HEADS, dim=1)
        v = v.repeat_interleave(HEADS // KV_HEADS, dim=1)
        att = (q @ k.transpose(-2, -1)) / math.sqrt(HEAD_DIM)
        att = att.masked_fill(mask, float("-inf")).softmax(-1)
        y = (att @ v).transpose(1, 2).reshape(b, t, HIDDEN)
        return self.o_proj(y)


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.input_layernorm = RMSNorm(HIDDEN)
        self.self_attn = Attention()
        self.post_attention_layernorm = RMSNorm(HIDDEN)
        self.gate_proj = nn.Linear(HIDDEN, MLP, bias=False)
        self.up_proj = nn.Linear(HIDDEN, MLP, bias=False)
        self.down_proj = nn.Linear(MLP, HIDDEN, bias=False)

    def forward(self, x, cos, sin, mask):
        x = x + self.self_attn(self.input_layernorm(x), cos, sin, mask)
        h = self.post_attention_layernorm(x)
        return x + self.down_proj(F.silu(self.gate_proj(h)) * self.up_proj(h))


class Llama(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed_tokens = nn.Embedding(VOCAB, HIDDEN)
        self.layers = nn.ModuleList([Block() for _ in range(LAYERS)])
        self.norm = RMSNorm(HIDDEN)
        self.lm_head = nn.Linear(HIDDEN, VOCAB, bias=False)
        for p in self.parameters():
            if p.dim() == 2:
                nn.init.normal_(p, 0, 0.02)

    def forward(self, ids):
        t = ids.shape[1]
        cos, sin = rope_tables(t)
        mask = torch.triu(torch.ones(t, t, dtype=torch.bool), diagonal=1)
        x = self.embed_tokens(ids)
        for layer in self.layers:
            x = layer(x, cos, sin, mask)
        return self.lm_head(self.norm(x))


def gemm_rates():
    """Best of three loops of ten products, in GFLOP/s: 2048^3 and the benchmark's largest layer shape
    (2048 rows x 384 -> 1024), float32 and bfloat16."""
    rates = {}
    for name, (m, k, n) in {"2048x2048x2048": (2048, 2048, 2048), "2048x384x1024": (2048, 384, 1024)}.items():
        for dtype in (torch.float32, torch.bfloat16):
            a, b = torch.randn(m, k).to(dtype), torch.randn(k, n).to(dtype)
            for _ in range(2):
                a @ b
            best = 0.0
            for _ in range(3):
                start = time.perf_counter()
                for _ in range(10):
                    a @ b
                best = max(best, 2.0 * m * k * n * 10 / (time.perf_counter() - start) / 1e9)
            rates[f"gemm_{str(dtype).replace('torch.', '')}_{name}_gflops_per_s"] = best
    return rates


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--autocast", choices=["off", "bf16"], default="off")
    ap.add_argument("--gemm", action="store_true", help="measure the GEMM rates only")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.gemm:
        print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), **gemm_rates(),
                          "load_average": open("/proc/loadavg").read().strip()}, indent=2))
        return
    torch.manual_seed(1)
    batch, seq = 8, 256
    model = Llama()
    params = sum(p.numel() for p in model.parameters())
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=3e-4, betas=(0.9, 0.999), eps=1e-8)
    times, cpu_times = [], []
    for step in range(args.warmup + args.steps):
        ids = torch.randint(0, VOCAB, (batch, seq + 1))
        start, cpu_start = time.perf_counter(), time.process_time()
        cast = torch.autocast("cpu", dtype=torch.bfloat16) if args.autocast == "bf16" else contextlib.nullcontext()
        with cast:
            logits = model(ids[:, :-1])
        loss = F.cross_entropy(logits.float().reshape(-1, VOCAB), ids[:, 1:].reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        times.append(time.perf_counter() - start)
        cpu_times.append(time.process_time() - cpu_start)
        print(f"step {step + 1}: {times[-1]:.2f} s, loss {loss.item():.4f}", file=__import__("sys").stderr, flush=True)
    measured = times[args.warmup:]
    tps = batch * seq * len(measured) / sum(measured)
    print(json.dumps({
        "torch": torch.__version__, "threads": torch.get_num_threads(), "autocast": args.autocast, "parameters": params,
        "steps": len(measured), "tokens_per_s": tps,
        "cpu_seconds_per_step_median": sorted(cpu_times[args.warmup:])[len(measured) // 2], "step_seconds_median": sorted(measured)[len(measured) // 2],
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "load_average": open("/proc/loadavg").read().strip(),
    }, indent=2))


if __name__ == "__main__":
    main()
