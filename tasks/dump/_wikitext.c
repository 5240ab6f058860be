/* The wikitext cleaner of tasks/dump/wikitext.py, compiled: prose_text must equal wikitext.python_prose
 * (its lines, each ended by "\n"): the same passes, in the same order, with the same results
 * (tests/test_wikitext_c.py compares the two on real pages and on thousands of mangled ones).
 *
 * Why C: after bz2, extraction spends its time in these passes, and in Python each one is a regex pass plus
 * a trip through the interpreter for every link and template. Here each pass is one scan over the page's
 * code points, and a construct is rendered in place in the output buffer.
 *
 * What stays in Python, called back from here: the rare renderings with many rules (inline templates that
 * show text, `-{…}-` with flags or `=>` rules) and html.unescape (HTML5 entities). A page holding a
 * character on which Python's case-insensitive matching differs from ASCII (U+0130, U+0131, U+017F,
 * U+212A) or U+FFFF (the Python cleaner's fence) is left to the Python cleaner whole: prose_text returns None.
 */
#include "_text.h"

/* --- appending to buffers ------------------------------------------------------------------------- */

static int put(Buf *b, const ch *s, Py_ssize_t n)
{
    if (n <= 0)
        return 0;
    if (grow(b, n) < 0)
        return -1;
    memcpy(b->p + b->n, s, (size_t)n * sizeof(ch));
    b->n += n;
    return 0;
}

static int putc1(Buf *b, ch c)
{
    if (grow(b, 1) < 0)
        return -1;
    b->p[b->n++] = c;
    return 0;
}

static void swap(Buf *a, Buf *b)
{
    Buf t = *a;
    *a = *b;
    *b = t;
}

/* --- small helpers ------------------------------------------------------------------------------- */

/* str.isspace, as str.split and regex \s see it; nothing above U+3000 is a space, so CJK text skips the
 * Unicode database call. */
static inline int SPACE(ch c)
{
    return c < 128 ? _Py_ascii_whitespace[c] : c <= 0x3000 && Py_UNICODE_ISSPACE(c);
}

static int word_char(ch c) { return c == '_' || Py_UNICODE_ISALNUM(c); } /* regex \w, for \b */

static ch ascii_lower(ch c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

/* Index of the first `lit` (ASCII) in s[from:n], or -1. */
static Py_ssize_t find(const ch *s, Py_ssize_t n, const char *lit, Py_ssize_t from)
{
    Py_ssize_t m = (Py_ssize_t)strlen(lit);
    for (Py_ssize_t i = from; i + m <= n; i++) {
        if (s[i] != (ch)lit[0])
            continue;
        Py_ssize_t k = 1;
        while (k < m && s[i + k] == (ch)lit[k])
            k++;
        if (k == m)
            return i;
    }
    return -1;
}

static int has(const ch *s, Py_ssize_t n, const char *lit) { return find(s, n, lit, 0) >= 0; }

static int has_char(const ch *s, Py_ssize_t n, ch c)
{
    for (Py_ssize_t i = 0; i < n; i++)
        if (s[i] == c)
            return 1;
    return 0;
}

/* s[i:i+len(lit)] == lit, ASCII case-insensitively when `fold`. */
static int at(const ch *s, Py_ssize_t n, Py_ssize_t i, const char *lit, int fold)
{
    for (; *lit; lit++, i++) {
        if (i >= n)
            return 0;
        ch c = fold ? ascii_lower(s[i]) : s[i];
        if (c != (ch)*lit)
            return 0;
    }
    return 1;
}

/* The ASCII word s[i:i+len] lowered into `out` (NUL-terminated), if it fits; else "". */
static void lowered(const ch *s, Py_ssize_t len, char *out, size_t size)
{
    if (len <= 0 || (size_t)len >= size) {
        out[0] = 0;
        return;
    }
    for (Py_ssize_t k = 0; k < len; k++)
        out[k] = (char)ascii_lower(s[k]);
    out[len] = 0;
}

static int one_of(const char *word, const char *const *words)
{
    for (; *words; words++)
        if (strcmp(word, *words) == 0)
            return 1;
    return 0;
}

typedef Py_ssize_t (*Matcher)(const ch *s, Py_ssize_t n, Py_ssize_t i);

/* Every match of `match` (which starts with `first` or `other`), left to right, replaced by `with`, into
 * out. Returns 0 (and leaves out alone) if nothing matched, 1 if out holds the result, -1 on error. */
static int substitute(const ch *s, Py_ssize_t n, Buf *out, ch first, ch other, Matcher match, const char *with)
{
    Py_ssize_t pos = 0;
    int changed = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (s[i] != first && s[i] != other)
            continue;
        Py_ssize_t end = match(s, n, i);
        if (end < 0)
            continue;
        changed = 1;
        if (put(out, s + pos, i - pos) < 0)
            return -1;
        for (const char *w = with; *w; w++)
            if (putc1(out, (ch)*w) < 0)
                return -1;
        pos = end;
        i = end - 1;
    }
    return changed && put(out, s + pos, n - pos) < 0 ? -1 : changed;
}

