#!/usr/bin/env python3
"""Peer for `attune` P-DPO throughput: the same personalised DPO step as Attune's PersonalizedTrainer in plain PyTorch.

The model is the ~19M-parameter Llama of train_throughput_torch.py. A step: 4 pairs of a 64-token prompt
and two 192-token responses (random ids), each pair's user one of 8 known users with an individual user
model of T_u = 10 soft tokens (generic block e0 + a per-user offset) placed after the first prompt token;
one forward over the 16 sequences of 266 tokens (chosen and rejected, read with the user's tokens and with
the generic ones), the summed response log-probs, the cached reference log-probs (no user tokens,
precomputed once), the sigmoid DPO loss (beta 0.1) mixed alpha 0.5 personalised / 0.5 generic, backward,
global-norm clipping at 1.0 over the policy and the user model, AdamW. Float32, CPU. Written for Debian's
python3-torch 1.13.

    /usr/bin/python3 bench/peers/pdpo_throughput_torch.py --steps 5 --warmup 1 --threads 2
"""
import argparse
import json
import os
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train_throughput_torch import HIDDEN, VOCAB, Llama, rope_tables  # noqa: E402

PAIRS, PROMPT, RESPONSE, BETA, ALPHA, TU, USERS = 4, 64, 192, 0.1, 0.5, 10, 8


def hidden_from_embeddings(model, x):
    t = x.shape[1]
    cos, sin = rope_tables(t)
    mask = torch.triu(torch.ones(t, t, dtype=torch.bool), diagonal=1)
    for layer in model.layers:
        x = layer(x, cos, sin, mask)
    return model.norm(x)


def response_logps(model, ids, soft=None):
    """Summed log-probs of the last RESPONSE tokens of each row of ids, with soft tokens [N, TU, E] after the first token."""
    emb = model.embed_tokens(ids)
    shift = 0
    if soft is not None:
        emb = torch.cat([emb[:, :1], soft, emb[:, 1:]], 1)
        shift = soft.shape[1]
    h = hidden_from_embeddings(model, emb)[:, shift + PROMPT - 1:-1]
    logp = model.lm_head(h).log_softmax(-1).gather(2, ids[:, PROMPT:].unsqueeze(-1)).squeeze(-1)
    return logp.sum(-1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    policy = Llama()
    torch.manual_seed(2)
    reference = Llama().eval()
    for p in reference.parameters():
        p.requires_grad_(False)
    generic = nn.Parameter(policy.embed_tokens.weight.detach()[torch.randint(0, VOCAB, (TU,))].clone())
    offsets = nn.Parameter(torch.zeros(USERS, TU, HIDDEN))
    n = (args.warmup + args.steps) * PAIRS
    g = torch.Generator().manual_seed(7)
    prompts = torch.randint(0, VOCAB, (n, PROMPT), generator=g)
    chosen = torch.cat([prompts, torch.randint(0, VOCAB, (n, RESPONSE), generator=g)], 1)
    rejected = torch.cat([prompts, torch.randint(0, VOCAB, (n, RESPONSE), generator=g)], 1)
    user = torch.arange(n) % USERS
    load_start = open("/proc/loadavg").read().strip()
    with torch.no_grad():
        ref_c = torch.cat([response_logps(reference, chosen[i:i + PAIRS]) for i in range(0, n, PAIRS)])
        ref_r = torch.cat([response_logps(reference, rejected[i:i + PAIRS]) for i in range(0, n, PAIRS)])
    params = list(policy.parameters()) + [generic, offsets]
    decay = [p for p in policy.parameters() if p.dim() >= 2]
    no_decay = [p for p in policy.parameters() if p.dim() < 2] + [generic, offsets]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}], lr=1e-5)
    times = []
    for step in range(args.warmup + args.steps):
        sl = slice(step * PAIRS, (step + 1) * PAIRS)
        start = time.perf_counter()
        personal = generic.unsqueeze(0) + offsets[user[sl]]                 # [4, TU, E]
        plain = generic.unsqueeze(0).expand(PAIRS, -1, -1)
        soft = torch.cat([plain, personal, plain, personal])                 # rows: chosen generic, chosen personal, rejected generic, rejected personal
        ids = torch.cat([chosen[sl], chosen[sl], rejected[sl], rejected[sl]])
        logps = response_logps(policy, ids, soft)
        cg, cp, rg, rp = logps.split(PAIRS)
        rw, rl = ref_c[sl], ref_r[sl]
        gen = -F.logsigmoid(BETA * ((cg - rw) - (rg - rl))).mean()
        per = -F.logsigmoid(BETA * ((cp - rw) - (rp - rl))).mean()
        loss = ALPHA * per + (1 - ALPHA) * gen
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        times.append(time.perf_counter() - start)
        print(f"pdpo step {step + 1}: {times[-1]:.2f} s, loss {loss.item():.4f}", file=sys.stderr, flush=True)
    measured = times[args.warmup:]
    print(json.dumps({
        "peer": "pytorch", "torch": torch.__version__, "mode": "pdpo", "threads": torch.get_num_threads(), "user_tokens": TU,
        "steps": len(measured), "steps_per_s": len(measured) / sum(measured), "step_seconds_median": sorted(measured)[len(measured) // 2],
        "step_seconds_best": min(measured), "load_average_at_start": load_start, "load_average_at_end": open("/proc/loadavg").read().strip(),
    }))


if __name__ == "__main__":
    main()
