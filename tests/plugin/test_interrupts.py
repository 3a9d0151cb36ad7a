"""Ctrl-C and SIGTERM stop every server a command started, remove every temporary folder,
say in one line what was stopped, and exit 130 / 143, at several points of a run.

Each run gets a TMPDIR of its own, so what it leaves behind (folders, processes whose
command line names a file in it) is found exactly."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

READINESS = str(Path(sys.executable).with_name("readiness"))


@pytest.fixture
def private_tmp() -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="readiness-interrupt-test-"))
    folder.chmod(0o755)  # PostgreSQL's own user (when root) must reach its folder inside
    yield folder
    subprocess.run(["pkill", "-KILL", "-f", str(folder)], check=False)
    subprocess.run(["rm", "-rf", str(folder)], check=False)


def processes_naming(folder: Path) -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if str(folder) in command:
            found.append(command[:200])
    return found


def wait_for(process: subprocess.Popen[str], marker: str, timeout: float = 180) -> str:
    """Read the process's stdout until `marker` appears; return what was read."""
    assert process.stdout is not None
    seen = ""
    deadline = time.monotonic() + timeout
    fd = process.stdout.fileno()
    while marker not in seen:
        assert time.monotonic() < deadline, f"{marker!r} never appeared:\n{seen[-2000:]}"
        assert process.poll() is None, f"the command ended before {marker!r}:\n{seen[-2000:]}"
        ready, _, _ = select.select([fd], [], [], 1)
        if ready:
            chunk = os.read(fd, 4096).decode(errors="replace")
            seen += chunk
    return seen


def interrupt(
    command: list[str], folder: Path, marker: str, stop: signal.Signals, delay: float = 0
) -> tuple[int, str]:
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "BACKUP_PATH")},
        "TMPDIR": str(folder),
        "PYTHONUNBUFFERED": "1",  # progress arrives as it happens, so the signal lands where meant
    }
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        wait_for(process, marker)
        time.sleep(delay)
        process.send_signal(stop)
        _, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    return process.returncode, stderr


@pytest.mark.slow
@pytest.mark.parametrize(
    ("stop", "code", "marker", "delay"),
    [
        (signal.SIGINT, 130, "test session starts", 0.0),  # while it starts up
        (signal.SIGINT, 130, "features/", 0.3),  # while the embedded default starts
        (signal.SIGINT, 130, "feature .", 0.5),  # while lines run
        (signal.SIGTERM, 143, "feature .", 0.5),
    ],
    ids=["sigint-at-start", "sigint-while-servers-start", "sigint-mid-run", "sigterm-mid-run"],
)
def test_an_interrupted_check_leaves_no_server_and_no_folder(
    private_tmp: Path, tmp_path: Path, stop: signal.Signals, code: int, marker: str, delay: float
) -> None:
    # `-v` undoes the CLI's `-q`: the file names and progress dots say where the run is.
    command = [READINESS, "check", "-m", "smoke or security", "--output", str(tmp_path / "out"), "--", "-v"]
    exit_code, stderr = interrupt(command, private_tmp, marker, stop, delay)
    assert exit_code == code, stderr[-2000:]
    assert f"interrupted ({stop.name})" in stderr
    assert "Traceback" not in stderr, stderr[-3000:]
    deadline = time.monotonic() + 10
    while processes_naming(private_tmp) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert processes_naming(private_tmp) == []
    assert sorted(path.name for path in private_tmp.iterdir()) == []


@pytest.mark.slow
def test_an_interrupted_drill_leaves_no_server_and_no_folder(private_tmp: Path) -> None:
    exit_code, stderr = interrupt([READINESS, "drill"], private_tmp, "step 2/2", signal.SIGINT, delay=1.0)
    assert exit_code == 130, stderr[-2000:]
    assert "interrupted (SIGINT): stopped the drill" in stderr
    deadline = time.monotonic() + 10
    while processes_naming(private_tmp) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert processes_naming(private_tmp) == []
    assert sorted(path.name for path in private_tmp.iterdir()) == []