/* --- calls back into tasks.dump.wikitext ------------------------------------------------------------------ */

static PyObject *render_template_py, *render_conversion_py, *unescape_py;

/* out += fn(s[0:n]); s may be the end of out itself: it is copied into fn's argument before out grows. */
static int call_back(PyObject *fn, const ch *s, Py_ssize_t n, Buf *out)
{
    PyObject *arg = PyUnicode_FromKindAndData(PyUnicode_4BYTE_KIND, s, n);
    if (arg == NULL)
        return -1;
    PyObject *res = PyObject_CallOneArg(fn, arg);
    Py_DECREF(arg);
    if (res == NULL)
        return -1;
    if (!PyUnicode_Check(res)) {
        Py_DECREF(res);
        PyErr_SetString(PyExc_TypeError, "a wikitext renderer returned a non-str");
        return -1;
    }
    Py_ssize_t len = PyUnicode_GET_LENGTH(res);
    int rc = grow(out, len + 1);
    if (rc == 0 && PyUnicode_AsUCS4(res, out->p + out->n, len + 1, 1) == NULL)
        rc = -1;
    if (rc == 0)
        out->n += len;
    Py_DECREF(res);
    return rc;
}

/* --- pass 1: <!-- comments --> ----------------------------------------------------------------------- */

/* A character on which Python's case-insensitive matching differs from ASCII, or the Python cleaner's
 * fence: the page is left to the Python cleaner. */
static int python_only(ch c) { return c == 0x130 || c == 0x131 || c == 0x17F || c == 0x212A || c == 0xFFFF; }

/* Drop `<!-- … -->`; an unclosed `<!--` loses only its marker. Returns 1 if the page holds a python_only
 * character (out is then incomplete), else 0, or -1 on error. */
static int remove_comments(const ch *s, Py_ssize_t n, Buf *out)
{
    Py_ssize_t pos = 0, i = 0, end = -2; /* end: the `-->` after the open comment, -1 if none (unclosed) */
    int open = 0;
    for (; i < n; i++) {
        ch c = s[i];
        if (c >= 0x130 && python_only(c))
            return 1;
        if (open) {
            if (i == end + 3) { /* the comment is over */
                open = 0;
                pos = i;
            } else {
                continue;
            }
        }
        if (c != '<' || !at(s, n, i, "<!--", 0))
            continue;
        if (put(out, s + pos, i - pos) < 0)
            return -1;
        if (end == -1) { /* after an unclosed one, every `<!--` only loses its marker */
            pos = i + 4;
            i += 3;
            continue;
        }
        end = find(s, n, "-->", i + 4);
        if (end == -1) {
            pos = i + 4;
            i += 3;
            continue;
        }
        open = 1;
    }
    if (open)
        return 0; /* the page ends with the comment's `-->` */
    return put(out, s + pos, n - pos);
}

/* --- pass 2: <ref>…</ref> and the other dropped elements --------------------------------------------- */

static const char *const DROPPED[] = {
    "ref", "references", "math", "chem", "ce", "gallery", "score", "syntaxhighlight", "source", "pre",
    "timeline", "graph", "mapframe", "maplink", "imagemap", "templatedata", "templatestyles", "hiero",
    "inputbox", "categorytree", "includeonly", "indicator", NULL};
#define N_DROPPED 22

/* Which DROPPED name the letters at s[i:] spell (case-insensitively), or -1; *end is after the name. */
static int dropped_name(const ch *s, Py_ssize_t n, Py_ssize_t i, Py_ssize_t *end)
{
    Py_ssize_t j = i;
    while (j < n && ascii_alpha(s[j]))
        j++;
    char word[24];
    lowered(s + i, j - i, word, sizeof word);
    *end = j;
    for (int k = 0; DROPPED[k]; k++)
        if (strcmp(word, DROPPED[k]) == 0)
            return k;
    return -1;
}

/* `</name\s*>` at s[i]: its name's index and *end, or -1. */
static int close_tag(const ch *s, Py_ssize_t n, Py_ssize_t i, Py_ssize_t *end)
{
    if (s[i] != '<' || i + 1 >= n || s[i + 1] != '/')
        return -1;
    Py_ssize_t j;
    int k = dropped_name(s, n, i + 2, &j);
    if (k < 0)
        return -1;
    while (j < n && SPACE(s[j]))
        j++;
    if (j >= n || s[j] != '>')
        return -1;
    *end = j + 1;
    return k;
}

