"""Why a stage ran rather than reused an output: what differs between its declaration (inputs, parameters,
code parts; tasks/core/identity.py) and that of the newest finished output of the same stage, in words."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tasks.core.workspace import MANIFEST

FIRST = "no earlier output of this stage in the workspace"
UNFINISHED = "an earlier attempt with the same inputs, parameters and code did not finish"


def why_run(stage_root: Path, declared: Mapping[str, Any]) -> str:
    """What changed since the newest finished output under `stage_root` (`<workspace>/<stage>/`). For a
    per-point stage that is another point's, so its parameters differ by design: the words say by what."""
    manifests = sorted(stage_root.glob(f"*/{MANIFEST}"), key=lambda p: p.stat().st_mtime, reverse=True)
    if not manifests:
        return FIRST
    last = json.loads(manifests[0].read_text(encoding="utf-8"))
    changes = []
    if last.get("inputs") != declared["inputs"]:
        changes.append("input changed")
    params = _differences(last["params"], declared["params"])
    changes += [f"{name} {old} → {new}" for name, old, new in params]
    if "code_parts" not in last:
        changes.append("code changed (the earlier output does not list its code)")
    else:
        changes += [_code_change(*d) for d in _differences(last["code_parts"], declared["code_parts"])]
    if not changes:
        return UNFINISHED
    return f"vs {last['key']}: " + "; ".join(changes)


def _differences(before: Mapping[str, Any], now: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    return [
        (name, _shown(before.get(name)), _shown(now.get(name)))
        for name in sorted({*before, *now})
        if before.get(name) != now.get(name)
    ]


def _shown(value: Any) -> str:
    return "(none)" if value is None else json.dumps(value, ensure_ascii=False)


def _code_change(part: str, before: str, now: str) -> str:
    """`library:opencc "1.4.1" → "1.4.2"`, `module:tasks/text/shards.py changed`, `… added`, `… removed`."""
    if part.startswith("library:"):
        return f"{part} {before} → {now}"
    if before == "(none)":
        return f"{part} added"
    if now == "(none)":
        return f"{part} removed"
    return f"{part} changed"
