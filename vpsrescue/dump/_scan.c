/* The hot loop of the dump splitter, in C.
 *
 * body_end(buf, start, delimiter) -> int
 *
 * Returns how far a statement body starting at `start` reaches: the offset of the
 * delimiter that ends it, or of a quoted string or comment that does not close
 * before the end of `buf`, or len(buf) when the body runs to the end. It answers
 * exactly what sqltokens.body_re(delimiter).match(buf, start).end() answers (the
 * unit tests compare the two on generated input); the regex stays the fallback.
 *
 * The rules are the mysql client's: outside quotes and comments the delimiter comes
 * first; '...' and "..." know backslash escapes and doubled quotes; `...` knows
 * doubled backquotes; "-- " (dash dash whitespace), "#" and slash-star comments.
 * survey(buf, start, end) -> int
 *
 * One pass over buf[start:end] answering what the relabel fast path asks of a whole
 * INSERT: bit 1, a byte >= 0x80; bit 2, not valid UTF-8 (Python's strict decoder:
 * no overlongs, surrogates or code points past U+10FFFF); bit 4, repair.MOJIBAKE_RE
 * matches; bit 8, "_latin1" or "_binary" occurs. Again the unit tests compare it
 * with the Python expressions it replaces.
 *
 * count_nl(buf, start, end) -> int: buf.count(b"\\n", start, end), sixteen bytes a step.
 *
 * start_writeback(fd): ask the kernel to start writing the file's dirty pages now
 * (sync_file_range, SYNC_FILE_RANGE_WRITE), so the fsync before the rename finds
 * little left to do and dirty pages do not pile up. A no-op where there is none.
 *
 * The GIL is released while scanning, so the reader and writer threads keep going.
 */
#define PY_SSIZE_T_CLEAN
#define _GNU_SOURCE
#include <Python.h>
#include <fcntl.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

static unsigned char special[256];

/* Index of the first byte in b[p:n] equal to x or y; n if none. Sixteen bytes a step
 * where SSE2 is there (every x86-64), the plain loop otherwise and for the tail. */
static Py_ssize_t find2(const unsigned char *b, Py_ssize_t p, Py_ssize_t n,
                        unsigned char x, unsigned char y)
{
#ifdef __SSE2__
    const __m128i vx = _mm_set1_epi8((char)x), vy = _mm_set1_epi8((char)y);
    while (n - p >= 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(b + p));
        int m = _mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(v, vx), _mm_cmpeq_epi8(v, vy)));
        if (m)
            return p + __builtin_ctz((unsigned)m);
        p += 16;
    }
#endif
    while (p < n && b[p] != x && b[p] != y)
        p++;
    return p;
}

/* Index of the first special byte (quote, comment start) or `first` in b[p:n]. */
static Py_ssize_t find_special(const unsigned char *b, Py_ssize_t p, Py_ssize_t n,
                               unsigned char first)
{
#ifdef __SSE2__
    const __m128i q1 = _mm_set1_epi8('\''), q2 = _mm_set1_epi8('"'), q3 = _mm_set1_epi8('`'),
                  c1 = _mm_set1_epi8('-'), c2 = _mm_set1_epi8('#'), c3 = _mm_set1_epi8('/'),
                  d = _mm_set1_epi8((char)first);
    while (n - p >= 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(b + p));
        __m128i hit = _mm_or_si128(
            _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, q1), _mm_cmpeq_epi8(v, q2)),
                         _mm_or_si128(_mm_cmpeq_epi8(v, q3), _mm_cmpeq_epi8(v, c1))),
            _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, c2), _mm_cmpeq_epi8(v, c3)),
                         _mm_cmpeq_epi8(v, d)));
        int m = _mm_movemask_epi8(hit);
        if (m)
            return p + __builtin_ctz((unsigned)m);
        p += 16;
    }
#endif
    while (p < n && !special[b[p]] && b[p] != first)
        p++;
    return p;
}

