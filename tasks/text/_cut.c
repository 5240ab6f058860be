/* jieba's cut, compiled: `jieba.Tokenizer.cut(text, HMM=hmm)` (jieba 0.42.1, accurate mode) token for
 * token, over the tokenizer's own dictionary (tests compare the two on the whole sample corpus, in
 * test_segment.py, and on thousands of generated strings, in test_cut_c.py).
 *
 * Why C: jieba's cut is pure Python (~1 MB/s a core) and jieba-rs, through rjieba, gives back a Python
 * list of every token, which the segment stage then joins, filters and splits again. Here the dictionary is
 * a trie with one hash probe per character, the word weights are computed once, and segment_blanked writes
 * the corpus lines and the new words of a piece directly.
 *
 * Where jieba leaves a choice to Python's `max` over tuples, the same tie-breaking is kept: the longer
 * word on equal route weights, the later state letter in the HMM ('S' > 'M' > 'E' > 'B'). The weights are
 * the same doubles added in the same order, so the same route wins.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

typedef Py_UCS4 ch;

#define MIN_FLOAT (-3.14e100) /* jieba.finalseg.MIN_FLOAT: the log-probability of what the HMM never saw */
#define HAN_LO 0x4E00         /* jieba's Han range: \u4E00-\u9FD5 */
#define HAN_HI 0x9FD5
#define CODES 0x110000
#define NODE_BITS 21 /* trie nodes are numbered in 21 bits, like code points */
#define NODE_MASK ((1u << NODE_BITS) - 1)
/* A node's weight: a fragment that is no key of FREQ is NaN, a key with a count of 0 is +inf. */
#define NOT_KEY NAN
#define NO_COUNT INFINITY
#define CAPSULE "zhvec._cut.Dictionary"

enum { B, M, E, S }; /* HMM states in jieba's 'BMES' order */
static const int LETTER[4] = {'B', 'M', 'E', 'S'};
static const int PREV[4][2] = {{E, S}, {M, B}, {B, M}, {S, E}}; /* finalseg.PrevStatus */

/* An edge of the trie, with its child's weight: the tables are larger than the caches and the cut takes
 * one trie step per character and position, so a step is one memory access. */
typedef struct {
    uint64_t edge; /* parent << 42 | code point << 21 | child; 0 = empty slot */
    double weight;
} Slot;

typedef struct {
    uint32_t *root;  /* code point -> node of the one-character fragment (0: none) */
    Slot *edges;     /* open addressing by (parent, code point) */
    size_t mask;     /* table size - 1 */
    size_t used;
    double *weight;  /* per node: log(count) - log(total), as jieba's `calc` adds it, or NOT_KEY, NO_COUNT */
    uint32_t *stamp; /* per node: the last generation that reported it (segment_blanked) */
    uint32_t nodes, cap;
    double single;   /* the weight of a character that is no word: log(1) - log(total) */
    double start[4], trans[4][4];
    double (*emit)[4]; /* emit[c - HAN_LO][state] */
    PyObject *force_split; /* finalseg.Force_Split_Words: jieba's global set, so it is read as it is now */
} Dictionary;

/* --- the trie ------------------------------------------------------------------------------------------ */

static inline size_t slot_of(uint64_t key, size_t mask)
{
    return (size_t)((key * 0x9E3779B97F4A7C15ULL) >> 20) & mask;
}

/* The slot of the edge (node, c), or of the empty slot where it would be. */
static inline const Slot *slot(const Dictionary *d, uint32_t node, ch c)
{
    uint64_t key = (uint64_t)node << NODE_BITS | c;
    for (size_t i = slot_of(key, d->mask);; i = (i + 1) & d->mask)
        if (d->edges[i].edge >> NODE_BITS == key || d->edges[i].edge == 0)
            return &d->edges[i];
}

static inline uint32_t child(const Dictionary *d, uint32_t node, ch c)
{
    return node == 0 ? d->root[c] : (uint32_t)(slot(d, node, c)->edge & NODE_MASK);
}

static void put_edge(Slot *edges, size_t mask, Slot edge)
{
    size_t i = slot_of(edge.edge >> NODE_BITS, mask);
    while (edges[i].edge != 0)
        i = (i + 1) & mask;
    edges[i] = edge;
}

