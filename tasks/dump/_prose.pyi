from collections.abc import Callable
from typing import TypeVar

_Page = TypeVar("_Page", bound=tuple[str, int, int, bool, str, bool, int])

def prose_text(wikitext: str, /) -> str | None: ...
def bind(
    render_template: Callable[[str], str],
    render_conversion: Callable[[str], str],
    unescape: Callable[[str], str],
    /,
) -> None: ...
def xml_text(text: str, /) -> tuple[str, int]: ...
def pages(
    xml: bytes, last: bool, page_type: type[_Page], /
) -> tuple[list[_Page], tuple[str, int] | None]: ...