static int is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static Py_ssize_t scan(const unsigned char *b, Py_ssize_t n, Py_ssize_t pos,
                       const unsigned char *d, Py_ssize_t dlen)
{
    const unsigned char first = d[0];
    while (pos < n) {
        unsigned char c = b[pos];
        if (!special[c] && c != first) {
            pos = find_special(b, pos + 1, n, first);
            continue;
        }
        if (c == first && n - pos >= dlen && memcmp(b + pos, d, (size_t)dlen) == 0)
            return pos;
        switch (c) {
        case '\'':
        case '"': {
            Py_ssize_t p = pos + 1;
            for (;;) {
                p = find2(b, p, n, c, '\\');
                if (p >= n)
                    return pos; /* unterminated */
                if (b[p] == '\\') {
                    if (p + 1 >= n)
                        return pos;
                    p += 2;
                    continue;
                }
                if (p + 1 < n && b[p + 1] == c) {
                    p += 2;
                    continue;
                }
                break;
            }
            pos = p + 1;
            break;
        }
        case '`': {
            Py_ssize_t p = pos + 1;
            for (;;) {
                const unsigned char *q = memchr(b + p, '`', (size_t)(n - p));
                if (q == NULL)
                    return pos;
                p = q - b;
                if (p + 1 < n && b[p + 1] == '`') {
                    p += 2;
                    continue;
                }
                break;
            }
            pos = p + 1;
            break;
        }
        case '-':
            if (pos + 1 < n && b[pos + 1] == '-' && (pos + 2 == n || is_space(b[pos + 2]))) {
                const unsigned char *q = memchr(b + pos, '\n', (size_t)(n - pos));
                pos = q ? q - b : n;
            } else {
                pos++;
            }
            break;
        case '#': {
            const unsigned char *q = memchr(b + pos, '\n', (size_t)(n - pos));
            pos = q ? q - b : n;
            break;
        }
        case '/':
            if (pos + 1 < n && b[pos + 1] == '*') {
                Py_ssize_t p = pos + 2;
                for (;;) {
                    const unsigned char *q = memchr(b + p, '*', (size_t)(n - p));
                    if (q == NULL || q + 1 >= b + n)
                        return pos; /* unterminated comment */
                    p = q - b;
                    if (b[p + 1] == '/')
                        break;
                    p++;
                }
                pos = p + 2;
            } else {
                pos++;
            }
            break;
        default: /* the delimiter's first byte, not followed by the rest of it */
            pos++;
        }
    }
    return n;
}

static PyObject *body_end(PyObject *self, PyObject *args)
{
    Py_buffer buf, delim;
    Py_ssize_t start, end;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*ny*", &buf, &start, &delim))
        return NULL;
    if (delim.len < 1 || start < 0 || start > buf.len) {
        PyBuffer_Release(&buf);
        PyBuffer_Release(&delim);
        PyErr_SetString(PyExc_ValueError, "body_end: empty delimiter or start out of range");
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    end = scan((const unsigned char *)buf.buf, buf.len, start,
               (const unsigned char *)delim.buf, delim.len);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&buf);
    PyBuffer_Release(&delim);
    return PyLong_FromSsize_t(end);
}

enum { NONASCII = 1, BAD_UTF8 = 2, MOJIBAKE = 4, INTRODUCER = 8 };

static int in_range(const unsigned char *b, Py_ssize_t i, Py_ssize_t end,
                    unsigned char lo, unsigned char hi)
{
    return i < end && b[i] >= lo && b[i] <= hi;
}

/* Length of the well-formed UTF-8 sequence at b[i] (a byte >= 0x80), 0 if none. */
static Py_ssize_t utf8_len(const unsigned char *b, Py_ssize_t i, Py_ssize_t end)
{
    unsigned char c = b[i];
    if (c >= 0xC2 && c <= 0xDF)
        return in_range(b, i + 1, end, 0x80, 0xBF) ? 2 : 0;
    if (c >= 0xE0 && c <= 0xEF) {
        unsigned char lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
        return in_range(b, i + 1, end, lo, hi) && in_range(b, i + 2, end, 0x80, 0xBF) ? 3 : 0;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        unsigned char lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
        return in_range(b, i + 1, end, lo, hi) && in_range(b, i + 2, end, 0x80, 0xBF)
               && in_range(b, i + 3, end, 0x80, 0xBF) ? 4 : 0;
    }
    return 0;
}

/* repair.MOJIBAKE_RE at b[i] == 0xC3:  C3 [82-B4] ( [C2 C5 C6 CB] | E2 [80 82 84] ) */
static int mojibake_at(const unsigned char *b, Py_ssize_t i, Py_ssize_t end)
{
    unsigned char c;
    if (!in_range(b, i + 1, end, 0x82, 0xB4) || i + 2 >= end)
        return 0;
    c = b[i + 2];
    if (c == 0xC2 || c == 0xC5 || c == 0xC6 || c == 0xCB)
        return 1;
    return c == 0xE2 && i + 3 < end && (b[i + 3] == 0x80 || b[i + 3] == 0x82 || b[i + 3] == 0x84);
}