static int grow_edges(Dictionary *d)
{
    size_t size = (d->mask + 1) * 2;
    Slot *edges = PyMem_Calloc(size, sizeof(Slot));
    if (edges == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (size_t i = 0; i <= d->mask; i++)
        if (d->edges[i].edge)
            put_edge(edges, size - 1, d->edges[i]);
    PyMem_Free(d->edges);
    d->edges = edges;
    d->mask = size - 1;
    return 0;
}

static uint32_t new_node(Dictionary *d)
{
    if (d->nodes > NODE_MASK) {
        PyErr_SetString(PyExc_ValueError, "the dictionary has more fragments than engine cjieba can hold");
        return 0;
    }
    if (d->nodes == d->cap) {
        double *weight = PyMem_Realloc(d->weight, 2 * d->cap * sizeof(double));
        if (weight == NULL) {
            PyErr_NoMemory();
            return 0;
        }
        d->weight = weight;
        d->cap *= 2;
    }
    d->weight[d->nodes] = NOT_KEY;
    return d->nodes++;
}

static uint32_t add_child(Dictionary *d, uint32_t node, ch c)
{
    uint32_t found = child(d, node, c);
    if (found)
        return found;
    uint32_t made = new_node(d);
    if (made == 0)
        return 0;
    if (node == 0) {
        d->root[c] = made;
        return made;
    }
    if ((d->used + 1) * 2 > d->mask + 1 && grow_edges(d) < 0)
        return 0;
    put_edge(d->edges, d->mask, (Slot){((uint64_t)node << NODE_BITS | c) << NODE_BITS | made, NOT_KEY});
    d->used++;
    return made;
}

/* The node of the fragment s[0:n] if it is a key of FREQ, else 0. */
static uint32_t lookup(const Dictionary *d, const ch *s, Py_ssize_t n)
{
    uint32_t node = d->root[s[0]];
    for (Py_ssize_t i = 1; i < n && node; i++)
        node = child(d, node, s[i]);
    return node && !isnan(d->weight[node]) ? node : 0;
}

static void free_dictionary(PyObject *capsule)
{
    Dictionary *d = PyCapsule_GetPointer(capsule, CAPSULE);
    if (d == NULL)
        return;
    PyMem_Free(d->root);
    PyMem_Free(d->edges);
    PyMem_Free(d->weight);
    PyMem_Free(d->stamp);
    PyMem_Free(d->emit);
    Py_XDECREF(d->force_split);
    PyMem_Free(d);
}

static int state_of(PyObject *key)
{
    if (PyUnicode_Check(key) && PyUnicode_GET_LENGTH(key) == 1)
        for (int s = 0; s < 4; s++)
            if (PyUnicode_READ_CHAR(key, 0) == (Py_UCS4)LETTER[s])
                return s;
    PyErr_SetString(PyExc_ValueError, "HMM states must be 'B', 'M', 'E', 'S'");
    return -1;
}

/* The state of a row of `trans` or `emit` (a dict), or -1 with an error. */
static int row_state(PyObject *key, PyObject *row, const char *table)
{
    int s = state_of(key);
    if (s >= 0 && !PyDict_Check(row)) {
        PyErr_Format(PyExc_TypeError, "%s rows must be dicts", table);
        return -1;
    }
    return s;
}

/* start: {state: logp}, trans: {state: {state: logp}}, emit: {state: {char: logp}} (jieba.finalseg's). */
static int load_hmm(Dictionary *d, PyObject *start, PyObject *trans, PyObject *emit)
{
    PyObject *key, *value, *k2, *v2;
    Py_ssize_t pos = 0, pos2;
    for (int s = 0; s < 4; s++) {
        d->start[s] = MIN_FLOAT;
        for (int t = 0; t < 4; t++)
            d->trans[s][t] = MIN_FLOAT;
    }
    d->emit = PyMem_Malloc((HAN_HI - HAN_LO + 1) * sizeof(*d->emit));
    if (d->emit == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (int c = 0; c <= HAN_HI - HAN_LO; c++)
        for (int s = 0; s < 4; s++)
            d->emit[c][s] = MIN_FLOAT;
    if (!PyDict_Check(start) || !PyDict_Check(trans) || !PyDict_Check(emit)) {
        PyErr_SetString(PyExc_TypeError, "start, trans and emit must be dicts");
        return -1;
    }
    while (PyDict_Next(start, &pos, &key, &value)) {
        int s = state_of(key);
        if (s < 0)
            return -1;
        d->start[s] = PyFloat_AsDouble(value);
        if (PyErr_Occurred())
            return -1;
    }
    for (pos = 0; PyDict_Next(trans, &pos, &key, &value);) {
        int s = row_state(key, value, "trans");
        if (s < 0)
            return -1;
        for (pos2 = 0; PyDict_Next(value, &pos2, &k2, &v2);) {
            int t = state_of(k2);
            if (t < 0)
                return -1;
            d->trans[s][t] = PyFloat_AsDouble(v2);
            if (PyErr_Occurred())
                return -1;
        }
    }
    for (pos = 0; PyDict_Next(emit, &pos, &key, &value);) {
        int s = row_state(key, value, "emit");
        if (s < 0)
            return -1;
        for (pos2 = 0; PyDict_Next(value, &pos2, &k2, &v2);) {
            if (!PyUnicode_Check(k2) || PyUnicode_GET_LENGTH(k2) != 1)
                continue;
            Py_UCS4 c = PyUnicode_READ_CHAR(k2, 0);
            if (c < HAN_LO || c > HAN_HI) /* the HMM only ever sees jieba's Han range */
                continue;
            double p = PyFloat_AsDouble(v2);
            if (p == -1.0 && PyErr_Occurred())
                return -1;
            d->emit[c - HAN_LO][s] = p;
        }
    }
    return 0;
}

/* dictionary(freq, total, start, trans, emit, force_split) -> capsule: a tokenizer's FREQ and total
 * (after its user words) and finalseg's model. */
static PyObject *dictionary(PyObject *Py_UNUSED(module), PyObject *args)
{
    PyObject *freq, *total, *start, *trans, *emit, *force_split, *key, *value;
    if (!PyArg_ParseTuple(args, "O!OOOOO!", &PyDict_Type, &freq, &total, &start, &trans, &emit, &PySet_Type,
                          &force_split))
        return NULL;
    double total_d = PyFloat_AsDouble(total);
    if (total_d == -1.0 && PyErr_Occurred())
        return NULL;
    if (!(total_d > 0)) {
        PyErr_SetString(PyExc_ValueError, "the dictionary's total must be positive");
        return NULL;
    }
    Dictionary *d = PyMem_Calloc(1, sizeof(Dictionary));
    if (d == NULL)
        return PyErr_NoMemory();
    PyObject *capsule = PyCapsule_New(d, CAPSULE, free_dictionary);
    if (capsule == NULL) {
        PyMem_Free(d);
        return NULL;
    }
    d->cap = 1 << 16;
    d->nodes = 1; /* node 0 is the root */
    d->mask = (1 << 16) - 1;
    while (d->mask + 1 < 2 * (size_t)PyDict_GET_SIZE(freq)) /* a dictionary's fragments are its keys */
        d->mask = d->mask * 2 + 1;
    d->root = PyMem_Calloc(CODES, sizeof(uint32_t));
    d->edges = PyMem_Calloc(d->mask + 1, sizeof(Slot));
    d->weight = PyMem_Calloc(d->cap, sizeof(double));
    if (!d->root || !d->edges || !d->weight) {
        Py_DECREF(capsule);
        return PyErr_NoMemory();
    }
    double logtotal = log(total_d);
    d->single = log(1.0) - logtotal;
    for (Py_ssize_t pos = 0; PyDict_Next(freq, &pos, &key, &value);) {
        if (!PyUnicode_Check(key) || !PyLong_Check(value)) {
            PyErr_SetString(PyExc_TypeError, "FREQ must map str to int");
            goto fail;
        }
        long long count = PyLong_AsLongLong(value);
        if (count == -1 && PyErr_Occurred())
            goto fail;
        if (count < 0) {
            PyErr_Format(PyExc_ValueError, "negative count %lld for %R", count, key);
            goto fail;
        }
        Py_ssize_t n = PyUnicode_GET_LENGTH(key);
        if (n == 0)
            continue;
        uint32_t node = 0;
        for (Py_ssize_t i = 0; i < n; i++)
            if ((node = add_child(d, node, PyUnicode_READ_CHAR(key, i))) == 0)
                goto fail;
        d->weight[node] = count ? log((double)count) - logtotal : NO_COUNT;
    }
    for (size_t i = 0; i <= d->mask; i++)
        if (d->edges[i].edge)
            d->edges[i].weight = d->weight[d->edges[i].edge & NODE_MASK];
    d->stamp = PyMem_Calloc(d->nodes, sizeof(uint32_t));
    if (d->stamp == NULL) {
        PyErr_NoMemory();
        goto fail;
    }
    if (load_hmm(d, start, trans, emit) < 0)
        goto fail;
    d->force_split = Py_NewRef(force_split);
    return capsule;
fail:
    Py_DECREF(capsule);
    return NULL;
}

/* --- the cut ------------------------------------------------------------------------------------------- */

#define LOOK_UP UINT32_MAX /* a token's node is not known yet */

/* What receives the tokens: a list (cut) or the corpus writer (segment_blanked). A token comes with its
 * node (0 if it is no key of FREQ) when the route found it, else LOOK_UP. */
typedef struct Sink Sink;
struct Sink {
    int (*token)(Sink *, const ch *, Py_ssize_t, uint32_t);
};

typedef struct {
    double *weight; /* route weights, per position of a block, plus one */
    Py_ssize_t *end; /* the word chosen at each position ends before end[i] */
    uint32_t *node;  /* ... and is that node */
    double *v;       /* the HMM's table, 4 per character */
    uint8_t *back;   /* ... and its back pointers */
    Py_ssize_t cap;
} Scratch;

static void free_scratch(Scratch *w)
{
    PyMem_Free(w->weight);
    PyMem_Free(w->end);
    PyMem_Free(w->node);
    PyMem_Free(w->v);
    PyMem_Free(w->back);
}

static int scratch_for(Scratch *w, Py_ssize_t n)
{
    if (n + 1 <= w->cap)
        return 0;
    Py_ssize_t cap = w->cap ? w->cap : 64;
    while (cap < n + 1)
        cap *= 2;
    free_scratch(w);
    w->weight = PyMem_Malloc(cap * sizeof(double));
    w->end = PyMem_Malloc(cap * sizeof(Py_ssize_t));
    w->node = PyMem_Malloc(cap * sizeof(uint32_t));
    w->v = PyMem_Malloc(cap * 4 * sizeof(double));
    w->back = PyMem_Malloc(cap * 4);
    w->cap = w->weight && w->end && w->node && w->v && w->back ? cap : 0;
    if (w->cap == 0) {
        PyErr_NoMemory();
        return -1;
    }
    return 0;
}

static inline int is_han(ch c) { return c >= HAN_LO && c <= HAN_HI; }
static inline int is_digit(ch c) { return c >= '0' && c <= '9'; }
static inline int is_alnum(ch c) { return is_digit(c) || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z'); }

/* The punctuation of re_han_default (segment.BLOCK_PUNCT) */
static inline int is_block_punct(ch c)
{
    return c == '+' || c == '#' || c == '&' || c == '.' || c == '_' || c == '%' || c == '-';
}

/* jieba's re_han_default: [\u4E00-\u9FD5a-zA-Z0-9+#&\._%\-] */
static inline int in_block(ch c) { return is_han(c) || is_alnum(c) || is_block_punct(c); }

/* `calc` over `get_DAG`: for each position, backwards, the best route's weight and the end of its first
 * word. Python's max over (weight, end) tuples takes the later end on a tie, hence `>=`. */
static void route(const Dictionary *d, const ch *s, Py_ssize_t n, Scratch *w)
{
    for (Py_ssize_t k = 0; k + 1 < n; k++) { /* fetch the two-character edges at once, not one by one */
        uint32_t node = d->root[s[k]];
        if (node)
            __builtin_prefetch(&d->edges[slot_of((uint64_t)node << NODE_BITS | s[k + 1], d->mask)]);
    }
    w->weight[n] = 0.0;
    for (Py_ssize_t k = n - 1; k >= 0; k--) {
        double best = 0.0;
        Py_ssize_t end = -1;
        uint32_t node = d->root[s[k]], best_node = 0;
        double weight = d->weight[node];
        for (Py_ssize_t i = k; node && !isnan(weight);) {
            if (weight < NO_COUNT) {
                double cand = weight + w->weight[i + 1];
                if (end < 0 || cand >= best) {
                    best = cand;
                    end = i + 1;
                    best_node = node;
                }
            }
            if (++i >= n)
                break;
            const Slot *next = slot(d, node, s[i]);
            node = (uint32_t)(next->edge & NODE_MASK);
            weight = next->weight;
        }
        if (end < 0) {
            best = d->single + w->weight[k + 1];
            end = k + 1;
            best_node = lookup(d, s + k, 1);
        }
        w->weight[k] = best;
        w->end[k] = end;
        w->node[k] = best_node;
    }
}

static int force_split(const Dictionary *d, const ch *s, Py_ssize_t n, int *split)
{
    *split = 0;
    if (PySet_GET_SIZE(d->force_split) == 0)
        return 0;
    PyObject *word = PyUnicode_FromKindAndData(PyUnicode_4BYTE_KIND, s, n);
    if (word == NULL)
        return -1;
    *split = PySet_Contains(d->force_split, word);
    Py_DECREF(word);
    return *split < 0 ? -1 : 0;
}

/* A word of the HMM: itself, or its characters if it is in jieba's force-split set (finalseg.cut). */
static int hmm_word(const Dictionary *d, const ch *s, Py_ssize_t n, Sink *sink)
{
    int split;
    if (force_split(d, s, n, &split) < 0)
        return -1;
    Py_ssize_t step = split ? 1 : n;
    for (Py_ssize_t j = 0; j < n; j += step)
        if (sink->token(sink, s + j, step, LOOK_UP) < 0)
            return -1;
    return 0;
}

/* finalseg's viterbi over a run of Han characters and `__cut` over its states. */
static int hmm_cut(const Dictionary *d, const ch *s, Py_ssize_t n, Scratch *w, Sink *sink)
{
    double *v = w->v;
    uint8_t *back = w->back;
    for (int y = 0; y < 4; y++)
        v[y] = d->start[y] + d->emit[s[0] - HAN_LO][y];
    for (Py_ssize_t t = 1; t < n; t++) {
        for (int y = 0; y < 4; y++) {
            double em = d->emit[s[t] - HAN_LO][y];
            int a = PREV[y][0], b = PREV[y][1];
            double pa = v[(t - 1) * 4 + a] + d->trans[a][y] + em;
            double pb = v[(t - 1) * 4 + b] + d->trans[b][y] + em;
            int from = pa > pb || (pa == pb && LETTER[a] > LETTER[b]) ? a : b;
            v[t * 4 + y] = from == a ? pa : pb;
            back[t * 4 + y] = (uint8_t)from;
        }
    }
    double pe = v[(n - 1) * 4 + E], ps = v[(n - 1) * 4 + S];
    int state = pe > ps ? E : S;
    for (Py_ssize_t t = n - 1; t >= 0; t--) { /* the states, written into back[t * 4] */
        int prev = t ? back[t * 4 + state] : 0;
        back[t * 4] = (uint8_t)state;
        state = prev;
    }
    Py_ssize_t begin = 0, next = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        int pos = back[i * 4];
        if (pos == B)
            begin = i;
        else if (pos == E || pos == S) {
            Py_ssize_t from = pos == E ? begin : i;
            if (hmm_word(d, s + from, i + 1 - from, sink) < 0)
                return -1;
            next = i + 1;
        }
    }
    return next < n ? hmm_word(d, s + next, n - next, sink) : 0;
}

/* finalseg.cut: Han runs through the HMM; the rest split by `([a-zA-Z0-9]+(?:\.\d+)?%?)`. */
static int final_cut(const Dictionary *d, const ch *s, Py_ssize_t n, Scratch *w, Sink *sink)
{
    Py_ssize_t i = 0;
    while (i < n) {
        Py_ssize_t j = i;
        if (is_han(s[i])) {
            while (j < n && is_han(s[j]))
                j++;
            if (hmm_cut(d, s + i, j - i, w, sink) < 0)
                return -1;
            i = j;
            continue;
        }
        while (j < n && !is_han(s[j]))
            j++;
        Py_ssize_t seg = i;
        for (Py_ssize_t p = i; p < j;) {
            if (!is_alnum(s[p])) {
                p++;
                continue;
            }
            Py_ssize_t m = p;
            while (m < j && is_alnum(s[m]))
                m++;
            if (m + 1 < j && s[m] == '.' && is_digit(s[m + 1]))
                for (m++; m < j && is_digit(s[m]);)
                    m++;
            if (m < j && s[m] == '%')
                m++;
            if ((seg < p && sink->token(sink, s + seg, p - seg, LOOK_UP) < 0) ||
                sink->token(sink, s + p, m - p, LOOK_UP) < 0)
                return -1;
            seg = p = m;
        }
        if (seg < j && sink->token(sink, s + seg, j - seg, LOOK_UP) < 0)
            return -1;
        i = j;
    }
    return 0;
}

/* The single characters s[0:n] that `__cut_DAG` gathered: one, a word's characters, or the HMM's words. */
static int flush(const Dictionary *d, const ch *s, Py_ssize_t n, Scratch *w, Sink *sink)
{
    if (n == 1)
        return sink->token(sink, s, 1, LOOK_UP);
    uint32_t node = lookup(d, s, n);
    if (node && d->weight[node] < NO_COUNT) {
        for (Py_ssize_t i = 0; i < n; i++)
            if (sink->token(sink, s + i, 1, LOOK_UP) < 0)
                return -1;
        return 0;
    }
    return final_cut(d, s, n, w, sink);
}

/* `__cut_DAG` (hmm) or `__cut_DAG_NO_HMM` over one block of re_han_default characters. */
static int cut_block(const Dictionary *d, const ch *s, Py_ssize_t n, int hmm, Scratch *w, Sink *sink)
{
    if (scratch_for(w, n) < 0)
        return -1;
    route(d, s, n, w);
    Py_ssize_t buf = -1; /* start of the gathered characters, or -1 */
    for (Py_ssize_t x = 0; x < n;) {
        Py_ssize_t y = w->end[x];
        int gather = hmm ? y - x == 1 : y - x == 1 && is_alnum(s[x]);
        if (gather) {
            if (buf < 0)
                buf = x;
        } else {
            if (buf >= 0) {
                if ((hmm ? flush(d, s + buf, x - buf, w, sink) : sink->token(sink, s + buf, x - buf, LOOK_UP)) < 0)
                    return -1;
                buf = -1;
            }
            if (sink->token(sink, s + x, y - x, w->node[x]) < 0)
                return -1;
        }
        x = y;
    }
    if (buf >= 0)
        return hmm ? flush(d, s + buf, n - buf, w, sink) : sink->token(sink, s + buf, n - buf, LOOK_UP);
    return 0;
}

/* `Tokenizer.cut`: blocks of re_han_default cut as words; every other character is a token of its own,
 * but "\r\n", which is one. */
static int cut_text(const Dictionary *d, const ch *s, Py_ssize_t n, int hmm, Sink *sink)
{
    Scratch w = {0};
    int rc = 0;
    for (Py_ssize_t i = 0; i < n && rc == 0;) {
        if (in_block(s[i])) {
            Py_ssize_t j = i + 1;
            while (j < n && in_block(s[j]))
                j++;
            rc = cut_block(d, s + i, j - i, hmm, &w, sink);
            i = j;
        } else {
            Py_ssize_t len = s[i] == '\r' && i + 1 < n && s[i + 1] == '\n' ? 2 : 1;
            rc = sink->token(sink, s + i, len, LOOK_UP);
            i += len;
        }
    }
    free_scratch(&w);
    return rc;
}

static Dictionary *dictionary_of(PyObject *capsule)
{
    return PyCapsule_GetPointer(capsule, CAPSULE);
}

/* --- cut(dictionary, text, hmm) -> list[str] ----------------------------------------------------------- */

typedef struct {
    Sink sink;
    PyObject *list;
} ListSink;

static int to_list(Sink *sink, const ch *s, Py_ssize_t n, uint32_t Py_UNUSED(node))
{
    PyObject *token = PyUnicode_FromKindAndData(PyUnicode_4BYTE_KIND, s, n);
    if (token == NULL)
        return -1;
    int rc = PyList_Append(((ListSink *)sink)->list, token);
    Py_DECREF(token);
    return rc;
}

static PyObject *cut(PyObject *Py_UNUSED(module), PyObject *args)
{
    PyObject *capsule, *text;
    int hmm;
    if (!PyArg_ParseTuple(args, "OUp", &capsule, &text, &hmm))
        return NULL;
    Dictionary *d = dictionary_of(capsule);
    if (d == NULL)
        return NULL;
    Py_UCS4 *s = PyUnicode_AsUCS4Copy(text);
    if (s == NULL)
        return NULL;
    ListSink sink = {{to_list}, PyList_New(0)};
    if (sink.list == NULL || cut_text(d, s, PyUnicode_GET_LENGTH(text), hmm, &sink.sink) < 0)
        Py_CLEAR(sink.list);
    PyMem_Free(s);
    return sink.list;
}

/* --- segment_blanked(dictionary, text, hmm, generation) ----------------------------------------------- */

typedef struct {
    Sink sink;
    const Dictionary *d;
    ch *out;
    Py_ssize_t n;
    Py_ssize_t tokens, line_tokens;
    uint32_t generation;
    PyObject *words;  /* dictionary words not yet reported in this generation */
    PyObject *others; /* the other kept tokens (a set) */
} CorpusSink;

static void end_sentence(CorpusSink *c)
{
    if (c->line_tokens == 0)
        return;
    c->out[c->n++] = '\n';
    c->line_tokens = 0;
}

static int add_word(CorpusSink *c, const ch *s, Py_ssize_t n, uint32_t node)
{
    if (node == LOOK_UP)
        node = lookup(c->d, s, n);
    if (node && c->d->stamp[node] == c->generation)
        return 0;
    PyObject *word = PyUnicode_FromKindAndData(PyUnicode_4BYTE_KIND, s, n);
    if (word == NULL)
        return -1;
    int rc = node ? PyList_Append(c->words, word) : PySet_Add(c->others, word);
    Py_DECREF(word);
    if (node)
        c->d->stamp[node] = c->generation;
    return rc;
}

/* A blank (" ") and a token of BLOCK_PUNCT characters only are dropped; a line break ends the sentence. */
static int to_corpus(Sink *sink, const ch *s, Py_ssize_t n, uint32_t node)
{
    CorpusSink *c = (CorpusSink *)sink;
    c->tokens++;
    if (n == 1 && (s[0] == ' ' || s[0] == '\n')) {
        if (s[0] == '\n')
            end_sentence(c);
        return 0;
    }
    Py_ssize_t i = 0;
    while (i < n && is_block_punct(s[i]))
        i++;
    if (i == n)
        return 0;
    if (c->line_tokens++)
        c->out[c->n++] = ' ';
    memcpy(c->out + c->n, s, n * sizeof(ch));
    c->n += n;
    return add_word(c, s, n, node);
}

/* What segment.segment_blanked makes of a blanked text's tokens, without a Python object per token:
 * (its sentences as corpus lines, each ended by "\n"; the dictionary words kept and not yet given in
 * `generation`; the set of the other words kept; how many tokens the cut gave). */
static PyObject *segment_blanked(PyObject *Py_UNUSED(module), PyObject *args)
{
    PyObject *capsule, *text, *result = NULL;
    int hmm;
    unsigned long generation;
    if (!PyArg_ParseTuple(args, "OUpk", &capsule, &text, &hmm, &generation))
        return NULL;
    Dictionary *d = dictionary_of(capsule);
    if (d == NULL)
        return NULL;
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    Py_UCS4 *s = PyUnicode_AsUCS4Copy(text);
    CorpusSink c = {{to_corpus}, d, PyMem_Malloc((2 * n + 1) * sizeof(ch)), 0, 0, 0, (uint32_t)generation,
                    PyList_New(0), PySet_New(NULL)};
    if (s == NULL || c.out == NULL || c.words == NULL || c.others == NULL) {
        if (!PyErr_Occurred())
            PyErr_NoMemory();
        goto done;
    }
    if (cut_text(d, s, n, hmm, &c.sink) < 0)
        goto done;
    end_sentence(&c);
    PyObject *corpus = PyUnicode_FromKindAndData(PyUnicode_4BYTE_KIND, c.out, c.n);
    if (corpus != NULL)
        result = Py_BuildValue("NOOn", corpus, c.words, c.others, c.tokens);
done:
    PyMem_Free(s);
    PyMem_Free(c.out);
    Py_XDECREF(c.words);
    Py_XDECREF(c.others);
    return result;
}

static PyMethodDef methods[] = {
    {"dictionary", dictionary, METH_VARARGS, "dictionary(freq, total, start, trans, emit, force_split)"},
    {"cut", cut, METH_VARARGS, "cut(dictionary, text, hmm) -> jieba's tokens"},
    {"segment_blanked", segment_blanked, METH_VARARGS,
     "segment_blanked(dictionary, text, hmm, generation) -> (corpus, words, others, tokens)"},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module_def = {PyModuleDef_HEAD_INIT, .m_name = "_cut", .m_size = -1, .m_methods = methods};

PyMODINIT_FUNC PyInit__cut(void) { return PyModule_Create(&module_def); }
