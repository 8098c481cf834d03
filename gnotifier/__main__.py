"""The command line: ``python -m gnotifier COMMAND [options]``.

Each command is a module with ``add_arguments(parser)`` and ``run(args) ->
exit status``, listed in ``COMMANDS``; the module is imported only when its
command runs. ``bench`` measures gnotifier against its peers
(round trips, throughput, wake-ups, call floods, hub lag, memory, a server under
load). Everything runs in this process's main thread.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Dict, Sequence, Tuple

#: command -> (module, one-line help)
COMMANDS: Dict[str, Tuple[str, str]] = {
    "bench": ("gnotifier._bench._runner", "measure gnotifier against its peers, in one run"),
    "demo": ("gnotifier._demo._runner", "a gevent server under load, with and without offloading"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m gnotifier", description="gnotifier's commands")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module, summary) in COMMANDS.items():
        command = commands.add_parser(name, help=summary, description=summary)
        importlib.import_module(module).add_arguments(command)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        status: int = importlib.import_module(COMMANDS[args.command][0]).run(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return status


if __name__ == "__main__":
    sys.exit(main())