/* `<name(?=[\s/>])[^<>]*>` at s[i]: its name's index and *end, or -1. */
static int open_tag(const ch *s, Py_ssize_t n, Py_ssize_t i, Py_ssize_t *end)
{
    if (s[i] != '<')
        return -1;
    Py_ssize_t j;
    int k = dropped_name(s, n, i + 1, &j);
    if (k < 0 || j >= n || !(SPACE(s[j]) || s[j] == '/' || s[j] == '>'))
        return -1;
    while (j < n && s[j] != '<' && s[j] != '>')
        j++;
    if (j >= n || s[j] != '>')
        return -1;
    *end = j + 1;
    return k;
}

typedef struct {
    struct {
        Py_ssize_t start, end;
    } *at;
    Py_ssize_t n, cap, next;
} Spans;

static int add_span(Spans *sp, Py_ssize_t start, Py_ssize_t end)
{
    if (sp->n == sp->cap) {
        Py_ssize_t cap = sp->cap ? sp->cap * 2 : 8;
        void *grown = PyMem_Realloc(sp->at, (size_t)cap * sizeof *sp->at);
        if (grown == NULL)
            return PyErr_NoMemory(), -1;
        sp->at = grown;
        sp->cap = cap;
    }
    sp->at[sp->n].start = start;
    sp->at[sp->n++].end = end;
    return 0;
}

static Py_ssize_t close_tag_end(const ch *s, Py_ssize_t n, Py_ssize_t i)
{
    Py_ssize_t end;
    return close_tag(s, n, i, &end) >= 0 ? end : -1;
}

/* Each element is dropped with its content up to the first closer of its name after it; an unmatched or
 * self-closing tag loses only the tag; then closers left over are dropped. The result is in out; tmp is
 * scratch (both are emptied first). */
static int remove_elements(const ch *s, Py_ssize_t n, Buf *out, Buf *tmp)
{
    Spans closers[N_DROPPED];
    memset(closers, 0, sizeof closers);
    int rc = -1;
    out->n = 0;
    Py_ssize_t end, pos = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        int k;
        if (s[i] == '<' && (k = close_tag(s, n, i, &end)) >= 0) {
            if (add_span(&closers[k], i, end) < 0)
                goto done;
            i = end - 1;
        }
    }
    tmp->n = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        int k;
        if (s[i] != '<' || (k = open_tag(s, n, i, &end)) < 0)
            continue;
        Py_ssize_t start = i;
        i = end - 1;
        if (start < pos)
            continue; /* inside an element already dropped */
        if (put(tmp, s + pos, start - pos) < 0)
            goto done;
        pos = end;
        if (s[end - 2] == '/')
            continue;
        Spans *sp = &closers[k];
        while (sp->next < sp->n && sp->at[sp->next].start < end)
            sp->next++;
        if (sp->next < sp->n)
            pos = sp->at[sp->next].end;
    }
    if (put(tmp, s + pos, n - pos) < 0)
        goto done;
    rc = substitute(tmp->p, tmp->n, out, '<', '<', close_tag_end, "");
    if (rc == 0)
        swap(out, tmp);
done:
    for (int k = 0; k < N_DROPPED; k++)
        PyMem_Free(closers[k].at);
    return rc;
}

/* --- pass 3: templates, links, -{…}- and tables ---------------------------------------------------- */

enum { ROOT, TEMPLATE, CONVERSION, LINK, TABLE, N_KINDS };

static void strip_span(const ch *s, Py_ssize_t *a, Py_ssize_t *b)
{
    while (*a < *b && SPACE(s[*a]))
        (*a)++;
    while (*b > *a && SPACE(s[*b - 1]))
        (*b)--;
}

static Py_ssize_t index_of(const ch *s, Py_ssize_t a, Py_ssize_t b, ch c)
{
    for (Py_ssize_t i = a; i < b; i++)
        if (s[i] == c)
            return i;
    return -1;
}

/* A character whose lower() is itself and no other character's lower() is it (CJK and kana). */
static int caseless(ch c)
{
    return (c >= 0x2E80 && c <= 0xA4CF) || (c >= 0xAC00 && c <= 0xD7A3) || c >= 0x20000;
}

static const char *const TEXT_TEMPLATES[] = {
    "nowrap", "nobr", "small", "big", "abbr", "ill", "interlanguage link", "interlanguage link multi",
    "color", "colour", "font color", "lang", "le", "tsl", "convert", "cvt", NULL};

