#!/usr/bin/env bash
# The peer of docs/optimization.md: a bare optimal-value comparison that runs Debian's CBC
# (coinor-cbc) on the two LP files of every pair of a data set made by 'attune equiv generate'.
# Prints one line per pair (milliseconds for both CBC runs, the verdict, the label) to
# $OUT (default cbc-peer.tsv) and a summary: median and p95 time per pair, and accuracy.
# A CBC run longer than $CBC_TIMEOUT seconds (default 60) is cut and counts as failed.
# Usage: bench/equivamap/cbc-peer.sh DATASET [MAX_VARIABLES]
set -euo pipefail
dataset=${1:?usage: cbc-peer.sh DATASET [MAX_VARIABLES]}
max=${2:-60}
out=${OUT:-cbc-peer.tsv}
command -v cbc >/dev/null || { echo "cbc not found: apt-get install coinor-cbc" >&2; exit 2; }
objective() { # prints the optimal value, or infeasible/unbounded
  # A run cut by the timeout still gets its line ("failed"): the pipeline must not stop the script.
  { timeout "${CBC_TIMEOUT:-60}" cbc "$1" solve quit 2>&1 || true; } | awk '
    /Objective value:/ {v=$3} /Optimal - objective value/ {v=$5}
    /[Ii]nfeasible/ && v=="" {s="infeasible"} /[Uu]nbounded/ && v=="" {s="unbounded"}
    END {if (v!="") print v; else if (s!="") print s; else print "failed"}'
}
variables() { # number of variables in an LP file written by Attune (declared in the objective or rows)
  python3 - "$1" <<'PY'
import re,sys
text=open(sys.argv[1]).read()
body=re.split(r'(?im)^bounds$',text)[0]
names=set(re.findall(r'(?<![\w.])([A-Za-z_][\w.\[\]]*)(?=\s|$)',body.split('\n',2)[2]))
print(len(names - {'Subject','To'}))
PY
}
: > "$out"
for label in $(find "$dataset" -name label.json | sort); do
  dir=$(dirname "$label")
  [ "$(variables "$dir/original.lp")" -lt "$max" ] && [ "$(variables "$dir/transformed.lp")" -lt "$max" ] || continue
  start=$(date +%s%N)
  a=$(objective "$dir/original.lp"); b=$(objective "$dir/transformed.lp")
  end=$(date +%s%N)
  same=$(python3 -c "import sys
a,b=sys.argv[1],sys.argv[2]
try: print('true' if abs(float(a)-float(b))<=1e-6*(1+abs(float(a))) else 'false')
except ValueError: print('true' if a==b and a in ('infeasible','unbounded') else 'false')" "$a" "$b")
  truth=$(python3 -c "import json,sys; print(str(json.load(open(sys.argv[1]))['equivalent']).lower())" "$label")
  printf '%s\t%.3f\t%s\t%s\n' "$dir" "$(echo "($end-$start)/1000000" | bc -l)" "$same" "$truth" >> "$out"
done
python3 - "$out" <<'PY'
import sys,statistics
rows=[l.rstrip('\n').split('\t') for l in open(sys.argv[1])]
t=sorted(float(r[1]) for r in rows)
p95=t[min(len(t)-1,int(-(-0.95*len(t)//1))-1)]
ok=sum(r[2]==r[3] for r in rows)
print(f"cbc peer (value comparison, 2 CBC runs per pair): {len(rows)} pairs, median {statistics.median(t):.1f} ms, p95 {p95:.1f} ms, mean {statistics.mean(t):.1f} ms, accuracy {ok}/{len(rows)}")
PY
