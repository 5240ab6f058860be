"""The `pipelines.yaml` reference in the README, generated from the pydantic models in `tasks/config.py`.

One table per model (key, type, default, description), reached from `Settings` through the fields' types, plus
`TrainParams`, the keys of a sweep point. The descriptions are the fields' own `Field(description=...)`, so
the reference cannot drift from what is validated; `tests/test_config_reference.py` checks that the README's
copy is current.

    python -m tasks.config_reference            # rewrite the README's section
    python -m tasks.config_reference --check    # exit 1 when it is stale
"""

from __future__ import annotations

import argparse
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

import annotated_types
import yaml
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from tasks.config import Settings, TrainParams

START = "<!-- config-reference:start -->"
END = "<!-- config-reference:end -->"
COMMAND = "python -m tasks.config_reference"
POINT_PLACE = "a sweep point, the keys of `sweep.base`, `sweep.points` and `sweep.grid`"


def _models_in(annotation: Any) -> Iterator[tuple[type[BaseModel], str]]:
    """The models an annotation holds, each with the suffix its YAML path gets (`.<name>` inside a map)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation, ""
        return
    args = get_args(annotation)
    if get_origin(annotation) is dict:
        for model, suffix in _models_in(args[1]):
            yield model, ".<name>" + suffix
        return
    for arg in args:
        yield from _models_in(arg)


def models() -> list[tuple[type[BaseModel], str]]:
    """Every model of `pipelines.yaml` with the YAML path of its keys, in the order a reader meets them."""
    found: list[tuple[type[BaseModel], str]] = []

    def walk(model: type[BaseModel], place: str) -> None:
        if any(m is model for m, _ in found):
            return
        found.append((model, place))
        for name, field in model.model_fields.items():
            for inner, suffix in _models_in(field.annotation):
                walk(inner, f"{place}.{name}{suffix}".lstrip("."))

    walk(Settings, "")
    walk(TrainParams, POINT_PLACE)
    return found


def _type(annotation: Any) -> str:
    if annotation is type(None):
        return "null"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation.__name__
    if annotation is Any:
        return "any"
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Literal:
        return "one of " + ", ".join(str(a) for a in args)
    if origin in (Union, types.UnionType):
        return " or ".join(_type(a) for a in args)
    if origin is dict:
        return "map" if args[1] is Any else f"map of {_type(args[1])}"
    if origin in (tuple, list):
        inner = args[0] if args and (origin is list or args[-1] is Ellipsis) else None
        if inner is None:
            return "[" + ", ".join(_type(a) for a in args) + "]"
        return f"list of {_type(inner)}"
    names = {Path: "path", str: "string", int: "integer", float: "number", bool: "true/false"}
    return names.get(annotation, getattr(annotation, "__name__", str(annotation)))


def _bounds(field: FieldInfo) -> str:
    signs = {annotated_types.Ge: ("≥", "ge"), annotated_types.Gt: (">", "gt")}
    signs |= {annotated_types.Le: ("≤", "le"), annotated_types.Lt: ("<", "lt")}
    parts = []
    for rule in field.metadata:
        for kind, (sign, attr) in signs.items():
            if isinstance(rule, kind):
                parts.append(f"{sign} {getattr(rule, attr)}")
    return "".join(f", {p}" for p in parts)


def _plain(value: Any) -> Any:
    """A default as YAML would write it: paths as strings, tuples as lists."""
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _default(field: FieldInfo) -> str:
    if field.is_required():
        return "required"
    value = field.get_default(call_default_factory=True, validated_data={})
    if isinstance(value, BaseModel):
        return "its defaults"
    text = yaml.safe_dump(_plain(value), default_flow_style=True, allow_unicode=True, width=10_000)
    return f"`{text.strip().removesuffix('...').strip()}`"


def _cell(text: str) -> str:
    """Text for a table cell: `|` escaped, and `<` `>` outside code spans, where Markdown reads HTML."""
    parts = text.replace("|", "\\|").replace("\n", " ").split("`")
    for i in range(0, len(parts), 2):
        parts[i] = parts[i].replace("<", "&lt;").replace(">", "&gt;")
    return "`".join(parts)


def render() -> str:
    """The reference as Markdown: one heading and table per model."""
    lines: list[str] = []
    for model, place in models():
        where = f"`{place}`" if place and place != POINT_PLACE else (place or "top level")
        lines.append(f"#### {model.__name__}: {where}")
        lines.append("| key | type | default | description |")
        lines.append("|---|---|---|---|")
        for name, field in model.model_fields.items():
            kind = _type(field.annotation) + _bounds(field)
            cells = [f"`{name}`", kind, _default(field), field.description or ""]
            lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"  # no blank lines: each heading ends the table before it


def splice(readme: str, reference: str) -> str:
    """`readme` with the text between the markers replaced by `reference`."""
    if readme.count(START) != 1 or readme.count(END) != 1 or readme.index(START) > readme.index(END):
        raise ValueError(f"README: expected one {START} followed by one {END}")
    head, rest = readme.split(START)
    _, tail = rest.split(END)
    return f"{head}{START}\n{reference}{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=COMMAND, description="write the pipelines.yaml reference")
    parser.add_argument("--readme", type=Path, default=Path("README.md"), help="default: ./README.md")
    parser.add_argument("--check", action="store_true", help="exit 1 when the README's section is stale")
    args = parser.parse_args(argv)
    if not args.readme.is_file():
        print(f"{args.readme}: file not found", file=sys.stderr)
        return 2
    old = args.readme.read_text(encoding="utf-8")
    try:
        new = splice(old, render())
    except ValueError as exc:
        print(f"{args.readme}: {exc}", file=sys.stderr)
        return 2
    if args.check:
        if new != old:
            print(f"{args.readme}: the pipelines.yaml reference is stale; run `{COMMAND}`", file=sys.stderr)
            return 1
        return 0
    if new != old:
        args.readme.write_text(new, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
