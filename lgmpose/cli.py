"""The `lgmpose` command line: discovers the sub-commands in :mod:`lgmpose.commands`."""
from __future__ import annotations

import argparse
import contextlib
import importlib
import pkgutil
import signal
import sys
import threading
from collections.abc import Sequence

from lgmpose import __version__
from lgmpose.errors import LgmposeError


class _CommandParser(argparse.ArgumentParser):
    """A sub-command's parser: a bad argument is one line (not the whole usage) and exit 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see: {self.prog} --help)\n")


class Terminated(KeyboardInterrupt):
    """Raised in the main thread on SIGTERM, so that ``finally`` blocks and the atomic writers
    (:mod:`lgmpose.utils.atomic`) discard their temporary files as on Ctrl-C."""


def _raise_terminated(signum, frame):
    raise Terminated()


@contextlib.contextmanager
def _sigterm_as_exception():
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set from the main thread
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _command_modules():
    import lgmpose.commands as package

    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"lgmpose.commands.{info.name}")
        yield getattr(module, "NAME", info.name.replace("_", "-")), module


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lgmpose",
        description="Real-time top-down human pose estimation with LGM-Pose.",
    )
    parser.add_argument("--version", action="version", version=f"lgmpose {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND",
                                       parser_class=_CommandParser)
    for name, module in _command_modules():
        sub = subparsers.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(sub)
        sub.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    try:
        with _sigterm_as_exception():
            code = args._run(args)
    except LgmposeError as error:
        print(f"lgmpose {args.command}: error: {error}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as error:
        # An optional dependency (torch, pycocotools, ...) that this install lacks.
        from lgmpose.utils.extras import missing_extra_message

        message = missing_extra_message(error)
        if message is None:
            raise
        print(f"lgmpose {args.command}: error: {message}", file=sys.stderr)
        return 2
    except OSError as error:
        # A file or folder the system refused (permissions, disk full, a path that cannot be
        # made): one line naming it, not a traceback.
        if error.filename is None:
            raise
        where = f"'{error.filename}'" + (f" -> '{error.filename2}'" if error.filename2 else "")
        print(f"lgmpose {args.command}: error: {where}: {error.strerror or error}",
              file=sys.stderr)
        return 2
    except Terminated:
        print(f"lgmpose {args.command}: terminated", file=sys.stderr)
        return 128 + signal.SIGTERM
    except KeyboardInterrupt:
        print(f"lgmpose {args.command}: interrupted", file=sys.stderr)
        return 130
    return int(code or 0)


if __name__ == "__main__":
    sys.exit(main())
