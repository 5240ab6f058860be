"""Content-keyed stage directories with atomic writes, so re-runs skip finished work and kills never leave
a half-written output that looks complete. A stage is done exactly when its `manifest.json` exists."""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import shutil
import socket
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tasks.core.errors import InputError

MANIFEST = "manifest.json"
LOCK = ".zhvec.lock"
DISK_FULL = (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)  # the errnos of a refused write


class WorkspaceBusy(InputError):
    """Another process is running a pipeline on this workspace; the message names it."""


class NoSpaceError(OSError):
    """The disk (or a file size limit) refused a write; the message names the output that was not written."""


def file_sha256(path: Path, chunk: int = 1 << 22) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def stage_key(stage: str, inputs: Sequence[str], params: Mapping[str, Any], code: str) -> str:
    payload = json.dumps(
        {"stage": stage, "inputs": list(inputs), "params": params, "code": code}, sort_keys=True, default=str
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:20]


def fsync_path(path: Path) -> None:
    """Persist a file's bytes, or a folder's entries (a rename: without it a power cut may forget that a file
    got its final name)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _umask() -> int:
    """The process umask, read from /proc (Linux) rather than by setting it and back, which would let a file
    created meanwhile by another thread get a wrong mode."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    old = os.umask(0o022)
    os.umask(old)
    return old


@contextmanager
def atomic_path(final: Path) -> Iterator[Path]:
    """Yield a temp path beside `final`; on success fsync it, rename it into place and fsync the folder,
    else delete it. A full disk is a `NoSpaceError` naming `final`, which is then untouched.

    The file gets the mode a plain `open` would give it (0666 minus the umask): `mkstemp` makes it 0600,
    which would hide the outputs from the other users of a shared workspace."""
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        with tmp.open("rb+") as fh:
            os.fchmod(fh.fileno(), 0o666 & ~_umask())
            os.fsync(fh.fileno())
        os.replace(tmp, final)
        fsync_path(final.parent)
    except OSError as exc:
        if exc.errno not in DISK_FULL or isinstance(exc, NoSpaceError):
            raise
        raise NoSpaceError(
            exc.errno,
            f"{final}: not written, out of disk space ({exc.strerror}); nothing was left under that name, "
            "free some space and re-run to resume",
        ) from None
    finally:
        tmp.unlink(missing_ok=True)


def write_json_atomic(path: Path, data: Mapping[str, Any]) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, ensure_ascii=False, indent=2, default=str), encoding="utf-8")


@dataclass(frozen=True)
class StageDir:
    """`<workspace>/<stage>/<key>/`: where one stage run with one set of inputs keeps its outputs."""

    root: Path
    stage: str
    key: str

    @property
    def path(self) -> Path:
        return self.root / self.stage / self.key

    def done(self) -> bool:
        return (self.path / MANIFEST).is_file()

    def manifest(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.path / MANIFEST).read_text(encoding="utf-8"))
        return data

    def prepare(self, resume: bool = False) -> Path:
        """Create the folder for a fresh attempt, removing leftovers of a killed one; with `resume` the
        leftovers stay, for a stage that can tell its own finished pieces from unfinished ones, except the
        temp files and folders (`.<name>.tmp`) of atomic writes a kill interrupted: never finished pieces."""
        if self.path.exists() and not resume:
            shutil.rmtree(self.path)
        self.path.mkdir(parents=True, exist_ok=True)
        for entry in self.path.iterdir():
            if entry.name.startswith(".") and entry.name.endswith(".tmp"):
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry)
                else:
                    entry.unlink()
        return self.path

    def finish(self, manifest: Mapping[str, Any]) -> None:
        write_json_atomic(self.path / MANIFEST, manifest)


def _holder(path: Path) -> str:
    """Who holds the lock, from what it wrote into the file (it may not have written it yet)."""
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
        return f"pid {info['pid']} on {info['host']} (pipeline {info['pipeline']}, since {info['since']})"
    except (OSError, ValueError, KeyError, TypeError):
        return "another process (which has not written its pid yet)"


@contextmanager
def workspace_lock(root: Path, pipeline: str) -> Iterator[None]:
    """Hold `<root>/.zhvec.lock` for a run; if another process holds it, fail at once naming the holder.

    Two runs on one workspace would rebuild each other's stage folders and race for the results database,
    so the second one is refused rather than queued (a queued run could wait hours). The lock is an
    `fcntl.flock` on the open file, which the kernel drops when the holder dies, even by SIGKILL: a lock
    file left by a killed run is taken over. The pid, host, pipeline and start time written into the file
    only serve the error message.
    """
    root.mkdir(parents=True, exist_ok=True)
    path = root / LOCK
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise WorkspaceBusy(
                f"{root}: workspace in use by {_holder(path)}; wait for that run to end or stop it, "
                "then re-run (finished stages are reused)"
            ) from None
        since = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        info = {"pid": os.getpid(), "host": socket.gethostname(), "pipeline": pipeline, "since": since}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)  # released: nobody to name any more
    finally:
        os.close(fd)
