/* The page scanner of tasks/dump/pages.py, compiled: pages must equal pages.python_pages, the same pages or
 * the same error for any piece of a dump's XML (tests/test_pages_c.py compares them on the real dumps and on
 * thousands of generated pieces). In Python the scan was a worker's largest cost after bz2; here a page's
 * text is decoded from UTF-8, its XML references resolved and the characters that are not text dropped in
 * one pass over its bytes.
 *
 * It also gives that cleaning of a <text> element's text for a str (xml_text), which python_pages uses.
 */
#include "_text.h"
#include <stdint.h>

/* --- the text of a <text> element ------------------------------------------------------------------- */

/* Not text: C0/C1 controls but tab and newline (\r, \v, \f, \x1c-\x1e and \x85 would split lines later),
 * lone surrogates (from `&#xD800;`: unwritable as UTF-8), U+FFFD (an undecodable byte or code point) and
 * the noncharacters U+FFFE/U+FFFF. */
static int not_text(ch c)
{
    return c <= 0x08 || (c >= 0x0B && c <= 0x1F) || (c >= 0x7F && c <= 0x9F) || (c >= 0xD800 && c <= 0xDFFF)
           || c == 0xFFFD || c == 0xFFFE || c == 0xFFFF;
}

static int hex_digit(ch c)
{
    if (c >= '0' && c <= '9')
        return (int)(c - '0');
    return (c | 32) >= 'a' && (c | 32) <= 'f' ? (int)((c | 32) - 'a' + 10) : -1;
}

/* The XML reference `&…;` at s[i] (the five entities, `&#N;`, `&#xN;`): its character (U+FFFD beyond
 * Unicode) and *end, or -1. */
static long xml_ref(const void *s, int kind, Py_ssize_t n, Py_ssize_t i, Py_ssize_t *end)
{
    static const char *const NAMES[] = {"lt;", "gt;", "amp;", "quot;", "apos;", NULL};
    static const char CHARS[] = "<>&\"'";
    for (int k = 0; NAMES[k]; k++) {
        Py_ssize_t j = i + 1;
        const char *c = NAMES[k];
        while (*c && j < n && PyUnicode_READ(kind, s, j) == (ch)*c)
            c++, j++;
        if (!*c) {
            *end = j;
            return CHARS[k];
        }
    }
    if (i + 2 >= n || PyUnicode_READ(kind, s, i + 1) != '#')
        return -1;
    int hex = PyUnicode_READ(kind, s, i + 2) == 'x';
    Py_ssize_t j = i + 2 + hex, digits = j;
    unsigned long value = 0;
    for (; j < n; j++) {
        ch c = PyUnicode_READ(kind, s, j);
        int d = hex ? hex_digit(c) : (c >= '0' && c <= '9' ? (int)(c - '0') : -1);
        if (d < 0)
            break;
        value = value * (hex ? 16 : 10) + (unsigned long)d;
        if (value > 0x10FFFF)
            value = 0x110000; /* stays beyond Unicode */
    }
    if (j == digits || j >= n || PyUnicode_READ(kind, s, j) != ';')
        return -1; /* (a failed `&#x…` is no `&#N;` either: its `x` is not a digit) */
    *end = j + 1;
    return value > 0x10FFFF ? 0xFFFD : (long)value;
}

/* XML references resolved, then the characters that are not text dropped and counted in *removed. */
static PyObject *clean_text(PyObject *arg, Py_ssize_t *removed)
{
    int kind = PyUnicode_KIND(arg);
    const void *s = PyUnicode_DATA(arg);
    Py_ssize_t n = PyUnicode_GET_LENGTH(arg), i = 0, pos = 0, end;
    *removed = 0;
    for (; i < n; i++) { /* most pages: nothing to do, and the str is returned as it is */
        ch c = PyUnicode_READ(kind, s, i);
        if (c == '&' || not_text(c))
            break;
    }
    if (i == n)
        return Py_NewRef(arg);
    Buf out = {0};
    if (grow(&out, n) < 0)
        return NULL;
    for (pos = 0; pos < i; pos++)
        out.p[out.n++] = PyUnicode_READ(kind, s, pos);
    for (; i < n; i++) {
        ch c = PyUnicode_READ(kind, s, i);
        long ref;
        if (c == '&' && (ref = xml_ref(s, kind, n, i, &end)) >= 0) {
            c = (ch)ref;
            i = end - 1;
        }
        if (not_text(c))
            (*removed)++;
        else
            out.p[out.n++] = c; /* a reference is never longer than its character */
    }
    PyObject *text = PyUnicode_FromKindAndData(PyUnicode_4BYTE_KIND, out.p, out.n);
    PyMem_Free(out.p);
    return text;
}

