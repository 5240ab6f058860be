"""Wikitext → clean prose lines: what a reader sees in the rendered article, minus all that is not prose.

Word vectors only need running text, so this is a reading, not a renderer. Choices, once:

* Templates and parser functions are dropped whole, whatever their depth: infobox values, navboxes and
  citations are not sentences. A small whitelist of *inline* templates whose visible text sits in the middle
  of a sentence keeps that text, so the sentence survives: ``{{lang|la|X}}`` and ``{{lang-en|X}}`` → X (the
  rendered "英语：" label is dropped), ``{{le|中文|English|显示}}`` / ``{{link-en|…}}`` (interlanguage link
  templates, also ``{{tsl|en|English|中文|显示}}`` and ``{{ill|中文|en|English}}``) → the display text, else
  the Chinese title, ``{{nowrap|X}}`` / ``{{small|X}}`` / ``{{abbr|X|…}}`` / ``{{color|red|X}}`` → X, and
  ``{{convert|24|至|43|mm}}`` → ``24至43mm`` (the value, ranges and input unit; the computed conversion is
  not in the source).
* Headings stay, as their own line (as WikiExtractor does): they are real words and cost one line.
* Each source line is one output line: zhwiki writes a paragraph on one line, and where an editor wrapped
  one, the break nearly always falls at a sentence end. List items lose their markers and stay one a line.
* ``-{…}-`` conversion markup shows the zh-hans text (else zh-cn, else zh, else the first variant); the
  hidden, title and rule-only forms show nothing.
* Broken markup degrades locally: an unclosed ``{{``, ``[[`` or ``{|`` loses its marker and its text stays;
  stray closers are dropped. The scanner is a single left-to-right pass, so time is linear in the page.

The compiled cleaner `tasks/dump/_wikitext.c` does the work; `python_prose` here is the reference it must
equal.
"""

from __future__ import annotations

import html
import re
from bisect import bisect_left
from collections import Counter
from collections.abc import Callable

from tasks.dump import _wikitext

# The compiled cleaner's source: part of the code identity of extracted text.

_DROPPED_ELEMENTS = (
    "ref|references|math|chem|ce|gallery|score|syntaxhighlight|source|pre|timeline|graph|mapframe|maplink"
    "|imagemap|templatedata|templatestyles|hiero|inputbox|categorytree|includeonly|indicator"
)
_ELEMENT_OPEN = re.compile(rf"<({_DROPPED_ELEMENTS})(?=[\s/>])[^<>]*>", re.IGNORECASE)
_ELEMENT_CLOSE = re.compile(rf"</({_DROPPED_ELEMENTS})\s*>", re.IGNORECASE)

_HTML_TAG = re.compile(
    r"</?(?:span|div|small|big|sup|sub|u|s|del|ins|strike|center|font|blockquote|abbr|b|i|em|strong|tt|var|q"
    r"|cite|code|kbd|samp|p|poem|nowiki|mark|bdi|bdo|dfn|ruby|rb|rt|rp|section|onlyinclude|noinclude|ol|ul"
    r"|li|dl|dt|dd|table|tr|td|th|caption|hr|wbr|h[1-6]|time|data)(?=[\s/>])[^<>]*>",
    re.IGNORECASE,
)
_LINE_BREAK = re.compile(r"<\s*/?\s*br\b[^<>]*>|</h[1-6]\s*>", re.IGNORECASE)
_EXTERNAL_LINK = re.compile(r"\[(?:https?:|ftp:|//)[^\s\[\]]*\s*([^\[\]\n]*)\]")
_BARE_URL = re.compile(r"(?:https?|ftp)://[A-Za-z0-9\-._~:/?#@!$&()*+,;=%]+")
_BOLD_ITALIC = re.compile(r"''+")  # not '{2,}: a literal first lets the regex engine skip ahead (3x faster)
_MAGIC_WORD = re.compile(r"__[A-Z]+__")
_LIST_MARKER = re.compile(r"^[*#:;]+\s*")
_LINE_MARKUP = frozenset("=*#:;|!-")
_RULE = re.compile(r"-{4,}")
_EMPTY_BRACKETS = re.compile(r"（[\s，、；,;]*）|\([\s,;]*\)")