/* Whether the template in s[a:b] may show text (then Python renders it); all others show nothing. */
static int may_show_text(const ch *s, Py_ssize_t a, Py_ssize_t b)
{
    Py_ssize_t bar = index_of(s, a, b, '|');
    Py_ssize_t e = bar < 0 ? b : bar;
    strip_span(s, &a, &e);
    int ascii = 1;
    for (Py_ssize_t i = a; i < e; i++) {
        if (s[i] >= 0x80 && !caseless(s[i]))
            return 1; /* lower() may do anything: ask Python */
        ascii &= s[i] < 0x80;
    }
    if (at(s, e, a, "lang-", 1) || at(s, e, a, "link-", 1))
        return 1;
    if (!ascii) /* the whitelist's only non-ASCII names are 小 and 大 */
        return e - a == 1 && (s[a] == 0x5C0F || s[a] == 0x5927);
    char name[32];
    lowered(s + a, e - a, name, sizeof name);
    for (char *c = name; *c; c++)
        if (*c == '_')
            *c = ' ';
    return one_of(name, TEXT_TEMPLATES);
}

static const char *const MEDIA_OR_CATEGORY[] = {"file", "image", "media", "category", NULL};
/* 文件 檔案 档案 图像 圖像 图片 圖片 媒体 媒體 分类 分類 */
static const ch MEDIA_OR_CATEGORY_ZH[11][2] = {
    {0x6587, 0x4EF6}, {0x6A94, 0x6848}, {0x6863, 0x6848}, {0x56FE, 0x50CF},
    {0x5716, 0x50CF}, {0x56FE, 0x7247}, {0x5716, 0x7247}, {0x5A92, 0x4F53},
    {0x5A92, 0x9AD4}, {0x5206, 0x7C7B}, {0x5206, 0x985E}};

/* `[a-z]{2,3}(?:-[a-z0-9]{2,8})*` matches all of s[a:b]. */
static int language_code(const ch *s, Py_ssize_t a, Py_ssize_t b)
{
    Py_ssize_t i = a;
    while (i < b && s[i] >= 'a' && s[i] <= 'z')
        i++;
    if (i - a < 2 || i - a > 3)
        return 0;
    while (i < b) {
        if (s[i++] != '-')
            return 0;
        Py_ssize_t j = i;
        while (j < b && ((s[j] >= 'a' && s[j] <= 'z') || (s[j] >= '0' && s[j] <= '9')))
            j++;
        if (j - i < 2 || j - i > 8)
            return 0;
        i = j;
    }
    return 1;
}

/* Whether the link prefix s[a:b] (stripped) names files, images or categories, or another language. */
static int hidden_prefix(const ch *s, Py_ssize_t a, Py_ssize_t b)
{
    int ascii = 1;
    for (Py_ssize_t i = a; i < b; i++)
        ascii &= s[i] < 0x80;
    if (!ascii) {
        if (b - a != 2)
            return 0;
        for (int k = 0; k < 11; k++)
            if (s[a] == MEDIA_OR_CATEGORY_ZH[k][0] && s[a + 1] == MEDIA_OR_CATEGORY_ZH[k][1])
                return 1;
        return 0;
    }
    char word[16];
    lowered(s + a, b - a, word, sizeof word);
    for (char *c = word; *c; c++)
        if (*c == '_')
            *c = ' ';
    if (one_of(word, MEDIA_OR_CATEGORY))
        return 1;
    if (!language_code(s, a, b))
        return 0;
    static const char *const PROJECTS[] = {"mw", "voy", "wmf", NULL};
    return !(b - a <= 3 && one_of(word, PROJECTS)); /* a code is lower-case: `word` is the prefix itself */
}

/* Replace out[start:] (a link's content) by what the link shows. */
static void render_link(Buf *out, Py_ssize_t start)
{
    ch *s = out->p;
    Py_ssize_t n = out->n;
    for (Py_ssize_t i = start; i + 1 < n; i++)
        if (s[i] == '\n' && s[i + 1] == '\n')
            return; /* a `[[` left open across paragraphs is not a link: the text stays */
    Py_ssize_t bar = index_of(s, start, n, '|');
    Py_ssize_t ta = start, tb = bar < 0 ? n : bar;
    strip_span(s, &ta, &tb);
    if (ta < tb && s[ta] == ':') {
        ta++; /* `[[:Category:X]]` links to the page */
    } else {
        Py_ssize_t colon = index_of(s, ta, tb, ':');
        if (colon >= 0) {
            Py_ssize_t pa = ta, pb = colon;
            strip_span(s, &pa, &pb);
            if (hidden_prefix(s, pa, pb)) {
                out->n = start;
                return;
            }
        }
    }
    Py_ssize_t a = bar < 0 ? ta : bar + 1, b = bar < 0 ? tb : n;
    memmove(s + start, s + a, (size_t)(b - a) * sizeof(ch));
    out->n = start + (b - a);
}

/* `\s*zh(?:-(?:hans|hant|cn|tw|hk|sg|mo|my))?\s*:` at s[i] (wikitext._VARIANT after its `^` or `;`):
 * the variant's index in VARIANTS and *end, or -1. */
static const char *const VARIANTS[] = {
    "zh", "zh-hans", "zh-hant", "zh-cn", "zh-tw", "zh-hk", "zh-sg", "zh-mo", "zh-my", NULL};

