"""``specnorm`` command line: one subcommand per job, each parsed by the module that owns it.

Each entry maps a subcommand to ``module:function``; the function takes the remaining argv list
and returns an exit code. Modules are imported only when their command runs, so ``--help`` is fast.
"""

from __future__ import annotations

import importlib
import os
import sys

COMMANDS: dict[str, tuple[str, str]] = {
    "theory": ("specnorm.analysis.theory:main", "Monte-Carlo checks of Theorems 2-3 and Prop. 1 (CSV + table)"),
    "prepare": ("specnorm.data.cli:main", "download (checksummed) and prepare a dataset into a uint8 array"),
    "train": ("specnorm.train.cli:main", "train one grid cell from a cell config (resumes automatically)"),
    "score": ("specnorm.metrics.cli:main", "score the best and final generator of a finished run"),
    "fetch-inception": ("specnorm.metrics.cli:fetch_inception", "download or register the Inception weights"),
    "cells": ("specnorm.grid:cells_main", "expand config.yaml experiment blocks into cell configs"),
    "plan": ("specnorm.grid:plan_main", "print the grid: cells per experiment, iterations, GPU-hours"),
    "report": ("specnorm.report:main", "aggregate finished runs into tables and the HTML report"),
}


def _usage() -> str:
    width = max(map(len, COMMANDS))
    lines = ["usage: specnorm COMMAND [ARGS...]", "", "commands:"]
    lines += [f"  {name:<{width}}  {desc}" for name, (_, desc) in COMMANDS.items()]
    lines += ["", "Run 'specnorm COMMAND --help' for a command's options."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage())
        return 0
    if argv[0] in ("-V", "--version"):
        from specnorm import __version__

        print(__version__)
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"specnorm: unknown command {name!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    target = COMMANDS[name][0]
    mod_name, func_name = target.split(":")
    func = getattr(importlib.import_module(mod_name), func_name)
    try:
        return int(func(rest) or 0)
    except BrokenPipeError:  # `specnorm cells | head`: the reader left; stop quietly, as `ls | head` does
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit's flush
        return 141  # 128 + SIGPIPE, a shell's status for a writer whose pipe closed


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
