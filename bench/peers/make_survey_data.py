#!/usr/bin/python3
"""Writes the survey benchmark data: QUESTIONS x 4 groups, 5 ordered options.

human.jsonl and llm.jsonl in Attune's generic JSON-lines form, one line per question x group.
Human answers: 200-600 per group from a Dirichlet(1.5) distribution; LLM answers: 200 per
group, from the same distribution for 70% of the pairs and from a shifted one for 30%.
Usage: make_survey_data.py OUT_DIR [QUESTIONS=500] [SEED=42]
"""
import json
import os
import sys

import numpy as np


def main():
    out = sys.argv[1]
    questions = int(sys.argv[2]) if len(sys.argv) > 2 else 500
    seed = int(sys.argv[3]) if len(sys.argv) > 3 else 42
    rng = np.random.default_rng(seed)
    groups = ["RACE=Black", "RACE=White", "AGE=18-29", "AGE=65+"]
    options = ["1", "2", "3", "4", "5"]
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "human.jsonl"), "w") as h, open(os.path.join(out, "llm.jsonl"), "w") as l:
        for q in range(questions):
            for g in groups:
                p = rng.dirichlet([1.5] * 5)
                qd = p
                if rng.random() < 0.3:
                    qd = 0.7 * p + 0.3 * np.eye(5)[4]
                nh = int(rng.integers(200, 601))
                ch = rng.multinomial(nh, p).tolist()
                cl = rng.multinomial(200, qd).tolist()
                base = {"question": f"Q{q + 1:03d}", "group": g, "options": options}
                h.write(json.dumps({**base, "counts": ch}) + "\n")
                l.write(json.dumps({**base, "counts": cl}) + "\n")


if __name__ == "__main__":
    main()
