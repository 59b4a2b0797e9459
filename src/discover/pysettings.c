/*
 * settings.py reader (see pysettings.h), in three steps none of which runs
 * Python. A tokeniser reads the whole module the way Python's does (strings
 * of every kind, comments, brackets, continuations) and rejects what Python
 * would reject there. A walker follows the logical lines through compound
 * statements, so that module-level assignments are recorded and those in
 * def/class bodies are not. A literal parser reads each right-hand side and
 * turns whatever it cannot evaluate into an MS_PY_EXPR node holding the
 * source text. Values live in an arena owned by the handle, so that
 * `DATABASES['default']['HOST'] = 'x'` can share and replace nodes freely.
 */
#include "discover/pysettings.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/strbuf.h"
#include "base/text.h"
#include "base/util.h"

#define MS_PY_MAX_DEPTH 200             /* brackets, f-string fields, blocks */
#define MS_PY_MAX_FILE (8u * 1024 * 1024) /* settings.py is a few kB */
#define NO_TOKEN SIZE_MAX

/* ------------------------------------------------------------------------
 * Tokens
 */

enum tok_kind { TK_NAME, TK_NUMBER, TK_STRING, TK_OP, TK_NEWLINE, TK_END };

#define TF_BYTES 0x1u  /* STRING: a bytes literal */
#define TF_NONLIT 0x2u /* STRING: f-string, or an escape a value cannot hold */
#define TF_FLOAT 0x4u  /* NUMBER: has a fraction or an exponent */
#define TF_IMAG 0x8u   /* NUMBER: imaginary (j suffix) */

struct token {
	enum tok_kind kind;
	unsigned flags; /* TF_* */
	int line;       /* 1-based line of the first byte */
	int indent;     /* first token of a logical line: its column; else -1 */
	size_t start;   /* byte offsets of the token's source text */
	size_t end;
	size_t match;   /* opening bracket: index of its closing bracket */
	char *sval;     /* STRING: decoded content, NULL with TF_NONLIT */
	size_t slen;
};

/* String prefix letters. */
#define SP_RAW 0x1u
#define SP_BYTES 0x2u
#define SP_FMT 0x4u /* f or t: the value is only known at run time */

struct bracket {
	char ch;
	int line;
	size_t tok;
};

/* Source encodings (PEP 263): UTF-8 unless line 1 or 2 declares another.
 * Latin-1 is converted; strings in other encodings cannot be decoded here. */
enum src_encoding { ENC_UTF8, ENC_LATIN1, ENC_OTHER };

struct lexer {
	const char *filename;
	enum src_encoding encoding;
	const char *src;
	size_t len;
	size_t i;           /* read position */
	int line;           /* line of src[i] */
	bool at_bol;        /* at the start of a physical line outside brackets */
	bool in_line;       /* the current logical line has a token */
	int pending_indent; /* column of the logical line being started */
	struct token *toks;
	size_t n, alloc;
	struct bracket open[MS_PY_MAX_DEPTH]; /* brackets not yet closed */
	int depth;
};

