"""`python -m ptycho_nl.train [--config FILE] [--set KEY=VALUE ...] --data NPZ --out RUN_DIR`
(also under torchrun).

The library's own entry point: it sets the process up first, then trains; it does not go
through the `ptycho-nl` command line. Prints the job summary (one JSON line per rank) on stdout;
exit 0 completed, skipped or stopped at its budget, 1 failed job, 2 usage error (a missing
option, an unknown or invalid `--set`).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ptycho_nl.runtime import configure_threads


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m ptycho_nl.train", description=__doc__)
    parser.add_argument("--data", type=Path, required=True, help="data file of the model family")
    parser.add_argument("--out", type=Path, required=True, help="run directory (created)")
    parser.add_argument("--config", type=Path, help="training config JSON (TrainConfig)")
    parser.add_argument("--resume", action="store_true", help="continue from last_model.pt")
    parser.add_argument("--log-gpu-stats", action="store_true", help="add GPU fields to steps")
    parser.add_argument(
        "--set",
        dest="sets",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="set any TrainConfig field, e.g. --set optimizer.lr=0.01 (repeatable)",
    )
    parser.add_argument(
        "--progress", action=argparse.BooleanOptionalAction, default=True, help="progress bar"
    )
    return parser.parse_args(argv)


def _write_line(text: str) -> None:
    """`text` and its newline in one write(2) where stdout is a file descriptor."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError):  # a captured stream (tests) has no descriptor
        sys.stdout.write(text + "\n")
        sys.stdout.flush()
        return
    sys.stdout.flush()
    os.write(fd, (text + "\n").encode())


def main(argv: list[str] | None = None) -> int:
    configure_threads()  # before anything imports torch
    args = parse_args(argv)
    from ptycho_nl.config import apply_overrides
    from ptycho_nl.errors import ConfigError
    from ptycho_nl.train.config import TrainConfig
    from ptycho_nl.train.loop import summary_json, train
    from ptycho_nl.train.setup import job_config

    config = job_config(args.config, log_gpu_stats=args.log_gpu_stats)
    if args.sets and isinstance(config, TrainConfig):
        try:
            config = apply_overrides(
                TrainConfig, config.model_dump(mode="json"), args.sets, source="--set"
            )
        except ConfigError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    result = train(config, args.data, args.out, resume=args.resume, progress=args.progress)
    # One write(2) per summary line: under torchrun every rank prints to the same pipe, and a
    # print's text and its newline can reach it separately, splicing two ranks' lines.
    _write_line(summary_json(result))
    if result.status == "failed":
        print(f"error: training failed: {result.error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
