/* What the page scanner (_pages.c) and the wikitext cleaner (_wikitext.c) share: code points, growable
 * buffers of them and ASCII classes. Each module includes its own copy (all static). */
#ifndef TASKS_DUMP_TEXT_H
#define TASKS_DUMP_TEXT_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

typedef Py_UCS4 ch;

/* --- growable buffers of code points -------------------------------------------------------------- */

typedef struct {
    ch *p;
    Py_ssize_t n, cap;
} Buf;

static inline int grow(Buf *b, Py_ssize_t extra)
{
    if (b->n + extra <= b->cap)
        return 0;
    Py_ssize_t cap = b->cap ? b->cap : 256;
    while (cap < b->n + extra)
        cap *= 2;
    ch *p = PyMem_Realloc(b->p, (size_t)cap * sizeof(ch));
    if (p == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    b->p = p;
    b->cap = cap;
    return 0;
}

/* --- ASCII classes -------------------------------------------------------------------------------- */

static inline int ascii_alpha(ch c) { return (c | 32) >= 'a' && (c | 32) <= 'z'; }

static inline int ascii_alnum(ch c) { return ascii_alpha(c) || (c >= '0' && c <= '9'); }

#endif
