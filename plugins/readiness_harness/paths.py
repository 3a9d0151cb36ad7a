"""Where the harness's own checkout is: playbooks, roles, features, package.json.

The package is installed editable from the repository, so the checkout is three levels
above this file (plugins/readiness_harness/paths.py).
"""

from __future__ import annotations

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
