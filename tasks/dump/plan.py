"""A run's dump, resolved once before any work: where it is, its multistream index, and the name and date the
run is known by. `check_inputs` makes the plan as it checks the config, before the flow starts; the flow and
its stages take it as found instead of looking at the dump, or for its index, again."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from tasks.dump import fetch


@dataclass(frozen=True)
class DumpPlan:
    """`source` is the dump file, or the URL it is downloaded from; `index` its multistream index (None: it
    is read as one stream, or for a URL, the index published beside it is fetched with it); `name` is its
    file name and `date` the date in that name (None for `-latest-` or an undated name)."""

    source: Path | str
    index: Path | None
    name: str
    date: datetime.date | None

    def files(self, cache: Path, *, progress: bool = False) -> fetch.DumpFiles:
        """The dump and its index on local disk: a file as planned (not looked at again), a URL downloaded
        and verified into `cache`."""
        if isinstance(self.source, Path):
            return fetch.DumpFiles(self.source, self.index)
        return fetch.resolve_dump(self.source, cache, index=self.index, progress=progress)


def plan_dump(source: Path | str, index: Path | None) -> DumpPlan:
    """The plan of a dump file the caller found to be there (`check_inputs`), or of a URL: the index as
    given, else the one beside a local dump (the run's one look for it)."""
    if isinstance(source, Path):
        return DumpPlan(source, index or fetch.find_index(source), source.name, dump_date(source.name))
    name = Path(urlsplit(source).path).name
    return DumpPlan(source, index, name, dump_date(name))


def dump_date(name: str) -> datetime.date | None:
    """The date in a Wikimedia dump's file name (`zhwiki-20240601-pages-…`), so runs over successive dumps
    can be ordered by what they read; None for `-latest-` or any other name."""
    parsed = fetch.DUMP_NAME.fullmatch(name)
    if parsed is None or parsed["date"] == "latest":
        return None
    digits = parsed["date"]
    try:
        return datetime.date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))
    except ValueError:
        return None