static int syntax_error(const char *filename, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Logs "'FILE':LINE: syntax error: WHAT" and returns -1. */
static int syntax_error(const char *filename, int line, const char *fmt, ...)
{
	char what[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	return ms_log_error("'%s':%d: syntax error: %s", filename, line, what);
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool is_hex(char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* Python 3 identifiers may be any Unicode letter: bytes >= 0x80 pass. */
static bool is_name_start(char c)
{
	unsigned char u = (unsigned char)c;

	return (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') || u == '_' || u >= 0x80;
}

static bool is_name_char(char c)
{
	return is_name_start(c) || is_digit(c);
}

static bool is_quote(char c)
{
	return c == '\'' || c == '"';
}

/* Length of the line break at src[i] (CRLF, CR or LF), 0 when none. */
static size_t newline_len(const char *src, size_t len, size_t i)
{
	if (i >= len)
		return 0;
	if (src[i] == '\n')
		return 1;
	if (src[i] == '\r')
		return i + 1 < len && src[i + 1] == '\n' ? 2 : 1;
	return 0;
}

/* Appends a token ending at the read position. The pointer is valid until
 * the next push. */
static struct token *push_token(struct lexer *lx, enum tok_kind kind, size_t start, int line)
{
	struct token *t;

	if (lx->n == lx->alloc) {
		lx->alloc = lx->alloc ? lx->alloc * 2 : 256;
		lx->toks = ms_xrealloc(lx->toks, lx->alloc * sizeof(*lx->toks));
	}
	t = &lx->toks[lx->n++];
	memset(t, 0, sizeof(*t));
	t->kind = kind;
	t->line = line;
	t->start = start;
	t->end = lx->i;
	t->indent = -1;
	t->match = NO_TOKEN;
	if (kind != TK_NEWLINE && kind != TK_END && !lx->in_line) {
		t->indent = lx->pending_indent;
		lx->in_line = true;
	}
	return t;
}

static void free_tokens(struct token *toks, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (toks[i].sval) {
			ms_secure_zero(toks[i].sval, toks[i].slen);
			free(toks[i].sval);
		}
	}
	free(toks);
}

static void skip_comment(struct lexer *lx)
{
	while (lx->i < lx->len && lx->src[lx->i] != '\n' && lx->src[lx->i] != '\r')
		lx->i++;
}

/* Measures the indentation of a physical line. Blank and comment-only lines
 * are consumed whole: they do not start a logical line. */
static void lex_line_start(struct lexer *lx)
{
	int col = 0;
	size_t nl;

	for (; lx->i < lx->len; lx->i++) {
		char c = lx->src[lx->i];

		if (c == ' ')
			col++;
		else if (c == '\t')
			col = (col / 8 + 1) * 8;
		else if (c == '\f')
			col = 0;
		else
			break;
	}
	if (lx->i < lx->len && lx->src[lx->i] == '#')
		skip_comment(lx);
	if (lx->i >= lx->len)
		return;
	nl = newline_len(lx->src, lx->len, lx->i);
	if (nl) {
		lx->i += nl;
		lx->line++;
		return;
	}
	lx->at_bol = false;
	lx->pending_indent = col;
}

/* A physical line break: ends the logical line unless inside brackets. */
static void lex_newline(struct lexer *lx)
{
	size_t start = lx->i;
	int line = lx->line;

	lx->i += newline_len(lx->src, lx->len, lx->i);
	lx->line++;
	if (lx->depth > 0)
		return;
	if (lx->in_line) {
		push_token(lx, TK_NEWLINE, start, line);
		lx->in_line = false;
	}
	lx->at_bol = true;
}

static int lex_continuation(struct lexer *lx)
{
	size_t nl = newline_len(lx->src, lx->len, lx->i + 1);

	if (lx->i + 1 >= lx->len)
		return syntax_error(lx->filename, lx->line, "unexpected end of file after line continuation");
	if (!nl)
		return syntax_error(lx->filename, lx->line, "unexpected character after line continuation");
	lx->i += 1 + nl;
	lx->line++;
	if (lx->i >= lx->len)
		return syntax_error(lx->filename, lx->line - 1, "unexpected end of file after line continuation");
	return 0;
}

/* Recognises a string prefix (r, b, u, f, t and the legal pairs). */
static bool string_prefix(const char *s, size_t n, unsigned *flags)
{
	unsigned f = 0;
	bool u = false;

	if (n == 0 || n > 2)
		return false;
	for (size_t k = 0; k < n; k++) {
		unsigned bit;

		switch ((unsigned char)s[k] | 0x20) {
		case 'r': bit = SP_RAW; break;
		case 'b': bit = SP_BYTES; break;
		case 'f': case 't': bit = SP_FMT; break;
		case 'u': bit = 0; u = true; break;
		default: return false;
		}
		if (f & bit)
			return false;
		f |= bit;
	}
	if ((u && n > 1) || ((f & SP_BYTES) && (f & SP_FMT)))
		return false;
	*flags = f;
	return true;
}

static int scan_string(struct lexer *lx, unsigned pflags, int nest, size_t *body, size_t *body_end);

static int unterminated(const struct lexer *lx, int line0)
{
	return syntax_error(lx->filename, line0, "unterminated string");
}

/* Skips an identifier inside an f-string field, and the string it prefixes
 * if it is one. */
static int scan_field_name(struct lexer *lx, int nest)
{
	size_t start = lx->i, b, e;
	unsigned pflags;

	while (lx->i < lx->len && is_name_char(lx->src[lx->i]))
		lx->i++;
	if (lx->i < lx->len && is_quote(lx->src[lx->i]) &&
	    string_prefix(lx->src + start, lx->i - start, &pflags))
		return scan_string(lx, pflags, nest, &b, &e);
	return 0;
}

static int scan_field(struct lexer *lx, int nest, int line0);

/* The format spec after ':' in an f-string field; may hold nested fields. */
static int scan_spec(struct lexer *lx, int nest, int line0)
{
	while (lx->i < lx->len) {
		char c = lx->src[lx->i];
		size_t nl = newline_len(lx->src, lx->len, lx->i);

		if (nl) {
			lx->i += nl;
			lx->line++;
			continue;
		}
		lx->i++;
		if (c == '}')
			return 0;
		if (c == '{' && scan_field(lx, nest + 1, line0) < 0)
			return -1;
	}
	return unterminated(lx, line0);
}

/* An f-string replacement field, from after '{' to after its '}'. Inner
 * strings may use any quote (PEP 701), so they are skipped as strings. */
static int scan_field(struct lexer *lx, int nest, int line0)
{
	int depth = 0;
	size_t b, e;

	if (nest > MS_PY_MAX_DEPTH)
		return syntax_error(lx->filename, line0, "nesting too deep");
	while (lx->i < lx->len) {
		char c = lx->src[lx->i];
		size_t nl = newline_len(lx->src, lx->len, lx->i);

		if (nl) {
			lx->i += nl;
			lx->line++;
			continue;
		}
		if (is_quote(c) || is_name_start(c)) {
			if ((is_quote(c) ? scan_string(lx, 0, nest, &b, &e) : scan_field_name(lx, nest)) < 0)
				return -1;
			continue;
		}
		lx->i++;
		if (c == '(' || c == '[' || c == '{')
			depth++;
		else if ((c == ')' || c == ']') && depth > 0)
			depth--;
		else if (c == '}' && depth-- == 0)
			return 0;
		else if (c == ':' && depth == 0)
			return scan_spec(lx, nest, line0);
	}
	return unterminated(lx, line0);
}

/* Steps over a backslash and what it escapes, for finding the string end. */
static void scan_escape(struct lexer *lx, unsigned pflags)
{
	size_t nl;

	lx->i++;
	if (lx->i >= lx->len)
		return;
	nl = newline_len(lx->src, lx->len, lx->i);
	if (nl) {
		lx->i += nl;
		lx->line++;
		return;
	}
	if (pflags & SP_FMT) {
		char c = lx->src[lx->i];

		if (c == '{' || c == '}')
			return; /* still a field delimiter */
		if (c == 'N' && !(pflags & SP_RAW) && lx->i + 1 < lx->len && lx->src[lx->i + 1] == '{') {
			while (lx->i < lx->len && lx->src[lx->i] != '}' && !is_quote(lx->src[lx->i]) &&
			       !newline_len(lx->src, lx->len, lx->i))
				lx->i++;
			if (lx->i < lx->len && lx->src[lx->i] == '}')
				lx->i++;
			return;
		}
	}
	lx->i++;
}

/* Finds the end of the string whose opening quote is at the read position
 * and leaves the read position after its closing quote. */
static int scan_string(struct lexer *lx, unsigned pflags, int nest, size_t *body, size_t *body_end)
{
	const char *src = lx->src;
	int line0 = lx->line;
	char q = src[lx->i];
	bool triple = lx->i + 2 < lx->len && src[lx->i + 1] == q && src[lx->i + 2] == q;

	lx->i += triple ? 3 : 1;
	*body = lx->i;
	for (;;) {
		char c;
		size_t nl;

		if (lx->i >= lx->len)
			return unterminated(lx, line0);
		c = src[lx->i];
		nl = newline_len(src, lx->len, lx->i);
		if (c == q && (!triple || (lx->i + 2 < lx->len && src[lx->i + 1] == q && src[lx->i + 2] == q)))
			break;
		if (c == '\\') {
			scan_escape(lx, pflags);
		} else if (nl) {
			if (!triple)
				return unterminated(lx, line0);
			lx->i += nl;
			lx->line++;
		} else if (c == '{' && (pflags & SP_FMT)) {
			lx->i++;
			if (lx->i < lx->len && src[lx->i] == '{')
				lx->i++;
			else if (scan_field(lx, nest + 1, line0) < 0)
				return -1;
		} else {
			lx->i++;
		}
	}
	*body_end = lx->i;
	lx->i += triple ? 3 : 1;
	return 0;
}

/* Reads exactly ndig hex digits at s[i]. */
static int read_hex(const char *s, size_t i, size_t end, int ndig, unsigned long *out)
{
	unsigned long v = 0;

	for (int k = 0; k < ndig; k++, i++) {
		char c = i < end ? s[i] : '\0';

		if (!is_hex(c))
			return -1;
		v = v * 16 + (unsigned long)(is_digit(c) ? c - '0' : (c | 0x20) - 'a' + 10);
	}
	*out = v;
	return 0;
}

struct escape_ctx {
	const struct lexer *lx;
	size_t end;      /* end of the string body */
	bool bytes;
	int line;        /* where the string starts, for messages */
	struct ms_strbuf *sb;
	bool nonlit;     /* set when the value cannot be represented */
};

/* A code point decoded from an escape in a str. A lone surrogate has no
 * UTF-8 form, and U+0000 would cut the value short wherever it is used as a
 * C string (a NAME 'modoboa\0x' read as 'modoboa'): both leave the value
 * an expression, which every reader refuses by name. */
static void add_codepoint(struct escape_ctx *ec, unsigned long cp)
{
	if (cp == 0 || (cp >= 0xd800 && cp <= 0xdfff))
		ec->nonlit = true;
	else
		ms_utf8_add(ec->sb, cp);
}

/* \x, \u and \U: hex escapes, a code point in str, a byte in bytes. */
static int decode_hex_escape(struct escape_ctx *ec, size_t *ip, char kind)
{
	int ndig = kind == 'x' ? 2 : kind == 'u' ? 4 : 8;
	unsigned long cp;

	if (read_hex(ec->lx->src, *ip + 1, ec->end, ndig, &cp) < 0)
		return syntax_error(ec->lx->filename, ec->line,
				    kind == 'x' ? "truncated \\xXX escape" :
				    kind == 'u' ? "truncated \\uXXXX escape" : "truncated \\UXXXXXXXX escape");
	*ip += 1 + (size_t)ndig;
	if (cp > 0x10ffff)
		return syntax_error(ec->lx->filename, ec->line, "\\U escape out of range");
	if (ec->bytes)
		ms_strbuf_addch(ec->sb, (char)cp);
	else
		add_codepoint(ec, cp);
	return 0;
}

/* \ooo: up to three octal digits. */
static void decode_octal_escape(struct escape_ctx *ec, size_t *ip)
{
	const char *s = ec->lx->src;
	unsigned long v = 0;
	int k;

	for (k = 0; k < 3 && *ip < ec->end && s[*ip] >= '0' && s[*ip] <= '7'; k++, (*ip)++)
		v = v * 8 + (unsigned long)(s[*ip] - '0');
	if (ec->bytes)
		ms_strbuf_addch(ec->sb, (char)(v & 0xff));
	else
		add_codepoint(ec, v);
}

/* Decodes the escape whose backslash is at src[*ip]; advances *ip. */
static int decode_escape(struct escape_ctx *ec, size_t *ip)
{
	static const char simple_in[] = "\\'\"abfnrtv";
	static const char simple_out[] = "\\'\"\a\b\f\n\r\t\v";
	const char *s = ec->lx->src;
	size_t i = *ip + 1, nl = newline_len(s, ec->end, i);
	const char *hit;
	char c;

	if (i >= ec->end) { /* cannot happen: the backslash would escape the quote */
		ms_strbuf_addch(ec->sb, '\\');
		*ip = i;
		return 0;
	}
	c = s[i];
	*ip = i + 1;
	if (nl) {
		*ip = i + nl; /* continuation inside the string */
	} else if ((hit = memchr(simple_in, c, sizeof(simple_in) - 1)) != NULL) {
		ms_strbuf_addch(ec->sb, simple_out[hit - simple_in]);
	} else if (c >= '0' && c <= '7') {
		*ip = i;
		decode_octal_escape(ec, ip);
	} else if (c == 'x' || (!ec->bytes && (c == 'u' || c == 'U'))) {
		*ip = i;
		return decode_hex_escape(ec, ip, c);
	} else if (c == 'N' && !ec->bytes) {
		ec->nonlit = true; /* needs the Unicode name database */
	} else {
		/* not an escape: both characters stay; a non-ASCII one goes
		 * through the caller, which knows the source encoding */
		ms_strbuf_addch(ec->sb, '\\');
		if ((unsigned char)c < 0x80)
			ms_strbuf_addch(ec->sb, c);
		else
			*ip = i;
	}
	return 0;
}

/* Decodes a string body into the token: newlines normalised to "\n",
 * escapes applied unless raw; bytes must be ASCII, str must be UTF-8. */
static int decode_string(struct lexer *lx, struct token *t, size_t a, size_t b, unsigned pflags)
{
	struct ms_strbuf sb = MS_STRBUF_INIT;
	struct escape_ctx ec = { lx, b, (pflags & SP_BYTES) != 0, t->line, &sb, false };
	int rc = 0;

	for (size_t i = a; i < b && rc == 0;) {
		unsigned char c = (unsigned char)lx->src[i];

		if (c == '\r' || c == '\n') {
			i += newline_len(lx->src, b, i);
			ms_strbuf_addch(&sb, '\n');
		} else if (c >= 0x80 && ec.bytes) {
			rc = syntax_error(lx->filename, t->line, "bytes can only contain ascii literal characters");
		} else if (c >= 0x80 && lx->encoding != ENC_UTF8) {
			if (lx->encoding == ENC_LATIN1)
				ms_utf8_add(&sb, c);
			else
				ec.nonlit = true;
			i++;
		} else if (c == '\\' && !(pflags & SP_RAW)) {
			rc = decode_escape(&ec, &i);
		} else {
			ms_strbuf_addch(&sb, (char)c);
			i++;
		}
	}
	if (rc == 0 && !ec.bytes && !ec.nonlit && !ms_utf8_valid(ms_strbuf_str(&sb), sb.len))
		rc = syntax_error(lx->filename, t->line, "invalid utf-8 in string");
	if (rc == 0 && ec.nonlit)
		t->flags |= TF_NONLIT;
	if (rc == 0 && !ec.nonlit) {
		t->slen = sb.len;
		t->sval = ms_strbuf_detach(&sb);
	}
	if (sb.buf)
		ms_secure_zero(sb.buf, sb.len);
	ms_strbuf_release(&sb);
	return rc;
}

/* A string literal starting at `start` (its prefix), quote at the read
 * position. Adjacent literals are concatenated, so bytes and str may not
 * follow each other. */
static int lex_string(struct lexer *lx, size_t start, unsigned pflags)
{
	int line0 = lx->line;
	size_t body, body_end;
	struct token *t;

	if (scan_string(lx, pflags, 0, &body, &body_end) < 0)
		return -1;
	t = push_token(lx, TK_STRING, start, line0);
	if (pflags & SP_BYTES)
		t->flags |= TF_BYTES;
	if (pflags & SP_FMT)
		t->flags |= TF_NONLIT;
	else if (decode_string(lx, t, body, body_end, pflags) < 0)
		return -1;
	if (lx->n >= 2 && lx->toks[lx->n - 2].kind == TK_STRING &&
	    (lx->toks[lx->n - 2].flags & TF_BYTES) != (t->flags & TF_BYTES))
		return syntax_error(lx->filename, line0, "cannot mix bytes and str literals");
	return 0;
}

static int lex_name(struct lexer *lx)
{
	size_t start = lx->i;
	unsigned pflags;

	while (lx->i < lx->len && is_name_char(lx->src[lx->i]))
		lx->i++;
	if (lx->i < lx->len && is_quote(lx->src[lx->i]) &&
	    string_prefix(lx->src + start, lx->i - start, &pflags))
		return lex_string(lx, start, pflags);
	push_token(lx, TK_NAME, start, lx->line);
	return 0;
}

static void skip_digits(const char *s, size_t n, size_t *i)
{
	while (*i < n && (is_digit(s[*i]) || s[*i] == '_'))
		(*i)++;
}

static void consume_number(struct lexer *lx, unsigned *flags)
{
	const char *s = lx->src;
	size_t n = lx->len, i = lx->i;

	char base = i + 1 < n && s[i] == '0' ? (char)(s[i + 1] | 0x20) : 'd';

	if (base == 'x' || base == 'o' || base == 'b') {
		/* 8 and 9 are taken in so that "0o8" is reported, not split */
		for (i += 2; i < n && (s[i] == '_' || (base == 'x' ? is_hex(s[i]) : is_digit(s[i]))); i++)
			;
		lx->i = i;
		return;
	}
	skip_digits(s, n, &i);
	if (i < n && s[i] == '.') {
		i++;
		*flags |= TF_FLOAT;
		skip_digits(s, n, &i);
	}
	if (i < n && (s[i] | 0x20) == 'e') {
		size_t k = i + 1;

		if (k < n && (s[k] == '+' || s[k] == '-'))
			k++;
		if (k < n && is_digit(s[k])) {
			i = k;
			*flags |= TF_FLOAT;
			skip_digits(s, n, &i);
		}
	}
	if (i < n && (s[i] | 0x20) == 'j') {
		i++;
		*flags |= TF_IMAG;
	}
	lx->i = i;
}

static bool base_digit(char c, char base)
{
	switch (base) {
	case 'x': return is_hex(c);
	case 'o': return c >= '0' && c <= '7';
	case 'b': return c == '0' || c == '1';
	default: return is_digit(c);
	}
}

/* Returns Python's complaint about a number's spelling, or NULL. */
static const char *number_error(const char *s, size_t n, unsigned flags)
{
	char base = n >= 2 && s[0] == '0' ? (char)(s[1] | 0x20) : 'd';
	size_t first;
	bool nonzero = false;

	if (base != 'x' && base != 'o' && base != 'b')
		base = 'd';
	first = base == 'd' ? 0 : 2;
	if (first >= n)
		goto bad;
	for (size_t k = first; k < n; k++) {
		char c = s[k];

		if (c == '_') {
			bool left = k > first ? base_digit(s[k - 1], base) : base != 'd';

			if (!left || k + 1 >= n || !base_digit(s[k + 1], base))
				goto bad;
		} else if (base != 'd' && !base_digit(c, base)) {
			goto bad;
		}
		if (base == 'd' && c >= '1' && c <= '9')
			nonzero = true;
	}
	if (base == 'd' && s[0] == '0' && nonzero && !(flags & (TF_FLOAT | TF_IMAG)))
		return "leading zeros in decimal integer literals are not permitted";
	return NULL;
bad:
	return base == 'x' ? "invalid hexadecimal literal" :
	       base == 'o' ? "invalid octal literal" :
	       base == 'b' ? "invalid binary literal" : "invalid decimal literal";
}

static int lex_number(struct lexer *lx)
{
	size_t start = lx->i;
	unsigned flags = 0;
	const char *err;
	struct token *t;

	consume_number(lx, &flags);
	err = number_error(lx->src + start, lx->i - start, flags);
	if (err)
		return syntax_error(lx->filename, lx->line, "%s", err);
	t = push_token(lx, TK_NUMBER, start, lx->line);
	t->flags = flags;
	return 0;
}

/* Length of the operator at s (longest match), 0 when none. */
static size_t op_length(const char *s, size_t avail)
{
	static const char *const ops3[] = { "**=", "//=", ">>=", "<<=", "..." };
	static const char *const ops2[] = { "->", ":=", "**", "//", ">>", "<<", "<=", ">=", "==",
					    "!=", "+=", "-=", "*=", "/=", "%=", "&=", "|=", "^=", "@=" };
	static const char ops1[] = "+-*/%@&|^~<>()[]{},:;.=!";

	for (size_t k = 0; avail >= 3 && k < sizeof(ops3) / sizeof(ops3[0]); k++)
		if (memcmp(s, ops3[k], 3) == 0)
			return 3;
	for (size_t k = 0; avail >= 2 && k < sizeof(ops2) / sizeof(ops2[0]); k++)
		if (memcmp(s, ops2[k], 2) == 0)
			return 2;
	return memchr(ops1, s[0], sizeof(ops1) - 1) ? 1 : 0;
}

static char closing_of(char open)
{
	return open == '(' ? ')' : open == '[' ? ']' : '}';
}

static int lex_bracket(struct lexer *lx, size_t start, int line)
{
	char c = lx->src[start];
	struct bracket *top;

	if (c == '(' || c == '[' || c == '{') {
		if (lx->depth >= MS_PY_MAX_DEPTH)
			return syntax_error(lx->filename, line, "nesting too deep");
		push_token(lx, TK_OP, start, line);
		lx->open[lx->depth].ch = c;
		lx->open[lx->depth].line = line;
		lx->open[lx->depth].tok = lx->n - 1;
		lx->depth++;
		return 0;
	}
	if (lx->depth == 0)
		return syntax_error(lx->filename, line, "unexpected '%c'", c);
	top = &lx->open[lx->depth - 1];
	if (closing_of(top->ch) != c)
		return syntax_error(lx->filename, line, "closing '%c' does not match '%c' on line %d",
				    c, top->ch, top->line);
	push_token(lx, TK_OP, start, line);
	lx->toks[top->tok].match = lx->n - 1;
	lx->depth--;
	return 0;
}

static int lex_op(struct lexer *lx)
{
	size_t start = lx->i, n = op_length(lx->src + lx->i, lx->len - lx->i);
	unsigned char c = (unsigned char)lx->src[start];

	if (n == 0) {
		if (c > 0x20 && c < 0x7f)
			return syntax_error(lx->filename, lx->line, "invalid character '%c'", c);
		return syntax_error(lx->filename, lx->line, "invalid character (byte 0x%02x)", c);
	}
	lx->i += n;
	if (n == 1 && memchr("()[]{}", c, 6))
		return lex_bracket(lx, start, lx->line);
	push_token(lx, TK_OP, start, lx->line);
	return 0;
}

static int lex_token(struct lexer *lx)
{
	char c = lx->src[lx->i];

	if (is_quote(c))
		return lex_string(lx, lx->i, 0);
	if (is_digit(c) || (c == '.' && lx->i + 1 < lx->len && is_digit(lx->src[lx->i + 1])))
		return lex_number(lx);
	if (is_name_start(c))
		return lex_name(lx);
	return lex_op(lx);
}

/* Tokenises the whole text; every logical line ends with TK_NEWLINE and the
 * array with TK_END. Returns 0, or -1 after logging. */
static int lex_all(struct lexer *lx)
{
	int rc = 0;

	while (rc == 0 && lx->i < lx->len) {
		char c = lx->src[lx->i];

		if (lx->at_bol)
			lex_line_start(lx);
		else if (c == ' ' || c == '\t' || c == '\f')
			lx->i++;
		else if (c == '#')
			skip_comment(lx);
		else if (c == '\n' || c == '\r')
			lex_newline(lx);
		else if (c == '\\')
			rc = lex_continuation(lx);
		else
			rc = lex_token(lx);
	}
	if (rc < 0)
		return -1;
	if (lx->depth > 0)
		return syntax_error(lx->filename, lx->open[lx->depth - 1].line, "'%c' never closed",
				    lx->open[lx->depth - 1].ch);
	if (lx->in_line) {
		push_token(lx, TK_NEWLINE, lx->i, lx->line);
		lx->in_line = false;
	}
	push_token(lx, TK_END, lx->i, lx->line);
	return 0;
}

/* The encoding named by a "coding[:=]NAME" comment, as Python normalises
 * it; -1 when the line declares none. */
static int line_coding(const char *s, size_t n)
{
	static const char *const latin1[] = { "latin-1", "latin1", "iso-8859-1", "iso8859-1",
					      "iso-latin-1", "l1", "cp819" };
	const char *p = s, *end = s + n, *hit;
	char name[32];
	size_t k = 0;

	while (p < end && (*p == ' ' || *p == '\t' || *p == '\f'))
		p++;
	if (p == end || *p != '#' || !(hit = memmem(p, (size_t)(end - p), "coding", 6)))
		return -1;
	p = hit + 6;
	if (p == end || (*p != ':' && *p != '='))
		return -1;
	for (p++; p < end && (*p == ' ' || *p == '\t'); p++)
		;
	for (; p < end && k + 1 < sizeof(name) && (is_name_char(*p) || *p == '-' || *p == '.') &&
	       (unsigned char)*p < 0x80; p++)
		name[k++] = *p == '_' ? '-' : (char)(*p | ((*p >= 'A' && *p <= 'Z') ? 0x20 : 0));
	name[k] = '\0';
	if (k == 0)
		return -1;
	if (strcmp(name, "utf-8") == 0 || strcmp(name, "utf8") == 0 || strncmp(name, "utf-8-", 6) == 0)
		return ENC_UTF8;
	for (size_t i = 0; i < sizeof(latin1) / sizeof(latin1[0]); i++) {
		size_t ln = strlen(latin1[i]);

		if (strncmp(name, latin1[i], ln) == 0 && (name[ln] == '\0' || name[ln] == '-'))
			return ENC_LATIN1;
	}
	return ENC_OTHER;
}

/* Looks for a coding declaration on line 1, and on line 2 when line 1 is
 * blank or a comment. */
static enum src_encoding source_encoding(const char *s, size_t n)
{
	for (int line = 1; line <= 2; line++) {
		size_t eol = 0;
		int enc;

		while (eol < n && s[eol] != '\n' && s[eol] != '\r')
			eol++;
		enc = line_coding(s, eol);
		if (enc >= 0)
			return (enum src_encoding)enc;
		for (size_t i = 0; i < eol; i++) {
			if (s[i] == '#')
				break;
			if (s[i] != ' ' && s[i] != '\t' && s[i] != '\f')
				return ENC_UTF8;
		}
		eol += newline_len(s, n, eol);
		s += eol;
		n -= eol;
	}
	return ENC_UTF8;
}

/* Python refuses source with NUL bytes; so do we, before anything else. */
static int check_nul(const char *filename, const char *text, size_t len)
{
	const char *nul = memchr(text, '\0', len);
	int line = 1;

	if (!nul)
		return 0;
	for (size_t i = 0; i < (size_t)(nul - text); i++)
		if (text[i] == '\n' || (text[i] == '\r' && (i + 1 >= len || text[i + 1] != '\n')))
			line++;
	return syntax_error(filename, line, "source code cannot contain null bytes");
}

/* ------------------------------------------------------------------------
 * Values and bindings
 */

struct binding {
	char *name;
	size_t name_len;
	struct ms_py_value *value;
	int line;
	bool conditional;
	int modified_line;
	size_t stars_before; /* star imports seen when it was bound */
};

struct ms_pysettings {
	struct ms_py_value **nodes; /* arena: every value ever created */
	size_t n_nodes, alloc_nodes;
	struct binding *bindings;
	size_t n_bindings, alloc_bindings;
	size_t *slots;              /* open addressing: binding index + 1, 0 when free */
	size_t n_slots;
	int *star_lines;            /* lines of module-level `from x import *`, in order */
	size_t n_stars, alloc_stars;
};

static struct ms_py_value *new_value(struct ms_pysettings *s, enum ms_py_type type, int line)
{
	struct ms_py_value *v = ms_xcalloc(1, sizeof(*v));

	v->type = type;
	v->line = line;
	if (s->n_nodes == s->alloc_nodes) {
		s->alloc_nodes = s->alloc_nodes ? s->alloc_nodes * 2 : 64;
		s->nodes = ms_xrealloc(s->nodes, s->alloc_nodes * sizeof(*s->nodes));
	}
	s->nodes[s->n_nodes++] = v;
	return v;
}

/* Appends an item (and, for a dict, its key). Capacity doubles whenever n
 * reaches a power of two, so it need not be stored. */
static void push_item(struct ms_py_value *v, struct ms_py_value *key, struct ms_py_value *item)
{
	if ((v->n & (v->n - 1)) == 0) {
		size_t cap = v->n < 2 ? 4 : v->n * 2;

		v->items = ms_xrealloc(v->items, cap * sizeof(*v->items));
		if (v->type == MS_PY_DICT)
			v->keys = ms_xrealloc(v->keys, cap * sizeof(*v->keys));
	}
	if (v->type == MS_PY_DICT)
		v->keys[v->n] = key;
	v->items[v->n++] = item;
}

/* Keys Python would find equal without running code; EXPR and container
 * keys are never merged. */
static bool key_mergeable(const struct ms_py_value *k)
{
	return k->type == MS_PY_NONE || k->type == MS_PY_BOOL || k->type == MS_PY_INT ||
	       k->type == MS_PY_FLOAT || k->type == MS_PY_STR || k->type == MS_PY_BYTES;
}

static int key_cmp(const struct ms_py_value *a, const struct ms_py_value *b)
{
	if (a->type != b->type)
		return a->type < b->type ? -1 : 1;
	if (a->type == MS_PY_BOOL)
		return (int)a->boolean - (int)b->boolean;
	if (a->type == MS_PY_NONE)
		return 0;
	if (a->len != b->len)
		return a->len < b->len ? -1 : 1;
	return memcmp(a->str, b->str, a->len);
}

static bool keys_equal(const struct ms_py_value *a, const struct ms_py_value *b)
{
	return key_mergeable(a) && key_mergeable(b) && key_cmp(a, b) == 0;
}

struct key_ref {
	const struct ms_py_value *key;
	size_t index;
};

static int key_ref_cmp(const void *pa, const void *pb)
{
	const struct key_ref *a = pa, *b = pb;
	bool ma = key_mergeable(a->key), mb = key_mergeable(b->key);
	int c = 0;

	if (ma != mb)
		return ma ? -1 : 1;
	if (ma)
		c = key_cmp(a->key, b->key);
	if (c == 0)
		c = a->index < b->index ? -1 : a->index > b->index;
	return c;
}

/* Python keeps a repeated key at its first position with the last value.
 * Sorting keeps this O(n log n) on hostile input. */
static void dict_dedupe(struct ms_py_value *d)
{
	struct key_ref *refs;
	bool *gone;
	size_t n = d->n, out = 0;

	if (n < 2)
		return;
	refs = ms_xmalloc(n * sizeof(*refs));
	gone = ms_xcalloc(n, sizeof(*gone));
	for (size_t i = 0; i < n; i++) {
		refs[i].key = d->keys[i];
		refs[i].index = i;
	}
	qsort(refs, n, sizeof(*refs), key_ref_cmp);
	for (size_t g = 0, e; g < n; g = e) {
		for (e = g + 1; e < n && keys_equal(refs[g].key, refs[e].key); e++)
			gone[refs[e].index] = true;
		d->items[refs[g].index] = d->items[refs[e - 1].index];
	}
	for (size_t i = 0; i < n; i++) {
		if (gone[i])
			continue;
		d->keys[out] = d->keys[i];
		d->items[out++] = d->items[i];
	}
	d->n = out;
	free(refs);
	free(gone);
}

static size_t dict_find(const struct ms_py_value *d, const struct ms_py_value *key)
{
	for (size_t i = d->n; i-- > 0;)
		if (keys_equal(d->keys[i], key))
			return i;
	return NO_TOKEN;
}

/* d[key] = value, Python style: replace in place or append. */
static void dict_set(struct ms_py_value *d, struct ms_py_value *key, struct ms_py_value *value)
{
	size_t i = dict_find(d, key);

	if (i == NO_TOKEN)
		push_item(d, key, value);
	else
		d->items[i] = value;
}

static uint64_t hash_name(const char *s, size_t n)
{
	uint64_t h = 14695981039346656037ull;

	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 1099511628211ull;
	}
	return h;
}

static struct binding *find_binding(const struct ms_pysettings *s, const char *name, size_t n)
{
	size_t mask = s->n_slots - 1;

	if (!s->n_slots)
		return NULL;
	for (size_t i = (size_t)hash_name(name, n) & mask;; i = (i + 1) & mask) {
		struct binding *b;

		if (!s->slots[i])
			return NULL;
		b = &s->bindings[s->slots[i] - 1];
		if (b->name_len == n && memcmp(b->name, name, n) == 0)
			return b;
	}
}

static void rehash(struct ms_pysettings *s)
{
	size_t n_slots = s->n_slots ? s->n_slots * 2 : 64;

	free(s->slots);
	s->slots = ms_xcalloc(n_slots, sizeof(*s->slots));
	s->n_slots = n_slots;
	for (size_t k = 0; k < s->n_bindings; k++) {
		const struct binding *b = &s->bindings[k];
		size_t i = (size_t)hash_name(b->name, b->name_len) & (n_slots - 1);

		while (s->slots[i])
			i = (i + 1) & (n_slots - 1);
		s->slots[i] = k + 1;
	}
}

/* Binds a module-level name (replacing an earlier binding entirely). */
static void bind(struct ms_pysettings *s, const char *name, size_t n, struct ms_py_value *value,
		 int line, bool conditional)
{
	struct binding *b = find_binding(s, name, n);

	if (!b) {
		if (s->n_bindings == s->alloc_bindings) {
			s->alloc_bindings = s->alloc_bindings ? s->alloc_bindings * 2 : 32;
			s->bindings = ms_xrealloc(s->bindings, s->alloc_bindings * sizeof(*s->bindings));
		}
		b = &s->bindings[s->n_bindings++];
		b->name = ms_xstrndup(name, n);
		b->name_len = n;
		if (s->n_bindings * 2 > s->n_slots)
			rehash(s);
		else {
			size_t i = (size_t)hash_name(name, n) & (s->n_slots - 1);

			while (s->slots[i])
				i = (i + 1) & (s->n_slots - 1);
			s->slots[i] = s->n_bindings;
		}
	}
	b->value = value;
	b->line = line;
	b->conditional = conditional;
	b->modified_line = 0;
	b->stars_before = s->n_stars;
}

/* ------------------------------------------------------------------------
 * Right-hand sides
 */

/* Where a value sits decides what ends it and what a stray token means. */
enum ctx {
	CTX_STMT,        /* statement right-hand side: ',' or the end */
	CTX_TUPLE,       /* item of ( ) */
	CTX_LIST,        /* item of [ ] */
	CTX_BRACE_FIRST, /* first element of { }: dict key or set item */
	CTX_DICT_KEY,
	CTX_DICT_VALUE,
	CTX_SET,
};

struct parser {
	const char *filename;
	const char *src;
	const struct token *toks;
	size_t pos;               /* current token */
	size_t end;               /* end of the statement (or subscript) being parsed */
	struct ms_pysettings *s;
	bool failed;              /* an error was logged */
	bool spoiled;             /* the display being read is a comprehension or unpacks */
};

static void parse_error(struct parser *p, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void parse_error(struct parser *p, int line, const char *fmt, ...)
{
	char what[256];
	va_list ap;

	if (p->failed)
		return;
	p->failed = true;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	syntax_error(p->filename, line, "%s", what);
}

static bool tok_is(const struct parser *p, size_t i, enum tok_kind kind, const char *text)
{
	const struct token *t = &p->toks[i];
	size_t n = strlen(text);

	return t->kind == kind && t->end - t->start == n && memcmp(p->src + t->start, text, n) == 0;
}

static bool is_op(const struct parser *p, size_t i, const char *text)
{
	return tok_is(p, i, TK_OP, text);
}

static bool is_kw(const struct parser *p, size_t i, const char *text)
{
	return tok_is(p, i, TK_NAME, text);
}

static bool is_open(const struct parser *p, size_t i)
{
	return is_op(p, i, "(") || is_op(p, i, "[") || is_op(p, i, "{");
}

static bool is_close(const struct parser *p, size_t i)
{
	return is_op(p, i, ")") || is_op(p, i, "]") || is_op(p, i, "}");
}

/* First `op` in [from, to) outside brackets and lambda parameter lists;
 * stops at a closing bracket. NO_TOKEN when there is none. */
static size_t find_depth0(const struct parser *p, size_t from, size_t to, const char *op)
{
	size_t lambdas = 0;

	for (size_t i = from; i < to; i++) {
		if (is_open(p, i))
			i = p->toks[i].match;
		else if (is_close(p, i))
			return NO_TOKEN;
		else if (is_kw(p, i, "lambda"))
			lambdas++;
		else if (lambdas > 0 && is_op(p, i, ":"))
			lambdas--;
		else if (lambdas == 0 && is_op(p, i, op))
			return i;
	}
	return NO_TOKEN;
}

static void unexpected(struct parser *p, size_t i)
{
	const struct token *t = &p->toks[i];

	switch (t->kind) {
	case TK_NEWLINE: parse_error(p, t->line, "unexpected end of line"); break;
	case TK_END: parse_error(p, t->line, "unexpected end of file"); break;
	case TK_STRING: parse_error(p, t->line, "unexpected string"); break;
	case TK_NUMBER: parse_error(p, t->line, "unexpected number"); break;
	default:
		parse_error(p, t->line, "unexpected '%.*s'", (int)(t->end - t->start > 40 ? 40 : t->end - t->start),
			    p->src + t->start);
	}
}

/* Reports a token that cannot continue an expression in context. */
static int ctx_error(struct parser *p, enum ctx ctx, size_t i)
{
	static const char *const what[] = {
		[CTX_STMT] = NULL,
		[CTX_TUPLE] = "expected ',' or ')'",
		[CTX_LIST] = "expected ',' or ']'",
		[CTX_BRACE_FIRST] = "expected ':' in dict",
		[CTX_DICT_KEY] = "expected ':' in dict",
		[CTX_DICT_VALUE] = "expected ',' or '}' in dict",
		[CTX_SET] = "expected ',' or '}'",
	};

	if (what[ctx])
		parse_error(p, p->toks[i].line, "%s", what[ctx]);
	else
		unexpected(p, i);
	return -1;
}

static bool at_terminator(const struct parser *p, enum ctx ctx)
{
	if (p->pos >= p->end)
		return true;
	if (is_op(p, p->pos, ",") || is_close(p, p->pos))
		return true;
	return is_op(p, p->pos, ":") && (ctx == CTX_DICT_KEY || ctx == CTX_BRACE_FIRST);
}

/* Keywords that join operands; after them an operand is expected. */
static bool is_operator_keyword(const struct parser *p, size_t i)
{
	static const char *const kws[] = { "and", "or", "not", "in", "is", "if", "else", "for",
					   "async", "await", "yield", "from" };

	for (size_t k = 0; k < sizeof(kws) / sizeof(kws[0]); k++)
		if (is_kw(p, i, kws[k]))
			return true;
	return false;
}

static bool starts_operand(const struct parser *p, size_t i)
{
	const struct token *t = &p->toks[i];

	if (t->kind == TK_NUMBER || t->kind == TK_STRING || is_op(p, i, "..."))
		return true;
	return t->kind == TK_NAME && !is_operator_keyword(p, i) && !is_kw(p, i, "lambda");
}

/* The source text of tokens [first, last] as messages quote it (the only
 * use of an expression's text): one line, each line break with the blanks
 * around it one space, other control bytes '?', and at most
 * MS_PY_EXPR_QUOTE_MAX bytes, cut before a UTF-8 continuation byte and
 * ended with "..." — a 1 MB expression must not become a 1 MB error. */
static struct ms_py_value *expr_node(struct parser *p, size_t first, size_t last)
{
	const struct token *a = &p->toks[first], *z = &p->toks[last];
	struct ms_py_value *v = new_value(p->s, MS_PY_EXPR, a->line);
	struct ms_strbuf sb = MS_STRBUF_INIT;
	bool cut = false;

	size_t i;

	for (i = a->start; i < z->end; i++) {
		unsigned char c = (unsigned char)p->src[i];

		if (sb.len >= MS_PY_EXPR_QUOTE_MAX) {
			cut = true;
			break;
		}
		if (c == '\r' || c == '\n') {
			while (sb.len > 0 && (sb.buf[sb.len - 1] == ' ' || sb.buf[sb.len - 1] == '\t'))
				sb.buf[--sb.len] = '\0';
			while (i + 1 < z->end && strchr("\r\n \t\f", p->src[i + 1]))
				i++;
			ms_strbuf_addch(&sb, ' ');
			continue;
		}
		ms_strbuf_addch(&sb, c < 0x20 || c == 0x7f ? '?' : (char)c);
	}
	if (cut) {
		/* cut inside a UTF-8 sequence: drop its first bytes too */
		if (((unsigned char)p->src[i] & 0xc0) == 0x80) {
			while (sb.len > 0 && ((unsigned char)sb.buf[sb.len - 1] & 0xc0) == 0x80)
				sb.len--;
			if (sb.len > 0 && (unsigned char)sb.buf[sb.len - 1] >= 0xc0)
				sb.len--;
			sb.buf[sb.len] = '\0';
		}
		ms_strbuf_addstr(&sb, "...");
	}
	v->len = sb.len;
	v->str = ms_strbuf_detach(&sb);
	return v;
}

/* One step of scan_expr; brackets are skipped as a unit (their content is
 * balanced, and only checked when parsed as a literal). */
static int scan_step(struct parser *p, enum ctx ctx, bool *operand, bool *prev_str)
{
	const struct token *t = &p->toks[p->pos];
	bool is_str = t->kind == TK_STRING;

	if (is_open(p, p->pos)) {
		if (*operand && is_op(p, p->pos, "{"))
			return ctx_error(p, ctx, p->pos);
		p->pos = t->match + 1;
		*operand = true;
		*prev_str = false;
	} else if (is_kw(p, p->pos, "for") && ctx != CTX_STMT) {
		p->spoiled = true; /* a comprehension: the whole display is an expression */
		return -1;
	} else if (is_kw(p, p->pos, "lambda")) {
		size_t colon = find_depth0(p, p->pos + 1, p->end, ":");

		if (*operand || colon == NO_TOKEN)
			return ctx_error(p, ctx, p->pos);
		p->pos = colon + 1;
		*operand = false;
	} else if (starts_operand(p, p->pos)) {
		if (*operand && !(is_str && *prev_str))
			return ctx_error(p, ctx, p->pos); /* two operands in a row: a missing ',' */
		*operand = true;
		*prev_str = is_str;
		p->pos++;
	} else if (is_op(p, p->pos, ":") || is_op(p, p->pos, "=") || is_op(p, p->pos, ";")) {
		return ctx_error(p, ctx, p->pos);
	} else {
		*operand = false;
		*prev_str = false;
		p->pos++;
	}
	return 0;
}

/* Reads a non-literal expression up to the context's terminator and returns
 * it as MS_PY_EXPR. NULL when an error was logged or when the enclosing
 * display turned out to be a comprehension or unpacking (p->spoiled). */
static struct ms_py_value *scan_expr(struct parser *p, enum ctx ctx)
{
	size_t first = p->pos;
	bool operand = false, prev_str = false;

	if (at_terminator(p, ctx)) {
		unexpected(p, p->pos);
		return NULL;
	}
	if (is_op(p, first, "*") || is_op(p, first, "**")) {
		p->spoiled = true;
		return NULL;
	}
	while (!at_terminator(p, ctx))
		if (scan_step(p, ctx, &operand, &prev_str) < 0)
			return NULL;
	if (!operand) {
		ctx_error(p, ctx, p->pos);
		return NULL;
	}
	return expr_node(p, first, p->pos - 1);
}

static struct ms_py_value *parse_value(struct parser *p, enum ctx ctx);

static struct ms_py_value *parse_constant(struct parser *p)
{
	static const char *const names[] = { "None", "True", "False" };
	const struct token *t = &p->toks[p->pos];

	for (size_t k = 0; k < 3; k++) {
		struct ms_py_value *v;

		if (!is_kw(p, p->pos, names[k]))
			continue;
		v = new_value(p->s, k == 0 ? MS_PY_NONE : MS_PY_BOOL, t->line);
		v->boolean = k == 1;
		v->str = ms_xstrdup(names[k]);
		v->len = strlen(names[k]);
		p->pos++;
		return v;
	}
	return NULL;
}

/* A number, after a unary sign when `sign`; the spelling is kept (the
 * sign written right before the digits). */
static struct ms_py_value *parse_number(struct parser *p, bool sign)
{
	const struct token *t = &p->toks[p->pos + (sign ? 1 : 0)];
	struct ms_py_value *v;

	if (t->flags & TF_IMAG)
		return NULL;
	v = new_value(p->s, (t->flags & TF_FLOAT) ? MS_PY_FLOAT : MS_PY_INT, p->toks[p->pos].line);
	v->str = ms_xasprintf("%.*s%.*s", sign ? 1 : 0, p->src + p->toks[p->pos].start,
			      (int)(t->end - t->start), p->src + t->start);
	v->len = strlen(v->str);
	p->pos += sign ? 2 : 1;
	return v;
}

/* Adjacent string literals, concatenated. */
static struct ms_py_value *parse_strings(struct parser *p)
{
	const struct token *t = &p->toks[p->pos];
	struct ms_strbuf sb = MS_STRBUF_INIT;
	struct ms_py_value *v = NULL;
	bool literal = true;

	for (; p->pos < p->end && p->toks[p->pos].kind == TK_STRING; p->pos++) {
		const struct token *u = &p->toks[p->pos];

		if (u->flags & TF_NONLIT)
			literal = false;
		else if (literal)
			ms_strbuf_add(&sb, u->sval, u->slen);
	}
	if (literal) {
		v = new_value(p->s, (t->flags & TF_BYTES) ? MS_PY_BYTES : MS_PY_STR, t->line);
		v->len = sb.len;
		v->str = ms_strbuf_detach(&sb);
	}
	if (sb.buf)
		ms_secure_zero(sb.buf, sb.len);
	ms_strbuf_release(&sb);
	return v;
}

/* Reads one item of a display. Returns false when the display is not a
 * literal or an error was logged (*item NULL either way). */
static bool display_item(struct parser *p, enum ctx ctx, struct ms_py_value **item)
{
	*item = parse_value(p, ctx);
	if (*item)
		return true;
	p->spoiled = false; /* the display itself becomes the expression */
	return false;
}

/* ( ) and [ ]: a tuple, a list, or a parenthesised single value. */
static struct ms_py_value *parse_seq(struct parser *p, enum ms_py_type type, enum ctx ctx)
{
	size_t close = p->toks[p->pos].match;
	struct ms_py_value *v = new_value(p->s, type, p->toks[p->pos].line), *item;

	p->pos++;
	while (p->pos < close) {
		if (!display_item(p, ctx, &item))
			return NULL;
		if (p->pos == close && type == MS_PY_TUPLE && v->n == 0) {
			p->pos = close + 1;
			return item; /* (x) is x */
		}
		push_item(v, NULL, item);
		if (p->pos < close)
			p->pos++; /* ',' */
	}
	p->pos = close + 1;
	return v;
}

/* The rest of a dict once the first key and its ':' are read. */
static struct ms_py_value *parse_dict_rest(struct parser *p, size_t close, struct ms_py_value *key, int line)
{
	struct ms_py_value *d = new_value(p->s, MS_PY_DICT, line), *value;

	for (;;) {
		p->pos++; /* ':' */
		if (!display_item(p, CTX_DICT_VALUE, &value))
			return NULL;
		push_item(d, key, value);
		if (p->pos == close || ++p->pos == close)
			break;
		if (is_op(p, p->pos, "**"))
			return NULL;
		if (!display_item(p, CTX_DICT_KEY, &key))
			return NULL;
		if (!is_op(p, p->pos, ":")) {
			parse_error(p, p->toks[p->pos].line, "expected ':' in dict");
			return NULL;
		}
	}
	p->pos = close + 1;
	dict_dedupe(d);
	return d;
}

/* { }: a dict or a set. */
static struct ms_py_value *parse_brace(struct parser *p)
{
	size_t close = p->toks[p->pos].match;
	int line = p->toks[p->pos].line;
	struct ms_py_value *first, *set, *item;

	p->pos++;
	if (p->pos == close) {
		p->pos++;
		return new_value(p->s, MS_PY_DICT, line);
	}
	if (is_op(p, p->pos, "**") || !display_item(p, CTX_BRACE_FIRST, &first))
		return NULL;
	if (is_op(p, p->pos, ":"))
		return parse_dict_rest(p, close, first, line);
	set = new_value(p->s, MS_PY_SET, line);
	push_item(set, NULL, first);
	while (p->pos < close && ++p->pos < close) {
		if (!display_item(p, CTX_SET, &item))
			return NULL;
		push_item(set, NULL, item);
	}
	p->pos = close + 1;
	return set;
}

/* A literal at the current token, or NULL when it is not one (nothing
 * logged unless p->failed). */
static struct ms_py_value *parse_atom(struct parser *p)
{
	const struct token *t = &p->toks[p->pos];

	switch (t->kind) {
	case TK_NAME:
		return parse_constant(p);
	case TK_NUMBER:
		return parse_number(p, false);
	case TK_STRING:
		return parse_strings(p);
	case TK_OP:
		if ((is_op(p, p->pos, "-") || is_op(p, p->pos, "+")) && p->pos + 1 < p->end &&
		    p->toks[p->pos + 1].kind == TK_NUMBER)
			return parse_number(p, true);
		if (is_op(p, p->pos, "("))
			return parse_seq(p, MS_PY_TUPLE, CTX_TUPLE);
		if (is_op(p, p->pos, "["))
			return parse_seq(p, MS_PY_LIST, CTX_LIST);
		if (is_op(p, p->pos, "{"))
			return parse_brace(p);
		return NULL;
	default:
		return NULL;
	}
}

/* A value in context: a literal when the whole of it is one, otherwise an
 * MS_PY_EXPR with its source text. NULL after an error or when spoiled. */
static struct ms_py_value *parse_value(struct parser *p, enum ctx ctx)
{
	size_t start = p->pos;

	if (!at_terminator(p, ctx)) {
		struct ms_py_value *v = parse_atom(p);

		if (p->failed)
			return NULL;
		if (v && at_terminator(p, ctx))
			return v;
		p->pos = start;
	}
	return scan_expr(p, ctx);
}

/* The right-hand side [pos, end) of an assignment; `A = 1, 2` is a tuple. */
static struct ms_py_value *parse_rhs(struct parser *p)
{
	size_t start = p->pos;
	struct ms_py_value *v = parse_value(p, CTX_STMT), *tuple, *item;

	if (!v)
		goto spoiled;
	if (p->pos >= p->end)
		return v;
	tuple = new_value(p->s, MS_PY_TUPLE, v->line);
	push_item(tuple, NULL, v);
	while (p->pos < p->end && ++p->pos < p->end) {
		item = parse_value(p, CTX_STMT);
		if (!item)
			goto spoiled;
		push_item(tuple, NULL, item);
	}
	return tuple;
spoiled:
	if (p->failed)
		return NULL;
	p->spoiled = false; /* `*a, *b`: keep the whole text */
	return expr_node(p, start, p->end - 1);
}

/* ------------------------------------------------------------------------
 * Statements
 */

struct block {
	int indent; /* of the compound statement's header */
	bool func;  /* def/class: assignments in it are not module-level */
};

struct walker {
	struct parser p;
	struct block blocks[MS_PY_MAX_DEPTH];
	int depth;
};

enum header { HDR_NONE, HDR_COND, HDR_FUNC };

static void mark_modified(struct walker *w, size_t name_tok, int line)
{
	const struct token *t = &w->p.toks[name_tok];
	struct binding *b;

	if (t->kind != TK_NAME)
		return;
	b = find_binding(w->p.s, w->p.src + t->start, t->end - t->start);
	if (b && !b->modified_line)
		b->modified_line = line;
}

static void bind_tok(struct walker *w, size_t name_tok, struct ms_py_value *v, bool cond)
{
	const struct token *t = &w->p.toks[name_tok];

	bind(w->p.s, w->p.src + t->start, t->end - t->start, v, t->line, cond);
}

/* The literal inside `[ ]` of a subscript target, or NULL. */
static struct ms_py_value *parse_key(struct parser *p, size_t open)
{
	size_t close = p->toks[open].match, save_pos = p->pos, save_end = p->end;
	struct ms_py_value *key = NULL;

	if (close > open + 1 && !is_open(p, open + 1)) {
		p->pos = open + 1;
		p->end = close;
		key = parse_atom(p);
		if (p->pos != close)
			key = NULL;
	}
	p->pos = save_pos;
	p->end = save_end;
	return key;
}

/* NAME[k1][k2]... = value: applied when every key is a literal and the path
 * leads through literal dicts; anything else marks NAME as modified. */
static void apply_patch(struct walker *w, size_t ts, size_t te, struct ms_py_value *value, bool cond)
{
	struct parser *p = &w->p;
	const struct token *t = &p->toks[ts];
	struct binding *b = find_binding(p->s, p->src + t->start, t->end - t->start);
	struct ms_py_value *cur, *key;

	if (!b)
		return; /* NameError at run time: nothing of ours changes */
	cur = b->value;
	/* cur == value: `D = D['k'] = {}` would make a cycle; leave it alone */
	for (size_t i = ts + 1; !cond && i < te && is_op(p, i, "[") && cur->type == MS_PY_DICT && cur != value;) {
		size_t close = p->toks[i].match, k;

		key = parse_key(p, i);
		if (!key)
			break;
		if (close + 1 == te) {
			dict_set(cur, key, value);
			return;
		}
		k = dict_find(cur, key);
		if (k == NO_TOKEN)
			break;
		cur = cur->items[k];
		i = close + 1;
	}
	mark_modified(w, ts, t->line);
}

/* a, b = ... and (a, b) = ...: element-wise when the shapes agree. */
static void unpack(struct walker *w, size_t ts, size_t te, struct ms_py_value *value, bool cond)
{
	struct parser *p = &w->p;
	size_t a = ts, b = te, count = 0, k = 0;
	bool simple = true;

	if ((is_op(p, a, "(") || is_op(p, a, "[")) && p->toks[a].match == b - 1)
		a++, b--;
	for (size_t i = a; i < b; i += 2, count++)
		if (p->toks[i].kind != TK_NAME || (i + 1 < b && !is_op(p, i + 1, ",")))
			simple = false;
	if (simple && count > 0 && (value->type == MS_PY_TUPLE || value->type == MS_PY_LIST) && value->n == count) {
		for (size_t i = a; i < b; i += 2)
			bind_tok(w, i, value->items[k++], cond);
	} else if (simple && value->type == MS_PY_EXPR) {
		for (size_t i = a; i < b; i += 2)
			bind_tok(w, i, value, cond);
	} else {
		for (size_t i = ts; i < te; i++)
			mark_modified(w, i, p->toks[ts].line);
	}
}

static void assign_target(struct walker *w, size_t ts, size_t te, struct ms_py_value *value, bool cond)
{
	struct parser *p = &w->p;

	if (te == ts) {
		parse_error(p, p->toks[te].line, "unexpected '='");
		return;
	}
	if (find_depth0(p, ts, te, ",") != NO_TOKEN) {
		unpack(w, ts, te, value, cond);
		return;
	}
	if (p->toks[ts].kind == TK_NAME && !is_operator_keyword(p, ts)) {
		if (te == ts + 1 || is_op(p, ts + 1, ":"))
			bind_tok(w, ts, value, cond);
		else if (is_op(p, ts + 1, "["))
			apply_patch(w, ts, te, value, cond);
		else
			mark_modified(w, ts, p->toks[ts].line);
		return;
	}
	if (is_op(p, ts, "(") || is_op(p, ts, "["))
		unpack(w, ts, te, value, cond);
}

/* T1 = T2 = ... = RHS */
static void stmt_assign(struct walker *w, size_t a, size_t e, size_t eq, bool cond)
{
	struct parser *p = &w->p;
	size_t last = eq, next, ts = a;
	struct ms_py_value *value;

	while ((next = find_depth0(p, last + 1, e, "=")) != NO_TOKEN)
		last = next;
	p->pos = last + 1;
	p->end = e;
	value = parse_rhs(p);
	if (!value)
		return;
	for (size_t i = eq; !p->failed && i != NO_TOKEN && i <= last; i = find_depth0(p, i + 1, e, "=")) {
		assign_target(w, ts, i, value, cond);
		ts = i + 1;
	}
}

/* Names bound by `import a.b as c, d` or the list after `from x import`. */
static void mark_import_names(struct walker *w, size_t a, size_t e, int line)
{
	struct parser *p = &w->p;
	size_t seg = a;

	for (size_t i = a; i <= e; i++) {
		if (i < e && !is_op(p, i, ","))
			continue;
		if (i > seg)
			mark_modified(w, i - seg >= 3 && is_kw(p, i - 2, "as") ? i - 1 : seg, line);
		seg = i + 1;
	}
}

static void stmt_from(struct walker *w, size_t a, size_t e)
{
	struct parser *p = &w->p;
	struct ms_pysettings *s = p->s;
	size_t imp = a + 1;

	while (imp < e && !is_kw(p, imp, "import"))
		imp++;
	if (imp + 1 >= e)
		return;
	if (is_op(p, imp + 1, "*")) {
		if (s->n_stars == s->alloc_stars) {
			s->alloc_stars = s->alloc_stars ? s->alloc_stars * 2 : 8;
			s->star_lines = ms_xrealloc(s->star_lines, s->alloc_stars * sizeof(*s->star_lines));
		}
		s->star_lines[s->n_stars++] = p->toks[a].line;
	} else if (is_op(p, imp + 1, "(")) {
		mark_import_names(w, imp + 2, p->toks[imp + 1].match, p->toks[a].line);
	} else {
		mark_import_names(w, imp + 1, e, p->toks[a].line);
	}
}

/* del A, B['x']: the first name of each target. */
static void stmt_del(struct walker *w, size_t a, size_t e)
{
	struct parser *p = &w->p;
	int line = p->toks[a - 1].line;

	while (a < e) {
		size_t comma = find_depth0(p, a, e, ",");

		mark_modified(w, a, line);
		if (comma == NO_TOKEN)
			break;
		a = comma + 1;
	}
}

static bool has_augassign(const struct parser *p, size_t a, size_t e)
{
	static const char *const ops[] = { "+=", "-=", "*=", "/=", "//=", "%=", "@=", "&=", "|=",
					   "^=", ">>=", "<<=", "**=" };

	for (size_t k = 0; k < sizeof(ops) / sizeof(ops[0]); k++)
		if (find_depth0(p, a, e, ops[k]) != NO_TOKEN)
			return true;
	return false;
}

static bool is_statement_keyword(const struct parser *p, size_t i)
{
	static const char *const kws[] = { "pass", "return", "global", "nonlocal", "assert",
					   "raise", "break", "continue", "yield", "await" };

	for (size_t k = 0; k < sizeof(kws) / sizeof(kws[0]); k++)
		if (is_kw(p, i, kws[k]))
			return true;
	return false;
}

static void simple_stmt(struct walker *w, size_t a, size_t e, bool cond)
{
	struct parser *p = &w->p;
	size_t eq;

	if (is_kw(p, a, "from")) {
		stmt_from(w, a, e);
	} else if (is_kw(p, a, "import")) {
		mark_import_names(w, a + 1, e, p->toks[a].line);
	} else if (is_kw(p, a, "del")) {
		stmt_del(w, a + 1, e);
	} else if (!is_statement_keyword(p, a)) {
		eq = find_depth0(p, a, e, "=");
		if (eq != NO_TOKEN)
			stmt_assign(w, a, e, eq, cond);
		else if (p->toks[a].kind == TK_NAME && a + 1 < e &&
			 (is_op(p, a + 1, ".") || is_op(p, a + 1, "[") || has_augassign(p, a, e)))
			mark_modified(w, a, p->toks[a].line); /* NAME.update(...), NAME[...] += 1 */
	}
}

/* Statements separated by ';'. */
static void walk_body(struct walker *w, size_t a, size_t b, bool func, bool cond)
{
	struct parser *p = &w->p;

	while (!func && a < b && !p->failed) {
		size_t semi = find_depth0(p, a, b, ";"), e = semi == NO_TOKEN ? b : semi;

		if (e > a)
			simple_stmt(w, a, e, cond);
		a = e + 1;
	}
}

/* Is [a, b) a compound statement header? Sets *colon to its ':'. */
static enum header header_kind(const struct parser *p, size_t a, size_t b, size_t *colon)
{
	static const char *const conds[] = { "if", "elif", "else", "try", "except", "finally",
					     "for", "while", "with", "match", "case" };
	enum header kind = HDR_NONE;

	if (is_kw(p, a, "def") || is_kw(p, a, "class") || (is_kw(p, a, "async") && is_kw(p, a + 1, "def")))
		kind = HDR_FUNC;
	for (size_t k = 0; kind == HDR_NONE && k < sizeof(conds) / sizeof(conds[0]); k++)
		if (is_kw(p, a, conds[k]) || (is_kw(p, a, "async") && is_kw(p, a + 1, conds[k])))
			kind = HDR_COND;
	if (kind == HDR_NONE)
		return HDR_NONE;
	*colon = find_depth0(p, a + 1, b, ":");
	if (*colon == NO_TOKEN)
		return HDR_NONE;
	/* `match`/`case` are soft keywords: `match: int = 1` is an assignment */
	if ((is_kw(p, a, "match") || is_kw(p, a, "case")) && (*colon == a + 1 || is_op(p, a + 1, "=")))
		return HDR_NONE;
	return kind;
}

/* One logical line [a, b): the block stack follows indentation, so that
 * the line is known to be in a def/class body or a conditional block. */
static void walk_line(struct walker *w, size_t a, size_t b)
{
	struct parser *p = &w->p;
	int indent = p->toks[a].indent;
	bool func = false, cond;
	enum header kind;
	size_t colon = NO_TOKEN;

	while (w->depth > 0 && w->blocks[w->depth - 1].indent >= indent)
		w->depth--;
	for (int k = 0; k < w->depth; k++)
		func = func || w->blocks[k].func;
	cond = w->depth > 0 || indent > 0;
	if (is_op(p, a, "@"))
		return; /* decorator */
	kind = header_kind(p, a, b, &colon);
	if (kind == HDR_NONE) {
		walk_body(w, a, b, func, cond);
		return;
	}
	if (w->depth == MS_PY_MAX_DEPTH) {
		parse_error(p, p->toks[a].line, "nesting too deep");
		return;
	}
	w->blocks[w->depth].indent = indent;
	w->blocks[w->depth].func = kind == HDR_FUNC;
	w->depth++;
	walk_body(w, colon + 1, b, func || kind == HDR_FUNC, true);
}

static void walk(struct walker *w)
{
	const struct token *toks = w->p.toks;
	size_t a = 0;

	while (toks[a].kind != TK_END && !w->p.failed) {
		size_t b = a;

		while (toks[b].kind != TK_NEWLINE)
			b++;
		walk_line(w, a, b);
		a = b + 1;
	}
}

/* ------------------------------------------------------------------------
 * Public interface
 */

struct ms_pysettings *ms_pysettings_parse(const char *filename, const char *text, size_t len)
{
	struct lexer lx;
	struct walker *w = NULL;
	struct ms_pysettings *s = NULL;

	memset(&lx, 0, sizeof(lx));
	lx.filename = filename;
	lx.src = text;
	lx.len = len;
	lx.line = 1;
	lx.at_bol = true;
	if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0)
		lx.i = 3;
	lx.encoding = source_encoding(text + lx.i, len - lx.i);
	if (check_nul(filename, text, len) < 0 || lex_all(&lx) < 0)
		goto out;
	s = ms_xcalloc(1, sizeof(*s));
	w = ms_xcalloc(1, sizeof(*w));
	w->p.filename = filename;
	w->p.src = text;
	w->p.toks = lx.toks;
	w->p.s = s;
	walk(w);
	if (w->p.failed) {
		ms_pysettings_free(s);
		s = NULL;
	}
out:
	free(w);
	free_tokens(lx.toks, lx.n);
	return s;
}

struct ms_pysettings *ms_pysettings_load(const char *path)
{
	size_t len;
	char *text = ms_read_file(path, MS_PY_MAX_FILE, &len);
	struct ms_pysettings *s;

	if (!text)
		return NULL;
	s = ms_pysettings_parse(path, text, len);
	ms_secure_zero(text, len);
	free(text);
	return s;
}

void ms_pysettings_free(struct ms_pysettings *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n_nodes; i++) {
		struct ms_py_value *v = s->nodes[i];

		if (v->str) {
			ms_secure_zero(v->str, v->len);
			free(v->str);
		}
		free(v->keys);
		free(v->items);
		free(v);
	}
	for (size_t i = 0; i < s->n_bindings; i++)
		free(s->bindings[i].name);
	free(s->nodes);
	free(s->bindings);
	free(s->slots);
	free(s->star_lines);
	free(s);
}

int ms_pysettings_lookup(const struct ms_pysettings *s, const char *name, struct ms_py_binding *out)
{
	const struct binding *b = find_binding(s, name, strlen(name));

	if (!b)
		return -1;
	out->value = b->value;
	out->line = b->line;
	out->conditional = b->conditional;
	out->modified_line = b->modified_line;
	out->star_import_line = s->n_stars > b->stars_before ? s->star_lines[b->stars_before] : 0;
	return 0;
}

const struct ms_py_value *ms_py_dict_get(const struct ms_py_value *dict, const char *key)
{
	size_t n;

	if (!dict || dict->type != MS_PY_DICT || !key)
		return NULL;
	n = strlen(key);
	for (size_t i = dict->n; i-- > 0;) {
		const struct ms_py_value *k = dict->keys[i];

		if (k->type == MS_PY_STR && k->len == n && memcmp(k->str, key, n) == 0)
			return dict->items[i];
	}
	return NULL;
}

const char *ms_py_type_name(enum ms_py_type t)
{
	switch (t) {
	case MS_PY_NONE: return "None";
	case MS_PY_BOOL: return "boolean";
	case MS_PY_INT: return "integer";
	case MS_PY_FLOAT: return "float";
	case MS_PY_STR: return "string";
	case MS_PY_BYTES: return "bytes";
	case MS_PY_LIST: return "list";
	case MS_PY_TUPLE: return "tuple";
	case MS_PY_SET: return "set";
	case MS_PY_DICT: return "dict";
	case MS_PY_EXPR: return "expression";
	}
	return "unknown";
}
