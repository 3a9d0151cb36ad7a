"""Ctrl-C and SIGTERM for the long-running commands: stop what was started, say so, and
exit 130 (SIGINT) or 143 (SIGTERM), never with a traceback."""

from __future__ import annotations

import signal
import sys
from types import FrameType

EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}


class Interrupted(KeyboardInterrupt):
    """A stop signal arrived; `signum` says which."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return EXIT_CODES.get(signal.Signals(self.signum), 130)


def _raise(signum: int, frame: FrameType | None) -> None:
    raise Interrupted(signum)


def install() -> None:
    """SIGINT and SIGTERM raise `Interrupted` in the main thread."""
    signal.signal(signal.SIGINT, _raise)
    signal.signal(signal.SIGTERM, _raise)


def exit_code(error: KeyboardInterrupt) -> int:
    return error.exit_code if isinstance(error, Interrupted) else 130


def report(what: str, error: KeyboardInterrupt) -> int:
    """Print the one line that says what was stopped; return the exit code."""
    name = signal.Signals(error.signum).name if isinstance(error, Interrupted) else "SIGINT"
    print(f"interrupted ({name}): {what}", file=sys.stderr, flush=True)
    return exit_code(error)
