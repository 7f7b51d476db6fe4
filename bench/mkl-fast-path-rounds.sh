#!/bin/sh
# oneMKL's AVX-512 path against its generic path (docs/torch.md, "oneMKL's AVX-512 path"), in
# alternating rounds in one sitting: per round, the GEMM and the parts (train-throughput --parts),
# then the training loop (train-throughput), with the fast path on (ATTUNE_MKL_FAST_PATH unset) and
# off (=0). Build first: dotnet build -c Release bench/Attune.Benchmarks
# Usage: bench/mkl-fast-path-rounds.sh [rounds=2] [steps=20]
set -eu
rounds=${1:-2}
steps=${2:-20}
dll=bench/Attune.Benchmarks/bin/Release/net10.0/Attune.Benchmarks.dll
for round in $(seq 1 "$rounds"); do
  for switch in on off; do
    if [ "$switch" = on ]; then unset ATTUNE_MKL_FAST_PATH; else export ATTUNE_MKL_FAST_PATH=0; fi
    echo "== round $round, fast path $switch, $(date -u +%H:%M:%S) UTC, load $(cut -d' ' -f1-3 /proc/loadavg)"
    dotnet "$dll" train-throughput --threads 2 --parts 2>&1 | grep -E 'GEMM|decoder layer fwd\+bwd:|linear 384->1024|lm_head \+ loss as in training|MKL fast path'
    dotnet "$dll" train-throughput --threads 2 --steps "$steps" --warmup 2 2>/dev/null \
      | grep -E '"(mkl_fast_path|step_seconds_median|tokens_per_s|gemm_gflops_per_s|fraction_of_gemm|gflop_per_cpu_second|gemm_gflop_per_cpu_second|load_average)"'
  done
done
unset ATTUNE_MKL_FAST_PATH