static int variant_marker(const ch *s, Py_ssize_t n, Py_ssize_t i, Py_ssize_t *end)
{
    while (i < n && SPACE(s[i]))
        i++;
    if (!at(s, n, i, "zh", 0))
        return -1;
    int code = 0;
    for (int k = 1; VARIANTS[k]; k++) {
        if (at(s, n, i, VARIANTS[k], 0)) {
            code = k;
            break;
        }
    }
    i += (Py_ssize_t)strlen(VARIANTS[code]);
    while (i < n && SPACE(s[i]))
        i++;
    if (i >= n || s[i] != ':')
        return -1; /* (after `zh-hans`, backtracking to `zh` meets the `-`) */
    *end = i + 1;
    return code;
}

/* Replace out[start:], the body of a `-{…}-` with no flags and no `=>` rules, by the variant it shows:
 * wikitext._pick_variant (zh-hans, else zh-cn, else zh, else the first; no rules: the text as is). */
static void pick_variant(Buf *out, Py_ssize_t start)
{
    const ch *s = out->p + start;
    Py_ssize_t n = out->n - start, q = 0, first_start = -1, end;
    Py_ssize_t best_a = 0, best_b = 0;
    int best = 99; /* rank: zh-hans 0, zh-cn 1, zh 2, the first of the others 3 */
    while (q < n) {
        if (q && s[q] != ';') {
            q++;
            continue;
        }
        int code = variant_marker(s, n, s[q] == ';' ? q + 1 : q, &end);
        if (code < 0) {
            q++;
            continue;
        }
        if (first_start < 0)
            first_start = q;
        Py_ssize_t next = end, next_end; /* the value runs to the next marker's `;` */
        while (next < n && !(s[next] == ';' && variant_marker(s, n, next + 1, &next_end) >= 0))
            next++;
        Py_ssize_t a = end, b = next;
        strip_span(s, &a, &b);
        while (b > a && s[b - 1] == ';')
            b--;
        strip_span(s, &a, &b);
        int rank = code == 1 ? 0 : code == 3 ? 1 : code == 0 ? 2 : 3;
        if (rank < best) {
            best = rank;
            best_a = a;
            best_b = b;
        }
        q = next;
    }
    if (first_start < 0)
        return; /* no variants: the text as is */
    for (Py_ssize_t k = 0; k < first_start; k++)
        if (!SPACE(s[k]))
            return; /* text before the first variant: not a variant list */
    memmove(out->p + start, s + best_a, (size_t)(best_b - best_a) * sizeof(ch));
    out->n = start + (best_b - best_a);
}

/* Replace out[start:] (the content of a construct of `kind`) by what it shows. */
static int render(Buf *out, Py_ssize_t start, int kind)
{
    Py_ssize_t len = out->n - start;
    PyObject *fn = NULL;
    if (kind == LINK) {
        render_link(out, start);
        return 0;
    }
    if (kind == TEMPLATE && may_show_text(out->p, start, out->n))
        fn = render_template_py;
    if (kind == CONVERSION) {
        if (index_of(out->p, start, out->n, '|') < 0 && !has(out->p + start, len, "=>")) {
            pick_variant(out, start);
            return 0;
        }
        fn = render_conversion_py; /* flags or `=>` rules */
    }
    out->n = start; /* tables and templates that show nothing stop here */
    return fn == NULL ? 0 : call_back(fn, out->p + start, len, out);
}

/* The markup token at s[i] (its kind, and whether it opens), or 0. Order as in wikitext._TOKEN. */
static int token(const ch *s, Py_ssize_t n, Py_ssize_t i, int *opens)
{
    ch c = s[i], d = i + 1 < n ? s[i + 1] : 0;
    *opens = 1;
    switch (c) {
    case '{':
        if (d == '{')
            return TEMPLATE;
        if (d == '|')
            return TABLE;
        return 0;
    case '}':
        *opens = 0;
        if (d == '}')
            return TEMPLATE;
        if (d == '-')
            return CONVERSION;
        return 0;
    case '-':
        return d == '{' && !(i + 2 < n && s[i + 2] == '{') ? CONVERSION : 0;
    case '[':
        return d == '[' ? LINK : 0;
    case ']':
        *opens = 0;
        return d == ']' ? LINK : 0;
    case '|':
        *opens = 0;
        return d == '}' && !(i + 2 < n && s[i + 2] == '}') ? TABLE : 0;
    }
    return 0;
}

/* One left-to-right pass with a stack of open constructs (their starts in `out`); each is rendered in
 * place when it closes. A closer without an opener is dropped; one whose opener is deeper first flattens
 * the unclosed constructs above it (markers dropped, text kept). */