/* (text, removed): clean_text, for Python. */
static PyObject *xml_text(PyObject *Py_UNUSED(module), PyObject *arg)
{
    if (!PyUnicode_Check(arg))
        return PyErr_Format(PyExc_TypeError, "xml_text() wants a str, not %.80s", Py_TYPE(arg)->tp_name);
    Py_ssize_t removed;
    PyObject *text = clean_text(arg, &removed);
    return text == NULL ? NULL : Py_BuildValue("(Nn)", text, removed);
}

/* --- the pages of a dump's XML ----------------------------------------------------------------------- */

/* The code point of the UTF-8 sequence at s[i] (its first byte is not ASCII) in *c, and its length; 0 if
 * bytes.decode("utf-8") refuses it (a stray or cut sequence, overlong, a surrogate, beyond U+10FFFF). */
static Py_ssize_t utf8_char(const unsigned char *s, Py_ssize_t n, Py_ssize_t i, ch *c)
{
    ch b = s[i], lo = 0x80, hi = 0xBF;
    if (b < 0xC2 || b > 0xF4)
        return 0;
    Py_ssize_t len = b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4;
    if (i + len > n)
        return 0;
    if (b == 0xE0)
        lo = 0xA0;
    else if (b == 0xED)
        hi = 0x9F;
    else if (b == 0xF0)
        lo = 0x90;
    else if (b == 0xF4)
        hi = 0x8F;
    if (s[i + 1] < lo || s[i + 1] > hi)
        return 0;
    *c = b & (0x7F >> len);
    for (Py_ssize_t k = 1; k < len; k++) {
        if ((s[i + k] & 0xC0) != 0x80)
            return 0;
        *c = *c << 6 | (s[i + k] & 0x3F);
    }
    return len;
}

#define BYTES(b) (0x0101010101010101ULL * (b))

/* None of the eight bytes in w is `&`, a control or not ASCII: they are their own characters. (Once no byte
 * has its top bit: w + BYTES(1) sets it in 0x7F only, and w - BYTES(v) sets it in a byte below v, or in a
 * byte above one that is.) */
static int plain8(uint64_t w)
{
    uint64_t amp = w ^ BYTES('&');
    return ((w | (w + BYTES(1)) | ((w - BYTES(0x20)) & ~w) | ((amp - BYTES(1)) & ~amp)) & BYTES(0x80)) == 0;
}

/* clean_text(bytes.decode("utf-8")) in one pass over the bytes, through `buf`: most pages are UTF-8, and
 * decoding, resolving and dropping at once costs a fraction of building a str and cleaning it. Bytes that
 * are not UTF-8 set *bad_utf8 and are decoded with "replace" first, as Python would. */
