"""Shard text helpers shared by convert and segment: the shard files of a stage folder, where a long text is
cut without splitting a sentence or a character, and the line that is not UTF-8."""

from __future__ import annotations

from pathlib import Path

SENTENCE_END = frozenset("。！？!?；;…")
# Where a line too long to handle whole is cut, best first: after a sentence end (the segmenter ends the
# sentence there anyway), else after whitespace. Neither OpenCC's phrases nor the segmenters' words span such
# a character, so the converted text and the tokens are those of the uncut line.
_SENTENCE_CUTS = (b"\n", *(mark.encode() for mark in SENTENCE_END))
_SPACE_CUTS = (b" ", b"\t")


def cut_point(window: bytes) -> int:
    """Where to end `window`, the start of a text that goes on: after its last line break or sentence end,
    else after its last space, else before the last UTF-8 character that starts in it (only a text without
    punctuation or spaces for megabytes gets there). Always > 0 for a window of 2 bytes or more, so a caller
    makes progress."""
    for marks in (_SENTENCE_CUTS, _SPACE_CUTS):
        after = max(window.rfind(mark) + len(mark) if mark in window else 0 for mark in marks)
        if after:
            return after
    at = len(window) - 1
    while at > 1 and 0x80 <= window[at] < 0xC0:
        at -= 1
    return at


def list_shards(folder: Path) -> list[Path]:
    """The shard files of a stage folder, in name order; hidden temp files are not shards."""
    return sorted(p for p in folder.glob("*.txt") if not p.name.startswith("."))


def utf8_error(path: Path) -> str:
    """Name the first line of `path` that is not UTF-8: a decoder reading big blocks only knows the block.

    Lines are split at b"\\n", which never occurs inside a UTF-8 sequence, so each line decodes alone.
    """
    with path.open("rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                return f"{path}:{lineno}: invalid UTF-8 at byte {exc.start + 1} of the line ({exc.reason})"
    return f"{path}: invalid UTF-8"
