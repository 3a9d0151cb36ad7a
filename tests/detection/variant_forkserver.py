"""A fork server for the variants' services: `python variant_forkserver.py`.

It imports the reference service (and the variants' patches) once, then reads one JSON
request a line on stdin, `{"argv": [NAME, PORT], "env": {...}, "log": PATH, "cwd": PATH}`,
forks a child that runs `variant_service.main(argv)` in a session of its own with exactly
that environment and its output in the log, and answers `{"pid": N}` on stdout. Each
variant is still a process of its own, running the service's own launcher; it only skips
importing FastAPI, uvicorn and the service again (most of a service's start). The server
is single-threaded (forking is safe), its children are reaped by the kernel, and it ends
when its stdin closes.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import traceback
from typing import Any

import variant_patches  # noqa: F401 - imported once here, applied in each child
import variant_service

from cardpack_service import main as _service_app  # noqa: F401 - the imports a child skips
from cardpack_service.serving import launcher as _service_launcher  # noqa: F401


def _child(request: dict[str, Any]) -> None:
    """In the forked child: become the variant's service process, never return."""
    code = 1
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        os.setsid()
        os.chdir(request["cwd"])
        os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
        log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.close(log)
        os.environ.clear()
        os.environ.update(request["env"])
        code = variant_service.main(request["argv"])
    except BaseException:  # the child's log says what went wrong; the server carries on
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def main() -> int:
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped as they end
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            _child(request)
        sys.stdout.write(json.dumps({"pid": pid}) + "\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