static PyObject *utf8_text(const char *bytes, Py_ssize_t n, Buf *buf, int *bad_utf8, Py_ssize_t *removed)
{
    const unsigned char *s = (const unsigned char *)bytes;
    buf->n = 0;
    if (grow(buf, n) < 0) /* a character takes at least a byte */
        return NULL;
    ch *out = buf->p;
    ch top = 0; /* the characters kept, or'ed: its highest bit gives the str's kind */
    Py_ssize_t k = 0, i = 0, len, end;
    *removed = 0;
    while (i < n) {
        ch c = s[i];
        uint64_t w;
        long ref;
        len = 1;
        if (c < 0x80 && i + 8 <= n && (memcpy(&w, s + i, 8), plain8(w))) {
            for (int j = 0; j < 8; j++)
                out[k + j] = s[i + j];
            i += 8, k += 8;
            continue;
        }
        /* a run of three-byte characters (CJK) but E0 and ED (their second byte is bounded more) */
        while (c >= 0xE1 && c <= 0xEF && c != 0xED && i + 2 < n && (s[i + 1] & 0xC0) == 0x80
               && (s[i + 2] & 0xC0) == 0x80) {
            c = (c & 0x0F) << 12 | (ch)(s[i + 1] & 0x3F) << 6 | (s[i + 2] & 0x3F);
            if (c < 0xFFFD) { /* the only three-byte characters that are not text are U+FFFD..U+FFFF */
                out[k++] = c;
                top |= c;
            } else {
                (*removed)++;
            }
            i += 3;
            c = i < n ? s[i] : 0;
        }
        if (i == n)
            break;
        if (c >= 0x80 && (len = utf8_char(s, n, i, &c)) == 0) {
            *bad_utf8 = 1;
            PyObject *decoded = PyUnicode_DecodeUTF8(bytes, n, "replace");
            if (decoded == NULL)
                return NULL;
            PyObject *text = clean_text(decoded, removed);
            Py_DECREF(decoded);
            return text;
        }
        if (c == '&' && (ref = xml_ref(s, PyUnicode_1BYTE_KIND, n, i, &end)) >= 0) { /* ASCII: as in a str */
            c = (ch)ref;
            len = end - i;
        }
        i += len;
        if ((c >= 0xA0 && c < 0xD800) || (c >= 0x20 && c < 0x7F) || !not_text(c)) {
            out[k++] = c;
            top |= c;
        } else {
            (*removed)++;
        }
    }
    PyObject *text = PyUnicode_New(k, top > 0xFFFF ? 0x10FFFF : top);
    if (text == NULL)
        return NULL;
    void *data = PyUnicode_DATA(text);
    switch (PyUnicode_KIND(text)) {
    case PyUnicode_1BYTE_KIND:
        for (Py_ssize_t j = 0; j < k; j++)
            ((Py_UCS1 *)data)[j] = (Py_UCS1)out[j];
        break;
    case PyUnicode_2BYTE_KIND:
        for (Py_ssize_t j = 0; j < k; j++)
            ((Py_UCS2 *)data)[j] = (Py_UCS2)out[j];
        break;
    default:
        memcpy(data, out, (size_t)k * sizeof(ch));
    }
    return text;
}

