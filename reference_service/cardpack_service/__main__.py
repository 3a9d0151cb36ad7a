"""`python -m cardpack_service`: see cardpack_service.serving.launcher (or --help)."""

from __future__ import annotations

import sys

from .serving.launcher import main

sys.exit(main())
