"""Short-lived commands that end with the run, also when it is interrupted.

`subprocess.run` gives a child it was waiting on only a quarter of a second after a
Ctrl-C before it stops waiting, so a slow `initdb` or `pg_ctl` outlives the interrupt
(unreaped, with a ResourceWarning at exit). `run_to_end` kills the child and waits for
it before the interrupt goes on.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from typing import Any


def run_to_end(
    argv: Sequence[str], *, timeout: float | None = None, text: bool = True, **options: Any
) -> subprocess.CompletedProcess[Any]:
    """Like `subprocess.run(argv, capture_output=True, check=False)`, but an interrupt or a
    timeout kills the child and reaps it before it propagates."""
    with subprocess.Popen(
        list(argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=text, **options
    ) as process:
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except BaseException:
            process.kill()
            process.wait()
            raise
    return subprocess.CompletedProcess(list(argv), process.returncode, stdout, stderr)
