"""`segnet` entry point: builds the subcommand parser and turns user errors into one line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ..extras import MissingExtra
from . import (benchmark_cmd, demo_cmd, evaluate_cmd, export_cmd, models_cmd, predict_cmd, quantize_cmd,
               refresh_bn_cmd, serve_cmd, shift_prior_cmd, soup_cmd, train_cmd)

# Each subcommand module provides `add_parser(subparsers)` and `run(args) -> int`.
SUBCOMMANDS = [models_cmd, train_cmd, soup_cmd, refresh_bn_cmd, shift_prior_cmd, evaluate_cmd, predict_cmd,
               quantize_cmd, export_cmd, serve_cmd, benchmark_cmd, demo_cmd]


class UserError(Exception):
    """A problem with the user's input: printed as one line, exit status 2."""


def one_line(error: BaseException) -> str:
    """The error's first line; for an error re-raised from a data-loader worker, the original one
    (torch puts "Caught X in DataLoader worker process N." first and the message last)."""
    text = str(error).strip()
    if not text:
        return type(error).__name__
    lines = text.splitlines()
    if lines[0].startswith("Caught ") and "Original Traceback" in text:
        last = lines[-1].strip()
        name, sep, rest = last.partition(": ")
        return rest if sep and " " not in name else last
    return lines[0]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="segnet",
        description="SegNet semantic segmentation: train, evaluate, predict, benchmark, export.",
    )
    from .. import __version__

    parser.add_argument("--version", action="version", version=f"segnet {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in SUBCOMMANDS:
        sub = module.add_parser(subparsers)
        sub.set_defaults(handler=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:  # plain `segnet`: say what there is
        parser.print_help()
        return 0
    try:
        return int(args.handler(args) or 0)
    except KeyboardInterrupt as interrupt:
        # A training run stopped by a signal says where its checkpoint is (engine.stop.TrainingStopped).
        print(f"segnet {args.command}: {interrupt}" if str(interrupt) else "segnet: interrupted", file=sys.stderr)
        return getattr(interrupt, "exit_code", 130)
    except (UserError, ValueError, FileNotFoundError, FloatingPointError, MissingExtra) as error:
        # Library errors (DataError, WeightsError, unknown model...) already name the file or value.
        message = one_line(error)
        print(f"segnet {args.command}: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