# `{{` wins over `-{` (`-{{x}}` is a dash and a template), and `|}}` closes a template after an empty
# parameter rather than a table. `{|` and `|}` are tables only at a line start (after `[ \t:]*` and `[ \t]*`):
# `_resolve_markup` checks that, since a regex anchored at line starts would be tried at every position.
_TOKEN = re.compile(r"\{\{|\}\}|-\{(?!\{)|\}-|\[\[|\]\]|\{\||\|\}(?!\})")
_TABLE_INDENT = {"{|": frozenset(" \t:"), "|}": frozenset(" \t")}
_OPENERS = {"{{": "template", "-{": "conversion", "[[": "link", "{|": "table"}
# Innermost constructs (no token inside) are rendered first by one regex pass each: most links, conversions
# and simple templates cost a C-level scan and a call instead of a trip through the stack. The guards keep
# each match exactly what the token scan would see (no `[[[`, `{{{`, `}-{`, nor a `|}` at a line start), and
# the rendered text is fenced with a character XML text cannot hold, so it never joins its neighbours
# into a new token; the fences are removed once the pass is done.
_FENCE = "\uffff"
# (The guards look behind *after* the opener: a pattern that starts with a literal is searched for in C.)
_INNERMOST = (
    ("-{", "conversion", re.compile(r"-\{(?<!\}-\{)([^{}\[\]\n]*)\}-")),
    ("[[", "link", re.compile(r"\[\[(?<!\[\[\[)([^{}\[\]\n]*)\]\]")),
    ("{{", "template", re.compile(r"\{\{(?<!\{\{\{)([^{}\[\]]*)\}\}")),
)
_CLOSERS = {"}}": "template", "}-": "conversion", "]]": "link", "|}": "table"}

_MEDIA_OR_CATEGORY_NS = frozenset(
    {"file", "image", "media", "文件", "檔案", "档案", "图像", "圖像", "图片", "圖片", "媒体", "媒體"}
    | {"category", "分类", "分類"}
)
_LANGUAGE_PREFIX = re.compile(r"[a-z]{2,3}(?:-[a-z0-9]{2,8})*")
_PROJECT_PREFIXES = frozenset({"mw", "voy", "wmf"})

_VARIANT = re.compile(r"(?:^|;)\s*(?:[^;]*?=>\s*)?(zh(?:-(?:hans|hant|cn|tw|hk|sg|mo|my))?)\s*:")
_VARIANT_PREFERENCE = ("zh-hans", "zh-cn", "zh")
_VARIANTS = frozenset({"zh-hans", "zh-hant", "zh-cn", "zh-tw", "zh-hk", "zh-sg", "zh-mo", "zh-my"})
_CONVERSION_FLAGS = frozenset({"A", "T", "R", "D", "H", "N", "E", "S", "-"}) | _VARIANTS
_HIDDEN_FLAGS = frozenset({"T", "D", "H", "N", "-"})

# Inline templates that show their first positional argument: no-break spans, size and abbreviation
# wrappers, and zhwiki's interlanguage-link templates (the Chinese title comes first).
_FIRST_ARG_SHOWN = frozenset(
    {
        "nowrap",
        "nobr",
        "small",
        "big",
        "小",
        "大",
        "abbr",
        "ill",
        "interlanguage link",
        "interlanguage link multi",
    }
)

_COLOR_TEMPLATES = frozenset({"color", "colour", "font color"})
_TEXT_TEMPLATES = _FIRST_ARG_SHOWN | _COLOR_TEMPLATES | {"lang", "le", "tsl", "convert", "cvt"}

_RANGE_WORDS = frozenset(
    {"-", "–", "—", "至", "到", "~", "～", "×", "±", "+/-"} | {"to", "and", "or", "x", "by"}
)

