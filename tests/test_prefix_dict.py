import logging
from pathlib import Path

import jieba
import pytest

from tasks.text import prefix_dict


@pytest.fixture(scope="module")
def reference() -> jieba.Tokenizer:
    """jieba's own loading (its marshal cache or dict.txt)."""
    jieba.setLogLevel(logging.WARNING)
    tk = jieba.Tokenizer()
    tk.initialize()
    return tk


def test_cached_dictionary_is_jiebas_and_survives_a_bad_cache(
    reference: jieba.Tokenizer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    built = prefix_dict.tokenizer()  # no cache yet: jieba builds it, and it is saved
    (cache,) = (tmp_path / "zhvec").glob("jieba-*.npz")
    loaded = prefix_dict.tokenizer()  # from the cache
    for tk in (built, loaded):
        assert tk.initialized and tk.total == reference.total and tk.FREQ == reference.FREQ
    text = "他是上海卫视的副院长，研究数量、结构、变化以及空间等概念。"
    assert loaded.lcut(text) == reference.lcut(text)

    cache.write_bytes(cache.read_bytes()[:1000])  # cut short, as by a full disk
    assert prefix_dict.tokenizer().FREQ == reference.FREQ
    assert prefix_dict.tokenizer().FREQ == reference.FREQ  # rewritten whole


def test_unwritable_cache_folder_only_costs_the_speed_up(
    reference: jieba.Tokenizer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))  # the cache folder cannot be made under a file
    assert prefix_dict.tokenizer().FREQ == reference.FREQ
