"""The fuzzer of the C modules (tasks/dump/_pages.c, tasks/dump/_wikitext.c, tasks/text/_cut.c): each is
compiled with AddressSanitizer and UndefinedBehaviorSanitizer, then fed mutated real dumps, pages and text
for a bounded time beside its Python reference. A sanitizer report, a crash, a hang or any difference from
the reference is a finding.

    python -m tests.fuzz --seconds 600        # (`make fuzz SECONDS=600`) every module, 600 s each
    python -m tests.fuzz --module cut --seed 7
    python -m tests.fuzz --replay FILE        # the case a finding saved

tests/test_fuzz.py runs it in the test suite. The sanitized modules are built into a temporary folder (the
installed ones are left alone) and each module is fuzzed in a child Python with the sanitizer runtimes
preloaded, `PYTHONMALLOC=malloc` (so that Python's buffers are checked too) and the sanitized module in
place of the installed one. The inputs come from one random stream per seed, so a seed replays a run; each
input is saved to a file before it is checked, and kept when it is a finding.
"""

from __future__ import annotations

import argparse
import bz2
import importlib
import importlib.util
import os
import pickle
import random
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures"
DUMPS = [
    FIXTURES / "zhwiki-tiny-pages-articles.xml.bz2",
    FIXTURES / "zhwiki-tiny-pages-articles-multistream.xml.bz2",
    REPO / "data" / "sample" / "zhwiki-sample-pages-articles-multistream.xml.bz2",
]
PARAGRAPHS = FIXTURES / "text" / "zhwiki_paragraphs.txt"

# module: (its import name, its source)
MODULES = {
    "pages": ("tasks.dump._pages", "tasks/dump/_pages.c"),
    "wikitext": ("tasks.dump._wikitext", "tasks/dump/_wikitext.c"),
    "cut": ("tasks.text._cut", "tasks/text/_cut.c"),
}
SANITIZE = [
    "-fsanitize=address,undefined",
    "-fno-omit-frame-pointer",
    "-fno-sanitize-recover=all",
    "-g",
    "-O1",
]
WARNINGS = ["-Wall", "-Wextra", "-Werror"]
SANITIZER_OPTIONS = {
    "ASAN_OPTIONS": "detect_leaks=0:abort_on_error=1",
    "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1",
    "PYTHONMALLOC": "malloc",
}
HUGE = 10 * 2**20  # the "10 MB single line" inputs
DEEP = 10_000  # levels of nesting
REPORT_LINES = 25  # of a sanitizer report, in a finding


class Finding(Exception):
    """A crash, a sanitizer report, a hang or a difference from the Python reference."""


# --- the parent: build, run a child per module, report ----------------------------------------------------


def build(folder: Path) -> None:
    """The three modules, sanitized and with warnings as errors, as `folder/_pages.<ext>`…"""
    paths = sysconfig.get_paths()
    includes = sorted({f"-I{paths['include']}", f"-I{paths['platinclude']}"})
    suffix = sysconfig.get_config_var("EXT_SUFFIX")
    for name, source in MODULES.values():
        target = folder / (name.rpartition(".")[2] + suffix)
        command = ["gcc", "-shared", "-fPIC", *SANITIZE, *WARNINGS, *includes, str(REPO / source)]
        done = subprocess.run([*command, "-o", str(target), "-lm"], capture_output=True, text=True)
        if done.returncode != 0:
            raise Finding(f"{source} does not build with {' '.join(SANITIZE + WARNINGS)}:\n{done.stderr}")


def runtime_env() -> dict[str, str]:
    """The environment of a child: the sanitizer runtimes preloaded (Python itself is not built with them)."""
    libraries = []
    for name in ("libasan.so", "libubsan.so"):
        path = subprocess.run(["gcc", f"-print-file-name={name}"], capture_output=True, text=True).stdout
        if not Path(path.strip()).is_absolute():
            raise Finding(
                f"gcc has no {name}: install gcc's sanitizer runtimes (Debian: libasan8, libubsan1)"
            )
        libraries.append(path.strip())
    return os.environ | SANITIZER_OPTIONS | {"LD_PRELOAD": " ".join(libraries)}


