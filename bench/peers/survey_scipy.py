#!/usr/bin/python3
"""SciPy peer of `attune survey test`: the same permutation tests with scipy.stats.permutation_test.

For each question x group of DATA_DIR/human.jsonl and DATA_DIR/llm.jsonl (written by
make_survey_data.py), the two groups' answers are expanded from their counts and tested with
scipy.stats.permutation_test(permutation_type='independent', alternative='greater',
n_resamples=B, vectorized=True) on Pearson's chi-square statistic of the 2xK table (options empty
in both rows dropped), which is what Attune computes. Only the first LIMIT tests are run (the
whole job takes minutes); the time for all of them is extrapolated from the mean per test.
Usage: survey_scipy.py DATA_DIR [LIMIT=40] [B=10000] [--compare ATTUNE_JSON]
Prints one JSON document.
"""
import json
import sys
import time

import numpy as np
import scipy
from scipy import stats


def counts(x, k):
    """Per-row option counts of a (..., n) array of option indices, with one bincount."""
    rows = x.reshape(-1, x.shape[-1])
    m = rows.shape[0]
    flat = (rows + k * np.arange(m)[:, None]).ravel()
    return np.bincount(flat, minlength=m * k).reshape(x.shape[:-1] + (k,)).astype(float)


def chi2_of_samples(k):
    def statistic(x, y, axis=-1):
        a = counts(np.moveaxis(x, axis, -1), k)
        b = counts(np.moveaxis(y, axis, -1), k)
        ra = a.sum(axis=-1, keepdims=True)
        rb = b.sum(axis=-1, keepdims=True)
        c = a + b
        n = ra + rb
        with np.errstate(divide="ignore", invalid="ignore"):
            ea = ra * c / n
            eb = rb * c / n
            terms = np.where(c > 0, (a - ea) ** 2 / ea + (b - eb) ** 2 / eb, 0.0)
        return terms.sum(axis=-1)

    return statistic


def read(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    data = args[0]
    limit = int(args[1]) if len(args) > 1 else 40
    b = int(args[2]) if len(args) > 2 else 10000
    compare = None
    if "--compare" in sys.argv:
        compare = json.load(open(sys.argv[sys.argv.index("--compare") + 1]))
    human = read(f"{data}/human.jsonl")
    llm = {(r["question"], r["group"]): r for r in read(f"{data}/llm.jsonl")}
    rng = np.random.default_rng(1)
    pvalues = []
    start = time.perf_counter()
    cpu = time.process_time()
    for h in human[:limit]:
        l = llm[(h["question"], h["group"])]
        k = len(h["options"])
        x = np.repeat(np.arange(k), h["counts"])
        y = np.repeat(np.arange(k), l["counts"])
        res = stats.permutation_test((x, y), chi2_of_samples(k), permutation_type="independent",
                                     alternative="greater", n_resamples=b, vectorized=True, random_state=rng)
        pvalues.append(float(res.pvalue))
    seconds = time.perf_counter() - start
    cpu = time.process_time() - cpu
    out = {
        "scipy": scipy.__version__,
        "tests_run": len(pvalues),
        "tests_total": len(human),
        "permutations": b,
        "seconds": round(seconds, 3),
        "cpu_seconds": round(cpu, 3),
        "ms_per_test": round(1000 * seconds / len(pvalues), 1),
        "extrapolated_seconds_all": round(seconds / len(pvalues) * len(human), 1),
        "extrapolated_cpu_seconds_all": round(cpu / len(pvalues) * len(human), 1),
    }
    if compare is not None:
        ours = [r["p_value"] for r in compare["results"][: len(pvalues)]]
        diff = np.abs(np.array(ours) - np.array(pvalues))
        se = np.sqrt(np.maximum(np.array(pvalues) * (1 - np.array(pvalues)), 1e-4) / b)
        out["max_abs_p_difference_vs_attune"] = round(float(diff.max()), 5)
        out["max_difference_in_standard_errors"] = round(float((diff / (np.sqrt(2) * se)).max()), 2)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
