#!/bin/sh
# Issue 18's benchmark side by side (docs/personalization.md, "Benchmark"): per round, Attune's DPO and
# P-DPO steps (pdpo-throughput, one round each) and then the PyTorch P-DPO peer, the rounds alternating.
# Build first: dotnet build -c Release bench/Attune.Benchmarks
# Usage: bench/pdpo-rounds.sh [rounds=2] [steps=5]
set -eu
rounds=${1:-2}
steps=${2:-5}
dll=bench/Attune.Benchmarks/bin/Release/net10.0/Attune.Benchmarks.dll
for round in $(seq 1 "$rounds"); do
  echo "== round $round: Attune DPO and P-DPO, $(date -u +%H:%M:%S) UTC, load $(cut -d' ' -f1-3 /proc/loadavg)"
  dotnet "$dll" pdpo-throughput --steps "$steps" --warmup 1 --threads 2 --rounds 1 2>/dev/null
  echo "== round $round: PyTorch P-DPO, $(date -u +%H:%M:%S) UTC, load $(cut -d' ' -f1-3 /proc/loadavg)"
  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3 bench/peers/pdpo_throughput_torch.py --steps "$steps" --warmup 1 --threads 2 2>/dev/null
done