_REDIRECT = re.compile(r"\s*#(?:redirect|重定向)\s*:?\s*\[\[", re.IGNORECASE)
_DISAMBIGUATION = re.compile(
    r"\{\{\s*(?:disambig|disambiguation|dab|消歧义|消歧義|消歧义页|消歧義頁|hndis|geodis|shipindex|numberdis"
    r"|人名消歧义|人名消歧義|地名消歧义|地名消歧義)\s*[|}]",
    re.IGNORECASE,
)


def to_prose(wikitext: str) -> list[str]:
    """The article's prose, one paragraph, list item or heading a line; no markup survives."""
    return prose_text(wikitext).split("\n")[:-1]


def prose_text(wikitext: str) -> str:
    """`to_prose`'s lines, each ended by a line break: what a shard holds.

    The compiled cleaner (`tasks/dump/_wikitext.c`, the same passes) does the work; it leaves the rare page it
    cannot clean exactly as this module would to `python_prose`.
    """
    text = _wikitext.prose_text(wikitext)
    return "".join(line + "\n" for line in python_prose(wikitext)) if text is None else text


def python_prose(wikitext: str) -> list[str]:
    """`to_prose` in Python: the reference the compiled cleaner is tested against.

    Cheap substring tests skip the regex passes a page does not need, and only a line that may hold
    markup goes through `_clean_line`.
    """
    text = _resolve_markup(_remove_elements(_remove_comments(wikitext)))
    if "<" in text:
        text = _LINE_BREAK.sub("\n", text)
        text = _HTML_TAG.sub("", text)
    if "[" in text:
        text = _EXTERNAL_LINK.sub(r"\1", text)
    if "://" in text:
        text = _BARE_URL.sub("", text)
    if "''" in text:
        text = _BOLD_ITALIC.sub("", text)
    if "__" in text:
        text = _MAGIC_WORD.sub("", text)
    text = html.unescape(text)
    lines = []
    for raw in text.split("\n"):
        line = " ".join(raw.split())
        if line and (line[0] in _LINE_MARKUP or ")" in line or "）" in line):
            line = _clean_line(line)
        if line:
            lines.append(line)
    return lines


def is_redirect(wikitext: str) -> bool:
    """True for `#REDIRECT [[X]]` / `#重定向 [[X]]` pages (dumps also flag them with `<redirect/>`)."""
    return _REDIRECT.match(wikitext) is not None


def is_disambiguation(wikitext: str) -> bool:
    """True when the page carries one of zhwiki's disambiguation templates: a list of links, not prose."""
    return _DISAMBIGUATION.search(wikitext) is not None


def _clean_line(line: str) -> str:
    """A line without heading `=`s, list markers or runs of spaces; empty for rows of a broken table or
    template and for rules. Cheap string tests guard each regex. `to_prose` calls it only for a non-empty
    line with its whitespace already collapsed that starts with one of `_LINE_MARKUP` or has a `)`: any
    other line is already clean."""
    if line[0] == "=" and line[-1] == "=":
        line = line.strip("=")
    if line[:1] in ("*", "#", ":", ";"):
        line = _LIST_MARKER.sub("", line, count=1)
    if line[:1] in ("|", "!") or (line[:1] == "-" and _RULE.fullmatch(line)):
        return ""
    if "）" in line or ")" in line:
        line = _EMPTY_BRACKETS.sub("", line)  # what is left of `（{{dropped template}}）`
    return " ".join(line.split())


def _remove_comments(text: str) -> str:
    """Drop `<!-- … -->`; an unclosed `<!--` loses only its marker instead of hiding the rest of the page."""
    out: list[str] = []
    pos = 0
    while (start := text.find("<!--", pos)) != -1:
        out.append(text[pos:start])
        end = text.find("-->", start + 4)
        if end == -1:
            out.append(text[start + 4 :].replace("<!--", ""))
            return "".join(out)
        pos = end + 3
    out.append(text[pos:])
    return "".join(out)


