"""The files zhvec ships with, named by their path in the source tree (`SHIPPED`): the default
`pipelines.yaml`, the sample dump, the eval sets, the eval-vocabulary dictionary and the tutorial script
`zhvec bench` runs.

A wheel carries copies of them inside this package at the same relative paths (setup.py's build step puts
them there, so the repository keeps its layout); an editable install reads them in place from the source
tree this package sits in.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path, PurePosixPath

DEFAULT_CONFIG = "pipelines.yaml"
SHIPPED = (DEFAULT_CONFIG, "data/sample", "data/eval", "data/dicts", "benchmarks/naive_pipeline.py")


def folder() -> Path:
    """This package's own folder (a plain folder: zhvec's C modules rule out a zip import)."""
    return Path(str(files(__name__))).resolve()


def root() -> Path:
    """The folder the shipped files' relative paths start from: this package's in a wheel, else the
    source tree's."""
    packaged = folder()
    return packaged if (packaged / DEFAULT_CONFIG).is_file() else packaged.parent.parent


def shipped(relative: str | Path) -> Path | None:
    """The shipped file or folder at `relative` (e.g. `data/eval/ca8/semantic.txt`); None when zhvec
    ships nothing there."""
    parts = PurePosixPath(Path(relative).as_posix()).parts
    tops = (PurePosixPath(s).parts for s in SHIPPED)
    if ".." in parts or not any(parts[: len(top)] == top for top in tops):
        return None
    path = root().joinpath(*parts)
    return path if path.exists() else None
