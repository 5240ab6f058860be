def dictionary(
    freq: dict[str, int],
    total: int,
    start: dict[str, float],
    trans: dict[str, dict[str, float]],
    emit: dict[str, dict[str, float]],
    force_split: set[str],
    /,
) -> object: ...
def cut(dictionary: object, text: str, hmm: bool, /) -> list[str]: ...
def segment_blanked(
    dictionary: object, text: str, hmm: bool, generation: int, /
) -> tuple[str, list[str], set[str], int]: ...
