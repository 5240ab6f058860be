"""Content-keyed stage directories with atomic writes, so re-runs skip finished work and kills never leave
a half-written output that looks complete. A stage is done exactly when its `manifest.json` exists."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

MANIFEST = "manifest.json"


def file_sha256(path: Path, chunk: int = 1 << 22) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def code_version(*sources: ModuleType | Path) -> str:
    """Hash of the stage's own source files: editing a stage invalidates only its outputs."""
    digest = hashlib.sha256()
    for item in sources:
        source = item if isinstance(item, Path) else Path(item.__file__ or "")
        digest.update(source.name.encode())
        digest.update(source.read_bytes())
    return digest.hexdigest()[:16]


def stage_key(stage: str, inputs: Sequence[str], params: Mapping[str, Any], code: str) -> str:
    payload = json.dumps(
        {"stage": stage, "inputs": list(inputs), "params": params, "code": code}, sort_keys=True, default=str
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:20]


@contextmanager
def atomic_path(final: Path) -> Iterator[Path]:
    """Yield a temp path beside `final`; on success fsync it and rename it into place, else delete it."""
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        with tmp.open("rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, final)
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
        leftovers stay, for a stage that can tell its own finished pieces from unfinished ones."""
        if self.path.exists() and not resume:
            shutil.rmtree(self.path)
        self.path.mkdir(parents=True, exist_ok=True)
        return self.path

    def finish(self, manifest: Mapping[str, Any]) -> None:
        write_json_atomic(self.path / MANIFEST, manifest)
