#!/usr/bin/env python3
"""Peer for `attune` DPO throughput: the same DPO step as Attune's PreferenceTrainer in plain PyTorch.

The model is the ~19M-parameter Llama of train_throughput_torch.py (vocab 8192, hidden 384, 8 layers,
6 heads / 2 KV heads, MLP 1024, untied head). A step: 4 pairs of a 64-token prompt and two 192-token
responses (random ids) -> one forward over the 8 chosen + rejected sequences of 256 tokens, the summed
response log-probs, the reference's log-probs (precomputed once for the whole data set with --mode
cached, or a no-grad forward every step with --mode recomputed), the sigmoid DPO loss (beta 0.1),
backward, global-norm clipping at 1.0, AdamW (weight decay 0.01 on matrices). Float32, CPU.
Written for Debian's python3-torch 1.13.

    /usr/bin/python3 bench/peers/dpo_throughput_torch.py --steps 5 --warmup 1 --threads 2 --mode cached
"""
import argparse
import json
import os
import resource
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train_throughput_torch import VOCAB, Llama  # noqa: E402

PAIRS, PROMPT, RESPONSE, BETA = 4, 64, 192, 0.1


def response_logps(model, ids):
    """Summed log-probs of the last RESPONSE tokens of each row of ids [N, PROMPT + RESPONSE]."""
    logits = model(ids)[:, PROMPT - 1:-1]                      # predictions of the response tokens
    logp = logits.log_softmax(-1).gather(2, ids[:, PROMPT:].unsqueeze(-1)).squeeze(-1)
    return logp.sum(-1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--mode", choices=["cached", "recomputed"], default="cached")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    policy = Llama()
    torch.manual_seed(2)
    reference = Llama().eval()
    for p in reference.parameters():
        p.requires_grad_(False)
    n = (args.warmup + args.steps) * PAIRS
    g = torch.Generator().manual_seed(7)
    prompts = torch.randint(0, VOCAB, (n, PROMPT), generator=g)
    chosen = torch.cat([prompts, torch.randint(0, VOCAB, (n, RESPONSE), generator=g)], 1)
    rejected = torch.cat([prompts, torch.randint(0, VOCAB, (n, RESPONSE), generator=g)], 1)
    load_start = open("/proc/loadavg").read().strip()
    precompute = 0.0
    if args.mode == "cached":
        start = time.perf_counter()
        with torch.no_grad():
            ref_c = torch.cat([response_logps(reference, chosen[i:i + PAIRS]) for i in range(0, n, PAIRS)])
            ref_r = torch.cat([response_logps(reference, rejected[i:i + PAIRS]) for i in range(0, n, PAIRS)])
        precompute = time.perf_counter() - start
    decay = [p for p in policy.parameters() if p.dim() >= 2]
    no_decay = [p for p in policy.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}], lr=1e-5)
    times, cpu_times = [], []
    for step in range(args.warmup + args.steps):
        sl = slice(step * PAIRS, (step + 1) * PAIRS)
        start, cpu_start = time.perf_counter(), time.process_time()
        ids = torch.cat([chosen[sl], rejected[sl]])
        logps = response_logps(policy, ids)
        pw, pl = logps[:PAIRS], logps[PAIRS:]
        if args.mode == "cached":
            rw, rl = ref_c[sl], ref_r[sl]
        else:
            with torch.no_grad():
                r = response_logps(reference, ids)
            rw, rl = r[:PAIRS], r[PAIRS:]
        loss = -F.logsigmoid(BETA * ((pw - rw) - (pl - rl))).mean()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(policy.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        times.append(time.perf_counter() - start)
        cpu_times.append(time.process_time() - cpu_start)
        print(f"{args.mode} step {step + 1}: {times[-1]:.2f} s, loss {loss.item():.4f}", file=sys.stderr, flush=True)
    measured = times[args.warmup:]
    print(json.dumps({
        "peer": "pytorch", "torch": torch.__version__, "mode": args.mode, "threads": torch.get_num_threads(),
        "parameters": sum(p.numel() for p in policy.parameters()), "pairs_per_step": PAIRS, "sequence": PROMPT + RESPONSE,
        "steps": len(measured), "steps_per_s": len(measured) / sum(measured), "step_seconds_median": sorted(measured)[len(measured) // 2],
        "step_seconds_best": min(measured),
        "cpu_seconds_per_step_median": sorted(cpu_times[args.warmup:])[len(measured) // 2], "reference_precompute_seconds": precompute, "reference_pairs": n,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "load_average_at_start": load_start, "load_average_at_end": open("/proc/loadavg").read().strip(),
    }))


if __name__ == "__main__":
    main()
