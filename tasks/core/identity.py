"""What a stage's output is made by, so that its key changes exactly when its bytes may.

A stage declares its own modules and the third-party libraries (and their data files, such as OpenCC's and
jieba's dictionaries) that shape its bytes. The rest is found, not listed: every project module those
modules import, transitively within `tasks/` (lazy imports inside functions too), and the C source (with the
headers it includes) of every compiled module among them. Each part is named and hashed, so a re-run can say
which one changed.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import metadata, resources
from pathlib import Path
from types import ModuleType

PROJECT = "tasks"
_ROOT = Path(__file__).resolve().parents[2]  # the folder holding the `tasks` package
_INCLUDE = re.compile(rb'^\s*#\s*include\s+"([^"]+)"', re.MULTILINE)


@dataclass(frozen=True)
class StageCode:
    """A stage's declaration: `modules` (dotted names) whose code, and whatever of `tasks/` they import,
    makes its output; `libraries` (distribution names) by version; `data`, files of those libraries by
    content, as `package:path inside it` (a folder stands for every file in it); `scripts`, files it runs
    that are no module of the project, by content."""

    modules: tuple[str, ...]
    libraries: tuple[str, ...] = ()
    data: tuple[str, ...] = ()
    scripts: tuple[Path, ...] = ()

    def parts(self) -> dict[str, str]:
        """Every part, named (`module:`, `c:`, `library:`, `data:`) → its hash or version."""
        found: dict[str, str] = {}
        for module in self.modules:
            found |= _module_parts(module)
        found |= {f"library:{name}": library_version(name) for name in self.libraries}
        found |= {f"data:{item}": _data_hash(item) for item in self.data}
        found |= {f"script:{path.name}": _file_hash(path) for path in self.scripts}
        return dict(sorted(found.items()))

    def version(self) -> str:
        return hash_parts(self.parts())


def hash_parts(parts: Mapping[str, str]) -> str:
    digest = hashlib.sha256()
    for name, value in sorted(parts.items()):
        digest.update(f"{name}={value}\n".encode())
    return digest.hexdigest()[:16]


def source_version(*packages: ModuleType) -> str:
    """Hash of every module of `packages`: the code identity stored with each run."""
    folders = [Path(package.__file__ or "").parent for package in packages]
    sources = sorted(p for folder in folders for p in folder.rglob("*.py"))
    return hash_parts({_name(p): _file_hash(p) for p in sources})


def library_version(distribution: str) -> str:
    """The installed version of a distribution (a test patches this to see which keys move)."""
    return metadata.version(distribution)


def _file_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


@cache
def _data_hash(item: str) -> str:
    package, _, inner = item.partition(":")
    root = Path(str(resources.files(package).joinpath(inner)))
    files = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]
    return hash_parts({str(p.relative_to(root)) if p != root else root.name: _file_hash(p) for p in files})


def _name(path: Path) -> str:
    return path.resolve().relative_to(_ROOT).as_posix()


@cache
def _module_parts(module: str) -> dict[str, str]:
    """`module` and the project modules it imports, transitively, with the C sources of compiled ones."""
    parts: dict[str, str] = {}
    queue, seen = [module], set()
    while queue:
        name = queue.pop()
        if name in seen:
            continue
        seen.add(name)
        origin = _origin(name)
        if origin is None:
            continue
        if origin.suffix == ".py":
            parts[f"module:{_name(origin)}"] = _file_hash(origin)
            queue += _imports(origin, name)
        else:  # a compiled module: its C source and the headers it includes
            for source in _c_sources(origin.with_name(name.rsplit(".", 1)[-1] + ".c")):
                parts[f"c:{_name(source)}"] = _file_hash(source)
    return parts


def _origin(name: str) -> Path | None:
    """The file of project module `name`, None if it is no module (a name imported from one)."""
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin)


def _imports(path: Path, name: str) -> list[str]:
    """The project modules a source file may import: `import tasks.x`, `from tasks.x import y` (y may be
    a module), relative imports resolved against its package."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_bytes(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            found += [base, *(f"{base}.{alias.name}" for alias in node.names)]
    return [m for m in found if m == PROJECT or m.startswith(PROJECT + ".")]


def _c_sources(source: Path) -> list[Path]:
    """`source` and the local headers it includes, transitively; none if it is not shipped beside."""
    found: list[Path] = []
    queue = [source]
    while queue:
        path = queue.pop()
        if path in found or not path.is_file():
            continue
        found.append(path)
        queue += [path.with_name(h.decode()) for h in _INCLUDE.findall(path.read_bytes())]
    return found
