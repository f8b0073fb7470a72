"""Every option of every subcommand has help text, and shows its default where it has one."""

import argparse

from segnet.cli.main import build_parser


def test_every_option_has_help_and_shows_its_default():
    parser = build_parser()
    problems = []
    for group in parser._subparsers._group_actions:
        for name, sub in group.choices.items():
            for action in sub._actions:
                if isinstance(action, argparse._HelpAction):
                    continue
                text = action.help or ""
                if not text:
                    problems.append(f"{name} {action.dest}: no help")
                elif (action.option_strings and action.default not in (None, False, argparse.SUPPRESS)
                      and "default" not in text):
                    problems.append(f"{name} {action.option_strings[0]}: default {action.default!r} not shown")
    assert problems == []