def _remove_elements(text: str) -> str:
    """Drop `<ref>`, `<math>`, `<gallery>`… with their content; unmatched tags lose only the tag.

    Closing tags are located once up front, so finding each element's end is a bisection, not a rescan.
    """
    closers: dict[str, list[tuple[int, int]]] = {}
    for m in _ELEMENT_CLOSE.finditer(text):
        closers.setdefault(m.group(1).lower(), []).append((m.start(), m.end()))
    close_starts = {name: [start for start, _ in spans] for name, spans in closers.items()}
    out: list[str] = []
    pos = 0
    for m in _ELEMENT_OPEN.finditer(text):
        if m.start() < pos:
            continue  # inside an element already dropped
        out.append(text[pos : m.start()])
        pos = m.end()
        if m.group(0).endswith("/>"):
            continue
        name = m.group(1).lower()
        starts = close_starts.get(name, [])
        i = bisect_left(starts, m.end())
        if i < len(starts):
            pos = closers[name][i][1]
    out.append(text[pos:])
    kept = "".join(out)
    return _ELEMENT_CLOSE.sub("", kept) if _ELEMENT_CLOSE.search(kept) else kept  # a search is 4x cheaper


def _resolve_markup(text: str) -> str:
    """Resolve templates, links, `-{…}-` and tables in one pass with a stack of open constructs.

    Each construct is rendered when it closes, so its parent sees plain text (a link label inside a template
    parameter no longer carries a `|`). A closer with no matching opener is dropped; one whose opener is
    deeper in the stack first flattens the unclosed constructs above it (their markers dropped, text kept).
    """
    fenced = False
    for opener, kind, pattern in _INNERMOST:
        if opener in text:
            text = pattern.sub(_FENCED_RENDER[kind], text)
            fenced = True
    stack: list[list[str]] = [[]]
    kinds = ["root"]
    open_count: Counter[str] = Counter()
    pos = 0
    search = _TOKEN.search
    while m := search(text, pos):
        token = m.group()
        start = m.start()
        if token in _TABLE_INDENT:
            indent = _TABLE_INDENT[token]
            line_start = start
            while line_start and text[line_start - 1] in indent:
                line_start -= 1
            if line_start and text[line_start - 1] != "\n":
                stack[-1].append(text[pos : start + 1])  # not a table; `|}-` may still close a `-{`
                pos = start + 1
                continue
            stack[-1].append(text[pos:line_start])  # the indent goes with the table
        else:
            stack[-1].append(text[pos:start])
        pos = m.end()
        opened = _OPENERS.get(token)
        if opened:
            stack.append([])
            kinds.append(opened)
            open_count[opened] += 1
            continue
        closed = _CLOSERS[token]
        if not open_count[closed]:
            continue
        depth = len(kinds) - 1
        if kinds[depth] != closed:
            while kinds[depth] != closed:
                depth -= 1
            _flatten(stack, kinds, open_count, depth)
        content = "".join(stack.pop())
        if fenced:
            content = _unfenced(content)
        kinds.pop()
        open_count[closed] -= 1
        stack[-1].append(_RENDER[closed](content))
    stack[-1].append(text[pos:])
    _flatten(stack, kinds, open_count, 0)
    return _unfenced("".join(stack[0]))


def _unfenced(text: str) -> str:
    return text.replace(_FENCE, "") if _FENCE in text else text


def _flatten(stack: list[list[str]], kinds: list[str], open_count: Counter[str], depth: int) -> None:
    """Merge the unclosed constructs above `depth` into it as plain text."""
    for pieces, kind in zip(stack[depth + 1 :], kinds[depth + 1 :], strict=True):
        stack[depth].extend(pieces)
        open_count[kind] -= 1
    del stack[depth + 1 :]
    del kinds[depth + 1 :]


