"""Run one variant of the reference service: `python variant_service.py NAME PORT`.

Applies the variant's Python defect (variant_patches) to `cardpack_service` in this
process, then runs the service's own launcher (`python -m cardpack_service`: production
launch settings, one worker) on 127.0.0.1:PORT. The service's settings come from the
environment, as in any deployment. The database was prepared before this starts (schema,
grants and the variant's SQL defect, by variant_deployment), as a deploy's migration
would: the service runs as a role that owns nothing.
"""

from __future__ import annotations

import sys

import variant_patches
from variant_catalogue import variant_named


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        sys.stderr.write("usage: variant_service.py NAME PORT\n")
        return 2
    name, port = argv
    variant = variant_named(name)
    if variant.patch is not None:
        variant_patches.apply(variant.patch)
    from cardpack_service.serving.launcher import main as launch

    return launch(["--host", "127.0.0.1", "--port", port, "--workers", "1"])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
