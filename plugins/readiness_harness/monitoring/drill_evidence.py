"""The restore drill's evidence for a drill whose own folder is gone: written again by the
drill's own writer (`roles/restore_drill/library/readiness_drill_record.py`), so the
textfile node_exporter serves is exactly what the drill writes.

The harness drills damaged backups in a temporary folder removed as soon as the run ends;
to make RestoreDrillFailed real on the embedded default, the failed drill's report is
recorded again into a folder the monitoring watches.
"""

from __future__ import annotations

import importlib.util
import time
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

from readiness_harness.paths import PROJECT_ROOT

RECORDER = PROJECT_ROOT / "roles" / "restore_drill" / "library" / "readiness_drill_record.py"


@cache
def _recorder() -> ModuleType:
    spec = importlib.util.spec_from_file_location("readiness_drill_record", RECORDER)
    if spec is None or spec.loader is None:
        raise RuntimeError(f"cannot load the drill's evidence writer {RECORDER}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def record_drill(folder: Path, host: str, report: dict[str, Any] | None) -> list[Path]:
    """Write `report` (None: the host reported nothing, a failed drill) as the drill does:
    its JSON report, history line and `<host>.prom`; returns the textfiles written."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    _recorder().record(str(folder), {host: report}, time.strftime("%Y%m%d_%H%M%S", time.gmtime()))
    return sorted(folder.glob("*.prom"))