/* bytes.isspace and regex \s on bytes: the six ASCII spaces. */
static int byte_space(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

/* The index after the spaces at s[i:end] (i itself if i is -1). */
static Py_ssize_t skip_space(const char *s, Py_ssize_t i, Py_ssize_t end)
{
    while (i >= 0 && i < end && byte_space(s[i]))
        i++;
    return i;
}

/* The index after `lit` if s[i:end] starts with it, else -1 (also if i is). */
static Py_ssize_t skip(const char *s, Py_ssize_t i, Py_ssize_t end, const char *lit)
{
    Py_ssize_t m = (Py_ssize_t)strlen(lit);
    return i >= 0 && end - i >= m && memcmp(s + i, lit, (size_t)m) == 0 ? i + m : -1;
}

/* The index after the digits at s[i:end] (at least one), else -1 (also if i is). */
static Py_ssize_t skip_digits(const char *s, Py_ssize_t i, Py_ssize_t end)
{
    Py_ssize_t j = i;
    while (j >= 0 && j < end && s[j] >= '0' && s[j] <= '9')
        j++;
    return j > i ? j : -1;
}

/* Index of the first `lit` in s[from:to], or -1: memchr hops between its first character (a tag's `<`, which
 * a page's text never holds: it is escaped). */
static Py_ssize_t find_bytes(const char *s, Py_ssize_t from, Py_ssize_t to, const char *lit)
{
    size_t m = strlen(lit);
    for (const char *p = s + from, *stop = s + to; (size_t)(stop - p) >= m; p++) {
        if ((p = memchr(p, lit[0], (size_t)(stop - p))) == NULL || (size_t)(stop - p) < m)
            return -1;
        if (memcmp(p, lit, m) == 0)
            return p - s;
    }
    return -1;
}

/* int(s[a:b]) of `-?\d+`: Python parses the rare number too long for a long long. */
static PyObject *number(const char *s, Py_ssize_t a, Py_ssize_t b)
{
    if (b - a > 18) {
        PyObject *digits = PyBytes_FromStringAndSize(s + a, b - a);
        PyObject *value = digits == NULL ? NULL : PyNumber_Long(digits);
        Py_XDECREF(digits);
        return value;
    }
    long long value = 0;
    for (Py_ssize_t i = a + (s[a] == '-'); i < b; i++)
        value = value * 10 + (s[i] - '0');
    return PyLong_FromLongLong(s[a] == '-' ? -value : value);
}

/* (what, position): the malformed XML a scan stopped at, for pages._malformed; `format` may name a and b
 * (%R, %S). */
static PyObject *malformed(Py_ssize_t position, const char *format, PyObject *a, PyObject *b)
{
    PyObject *what = PyUnicode_FromFormat(format, a, b);
    return what == NULL ? NULL : Py_BuildValue("(Nn)", what, position);
}

/* (what, position) naming the first 40 of the unexpected bytes s[a:b]. */
static PyObject *unexpected(const char *s, Py_ssize_t a, Py_ssize_t b, Py_ssize_t pos, const char *format)
{
    PyObject *content = PyBytes_FromStringAndSize(s + a, b - a < 40 ? b - a : 40);
    if (content == NULL)
        return NULL;
    PyObject *what = malformed(pos, format, content, NULL);
    Py_DECREF(content);
    return what;
}

/* The page whose content is s[start:end] (after `<page>`, before `</page>`) as a `page_type` (a tuple type
 * like pages.Page), in *page; text_at is its last `<text`, or -1. Returns 0, or 1 with *error if the page
 * is malformed, or -1 on error. */
static int read_page(const char *s, Py_ssize_t start, Py_ssize_t end, Py_ssize_t text_at,
                     PyTypeObject *page_type, Buf *buf, PyObject **page, PyObject **error)
{
    /* _PAGE_HEAD: `\s*<title>([^<]*)</title>\s*<ns>(-?\d+)</ns>\s*<id>(\d+)</id>\s*(<redirect\b)?` */
    Py_ssize_t title = skip(s, skip_space(s, start, end), end, "<title>"), title_end = title;
    while (title_end >= 0 && title_end < end && s[title_end] != '<')
        title_end++;
    Py_ssize_t ns = skip(s, skip_space(s, skip(s, title_end, end, "</title>"), end), end, "<ns>");
    Py_ssize_t ns_end = skip_digits(s, ns >= 0 && ns < end && s[ns] == '-' ? ns + 1 : ns, end);
    Py_ssize_t id = skip(s, skip_space(s, skip(s, ns_end, end, "</ns>"), end), end, "<id>");
    Py_ssize_t id_end = skip_digits(s, id, end), head_end = skip(s, id_end, end, "</id>");
    if (head_end < 0) {
        *error = malformed(start, "a <page> does not start with <title>, <ns>, <id>", NULL, NULL);
        return *error == NULL ? -1 : 1;
    }
    Py_ssize_t redirect = skip(s, skip_space(s, head_end, end), end, "<redirect");
    ch after = redirect >= 0 && redirect < end ? (unsigned char)s[redirect] : ' '; /* \b: not [A-Za-z0-9_] */
    int is_redirect = redirect >= 0 && !(after == '_' || ascii_alnum(after));
    int article = !is_redirect, bad_utf8 = 0, rc = -1;
    for (Py_ssize_t i = ns + (s[ns] == '-'); i < ns_end; i++)
        article &= s[i] == '0';
    Py_ssize_t removed = 0, close, stop;
    PyObject *fields[7] = {NULL}; /* as pages.Page: title, ns, page_id, redirect, text, bad_utf8, removed */
    fields[0] = utf8_text(s + title, title_end - title, buf, &bad_utf8, &removed);
    fields[1] = fields[0] ? number(s, ns, ns_end) : NULL;
    fields[2] = fields[1] ? number(s, id, id_end) : NULL;
    if (fields[2] == NULL)
        goto done;
    bad_utf8 = 0, removed = 0;
    if (!article || text_at < 0) {
        fields[4] = PyUnicode_New(0, 0);
    } else if ((close = find_bytes(s, text_at, end, ">")) < 0) {
        *error = malformed(text_at, "<text> of page %S %R is cut", fields[2], fields[0]);
        rc = *error == NULL ? -1 : 1;
        goto done;
    } else if (s[close - 1] == '/') { /* `<text ... />` is an empty text */
        fields[4] = PyUnicode_New(0, 0);
    } else if ((stop = find_bytes(s, close, end, "</text>")) < 0) {
        *error = malformed(close, "<text> of page %S %R is not closed", fields[2], fields[0]);
        rc = *error == NULL ? -1 : 1;
        goto done;
    } else {
        fields[4] = utf8_text(s + close + 1, stop - close - 1, buf, &bad_utf8, &removed);
    }
    fields[3] = PyBool_FromLong(is_redirect);
    fields[5] = PyBool_FromLong(bad_utf8);
    fields[6] = PyLong_FromSsize_t(removed);
    if (fields[4] == NULL || fields[6] == NULL || (*page = page_type->tp_alloc(page_type, 7)) == NULL)
        goto done;
    for (int k = 0; k < 7; k++) { /* tuple.__new__(page_type, fields), as Page._make does */
        PyTuple_SET_ITEM(*page, k, fields[k]);
        fields[k] = NULL;
    }
    rc = 0;
done:
    for (int k = 0; k < 7; k++)
        Py_XDECREF(fields[k]);
    return rc;
}

/* The scan behind pages.pages, of a piece of whole pages: (pages, None), or (the pages before, (what,
 * position)) at the first malformed XML. Checked as Python checks them: nothing but space between pages,
 * then nothing after them but `</mediawiki>` if `last`. */
static PyObject *pages(PyObject *Py_UNUSED(module), PyObject *args)
{
    const char *s;
    Py_ssize_t n, pos = 0, start;
    int last;
    PyTypeObject *page_type;
    if (!PyArg_ParseTuple(args, "y#pO!:pages", &s, &n, &last, &PyType_Type, &page_type))
        return NULL;
    if (!PyType_IsSubtype(page_type, &PyTuple_Type))
        return PyErr_Format(PyExc_TypeError, "pages() wants a tuple type, not %.80s", page_type->tp_name);
    PyObject *list = PyList_New(0), *page = NULL, *error = NULL;
    Buf buf = {0};
    int rc = list == NULL ? -1 : 0;
    while (rc == 0 && (start = find_bytes(s, pos, n, "<page>")) >= 0) {
        /* text_at: the page's last `<text`, a history dump's current revision */
        Py_ssize_t i = skip_space(s, pos, start), end = -1, text_at = -1;
        if (i < start) {
            error = unexpected(s, pos, start, pos, "unexpected content %R between pages");
            rc = error == NULL ? -1 : 1;
            break;
        }
        for (i = start + 6; end < 0 && (i = find_bytes(s, i, n, "<")) >= 0; i++) {
            if (skip(s, i, n, "</page>") >= 0)
                end = i;
            else if (skip(s, i, n, "<text") >= 0)
                text_at = i;
        }
        if (end < 0) {
            error = malformed(start, "a <page> is not closed (truncated XML?)", NULL, NULL);
            rc = error == NULL ? -1 : 1;
            break;
        }
        rc = read_page(s, start + 6, end, text_at, page_type, &buf, &page, &error);
        if (rc == 0) {
            rc = PyList_Append(list, page);
            Py_DECREF(page);
        }
        pos = end + 7;
    }
    if (rc == 0) { /* the tail: bytes.strip() */
        Py_ssize_t a = skip_space(s, pos, n), b = n;
        while (b > a && byte_space(s[b - 1]))
            b--;
        const char *footer = last ? "</mediawiki>" : "";
        if (b - a != (Py_ssize_t)strlen(footer) || memcmp(s + a, footer, (size_t)(b - a)) != 0) {
            if (last && a == b)
                error = malformed(pos, "the dump ends without </mediawiki> (truncated XML?)", NULL, NULL);
            else
                error = unexpected(s, a, b, pos, "unexpected content %R after the pages");
            rc = error == NULL ? -1 : 1;
        }
    }
    PyMem_Free(buf.p);
    if (rc < 0) {
        Py_XDECREF(list);
        return NULL;
    }
    return Py_BuildValue("(NN)", list, error ? error : Py_NewRef(Py_None));
}
/* --- the module ------------------------------------------------------------------------------------ */

static PyMethodDef methods[] = {
    {"pages", pages, METH_VARARGS,
     "pages(xml, last, page_type) -> (pages, None | (what, position)): the <page>s of a piece of a dump."},
    {"xml_text", xml_text, METH_O,
     "xml_text(text) -> (str, removed): XML references resolved, characters that are not text dropped."},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, .m_name = "_pages", .m_size = -1, .m_methods = methods};

PyMODINIT_FUNC PyInit__pages(void) { return PyModule_Create(&module_def); }
