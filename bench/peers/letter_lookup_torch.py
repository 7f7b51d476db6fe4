#!/usr/bin/env python3
"""Peer for the letter look-up diagnostic (docs/reasoning.md, "Is the look-up learnable?"): the
built-in `tiny` Llama (hidden 64, 2 layers, 4 heads / 2 KV heads, MLP 128, RMSNorm, RoPE theta 1e4,
GQA with K/V repeated, gated SiLU MLP, untied head, N(0, 0.02) init, 99-token character vocabulary:
pad/bos/eos/unk + printable ASCII) trained from scratch in PyTorch 1.13 on the `next` task's prompt,
answer-only: prompt = "Find the next letter in alphabet following the last letter in the sequence:
{44-84 random letters} answer: ", response = the answer letter + EOS; --task copy answers the last
letter itself, --task next its successor (z -> a). Fresh random examples every step; loss = mean NLL
of the response tokens (right padding, like Attune's LogProbs.Response); AdamW (no weight decay),
constant lr after a linear warm-up. Accuracy = argmax of the first response token on 256 held-out
prompts (what greedy decoding answers first).

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3 bench/peers/letter_lookup_torch.py --task copy --steps 600
"""
import argparse
import random
import time

import torch
import torch.nn.functional as F

import train_throughput_torch as llama  # the same Llama as the training peer, sized here for the tiny model

# The built-in `tiny` size over a 99-token character vocabulary. The peer's classes read these module
# constants when they run, so setting them here sizes every layer.
llama.VOCAB, llama.HIDDEN, llama.LAYERS, llama.HEADS, llama.KV_HEADS, llama.MLP = 99, 64, 2, 4, 2, 128
llama.HEAD_DIM = llama.HIDDEN // llama.HEADS
VOCAB = llama.VOCAB
PAD, BOS, EOS = 0, 1, 2
Llama = llama.Llama


def enc(s):
    return [4 + ord(c) - 32 for c in s]


def example(rng, task, lo=44, hi=84):
    letters = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(lo + rng.randrange(hi - lo + 1)))
    prompt = f"Find the next letter in alphabet following the last letter in the sequence: {letters} answer: "
    last = letters[-1]
    answer = last if task == "copy" else chr((ord(last) - 97 + 1) % 26 + 97)
    return enc(prompt), enc(answer) + [EOS]


def batch_tensors(pairs):
    longest = max(len(p) + len(r) for p, r in pairs)
    ids = torch.full((len(pairs), longest), PAD, dtype=torch.long)
    tgt = torch.full((len(pairs), longest), -100, dtype=torch.long)
    for i, (p, r) in enumerate(pairs):
        seq = p + r
        ids[i, : len(seq)] = torch.tensor(seq)
        for j, tok in enumerate(r):
            tgt[i, len(p) + j - 1] = tok
    return ids, tgt


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--task", choices=["copy", "next"], default="copy")
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--eval-every", type=int, default=100)
    ap.add_argument("--min-letters", type=int, default=44)
    ap.add_argument("--max-letters", type=int, default=84)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    test = [example(random.Random(10_000 + i), args.task, args.min_letters, args.max_letters) for i in range(256)]
    model = Llama()
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.0)
    start = time.perf_counter()

    def evaluate():
        model.eval()
        with torch.no_grad():
            ids, tgt = batch_tensors(test)
            logits = model(ids)
            rows = torch.tensor([len(p) - 1 for p, _ in test])
            first = logits[torch.arange(len(test)), rows]
            gold = torch.tensor([r[0] for _, r in test])
            acc = (first.argmax(-1) == gold).float().mean().item()
            nll = F.cross_entropy(first, gold).item()
        model.train()
        return acc, nll

    for step in range(1, args.steps + 1):
        lr = args.lr * min(1.0, step / max(1, args.warmup))
        for g in opt.param_groups:
            g["lr"] = lr
        ids, tgt = batch_tensors([example(rng, args.task, args.min_letters, args.max_letters) for _ in range(args.batch)])
        logits = model(ids)
        loss = F.cross_entropy(logits.reshape(-1, VOCAB), tgt.reshape(-1), ignore_index=-100)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step % args.eval_every == 0 or step == args.steps:
            acc, nll = evaluate()
            print(f"step {step} train_loss {loss.item():.3f} answer_nll {nll:.3f} acc {acc:.3f} ({time.perf_counter() - start:.0f}s)", flush=True)


if __name__ == "__main__":
    main()