static int resolve_markup(const ch *s, Py_ssize_t n, Buf *out)
{
    typedef struct {
        Py_ssize_t start;
        int kind;
    } Open;
    Py_ssize_t cap = 16, depth = 0, pos = 0;
    Open *stack = PyMem_Malloc((size_t)cap * sizeof *stack);
    Py_ssize_t count[N_KINDS] = {0};
    int rc = -1;
    if (stack == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t i = 0; i + 1 < n; i++) {
        int opens, kind = token(s, n, i, &opens);
        if (!kind)
            continue;
        Py_ssize_t copy_to = i;
        if (kind == TABLE) { /* `{|` and `|}` are tables only at a line start, after an indent */
            Py_ssize_t line = i;
            while (line && (s[line - 1] == ' ' || s[line - 1] == '\t' || (opens && s[line - 1] == ':')))
                line--;
            if (line && s[line - 1] != '\n')
                continue; /* `|}-` may still close a `-{` */
            copy_to = line;
        }
        if (put(out, s + pos, copy_to - pos) < 0)
            goto done;
        pos = i + 2;
        if (opens) {
            if (depth + 1 == cap) {
                Open *grown = PyMem_Realloc(stack, (size_t)(cap *= 2) * sizeof *grown);
                if (grown == NULL) {
                    PyErr_NoMemory();
                    goto done;
                }
                stack = grown;
            }
            stack[++depth] = (Open){out->n, kind};
            count[kind]++;
        } else if (count[kind]) {
            while (stack[depth].kind != kind)
                count[stack[depth--].kind]--;
            if (render(out, stack[depth].start, kind) < 0)
                goto done;
            count[kind]--;
            depth--;
        }
        i++;
    }
    rc = put(out, s + pos, n - pos);
done:
    PyMem_Free(stack);
    return rc;
}

/* --- pass 4: HTML tags, external links, URLs, bold/italic, magic words ------------------------------ */

/* A line break at s[i], case-insensitively: `<br>`, `</br>`, `< br />`… (regex `<\s* /?\s*br\b[^<>]*>`)
 * or `</h1 >`… (`</h[1-6]\s*>`). Its end, or -1. */
static Py_ssize_t line_break(const ch *s, Py_ssize_t n, Py_ssize_t i)
{
    Py_ssize_t j = i + 1;
    while (j < n && SPACE(s[j]))
        j++;
    if (j < n && s[j] == '/')
        j++;
    while (j < n && SPACE(s[j]))
        j++;
    if (at(s, n, j, "br", 1) && !(j + 2 < n && word_char(s[j + 2]))) {
        j += 2;
        while (j < n && s[j] != '<' && s[j] != '>')
            j++;
        if (j < n && s[j] == '>')
            return j + 1;
    }
    if (at(s, n, i, "</h", 1) && i + 3 < n && s[i + 3] >= '1' && s[i + 3] <= '6') {
        j = i + 4;
        while (j < n && SPACE(s[j]))
            j++;
        if (j < n && s[j] == '>')
            return j + 1;
    }
    return -1;
}

static const char *const HTML_TAGS[] = {
    "span", "div", "small", "big", "sup", "sub", "u", "s", "del", "ins", "strike", "center", "font",
    "blockquote", "abbr", "b", "i", "em", "strong", "tt", "var", "q", "cite", "code", "kbd", "samp", "p",
    "poem", "nowiki", "mark", "bdi", "bdo", "dfn", "ruby", "rb", "rt", "rp", "section", "onlyinclude",
    "noinclude", "ol", "ul", "li", "dl", "dt", "dd", "table", "tr", "td", "th", "caption", "hr", "wbr",
    "h1", "h2", "h3", "h4", "h5", "h6", "time", "data", NULL};

/* `</?(?:names)(?=[\s/>])[^<>]*>` (case-insensitive) at s[i]: its end, or -1. */
static Py_ssize_t html_tag(const ch *s, Py_ssize_t n, Py_ssize_t i)
{
    Py_ssize_t a = i + 1;
    if (a < n && s[a] == '/')
        a++;
    Py_ssize_t j = a;
    while (j < n && ascii_alnum(s[j]))
        j++;
    char name[16];
    lowered(s + a, j - a, name, sizeof name);
    if (!name[0] || !one_of(name, HTML_TAGS) || j >= n || !(SPACE(s[j]) || s[j] == '/' || s[j] == '>'))
        return -1;
    while (j < n && s[j] != '<' && s[j] != '>')
        j++;
    return j < n && s[j] == '>' ? j + 1 : -1;
}