def fuzz(module: str, folder: Path, seconds: float, seed: int) -> str:
    """Fuzz one module (built in `folder`) for `seconds` in a sanitized child: its summary, or a Finding."""
    case_file = folder / f"{module}.case"
    args = ["--worker", module, "--seconds", str(seconds), "--seed", str(seed)]
    return _child(args, folder, case_file, seconds + 600, f"{module}, seed {seed}")


def replay(case: Path, folder: Path) -> str:
    """Check the case a finding saved again, in a sanitized child."""
    copy = folder / "replayed.case"
    shutil.copy(case, copy)
    return _child(["--replay", str(copy)], folder, copy, 3600, f"replay of {case}")


def _child(args: list[str], folder: Path, case_file: Path, timeout: float, what: str) -> str:
    command = [sys.executable, "-m", "tests.fuzz", *args, "--build", str(folder), "--case", str(case_file)]
    try:
        done = subprocess.run(
            command, cwd=REPO, env=runtime_env(), capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        raise Finding(f"{what}: no answer in {timeout:.0f} s (a hang?)\n{_kept(case_file)}") from None
    if done.returncode == 0:
        return done.stdout.strip()
    raise Finding(f"{what}: exit status {done.returncode}\n{_report(done.stderr)}\n{_kept(case_file)}")


def _report(stderr: str) -> str:
    """The first lines of the sanitizer's report (or of whatever else ended the child)."""
    lines = stderr.splitlines()
    marks = ("ERROR: AddressSanitizer", "runtime error:", "Fatal Python error", "Traceback", "finding:")
    start = next((i for i, line in enumerate(lines) if any(mark in line for mark in marks)), 0)
    return "\n".join(lines[start : start + REPORT_LINES])


def _kept(case_file: Path) -> str:
    """The input being checked when the child stopped, kept: the pickled case, and its data as a file."""
    if not case_file.exists():
        return "(no input was being checked)"
    with case_file.open("rb") as f:
        module, index, case = pickle.load(f)
    fd, kept = tempfile.mkstemp(prefix=f"zhvec-fuzz-{module}-", suffix=".case")
    with os.fdopen(fd, "wb") as f:
        f.write(case_file.read_bytes())
    data = case[1]
    raw = kept.removesuffix(".case") + (".bin" if isinstance(data, bytes) else ".txt")
    Path(raw).write_bytes(data if isinstance(data, bytes) else data.encode("utf-8", "surrogatepass"))
    options = ", ".join(repr(value)[:200] for value in case[2:])
    return (
        f"input {index} of the run: {case[0]}({len(data)} {'bytes' if isinstance(data, bytes) else 'chars'}"
        f"{', ' + options if options else ''}) saved in {raw}\nreplay: python -m tests.fuzz --replay {kept}"
    )


def run(modules: list[str], seconds: float, seed: int, log: Callable[[str], None] = print) -> None:
    """Build the sanitized modules and fuzz each in turn; a Finding stops the run."""
    with tempfile.TemporaryDirectory(prefix="zhvec-fuzz-") as tmp:
        folder = Path(tmp)
        build(folder)
        for module in modules:
            log(fuzz(module, folder, seconds, seed))


# --- the child: the sanitized modules in place of the installed ones --------------------------------------


def install(folder: Path) -> None:
    """Import the sanitized modules under the installed ones' names, before anything imports those."""
    suffix = sysconfig.get_config_var("EXT_SUFFIX")
    for name, _source in MODULES.values():
        package, _, leaf = name.rpartition(".")
        spec = importlib.util.spec_from_file_location(name, folder / (leaf + suffix))
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        sys.modules[name] = module
        setattr(importlib.import_module(package), leaf, module)
    users = {"tasks.dump.pages": "_pages", "tasks.dump.wikitext": "_wikitext", "tasks.text.segment": "_cut"}
    for name, leaf in users.items():
        used = getattr(importlib.import_module(name), leaf).__file__
        if Path(used).parent != folder:
            raise Finding(f"{name} uses {used}, not the sanitized module")


def outcome(call: Callable[[], object]) -> object:
    """What a call gives, or its error (type and message)."""
    try:
        return call()
    except Exception as exc:
        return f"error {type(exc).__name__}: {exc}"


def differ(what: str, compiled: object, reference: object) -> None:
    """A Finding showing the first difference, if the outcomes differ."""
    if compiled == reference:
        return
    where = ""
    if isinstance(compiled, list) and isinstance(reference, list):
        at = next((i for i, (a, b) in enumerate(zip(compiled, reference, strict=False)) if a != b), None)
        at = min(len(compiled), len(reference)) if at is None else at
        where = f" first at item {at} of {len(compiled)} vs {len(reference)}"
        compiled, reference = compiled[at : at + 1], reference[at : at + 1]
    raise Finding(
        f"{what}: the C module differs from the reference{where}:\n"
        f"  C:         {repr(compiled)[:600]}\n  reference: {repr(reference)[:600]}"
    )


Seq = Any  # bytes for the page scanner, str for the others


class Fuzzer(ABC):
    """Seeds, the pieces and units mutations splice in, and the check of one case `(kind, data, *options)`."""

    cap = 2**20  # the largest random input (the fixed huge ones are larger)
    pieces: list[Seq]
    nests: list[tuple[Seq, Seq]]  # opener, closer
    every: Seq  # every byte value, every character

    @abstractmethod
    def seed(self, rng: random.Random) -> Seq:
        """A real or generated input."""

    @abstractmethod
    def unit(self, rng: random.Random) -> Seq:
        """A random byte or character."""

    @abstractmethod
    def fixed(self) -> list[tuple[Any, ...]]:
        """The cases every run checks: huge, deep and every-value inputs."""

    @abstractmethod
    def case(self, rng: random.Random) -> tuple[Any, ...]:
        """A mutated seed, with the options of its call."""

    @abstractmethod
    def check(self, case: tuple[Any, ...]) -> None:
        """Raise a Finding unless the C module gives what its reference gives."""

    def mutate(self, rng: random.Random, data: Seq) -> Seq:
        """`data` truncated, doubled, spliced with another seed, flipped, nested, with pieces put in…"""
        for _ in range(rng.choice([0, 1, 1, 2, 3, 4])):
            n, op = len(data), rng.randrange(10)
            i, j = sorted((rng.randint(0, n), rng.randint(0, n)))
            if op == 0:
                data = data[:i] if rng.random() < 0.7 else data[i:]
            elif op == 1:
                data = data + data
            elif op == 2:
                other = self.seed(rng)
                data = data[:i] + other[rng.randint(0, len(other)) :]
            elif op == 3:
                for _ in range(rng.randint(1, 16)):
                    at = rng.randint(0, len(data))
                    data = data[:at] + self.unit(rng) + data[at + 1 :]
            elif op == 4:
                for _ in range(rng.randint(1, 8)):
                    at = rng.randint(0, len(data))
                    data = data[:at] + rng.choice(self.pieces) + data[at:]
            elif op == 5:
                data = data[:i] + data[j:]
            elif op == 6:
                data = data[:i] + data[i : min(j, i + 200)] * rng.randint(2, 100) + data[j:]
            elif op == 7:
                opener, closer = rng.choice(self.nests)
                depth = DEEP if rng.random() < 0.3 else rng.randint(1, 300)
                shut = rng.choice([depth, depth, rng.randint(0, depth), depth + 1])
                data = data[:i] + opener * depth + data[i:j] + closer * shut + data[j:]
            elif op == 8:
                data = data[:i] + self.every + data[i:]
            else:
                data = data[:i] + data[i:j][::-1] + data[j:]
        return data[: self.cap]


# --- the page scanner -------------------------------------------------------------------------------------

BAD_UTF8 = [
    b"\xff",
    b"\xfe",
    b"\xc0\xaf",
    b"\xe0\x80\xaf",
    b"\xed\xa0\x80",
    b"\xed\xbf\xbf",
    b"\xf4\x90\x80\x80",
]
BAD_UTF8 += [b"\xf5\x80\x80\x80", b"\xe4\xb8", b"\x80", b"\xc2", b"\xf0\x9f\x98", b"\xed\xa0\x80\xed\xb0\x80"]
SURROGATE_REFS = [b"&#xD800;", b"&#xdfff;", b"&#55296;", b"&#57343;", b"&#xD83D;&#xDE00;", b"&#xDC00;x"]


class Pages(Fuzzer):
    """`pages.pages` (the compiled scanner) against `pages.python_pages`, and `_pages.xml_text` against the
    regex reference of tests/test_pages_c.py."""

    def __init__(self) -> None:
        from tasks.dump import _pages
        from tasks.dump.pages import FOOTER, Page, pages, python_pages
        from tests import test_pages_c

        self.t, self.xml_text, self.footer = test_pages_c, _pages.xml_text, FOOTER
        self.scanners = pages, python_pages
        self.before = Page("前\x00'\"", 0, 99, False, "")
        self.bodies = []  # each dump's pages, one element each
        for dump in DUMPS:
            xml = bz2.decompress(dump.read_bytes())
            head, body = xml[: xml.index(b"<page>")], xml[xml.index(b"<page>") :]
            self.bodies.append([page + b"</page>" for page in body.split(b"</page>")[:-1]])
        self.pieces = [*test_pages_c.DAMAGE, *test_pages_c.TEXT_PIECES, *BAD_UTF8, *SURROGATE_REFS]
        self.pieces += [*test_pages_c.CUT_TEXTS, *test_pages_c.TAILS, head, b"\n" * 50]
        self.nests = [(b"{{", b"}}"), (b"<page>", b"</page>"), (b"<text>", b"</text>"), (b"[[", b"]]")]
        self.nests += [(b"&lt;ref&gt;", b"&lt;/ref&gt;"), (b"&#", b";"), (b"<", b">")]
        self.every = bytes(range(256))

    def seed(self, rng: random.Random) -> bytes:
        if rng.random() < 0.3:
            return self.t._piece(rng, rng.random() < 0.5)
        pages = rng.choice(self.bodies)
        start = rng.randrange(len(pages))
        return b"".join(pages[start : start + rng.choice([1, 1, 2, 3, 8])])

    def unit(self, rng: random.Random) -> bytes:
        return bytes([rng.randrange(256)])

    def case(self, rng: random.Random) -> tuple[Any, ...]:
        xml = self.mutate(rng, self.seed(rng))
        last = rng.random() < 0.5
        if last and rng.random() < 0.7:
            xml += rng.choice(self.t.FOOTERS)
        after = self.before if rng.random() < 0.5 else "before the first page"
        return "pages", xml, last, rng.randrange(10**12), after

    def fixed(self) -> list[tuple[Any, ...]]:
        prose = PARAGRAPHS.read_bytes().replace(b"\n", b" ").replace(b"&", b"&amp;").replace(b"<", b"&lt;")
        line = (prose + b"&#xD800;\xff\xe4\xb8" + prose) * (HUGE // (2 * len(prose)) + 1)
        one_line_pages = b"".join(max(self.bodies, key=len)).replace(b"\n", b" ")

        def page(text: bytes) -> bytes:
            head = b"<page><title>T&#xD800;</title><ns>0</ns><id>1</id><revision><text xml:space='preserve'>"
            return head + text + b"</text></revision></page>"

        return [
            ("pages", page(line), False, 0, "before the first page"),
            ("pages", one_line_pages * (HUGE // len(one_line_pages) + 1), False, 0, "before the first page"),
            ("pages", page(b"{{" * DEEP + b"x" + b"}}" * DEEP) * 3, True, 0, "before the first page"),
            ("pages", page(self.every * 40 + b"".join(SURROGATE_REFS) * 100), False, 7, self.before),
            ("pages", page(b"".join(BAD_UTF8) * 1000) + self.footer, True, 7, self.before),
            ("pages", b"<page>" * DEEP + b"</page>" * DEEP, False, 0, "before the first page"),
        ]

    def check(self, case: tuple[Any, ...]) -> None:
        kind, xml, last, offset, after = case
        compiled, python = (
            outcome(lambda scan=scan: self.t._outcome(scan, xml, last, offset, after))
            for scan in self.scanners
        )
        differ("pages", compiled, python)
        # the same bytes as a str (lone surrogates for bytes that are not UTF-8) through xml_text
        text = xml.decode("utf-8", "surrogateescape")
        reference = outcome(lambda: self.t._reference_xml_text(text))
        if isinstance(reference, str) and "Exceeds the limit" in reference:
            return  # a `&#N;` of over 4300 digits, which the regex reference cannot read: int() refuses
        differ("xml_text", outcome(lambda: self.xml_text(text)), reference)


# --- the wikitext cleaner ---------------------------------------------------------------------------------


def _any_char(rng: random.Random) -> str:
    """A character of any kind: ASCII and markup, CJK, anywhere in the BMP, a lone surrogate, astral."""
    pick = rng.random()
    if pick < 0.4:
        return chr(rng.randrange(128))
    if pick < 0.7:
        return chr(rng.randrange(0x4E00, 0x9FFF))
    if pick < 0.85:
        return chr(rng.randrange(0x10000))
    if pick < 0.9:
        return chr(rng.randrange(0xD800, 0xE000))
    return chr(rng.randrange(0x10000, 0x110000))


EVERY_CHAR = "".join(map(chr, range(256))) + "".join(chr(c) for c in range(256, 0x110000, 97))
SURROGATES = ["\ud800", "\udfff", "\udc80x", "\ud83d\ude00", "&#xD800;", "&#55296;"]


class Wikitext(Fuzzer):
    """`_wikitext.prose_text` against `wikitext.python_prose`: the same lines, or None only for a page that
    holds a character it leaves to Python."""

    cap = 2**16  # python_prose takes ~1 s a MB

    def __init__(self) -> None:
        from tasks.dump import _wikitext
        from tasks.dump.wikitext import python_prose
        from tests import test_wikitext_c

        self.t, self.prose_text, self.python_prose = test_wikitext_c, _wikitext.prose_text, python_prose
        self.pages = test_wikitext_c._real_pages()
        self.prose = PARAGRAPHS.read_text(encoding="utf-8")
        self.pieces = [*test_wikitext_c.PIECES, *SURROGATES, "\r\n", "\x00", "\x0b", "\u2029"]
        self.nests = [("{{", "}}"), ("[[", "]]"), ("-{", "}-"), ("{|\n", "\n|}\n"), ("<ref>", "</ref>")]
        self.nests += [("<!--", "-->"), ("<span>", "</span>"), ("[http://a.b ", "]"), ("''", "''")]
        self.nests += [("{{lang|en|", "}}"), ("-{A|zh-hans:", ";zh-hant:x}-"), ("[[File:", "|x]]")]
        self.nests += [("（", "）"), ("\n*", "\n")]
        self.every = EVERY_CHAR
        self.no_python_only = dict.fromkeys(map(ord, test_wikitext_c.PYTHON_ONLY))

    def seed(self, rng: random.Random) -> str:
        pick = rng.random()
        if pick < 0.4:
            return rng.choice(self.pages)
        if pick < 0.9:
            return self.t._mangled(rng, self.prose)
        return self.t._words(rng, self.prose)

    def unit(self, rng: random.Random) -> str:
        return _any_char(rng) if rng.random() < 0.7 else rng.choice("{}[]|-<>!=:;*#'\n &/_()（）")

    def case(self, rng: random.Random) -> tuple[Any, ...]:
        text = self.mutate(rng, self.seed(rng))
        if rng.random() < 0.9:  # (the markup pieces hold them: few pages would reach the compiled passes)
            text = text.translate(self.no_python_only)
        return "prose", text

    def fixed(self) -> list[tuple[Any, ...]]:
        rng = random.Random(0)
        line = "".join(
            self.t._construct(rng, self.prose, 0) + self.t._words(rng, self.prose) for _ in range(2000)
        )
        line = (line + self.prose).replace("\n", " ").translate(self.no_python_only)
        pages = " ".join(self.pages).replace("\n", " ").translate(self.no_python_only)
        cases = [line * (HUGE // len(line) + 1), pages * (HUGE // len(pages) + 1)]
        for opener, closer in self.nests:
            cases += [opener * DEEP + "甲" + closer * DEEP, opener * DEEP + "乙", "丙" + closer * DEEP]
        openers, closers = zip(*self.nests, strict=True)
        cases.append(
            "".join(rng.choice(openers) for _ in range(DEEP))
            + "".join(rng.choice(closers) for _ in range(DEEP))
        )
        cases += [self.every, self.every.translate(self.no_python_only) * 3]
        cases.append("".join(SURROGATES) * 1000)
        return [("prose", text) for text in cases]

    def check(self, case: tuple[Any, ...]) -> None:
        _kind, text = case
        compiled = outcome(lambda: self.prose_text(text))
        if compiled is None:
            if not set(text) & self.t.PYTHON_ONLY:
                raise Finding("prose_text left to Python a page without a character only Python handles")
            return
        differ(
            "prose_text", compiled, outcome(lambda: "".join(line + "\n" for line in self.python_prose(text)))
        )


# --- the cut ----------------------------------------------------------------------------------------------

USER_WORDS = [("张三李四", 5), ("研究生命", None), ("龘龖", 3), ("C++", 10), ("x86_64", None)]
FORCE_SPLIT = [("长江", 0), ("三李", 0), ("王五赵", 0), ("孙七", 0)]


class Cut(Fuzzer):
    """`_cut.cut` against jieba's own cut (a dictionary with user and force-split words), and engine cjieba's
    `segment_blanked` against engine jieba's (the default dictionary)."""

    cap = 2**14  # jieba cuts 30-100 kB a second (under the sanitizers)

    def __init__(self) -> None:
        from tasks.config import SegmentOptions
        from tasks.text import _cut
        from tasks.text.segment import compile_tokenizer, segment_blanked
        from tests import test_cut_c, test_wikitext_c

        self.t, self.cut, self.segment_blanked = test_cut_c, _cut.cut, segment_blanked
        # (segment_blanked's engines cut with the default dictionary)
        self.tokenizer = test_cut_c._tokenizer(USER_WORDS + FORCE_SPLIT)
        self.compiled = compile_tokenizer(self.tokenizer)
        self.options = {
            (engine, hmm, split): SegmentOptions(engine=engine, hmm=hmm, split_sentences=split)
            for engine in ("cjieba", "jieba")
            for hmm in (True, False)
            for split in (True, False)
        }
        self.lines = PARAGRAPHS.read_text(encoding="utf-8").split("\n")
        self.pages = test_wikitext_c._real_pages()
        self.pieces = [*test_cut_c.CHARS, *test_cut_c.WORDS, *(word for word, _ in USER_WORDS + FORCE_SPLIT)]
        self.pieces += [*SURROGATES, "\r\n" * 5, "3.14159%", "." * 20, "%" * 20]
        self.nests = [("（", "）"), ("[[", "]]"), ("\r", "\n"), ("中", "国"), ("1.", "%")]
        self.every = EVERY_CHAR

    def seed(self, rng: random.Random) -> str:
        pick = rng.random()
        if pick < 0.5:
            start = rng.randrange(len(self.lines))
            return "\n".join(self.lines[start : start + rng.randint(1, 7)])
        if pick < 0.8:
            return next(self.t._texts(rng.randrange(2**32), 1))
        page = rng.choice(self.pages)
        start = rng.randrange(len(page))
        return page[start : start + rng.randint(1, 3000)]

    def unit(self, rng: random.Random) -> str:
        return _any_char(rng) if rng.random() < 0.5 else rng.choice(self.t.CHARS)

    def case(self, rng: random.Random) -> tuple[Any, ...]:
        text = self.mutate(rng, self.seed(rng))
        hmm = rng.random() < 0.7
        if rng.random() < 0.25:
            return "segment_blanked", text, hmm, rng.random() < 0.5
        return "cut", text, hmm

    def fixed(self) -> list[tuple[Any, ...]]:
        rng = random.Random(0)
        han = "".join(chr(rng.randrange(0x4E00, 0x9FD6)) for _ in range(10_000))
        return [
            ("huge", "".join(self.lines) + "。", True),
            ("cut", han, True),  # one block, the HMM's longest run
            ("cut", han, False),
            ("cut", self.every, True),
            ("cut", "".join(SURROGATES) * 1000 + "\r\n" * DEEP, False),
            ("segment_blanked", "\n".join(self.lines) * 3, True, True),
        ]

    def check(self, case: tuple[Any, ...]) -> None:
        kind, text, hmm = case[:3]
        if kind == "huge":
            # One 10 MB line: `unit` repeated. jieba cuts each block of re_han_default on its own and `unit`
            # ends with one that is none (。), so the cut of the line is the cut of `unit`, repeated: jieba
            # itself would take minutes. (Checked on three repeats, then taken as the reference.)
            unit = list(self.tokenizer.cut(text, HMM=hmm))
            differ("jieba on a repeated unit", list(self.tokenizer.cut(text * 3, HMM=hmm)), unit * 3)
            times = HUGE // len(text.encode()) + 1
            differ(
                "cut of one 10 MB line",
                outcome(lambda: self.cut(self.compiled, text * times, hmm)),
                unit * times,
            )
        elif kind == "cut":
            compiled = outcome(lambda: self.cut(self.compiled, text, hmm))
            differ("cut", compiled, outcome(lambda: list(self.tokenizer.cut(text, HMM=hmm))))
        else:
            compiled, python = (
                outcome(lambda engine=engine: self.segment_blanked(text, self.options[engine, hmm, case[3]]))
                for engine in ("cjieba", "jieba")
            )
            differ("segment_blanked", compiled, python)


FUZZERS: dict[str, Callable[[], Fuzzer]] = {"pages": Pages, "wikitext": Wikitext, "cut": Cut}


def _save(case_file: Path, module: str, index: int, case: tuple[Any, ...]) -> None:
    with case_file.open("wb") as f:
        pickle.dump((module, index, case), f, protocol=pickle.HIGHEST_PROTOCOL)


def worker(module: str, folder: Path, seconds: float, seed: int, case_file: Path) -> str:
    """Fuzz `module` until `seconds` have passed: the fixed cases, then random ones from `seed`."""
    start = time.monotonic()
    install(folder)
    fuzzer = FUZZERS[module]()
    rng = random.Random(seed)
    index = 0
    for case in fuzzer.fixed():
        _save(case_file, module, index, case)
        fuzzer.check(case)
        index += 1
    while time.monotonic() - start < seconds:
        case = fuzzer.case(rng)
        _save(case_file, module, index, case)
        fuzzer.check(case)
        index += 1
    case_file.unlink()
    return f"{module}: {index} inputs in {time.monotonic() - start:.0f} s, no finding (seed {seed})"


def replay_worker(folder: Path, case_file: Path) -> str:
    install(folder)
    with case_file.open("rb") as f:
        module, index, case = pickle.load(f)
    FUZZERS[module]().check(case)
    return f"{module}: input {index} passes"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fuzz", description=__doc__.split("\n\n")[0])
    parser.add_argument("--module", choices=list(MODULES), action="append", help="(default: all)")
    parser.add_argument("--seconds", type=float, default=60.0, help="per module (default 60)")
    parser.add_argument("--seed", type=int, default=None, help="(default: a new one)")
    parser.add_argument("--replay", type=Path, help="a .case file a finding saved")
    parser.add_argument("--worker", choices=list(MODULES), help=argparse.SUPPRESS)
    parser.add_argument("--build", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--case", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    seed = random.randrange(2**32) if args.seed is None else args.seed
    try:
        if args.worker:
            print(worker(args.worker, args.build, args.seconds, seed, args.case))
        elif args.build and args.replay:
            print(replay_worker(args.build, args.replay))
        elif args.replay:
            with tempfile.TemporaryDirectory(prefix="zhvec-fuzz-") as tmp:
                build(Path(tmp))
                print(replay(args.replay, Path(tmp)))
        else:
            run(args.module or list(MODULES), args.seconds, seed, log=lambda line: print(line, flush=True))
    except Finding as finding:
        print(f"finding: {finding}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