def _render_template(content: str) -> str:
    """The visible text of an inline template (see the module docstring); "" for all others, which are
    told by name alone, before their parameters are split (an infobox has dozens)."""
    name, _, rest = content.partition("|")
    name = name.strip().replace("_", " ").lower()
    if name not in _TEXT_TEMPLATES and not name.startswith(("lang-", "link-")):
        return ""
    args = [p.strip() for p in rest.split("|") if "=" not in p] if rest else []
    if name == "lang":
        return args[1] if len(args) > 1 else ""
    if name.startswith("lang-"):
        return args[0] if args else ""
    if name == "le" or name.startswith("link-"):
        return args[2] if len(args) > 2 and args[2] else (args[0] if args else "")
    if name == "tsl":  # {{tsl|en|Foreign title|中文标题|显示}}
        shown = [a for a in args[1:4] if a]
        return shown[-1] if shown else ""
    if name in _FIRST_ARG_SHOWN:
        return args[0] if args else ""
    if name in _COLOR_TEMPLATES:
        return args[1] if len(args) > 1 else ""
    if name in ("convert", "cvt"):
        return _render_convert(args)
    return ""


def _render_convert(args: list[str]) -> str:
    """`{{convert|24|至|43|mm}}` → `24至43mm`: value(s) and the unit as written."""
    if not args:
        return ""
    out = args[0]
    i = 1
    while i + 1 < len(args) and args[i] in _RANGE_WORDS:
        word = args[i]
        out += f" {word} " if word.isascii() and word.isalpha() else word
        out += args[i + 1]
        i += 2
    return out + (args[i] if i < len(args) else "")


def _render_link(content: str) -> str:
    if "\n\n" in content:
        return content  # a `[[` left open across paragraphs is not a link: keep the text
    target, has_label, label = content.partition("|")
    target = target.strip()
    if target.startswith(":"):
        target = target[1:]  # `[[:Category:X]]` is an inline link to the page
    elif ":" in target:
        prefix = target.split(":", 1)[0].strip()
        if prefix.lower().replace("_", " ") in _MEDIA_OR_CATEGORY_NS:
            return ""
        if _LANGUAGE_PREFIX.fullmatch(prefix) and prefix not in _PROJECT_PREFIXES:
            return ""  # interlanguage link
    return label if has_label else target


def _render_conversion(content: str) -> str:
    if "|" not in content:  # no flags: the common `-{zh-hans:…;zh-hant:…}-` and `-{X}-`
        return _pick_variant(content)
    flags, has_flags, body = content.partition("|")
    flag_set = {f.strip() for f in flags.split(";") if f.strip()}
    if not has_flags or not flag_set or not flag_set <= _CONVERSION_FLAGS:
        flag_set, body = set(), content
    if "R" in flag_set:
        return body
    if flag_set & _HIDDEN_FLAGS:
        return ""
    return _pick_variant(body)


def _pick_variant(body: str) -> str:
    """`zh-hans:甲;zh-hant:乙;` → 甲; text without variant rules is shown as is."""
    markers = list(_VARIANT.finditer(body))
    if not markers or body[: markers[0].start()].strip():
        return body
    variants: dict[str, str] = {}
    for m, following in zip(markers, [*markers[1:], None], strict=True):
        end = following.start() if following else len(body)
        variants.setdefault(m.group(1), body[m.end() : end].strip().rstrip(";").strip())
    for code in _VARIANT_PREFERENCE:
        if code in variants:
            return variants[code]
    return next(iter(variants.values()))


_RENDER: dict[str, Callable[[str], str]] = {
    "template": _render_template,
    "link": _render_link,
    "conversion": _render_conversion,
    "table": lambda _content: "",
}


def _fenced(render: Callable[[str], str]) -> Callable[[re.Match[str]], str]:
    def sub(match: re.Match[str]) -> str:
        return _FENCE + render(_unfenced(match[1])) + _FENCE

    return sub


_FENCED_RENDER = {kind: _fenced(render) for kind, render in _RENDER.items()}
_wikitext.bind(_render_template, _render_conversion, html.unescape)
