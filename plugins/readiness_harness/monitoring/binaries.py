"""Find the monitoring binaries: Prometheus, Alertmanager, amtool and node_exporter.

They come from Debian's packages (`prometheus` 2.42, `prometheus-alertmanager` 0.25,
`prometheus-node-exporter` 1.5); `make` extracts only the binaries into the venv, so no
system service is installed or started. Lookup order for each: PATH (under its own name
or Debian's), the venv's bin folder, then where Debian's package installs it.
"""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

VENV_BIN = Path(sys.executable).parent


@dataclass(frozen=True)
class Binary:
    """A monitoring program: its name, Debian's name for it, and the package holding it."""

    name: str
    debian_name: str
    package: str

    @property
    def install_hint(self) -> str:
        return (
            f"{self.name} was not found on PATH, in the venv ({VENV_BIN}) or at "
            f"/usr/bin/{self.debian_name}: run `make {VENV_BIN.name}/{self.name}` from the repository "
            f"(extracts it from Debian's {self.package} package without starting a service), "
            f"or put {self.name} on PATH"
        )


PROMETHEUS = Binary("prometheus", "prometheus", "prometheus")
ALERTMANAGER = Binary("alertmanager", "prometheus-alertmanager", "prometheus-alertmanager")
AMTOOL = Binary("amtool", "amtool", "prometheus-alertmanager")
NODE_EXPORTER = Binary("node_exporter", "prometheus-node-exporter", "prometheus-node-exporter")


class BinaryNotFound(RuntimeError):
    """A monitoring binary is not installed; the message says how to install it."""


def _executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def find(binary: Binary) -> Path:
    """The binary's path, or BinaryNotFound saying how to get it."""
    for name in dict.fromkeys((binary.name, binary.debian_name)):
        on_path = shutil.which(name)
        if on_path is not None:
            return Path(on_path)
    for candidate in (VENV_BIN / binary.name, Path("/usr/bin") / binary.debian_name):
        if _executable(candidate):
            return candidate
    raise BinaryNotFound(binary.install_hint)