/* `\[(?:https?:|ftp:|//)[^\s\[\]]*\s*([^\[\]\n]*)\]` → its label; returns as substitute does. */
static int external_links(const ch *s, Py_ssize_t n, Buf *out)
{
    Py_ssize_t pos = 0;
    int changed = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (s[i] != '[')
            continue;
        Py_ssize_t j = i + 1;
        if (at(s, n, j, "http:", 0))
            j += 5;
        else if (at(s, n, j, "https:", 0))
            j += 6;
        else if (at(s, n, j, "ftp:", 0))
            j += 4;
        else if (at(s, n, j, "//", 0))
            j += 2;
        else
            continue;
        while (j < n && !SPACE(s[j]) && s[j] != '[' && s[j] != ']')
            j++;
        while (j < n && SPACE(s[j]))
            j++;
        Py_ssize_t label = j;
        while (j < n && s[j] != '[' && s[j] != ']' && s[j] != '\n')
            j++;
        if (j >= n || s[j] != ']')
            continue;
        changed = 1;
        if (put(out, s + pos, i - pos) < 0 || put(out, s + label, j - label) < 0)
            return -1;
        pos = j + 1;
        i = j;
    }
    return changed && put(out, s + pos, n - pos) < 0 ? -1 : changed;
}

static int url_char(ch c)
{
    return c < 0x80 && (ascii_alnum(c) || strchr("-._~:/?#@!$&()*+,;=%", (int)c) != NULL) && c != 0;
}

/* `(?:https?|ftp)://[A-Za-z0-9\-._~:/?#@!$&()*+,;=%]+` */
static Py_ssize_t bare_url(const ch *s, Py_ssize_t n, Py_ssize_t i)
{
    Py_ssize_t j;
    if (at(s, n, i, "http://", 0))
        j = i + 7;
    else if (at(s, n, i, "https://", 0))
        j = i + 8;
    else if (at(s, n, i, "ftp://", 0))
        j = i + 6;
    else
        return -1;
    Py_ssize_t start = j;
    while (j < n && url_char(s[j]))
        j++;
    return j > start ? j : -1;
}

static Py_ssize_t apostrophes(const ch *s, Py_ssize_t n, Py_ssize_t i) /* `''+` */
{
    Py_ssize_t j = i;
    while (j < n && s[j] == '\'')
        j++;
    return j - i >= 2 ? j : -1;
}

static Py_ssize_t magic_word(const ch *s, Py_ssize_t n, Py_ssize_t i) /* `__[A-Z]+__` */
{
    if (!at(s, n, i, "__", 0))
        return -1;
    Py_ssize_t j = i + 2;
    while (j < n && s[j] >= 'A' && s[j] <= 'Z')
        j++;
    return j > i + 2 && at(s, n, j, "__", 0) ? j + 2 : -1;
}

/* --- pass 5: lines -------------------------------------------------------------------------------- */

/* `（[\s，、；,;]*）|\([\s,;]*\)` at s[i]: its end, or -1. */
static Py_ssize_t empty_brackets(const ch *s, Py_ssize_t n, Py_ssize_t i)
{
    Py_ssize_t j = i + 1;
    if (s[i] == 0xFF08) {
        while (j < n && (SPACE(s[j]) || s[j] == 0xFF0C || s[j] == 0x3001 || s[j] == 0xFF1B || s[j] == ','
                         || s[j] == ';'))
            j++;
        return j < n && s[j] == 0xFF09 ? j + 1 : -1;
    }
    if (s[i] == '(') {
        while (j < n && (SPACE(s[j]) || s[j] == ',' || s[j] == ';'))
            j++;
        return j < n && s[j] == ')' ? j + 1 : -1;
    }
    return -1;
}

/* out = " ".join(s[0:n].split()) */
static int collapse(const ch *s, Py_ssize_t n, Buf *out)
{
    out->n = 0;
    for (Py_ssize_t i = 0; i < n;) {
        while (i < n && SPACE(s[i]))
            i++;
        Py_ssize_t j = i;
        while (j < n && !SPACE(s[j]))
            j++;
        if (j > i && ((out->n && putc1(out, ' ') < 0) || put(out, s + i, j - i) < 0))
            return -1;
        i = j;
    }
    return 0;
}

/* wikitext._clean_line on the collapsed line in `line` (which it may use as scratch with `tmp`). */
static int clean_line(Buf *line, Buf *tmp)
{
    ch *s = line->p;
    Py_ssize_t a = 0, b = line->n;
    if (s[0] == '=' && s[b - 1] == '=') {
        while (a < b && s[a] == '=')
            a++;
        while (b > a && s[b - 1] == '=')
            b--;
    }
    if (a < b && (s[a] == '*' || s[a] == '#' || s[a] == ':' || s[a] == ';')) {
        while (a < b && (s[a] == '*' || s[a] == '#' || s[a] == ':' || s[a] == ';'))
            a++;
        while (a < b && SPACE(s[a]))
            a++;
    }
    if (a < b && (s[a] == '|' || s[a] == '!')) {
        line->n = 0;
        return 0;
    }
    if (a < b && s[a] == '-' && b - a >= 4) {
        Py_ssize_t k = a;
        while (k < b && s[k] == '-')
            k++;
        if (k == b) {
            line->n = 0;
            return 0;
        }
    }
    tmp->n = 0;
    int changed = substitute(s + a, b - a, tmp, '(', 0xFF08, empty_brackets, "");
    if (changed < 0)
        return -1;
    if (!changed) {
        if (a == 0 && b == line->n)
            return 0; /* collapsed already */
        if (put(tmp, s + a, b - a) < 0)
            return -1;
    }
    return collapse(tmp->p, tmp->n, line);
}

