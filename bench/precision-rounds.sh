#!/bin/sh
# Issue 17, item 4, in one sitting (docs/torch.md, "Throughput"): the machine's GEMM rates in both
# libraries, then alternating rounds of the training step — Attune fp32 with oneMKL's generic path (the
# loop before the fast path: ATTUNE_MKL_FAST_PATH=0), Attune fp32 and bf16 with the fast path, and the
# PyTorch peer in float32 and under torch.autocast("cpu", dtype=torch.bfloat16) — then DPO steps and
# generation in fp32 / bf16 / bf16-pure. Build first: dotnet build -c Release bench/Attune.Benchmarks
# Usage: bench/precision-rounds.sh [rounds=2] [steps=15] > results.txt
set -eu
rounds=${1:-2}
steps=${2:-15}
dll=bench/Attune.Benchmarks/bin/Release/net10.0/Attune.Benchmarks.dll
peer() { env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3 "$@"; }   # the OpenBLAS variables unset for the peer only
stamp() { echo "== $1, $(date -u +%H:%M:%S) UTC, load $(cut -d' ' -f1-3 /proc/loadavg)"; }
stamp "GEMM rates, PyTorch peer"; peer bench/peers/train_throughput_torch.py --gemm --threads 2
for round in $(seq 1 "$rounds"); do
  stamp "round $round: Attune fp32, MKL generic path (old loop)"
  ATTUNE_MKL_FAST_PATH=0 dotnet "$dll" train-throughput --threads 2 --steps "$steps" --warmup 2
  stamp "round $round: Attune fp32, MKL fast path"
  dotnet "$dll" train-throughput --threads 2 --steps "$steps" --warmup 2
  stamp "round $round: Attune bf16, MKL fast path"
  dotnet "$dll" train-throughput --threads 2 --steps "$steps" --warmup 2 --precision bf16
  stamp "round $round: PyTorch peer fp32"
  peer bench/peers/train_throughput_torch.py --threads 2 --steps 6 --warmup 1
  stamp "round $round: PyTorch peer autocast bf16"
  peer bench/peers/train_throughput_torch.py --threads 2 --steps 6 --warmup 1 --autocast bf16
done
for round in $(seq 1 "$rounds"); do
  for p in fp32 bf16; do
    stamp "round $round: DPO $p (cached reference)"
    dotnet "$dll" dpo-throughput --threads 2 --steps 5 --warmup 1 --modes cached --precision "$p" 2>/dev/null
  done
done
for p in fp32 bf16 bf16-pure; do
  stamp "generation $p"
  dotnet "$dll" generation --threads 2 --precision "$p" --cache on --batches 1,8 --repeats 3 2>/dev/null
done
stamp "end"
