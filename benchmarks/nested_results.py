"""Summarise `ptycho-nl evaluate` records of nested runs: per model id and size, the mean of a
metric over seeds with a percentile-bootstrap 95% interval (`evaluate.stats.bootstrap_mean_ci`).
Numbers come from the metrics.json files given, nothing else.

    python benchmarks/nested_results.py recall_accuracy EVAL_DIR/metrics.json ...
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict

import numpy as np

from ptycho_nl.evaluate.stats import bootstrap_mean_ci


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("metric", help="recall_accuracy or bits_per_char")
    parser.add_argument("files", nargs="+")
    args = parser.parse_args()
    values: dict[str, list[float]] = defaultdict(list)
    for path in args.files:
        with open(path, encoding="utf-8") as fh:
            record = json.load(fh)
        key = f"{record['model_id']} ({record['metrics'].get('parameters')} parameters)"
        values[key].append(float(record["metrics"][args.metric]))
    print(f"| model | seeds | {args.metric} mean | 95% bootstrap CI | per seed |")
    print("|---|---|---|---|---|")
    for model, vals in sorted(values.items()):
        data = np.asarray(vals)
        low, high = bootstrap_mean_ci(data, n_boot=10000, confidence=0.95, seed=0)
        seeds = ", ".join(f"{v:.3f}" for v in vals)
        print(f"| {model} | {len(vals)} | {data.mean():.3f} | [{low:.3f}, {high:.3f}] | {seeds} |")


if __name__ == "__main__":
    main()
