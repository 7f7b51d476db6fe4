#!/usr/bin/env python3
"""Peer for `attune` Composable CoT evaluation throughput (bench `cot-eval`): the same two-stage greedy
decoding, batch 16, left padding, KV cache, on the same model folder (Attune's Llama: config.json +
model.safetensors, character tokenizer.json) and the same questions, in plain PyTorch.

Stage 1 generates after `instruction<prefix>` until `</prefix>` or <eos>; stage 2 generates after
`instruction<prefix>{stage 1} <suffix>` until `</suffix>` or <eos>. Batches hold questions of similar
prompt length (sorted stably by length, as Attune does); positions are the count of real tokens before
each one, as Attune computes them under left padding. Written for Debian's python3-torch 1.13 (no
safetensors package: the file is read by hand; no scaled_dot_product_attention).

    dotnet run -c Release --project bench/Attune.Benchmarks -- cot-eval --model DIR --questions-out /tmp/q.jsonl
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3 bench/peers/cot_eval_torch.py --model DIR --questions /tmp/q.jsonl --threads 2
"""
import argparse
import hashlib
import json
import math
import re
import struct
import time

import torch

DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}


def load_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        t = torch.frombuffer(bytearray(data[start:end]), dtype=DTYPES[info["dtype"]]).reshape(info["shape"])
        tensors[name] = t.float()
    return tensors


class CharTokenizer:
    def __init__(self, path):
        spec = json.load(open(path))
        self.tokens = spec["special_tokens"] + spec["chars"]
        self.ids = {c: 4 + i for i, c in enumerate(spec["chars"])}

    def encode(self, text):
        return [self.ids.get(c, 3) for c in text]

    def decode(self, ids):
        return "".join(self.tokens[i] for i in ids if i >= 4)


