from typing import TypeVar

_Page = TypeVar("_Page", bound=tuple[str, int, int, bool, str, bool, int])

def pages(
    xml: bytes, last: bool, page_type: type[_Page], /
) -> tuple[list[_Page], tuple[str, int] | None]: ...
def xml_text(text: str, /) -> tuple[str, int]: ...