/* The lines of s[0:n], collapsed and cleaned, the non-empty ones each ended by "\n", as one str. */
static PyObject *prose_lines(const ch *s, Py_ssize_t n)
{
    Buf text = {0}, line = {0}, tmp = {0};
    PyObject *result = NULL;
    for (Py_ssize_t a = 0; a <= n;) {
        Py_ssize_t b = a;
        while (b < n && s[b] != '\n')
            b++;
        if (collapse(s + a, b - a, &line) < 0 || (line.n && clean_line(&line, &tmp) < 0))
            goto done;
        if (line.n && (put(&text, line.p, line.n) < 0 || putc1(&text, '\n') < 0))
            goto done;
        a = b + 1;
    }
    result = PyUnicode_FromKindAndData(PyUnicode_4BYTE_KIND, text.p, text.n);
done:
    PyMem_Free(text.p);
    PyMem_Free(line.p);
    PyMem_Free(tmp.p);
    return result;
}
/* --- the module ------------------------------------------------------------------------------------ */

/* pass(a.p, a.n, &b), and a = the result: each pass leaves its output alone when it changes nothing. */
#define PASS(call)                                                                                         \
    do {                                                                                                   \
        b.n = 0;                                                                                           \
        int rc_ = (call);                                                                                  \
        if (rc_ < 0)                                                                                       \
            goto done;                                                                                     \
        if (rc_ > 0)                                                                                       \
            swap(&a, &b);                                                                                  \
    } while (0)

static PyObject *prose_text(PyObject *Py_UNUSED(module), PyObject *arg)
{
    if (!PyUnicode_Check(arg))
        return PyErr_Format(PyExc_TypeError, "prose_text() wants a str, not %.80s", Py_TYPE(arg)->tp_name);
    if (render_template_py == NULL)
        return PyErr_Format(PyExc_RuntimeError, "tasks.dump._wikitext.bind() was not called");
    Py_ssize_t n = PyUnicode_GET_LENGTH(arg);
    ch *text = PyUnicode_AsUCS4Copy(arg);
    if (text == NULL)
        return NULL;
    Buf a = {0}, b = {0}, c = {0};
    PyObject *result = NULL;
    int rc = remove_comments(text, n, &b);
    if (rc > 0)
        result = Py_NewRef(Py_None); /* left to the Python cleaner */
    if (rc != 0 || remove_elements(b.p, b.n, &a, &c) < 0 || (b.n = 0, resolve_markup(a.p, a.n, &b)) < 0)
        goto done;
    swap(&a, &b);
    PASS(substitute(a.p, a.n, &b, '<', '<', line_break, "\n"));
    PASS(substitute(a.p, a.n, &b, '<', '<', html_tag, ""));
    PASS(external_links(a.p, a.n, &b));
    PASS(substitute(a.p, a.n, &b, 'h', 'f', bare_url, ""));
    PASS(substitute(a.p, a.n, &b, '\'', '\'', apostrophes, ""));
    PASS(substitute(a.p, a.n, &b, '_', '_', magic_word, ""));
    if (has_char(a.p, a.n, '&'))
        PASS(call_back(unescape_py, a.p, a.n, &b) < 0 ? -1 : 1);
    result = prose_lines(a.p, a.n);
done:
    PyMem_Free(text);
    PyMem_Free(a.p);
    PyMem_Free(b.p);
    PyMem_Free(c.p);
    return result;
}

static PyObject *bind(PyObject *Py_UNUSED(module), PyObject *args)
{
    PyObject *template, *conversion, *unescape;
    if (!PyArg_ParseTuple(args, "OOO:bind", &template, &conversion, &unescape))
        return NULL;
    Py_XSETREF(render_template_py, Py_NewRef(template));
    Py_XSETREF(render_conversion_py, Py_NewRef(conversion));
    Py_XSETREF(unescape_py, Py_NewRef(unescape));
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"prose_text", prose_text, METH_O,
     "prose_text(wikitext) -> str | None: wikitext.prose_text, compiled; None leaves the page to Python."},
    {"bind", bind, METH_VARARGS,
     "bind(render_template, render_conversion, unescape): the Python renderers called back for rare cases."},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, .m_name = "_wikitext", .m_size = -1, .m_methods = methods};

PyMODINIT_FUNC PyInit__wikitext(void) { return PyModule_Create(&module_def); }
