"""`segnet` entry point: builds the subcommand parser and turns user errors into one line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from . import (benchmark_cmd, demo_cmd, evaluate_cmd, export_cmd, models_cmd, predict_cmd, quantize_cmd, serve_cmd,
               train_cmd)

# Each subcommand module provides `add_parser(subparsers)` and `run(args) -> int`.
SUBCOMMANDS = [models_cmd, train_cmd, evaluate_cmd, predict_cmd, quantize_cmd, export_cmd, serve_cmd, benchmark_cmd,
               demo_cmd]


class UserError(Exception):
    """A problem with the user's input: printed as one line, exit status 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="segnet",
        description="SegNet semantic segmentation: train, evaluate, predict, benchmark, export.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in SUBCOMMANDS:
        sub = module.add_parser(subparsers)
        sub.set_defaults(handler=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except KeyboardInterrupt:
        print("segnet: interrupted", file=sys.stderr)
        return 130
    except (UserError, ValueError, FileNotFoundError, FloatingPointError) as error:
        # Library errors (DataError, WeightsError, unknown model...) already name the file or value.
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        print(f"segnet {args.command}: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