class Llama:
    def __init__(self, folder):
        self.cfg = json.load(open(f"{folder}/config.json"))
        self.w = load_safetensors(f"{folder}/model.safetensors")
        c = self.cfg
        self.layers, self.heads, self.kv = c["num_hidden_layers"], c["num_attention_heads"], c["num_key_value_heads"]
        self.dim = c.get("head_dim") or c["hidden_size"] // self.heads
        self.eps = c["rms_norm_eps"]
        self.inv = 1.0 / (c.get("rope_theta", 10000.0) ** (torch.arange(0, self.dim, 2).float() / self.dim))
        self.head = self.w.get("lm_head.weight", self.w["model.embed_tokens.weight"])

    def norm(self, x, name):
        return self.w[name] * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps))

    def rope(self, x, pos):                      # x [B, H, T, D], pos [B, T]
        freqs = pos.float().unsqueeze(-1) * self.inv   # [B, T, D/2]
        emb = torch.cat([freqs, freqs], -1).unsqueeze(1)
        x1, x2 = x[..., : self.dim // 2], x[..., self.dim // 2:]
        return x * emb.cos() + torch.cat([-x2, x1], -1) * emb.sin()

    def forward(self, ids, pos, mask, cache):    # ids [B, T]; mask [B, 1, T, S] bool (True = may attend); cache: list of (k, v)
        x = self.w["model.embed_tokens.weight"][ids]
        b, t, _ = x.shape
        for i in range(self.layers):
            p = f"model.layers.{i}."
            h = self.norm(x, p + "input_layernorm.weight")
            q = (h @ self.w[p + "self_attn.q_proj.weight"].T).view(b, t, self.heads, self.dim).transpose(1, 2)
            k = (h @ self.w[p + "self_attn.k_proj.weight"].T).view(b, t, self.kv, self.dim).transpose(1, 2)
            v = (h @ self.w[p + "self_attn.v_proj.weight"].T).view(b, t, self.kv, self.dim).transpose(1, 2)
            q, k = self.rope(q, pos), self.rope(k, pos)
            if cache[i] is not None:
                k, v = torch.cat([cache[i][0], k], 2), torch.cat([cache[i][1], v], 2)
            cache[i] = (k, v)
            rep = self.heads // self.kv
            kk, vv = k.repeat_interleave(rep, 1), v.repeat_interleave(rep, 1)
            att = (q @ kk.transpose(-2, -1)) / math.sqrt(self.dim)
            att = att.masked_fill(~mask, float("-inf")).softmax(-1)
            y = (att @ vv).transpose(1, 2).reshape(b, t, self.heads * self.dim)
            x = x + y @ self.w[p + "self_attn.o_proj.weight"].T
            h = self.norm(x, p + "post_attention_layernorm.weight")
            gate = torch.nn.functional.silu(h @ self.w[p + "mlp.gate_proj.weight"].T)
            x = x + (gate * (h @ self.w[p + "mlp.up_proj.weight"].T)) @ self.w[p + "mlp.down_proj.weight"].T
        return self.norm(x, "model.norm.weight") @ self.head.T


def generate(model, tok, prompts, stop, max_new, eos=2):
    """Greedy, left-padded, KV cache; stops a row at <eos> or once its text contains `stop`."""
    n, longest = len(prompts), max(len(p) for p in prompts)
    ids = torch.zeros(n, longest, dtype=torch.long)
    att = torch.zeros(n, longest, dtype=torch.long)
    for i, p in enumerate(prompts):
        ids[i, longest - len(p):] = torch.tensor(p)
        att[i, longest - len(p):] = 1
    cache = [None] * model.layers
    out = [[] for _ in range(n)]
    done = [False] * n
    step_ids, past = ids, 0
    for _ in range(max_new):
        if all(done):
            break
        t = step_ids.shape[1]
        pos = (att.cumsum(1) - 1).clamp(min=0)[:, past:past + t]
        query = torch.arange(past, past + t).unsqueeze(1)
        key = torch.arange(0, past + t).unsqueeze(0)
        mask = (key <= query).unsqueeze(0).unsqueeze(0) & att.bool().unsqueeze(1).unsqueeze(1)
        mask = mask | (key == query).unsqueeze(0).unsqueeze(0)
        logits = model.forward(step_ids, pos, mask, cache)[:, -1]
        nxt = logits.argmax(-1)
        for i in range(n):
            if done[i]:
                continue
            out[i].append(int(nxt[i]))
            if out[i][-1] == eos or stop in tok.decode(out[i]):
                done[i] = True
        past += t
        step_ids = nxt.unsqueeze(1)
        att = torch.cat([att, torch.ones(n, 1, dtype=torch.long)], 1)
    texts = []
    for o in out:
        text = tok.decode([i for i in o if i != eos])
        at = text.find(stop)
        texts.append(text[: at + len(stop)] if at >= 0 else text)
    return texts


def stage(model, tok, prompts, stop, batch, max_new):
    encoded = [tok.encode(p) for p in prompts]
    order = sorted(range(len(prompts)), key=lambda i: len(encoded[i]))
    result = [None] * len(prompts)
    for b in range(0, len(order), batch):
        chunk = order[b:b + batch]
        for i, text in zip(chunk, generate(model, tok, [encoded[i] for i in chunk], stop, max_new)):
            result[i] = text
    return result


def answer(output):
    text = re.sub(r"</?(prefix|suffix)>|<eos>", "", output)
    for marker in ("the answer is", "gives us"):
        at = text.lower().rfind(marker)
        if at >= 0:
            return text[at + len(marker):].split(".")[0].strip()
    return text.strip()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--questions", required=True, help="JSON lines {instruction, answer} (cot-eval --questions-out)")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--max-new-tokens", type=int, default=320)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    model, tok = Llama(args.model), CharTokenizer(f"{args.model}/tokenizer.json")
    questions = [json.loads(line) for line in open(args.questions)]
    best, outputs = float("inf"), []
    with torch.no_grad():
        for _ in range(args.repeats):
            start = time.perf_counter()
            first = [q["instruction"] + "<prefix>" for q in questions]
            s1 = stage(model, tok, first, "</prefix>", args.batch, args.max_new_tokens)
            s2 = stage(model, tok, [p + t + " <suffix>" for p, t in zip(first, s1)], "</suffix>", args.batch, args.max_new_tokens)
            outputs = ["<prefix>" + a + " <suffix>" + b for a, b in zip(s1, s2)]
            best = min(best, time.perf_counter() - start)
    correct = sum(answer(o) == q["answer"] for o, q in zip(outputs, questions))
    print(json.dumps({
        "bench": "cot-eval", "implementation": f"pytorch {torch.__version__}", "questions": len(questions), "batch": args.batch,
        "threads": torch.get_num_threads(), "seconds": round(best, 3), "questions_per_s": round(len(questions) / best, 3), "correct": correct,
        "outputs_sha": hashlib.sha256("\n".join(outputs).encode()).hexdigest()[:16].upper(),
    }))


if __name__ == "__main__":
    main()