static int survey_range(const unsigned char *b, Py_ssize_t i, Py_ssize_t end)
{
    int flags = 0;
    while (i < end) {
        unsigned char c = b[i];
        if (c < 0x80) {
#ifdef __SSE2__
            /* skip sixteen ASCII bytes at a time when none is '_' */
            const __m128i us = _mm_set1_epi8('_');
            while (end - i >= 16) {
                __m128i v = _mm_loadu_si128((const __m128i *)(b + i));
                if (_mm_movemask_epi8(_mm_or_si128(v, _mm_cmpeq_epi8(v, us))))
                    break;
                i += 16;
            }
            if (i >= end)
                break;
            c = b[i];
            if (c >= 0x80)
                continue;
#endif
            if (c == '_' && end - i >= 7 && (memcmp(b + i + 1, "latin1", 6) == 0
                                             || memcmp(b + i + 1, "binary", 6) == 0))
                flags |= INTRODUCER;
            i++;
            continue;
        }
        flags |= NONASCII;
        if (c == 0xC3 && mojibake_at(b, i, end))
            flags |= MOJIBAKE;
        {
            Py_ssize_t len = utf8_len(b, i, end);
            if (len == 0) {
                flags |= BAD_UTF8;
                len = 1;
            }
            i += len;
        }
    }
    return flags;
}

/* Parse (buf, start, end) and check the range; on failure the buffer is released. */
static int range_args(PyObject *args, Py_buffer *buf, Py_ssize_t *start, Py_ssize_t *end)
{
    if (!PyArg_ParseTuple(args, "y*nn", buf, start, end))
        return 0;
    if (*start < 0 || *end > buf->len || *start > *end) {
        PyBuffer_Release(buf);
        PyErr_SetString(PyExc_ValueError, "range out of bounds");
        return 0;
    }
    return 1;
}

static PyObject *survey(PyObject *self, PyObject *args)
{
    Py_buffer buf;
    Py_ssize_t start, end;
    int flags;
    (void)self;
    if (!range_args(args, &buf, &start, &end))
        return NULL;
    Py_BEGIN_ALLOW_THREADS
    flags = survey_range((const unsigned char *)buf.buf, start, end);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&buf);
    return PyLong_FromLong(flags);
}

static Py_ssize_t count_range(const unsigned char *b, Py_ssize_t i, Py_ssize_t end)
{
    Py_ssize_t count = 0;
#ifdef __SSE2__
    const __m128i nl = _mm_set1_epi8('\n');
    while (end - i >= 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(b + i));
        count += __builtin_popcount((unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, nl)));
        i += 16;
    }
#endif
    for (; i < end; i++)
        count += b[i] == '\n';
    return count;
}

static PyObject *count_nl(PyObject *self, PyObject *args)
{
    Py_buffer buf;
    Py_ssize_t start, end, count;
    (void)self;
    if (!range_args(args, &buf, &start, &end))
        return NULL;
    Py_BEGIN_ALLOW_THREADS
    count = count_range((const unsigned char *)buf.buf, start, end);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&buf);
    return PyLong_FromSsize_t(count);
}

static PyObject *start_writeback(PyObject *self, PyObject *args)
{
    int fd;
    (void)self;
    if (!PyArg_ParseTuple(args, "i", &fd))
        return NULL;
#ifdef SYNC_FILE_RANGE_WRITE
    Py_BEGIN_ALLOW_THREADS
    (void)sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE); /* a hint: errors show at fsync */
    Py_END_ALLOW_THREADS
#endif
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"count_nl", count_nl, METH_VARARGS, "count_nl(buf, start, end) -> number of newlines."},
    {"start_writeback", start_writeback, METH_VARARGS,
     "start_writeback(fd): start writing the file's dirty pages (sync_file_range)."},
    {"survey", survey, METH_VARARGS,
     "survey(buf, start, end) -> flags: 1 non-ASCII, 2 bad UTF-8, 4 mojibake, 8 introducer."},
    {"body_end", body_end, METH_VARARGS,
     "body_end(buf, start, delimiter) -> offset where the statement body ends."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_scan", "C statement scanner for vpsrescue.dump.sqltokens.",
    -1, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__scan(void)
{
    const char *s = "'\"`-#/";
    for (; *s; s++)
        special[(unsigned char)*s] = 1;
    return PyModule_Create(&module);
}
