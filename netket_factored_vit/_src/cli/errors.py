"""One-line errors for the command line: ``<prog>: error: <what>``, exit status 2."""

from __future__ import annotations

import argparse
import sys


class UsageError(Exception):
    """A bad value or a refused request; the message names the value and what is allowed."""


class OneLineParser(argparse.ArgumentParser):
    """An :class:`argparse.ArgumentParser` whose errors are one line (no usage block)."""

    def error(self, message: str):
        fail(f"{message} (see '{self.prog} --help')", prog=self.prog)


def fail(message: str, *, prog: str = "nfv") -> None:
    """Print ``<prog>: error: <message>`` on one line to stderr and exit with status 2."""
    sys.stderr.write(f"{prog}: error: {' '.join(str(message).split())}\n")
    sys.stderr.flush()
    raise SystemExit(2)
