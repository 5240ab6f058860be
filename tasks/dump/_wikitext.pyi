from collections.abc import Callable

def prose_text(wikitext: str, /) -> str | None: ...
def bind(
    render_template: Callable[[str], str],
    render_conversion: Callable[[str], str],
    unescape: Callable[[str], str],
    /,
) -> None: ...
