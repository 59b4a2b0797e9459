/*
 * The SQL statement checker (see sqlcheck.h). A lexer per dialect cuts a
 * script into statements and each statement into tokens; a classifier
 * looks at the tokens outside parentheses and allows only the statement
 * kinds our dumps write. Anything the lexer cannot make sense of
 * (unterminated quotes or comments, stray backslashes) is refused too.
 */
#include "restore/sqlcheck.h"
#include "formats/verify.h"

#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "restore/dbreplay.h"
#include "base/log.h"
#include "formats/manifest.h"
#include "formats/snaparchive.h"
#include "base/strbuf.h"
#include "base/util.h"

#define SQL_MEMBER_MAX ((size_t)256 << 20) /* as the engines */
#define OWN_OBJECTS "dump SQL may only create and alter the database's own objects"

enum tok_kind {
	T_WORD,   /* unquoted identifier or keyword; val uppercased */
	T_QIDENT, /* "quoted" or `quoted` identifier; val unescaped */
	T_STRING, /* string literal; val unescaped */
	T_BODY,   /* PostgreSQL dollar-quoted string; val is its content */
	T_PARAM,  /* PostgreSQL $1 */
	T_PUNCT,  /* one character, or "@@" */
};

struct tok {
	enum tok_kind kind;
	char *val;  /* owned */
	int depth;  /* parenthesis depth before the token */
};

struct toks {
	struct tok *v;
	size_t n, cap;
};

/* The lexer's position and the state that carries over statements. */
struct lexer {
	enum ms_sql_dialect d;
	const char *s;
	size_t len, pos;
	char delim[32];     /* MariaDB: the current delimiter */
	bool no_backslash;  /* MariaDB: NO_BACKSLASH_ESCAPES in the script's sql_mode */
	bool ansi_quotes;   /* MariaDB: ANSI_QUOTES */
	const char *err;    /* why lexing failed (static text) */
	size_t code_end;    /* MariaDB: just past the last executable comment's end */
};

/* What lex_next found. */
enum lexed {
	L_END,       /* nothing left */
	L_STMT,      /* a statement in [start, end) */
	L_META,      /* PostgreSQL: a psql meta-command line (in [start, end)) */
	L_DELIMITER, /* MariaDB: a DELIMITER line, applied */
	L_ERROR,     /* lx->err says why */
};

/* --- tokens -------------------------------------------------------------- */

static void toks_push(struct toks *t, enum tok_kind kind, char *val, int depth)
{
	if (t->n == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 32;
		t->v = ms_xrealloc(t->v, t->cap * sizeof(*t->v));
	}
	t->v[t->n].kind = kind;
	t->v[t->n].val = val;
	t->v[t->n].depth = depth;
	t->n++;
}

static void toks_clear(struct toks *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->v[i].val);
	free(t->v);
	memset(t, 0, sizeof(*t));
}

static char *upper_dup(const char *p, size_t n)
{
	char *s = ms_xstrndup(p, n);

	for (char *q = s; *q; q++)
		if (*q >= 'a' && *q <= 'z')
			*q = (char)(*q - 'a' + 'A');
	return s;
}

static bool ident_start(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c >= 0x80;
}

static bool ident_char(unsigned char c)
{
	return ident_start(c) || (c >= '0' && c <= '9') || c == '$';
}

static bool blank(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* --- shared lexing pieces ------------------------------------------------ */

/* A quoted run starting at lx->pos (on the quote q): doubled quotes stand
 * for one, and with `backslash` a backslash escapes the next byte. The
 * unescaped content is returned (owned), NULL when unterminated. */
static char *quoted(struct lexer *lx, char q, bool backslash)
{
	struct ms_strbuf sb = MS_STRBUF_INIT;
	size_t i = lx->pos + 1;

	while (i < lx->len) {
		char c = lx->s[i];

		if (backslash && c == '\\' && i + 1 < lx->len) {
			ms_strbuf_addch(&sb, lx->s[i + 1]);
			i += 2;
			continue;
		}
		if (c == q) {
			if (i + 1 < lx->len && lx->s[i + 1] == q) {
				ms_strbuf_addch(&sb, q);
				i += 2;
				continue;
			}
			lx->pos = i + 1;
			return sb.buf ? ms_strbuf_detach(&sb) : ms_xstrdup("");
		}
		ms_strbuf_addch(&sb, c);
		i++;
	}
	ms_strbuf_release(&sb);
	return NULL;
}

static void skip_line(struct lexer *lx)
{
	const char *nl = memchr(lx->s + lx->pos, '\n', lx->len - lx->pos);

	lx->pos = nl ? (size_t)(nl - lx->s) + 1 : lx->len;
}

/* --- PostgreSQL ---------------------------------------------------------- */

/* psql's heuristic for BEGIN ATOMIC bodies: inside CREATE [OR REPLACE]
 * FUNCTION|PROCEDURE, BEGIN opens a block (and CASE inside one), END
 * closes one; a ';' ends the statement only outside blocks and
 * parentheses. Unlike psql, only a BEGIN followed by ATOMIC opens one: a
 * bare "begin" (e.g. a setting's value) would otherwise swallow the
 * statements after it into one the checker takes for CREATE FUNCTION. */
struct pg_block {
	char first[4]; /* first letters of the statement's first words, when significant */
	size_t words;
	int begin_depth;
};

static void pg_track_word(struct pg_block *b, const char *w, int depth, bool atomic_next)
{
	static const char *const sig[] = { "CREATE", "FUNCTION", "PROCEDURE", "OR", "REPLACE" };

	for (size_t k = 0; k < 5; k++)
		if (!strcmp(w, sig[k]) && b->words < 4)
			b->first[b->words] = w[0];
	b->words++;
	if (b->first[0] == 'C' &&
	    (b->first[1] == 'F' || b->first[1] == 'P' ||
	     (b->first[1] == 'O' && b->first[2] == 'R' && (b->first[3] == 'F' || b->first[3] == 'P'))) &&
	    depth == 0) {
		if (!strcmp(w, "BEGIN") && atomic_next)
			b->begin_depth++;
		else if (!strcmp(w, "CASE") && b->begin_depth >= 1)
			b->begin_depth++;
		else if (!strcmp(w, "END") && b->begin_depth > 0)
			b->begin_depth--;
	}
}

/* Is the next word after position j (blanks and comments skipped)
 * ATOMIC? */
static int pg_skip(struct lexer *lx);
static bool pg_atomic_next(const struct lexer *lx, size_t j)
{
	struct lexer peek = *lx;

	peek.pos = j;
	if (pg_skip(&peek) < 0 || peek.len - peek.pos < 6 || strncasecmp(peek.s + peek.pos, "ATOMIC", 6))
		return false;
	return peek.pos + 6 == peek.len || !ident_char((unsigned char)peek.s[peek.pos + 6]);
}

/* Inside a BEGIN ATOMIC body, what may follow a top-level ';': the next
 * body statement (a query or RETURN, as pg_get_functiondef writes them)
 * or the END that closes the body. Anything else means the block
 * tracking is off (a CASE or END used as a label, say) and statements
 * outside the body would be taken for part of it: refused. */
static bool pg_body_continues(const struct lexer *lx, size_t j)
{
	static const char *const next[] = { "SELECT", "INSERT", "UPDATE", "DELETE", "MERGE", "WITH",
					    "VALUES", "TABLE", "RETURN", "END" };
	struct lexer peek = *lx;

	peek.pos = j;
	if (pg_skip(&peek) < 0 || peek.pos >= peek.len)
		return false;
	if (peek.s[peek.pos] == '(')
		return true;
	for (size_t k = 0; k < sizeof(next) / sizeof(next[0]); k++) {
		size_t n = strlen(next[k]);

		if (peek.len - peek.pos >= n && !strncasecmp(peek.s + peek.pos, next[k], n) &&
		    (peek.pos + n == peek.len || !ident_char((unsigned char)peek.s[peek.pos + n])))
			return true;
	}
	return false;
}

/* A dollar-quote opening at lx->pos ("$tag$"): its length, or 0. */
static size_t pg_dollar_tag(const struct lexer *lx)
{
	size_t i = lx->pos + 1;

	if (i < lx->len && lx->s[i] == '$')
		return 2;
	if (i >= lx->len || !ident_start((unsigned char)lx->s[i]))
		return 0;
	while (i < lx->len && ident_char((unsigned char)lx->s[i]) && lx->s[i] != '$')
		i++;
	return i < lx->len && lx->s[i] == '$' ? i + 1 - lx->pos : 0;
}

/* One token or a statement end at lx->pos (blanks and comments already
 * skipped). 1: token pushed; 0: ';' ending the statement; -1: error. */
static int pg_token(struct lexer *lx, struct toks *t, int *depth, struct pg_block *b)
{
	const char *s = lx->s;
	size_t i = lx->pos;
	char c = s[i];
	char *v;

	if (c == '\'') {
		if (!(v = quoted(lx, '\'', false)))
			return lx->err = "unterminated quoted string", -1;
		toks_push(t, T_STRING, v, *depth);
		return 1;
	}
	if (c == '"') {
		if (!(v = quoted(lx, '"', false)))
			return lx->err = "unterminated quoted identifier", -1;
		toks_push(t, T_QIDENT, v, *depth);
		return 1;
	}
	if (c == '$') {
		size_t tl = pg_dollar_tag(lx);

		if (i + 1 < lx->len && s[i + 1] >= '0' && s[i + 1] <= '9') {
			size_t j = i + 1;

			while (j < lx->len && s[j] >= '0' && s[j] <= '9')
				j++;
			toks_push(t, T_PARAM, ms_xstrndup(s + i, j - i), *depth);
			lx->pos = j;
			return 1;
		}
		if (tl) {
			const char *end = memmem(s + i + tl, lx->len - i - tl, s + i, tl);

			if (!end)
				return lx->err = "unterminated dollar-quoted string", -1;
			toks_push(t, T_BODY, ms_xstrndup(s + i + tl, (size_t)(end - (s + i + tl))), *depth);
			lx->pos = (size_t)(end - s) + tl;
			return 1;
		}
	}
	if (ident_start((unsigned char)c)) {
		size_t j = i;

		while (j < lx->len && ident_char((unsigned char)s[j]))
			j++;
		/* E'...' : the one string form where backslashes escape */
		if (j == i + 1 && (c == 'E' || c == 'e') && j < lx->len && s[j] == '\'') {
			lx->pos = j;
			if (!(v = quoted(lx, '\'', true)))
				return lx->err = "unterminated quoted string", -1;
			toks_push(t, T_STRING, v, *depth);
			return 1;
		}
		/* U&'...' and U&"...": the & is part of the prefix */
		if (j == i + 1 && (c == 'U' || c == 'u') && j + 1 < lx->len && s[j] == '&' &&
		    (s[j + 1] == '\'' || s[j + 1] == '"')) {
			lx->pos = j + 1;
			if (!(v = quoted(lx, s[j + 1], false)))
				return lx->err = "unterminated quoted string", -1;
			toks_push(t, s[j + 1] == '"' ? T_QIDENT : T_STRING, v, *depth);
			return 1;
		}
		v = upper_dup(s + i, j - i);
		pg_track_word(b, v, *depth, !strcmp(v, "BEGIN") && pg_atomic_next(lx, j));
		toks_push(t, T_WORD, v, *depth);
		lx->pos = j;
		return 1;
	}
	if ((c >= '0' && c <= '9') || (c == '.' && i + 1 < lx->len && s[i + 1] >= '0' && s[i + 1] <= '9')) {
		size_t j = i;

		/* an exponent's sign only when a digit follows: "0e--" is 0e and a
		 * comment, as the server's scanner reads it (fuzz finding) */
		while (j < lx->len && (ident_char((unsigned char)s[j]) || s[j] == '.' ||
				       ((s[j] == '+' || s[j] == '-') && (s[j - 1] == 'e' || s[j - 1] == 'E') &&
					j + 1 < lx->len && s[j + 1] >= '0' && s[j + 1] <= '9')))
			j++;
		toks_push(t, T_WORD, upper_dup(s + i, j - i), *depth);
		lx->pos = j;
		return 1;
	}
	if (c == ';' && *depth == 0 && b->begin_depth == 0)
		return 0;
	if (c == ';' && *depth == 0 && !pg_body_continues(lx, i + 1))
		return lx->err = "a BEGIN ATOMIC body holding something other than queries, RETURN and END", -1;
	if (c == '\\')
		return lx->err = "a backslash outside a quoted string (psql meta-command)", -1;
	if (c == ')' && *depth == 0)
		return lx->err = "unbalanced parentheses", -1;
	if (c == '(')
		(*depth)++;
	toks_push(t, T_PUNCT, ms_xstrndup(&c, 1), *depth);
	if (c == ')')
		(*depth)--;
	lx->pos = i + 1;
	return 1;
}

/* Skips blanks and comments at lx->pos; -1 on an unterminated comment. */
static int pg_skip(struct lexer *lx)
{
	while (lx->pos < lx->len) {
		const char *s = lx->s;
		size_t i = lx->pos;

		if (blank(s[i])) {
			lx->pos++;
		} else if (s[i] == '-' && i + 1 < lx->len && s[i + 1] == '-') {
			skip_line(lx);
		} else if (s[i] == '/' && i + 1 < lx->len && s[i + 1] == '*') {
			int depth = 1;

			i += 2;
			while (i < lx->len && depth > 0) {
				if (s[i] == '/' && i + 1 < lx->len && s[i + 1] == '*') {
					depth++;
					i += 2;
				} else if (s[i] == '*' && i + 1 < lx->len && s[i + 1] == '/') {
					depth--;
					i += 2;
				} else {
					i++;
				}
			}
			if (depth > 0)
				return lx->err = "unterminated comment", -1;
			lx->pos = i;
		} else {
			return 0;
		}
	}
	return 0;
}

static enum lexed pg_next(struct lexer *lx, struct toks *t, size_t *start, size_t *end)
{
	struct pg_block b;
	int depth = 0, rc;

	memset(&b, 0, sizeof(b));
	if (pg_skip(lx) < 0)
		return L_ERROR;
	if (lx->pos >= lx->len)
		return L_END;
	*start = lx->pos;
	if (lx->s[lx->pos] == '\\') {
		skip_line(lx);
		*end = lx->pos;
		return L_META;
	}
	for (;;) {
		*end = lx->pos;
		if (pg_skip(lx) < 0)
			return L_ERROR;
		if (lx->pos >= lx->len) {
			/* psql sends a last statement without ';' too, but one
			 * still inside parentheses or a body hides its end */
			if (depth > 0)
				return lx->err = "unbalanced parentheses", L_ERROR;
			if (b.begin_depth > 0)
				return lx->err = "BEGIN ATOMIC without END", L_ERROR;
			return L_STMT;
		}
		rc = pg_token(lx, t, &depth, &b);
		if (rc < 0)
			return L_ERROR;
		if (rc == 0) {
			lx->pos++;
			return L_STMT;
		}
	}
}

/* --- MariaDB/MySQL ------------------------------------------------------- */

static bool my_at_delim(const struct lexer *lx)
{
	size_t n = strlen(lx->delim);

	return lx->len - lx->pos >= n && !memcmp(lx->s + lx->pos, lx->delim, n);
}

/* A DELIMITER line at lx->pos (start of a statement): applied, 1; 0 when
 * it is not one; -1 when its argument is unusable. */
static int my_delimiter_line(struct lexer *lx)
{
	size_t i = lx->pos, j;

	if (lx->len - i < 10 || strncasecmp(lx->s + i, "DELIMITER", 9) || !blank(lx->s[i + 9]) || lx->s[i + 9] == '\n')
		return 0;
	i += 9;
	while (i < lx->len && (lx->s[i] == ' ' || lx->s[i] == '\t'))
		i++;
	j = i;
	while (j < lx->len && !blank(lx->s[j]))
		j++;
	if (j == i || j - i >= sizeof(lx->delim) || memchr(lx->s + i, '\\', j - i) || memchr(lx->s + i, '\'', j - i) ||
	    memchr(lx->s + i, '"', j - i) || memchr(lx->s + i, '`', j - i))
		return lx->err = "unusable DELIMITER line", -1;
	memcpy(lx->delim, lx->s + i, j - i);
	lx->delim[j - i] = '\0';
	lx->pos = j;
	skip_line(lx);
	return 1;
}

/* Skips blanks and comments; an executable comment's opening (and, in
 * one, its closing) is skipped as well, its content being code. */
static int my_skip(struct lexer *lx, bool *in_exec)
{
	while (lx->pos < lx->len) {
		const char *s = lx->s;
		size_t i = lx->pos, rest = lx->len - i;

		if (my_at_delim(lx))
			return 0;
		if (blank(s[i])) {
			lx->pos++;
		} else if (s[i] == '#' ||
			   (s[i] == '-' && rest >= 2 && s[i + 1] == '-' &&
			    (rest == 2 || blank(s[i + 2]) || (unsigned char)s[i + 2] < 0x20))) {
			skip_line(lx);
		} else if (rest >= 3 && s[i] == '/' && s[i + 1] == '*' &&
			   (s[i + 2] == '!' || (rest >= 4 && s[i + 2] == 'M' && s[i + 3] == '!'))) {
			if (*in_exec)
				return lx->err = "nested executable comment", -1;
			i += s[i + 2] == '!' ? 3 : 4;
			while (i < lx->len && s[i] >= '0' && s[i] <= '9')
				i++;
			*in_exec = true;
			lx->pos = i;
		} else if (rest >= 2 && s[i] == '/' && s[i + 1] == '*') {
			const char *e = memmem(s + i + 2, rest - 2, "*/", 2);

			if (!e)
				return lx->err = "unterminated comment", -1;
			lx->pos = (size_t)(e - s) + 2;
		} else if (*in_exec && rest >= 2 && s[i] == '*' && s[i + 1] == '/') {
			*in_exec = false;
			lx->pos += 2;
			lx->code_end = lx->pos;
		} else {
			return 0;
		}
	}
	return 0;
}

static int my_token(struct lexer *lx, struct toks *t, int *depth)
{
	const char *s = lx->s;
	size_t i = lx->pos;
	char c = s[i];
	char *v;

	if (c == '\'' || (c == '"' && !lx->ansi_quotes)) {
		if (!(v = quoted(lx, c, !lx->no_backslash)))
			return lx->err = "unterminated quoted string", -1;
		toks_push(t, T_STRING, v, *depth);
		return 1;
	}
	if (c == '`' || c == '"') {
		if (!(v = quoted(lx, c, false)))
			return lx->err = "unterminated quoted identifier", -1;
		toks_push(t, T_QIDENT, v, *depth);
		return 1;
	}
	if (ident_char((unsigned char)c)) {
		size_t j = i;

		while (j < lx->len && ident_char((unsigned char)s[j]))
			j++;
		toks_push(t, T_WORD, upper_dup(s + i, j - i), *depth);
		lx->pos = j;
		return 1;
	}
	if (c == '\\')
		return lx->err = "a backslash outside a quoted string (client command)", -1;
	if (c == '@' && i + 1 < lx->len && s[i + 1] == '@') {
		toks_push(t, T_PUNCT, ms_xstrdup("@@"), *depth);
		lx->pos = i + 2;
		return 1;
	}
	if (c == ')' && *depth == 0)
		return lx->err = "unbalanced parentheses", -1;
	if (c == '(')
		(*depth)++;
	toks_push(t, T_PUNCT, ms_xstrndup(&c, 1), *depth);
	if (c == ')')
		(*depth)--;
	lx->pos = i + 1;
	return 1;
}

static enum lexed my_next(struct lexer *lx, struct toks *t, size_t *start, size_t *end)
{
	bool in_exec = false;
	int depth = 0;

	for (;;) {
		if (my_skip(lx, &in_exec) < 0)
			return L_ERROR;
		if (lx->pos >= lx->len)
			return in_exec ? (lx->err = "unterminated executable comment", L_ERROR) : L_END;
		if (in_exec || !my_at_delim(lx))
			break;
		lx->pos += strlen(lx->delim); /* an empty statement */
	}
	*start = lx->pos;
	if (!in_exec) {
		int rc = my_delimiter_line(lx);

		if (rc != 0)
			return rc < 0 ? L_ERROR : L_DELIMITER;
	} else {
		*start = lx->pos; /* the statement starts inside the executable comment */
	}
	for (;;) {
		*end = lx->pos;
		if (my_skip(lx, &in_exec) < 0)
			return L_ERROR;
		if (lx->code_end > *end)
			*end = lx->code_end;
		if (lx->pos >= lx->len) {
			if (in_exec)
				return lx->err = "unterminated executable comment", L_ERROR;
			if (depth > 0)
				return lx->err = "unbalanced parentheses", L_ERROR;
			return L_STMT;
		}
		if (my_at_delim(lx)) {
			if (in_exec)
				return lx->err = "a delimiter inside an executable comment", L_ERROR;
			if (depth > 0)
				return lx->err = "unbalanced parentheses", L_ERROR;
			lx->pos += strlen(lx->delim);
			return L_STMT;
		}
		if (my_token(lx, t, &depth) < 0)
			return L_ERROR;
	}
}

/* --- classification helpers --------------------------------------------- */

/* A verdict: NULL reason means allowed. */
struct verdict {
	char *head;         /* the statement's first words, for messages (owned) */
	char *reason;       /* why it is refused (owned), NULL when allowed */
	bool skip;          /* allowed but not run */
};

struct stmt {
	const struct toks *t;
	const struct ms_sqlcheck *c;
	struct lexer *lx;
};

static const struct tok *at(const struct stmt *st, size_t i)
{
	return i < st->t->n ? &st->t->v[i] : NULL;
}

static bool is_word(const struct stmt *st, size_t i, const char *w)
{
	const struct tok *k = at(st, i);

	return k && k->kind == T_WORD && !strcmp(k->val, w);
}

static bool is_punct(const struct stmt *st, size_t i, const char *p)
{
	const struct tok *k = at(st, i);

	return k && k->kind == T_PUNCT && !strcmp(k->val, p);
}

/* Index of the first top-level word `w` at or after `from`, or n. */
static size_t find_word(const struct stmt *st, size_t from, const char *w)
{
	for (size_t i = from; i < st->t->n; i++)
		if (st->t->v[i].depth == 0 && st->t->v[i].kind == T_WORD && !strcmp(st->t->v[i].val, w))
			return i;
	return st->t->n;
}

static void refuse(struct verdict *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void refuse(struct verdict *v, const char *fmt, ...)
{
	va_list ap;
	struct ms_strbuf sb = MS_STRBUF_INIT;
	char buf[512];

	if (v->reason)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	ms_strbuf_addstr(&sb, buf);
	v->reason = ms_strbuf_detach(&sb);
}

/* The first `n` words of the statement, for messages. */
static void set_head(struct verdict *v, const struct stmt *st, size_t n)
{
	struct ms_strbuf sb = MS_STRBUF_INIT;

	for (size_t i = 0; i < st->t->n && i < n; i++) {
		const struct tok *k = &st->t->v[i];

		if (k->kind != T_WORD)
			break;
		ms_strbuf_addf(&sb, "%s%s", i ? " " : "", k->val);
	}
	free(v->head);
	v->head = sb.buf ? ms_strbuf_detach(&sb) : ms_xstrdup("(not a statement)");
}

static void set_head_str(struct verdict *v, const char *head)
{
	free(v->head);
	v->head = ms_xstrdup(head);
}

/* Is token i the application role? Unquoted words fold to lowercase in
 * PostgreSQL; quoted names and MariaDB names compare exactly. */
static bool is_app(const struct stmt *st, size_t i)
{
	const struct tok *k = at(st, i);
	const char *app = st->c->app_role;

	if (!k || !app || !*app)
		return false;
	if (k->kind == T_QIDENT || (st->c->dialect == MS_SQL_MYSQL && k->kind == T_STRING))
		return !strcmp(k->val, app);
	if (k->kind == T_WORD)
		return st->c->dialect == MS_SQL_POSTGRESQL ? !strcasecmp(k->val, app) && !strpbrk(app, "ABCDEFGHIJKLMNOPQRSTUVWXYZ")
							   : !strcasecmp(k->val, app);
	return false;
}

static const char *app_name(const struct stmt *st)
{
	return st->c->app_role && *st->c->app_role ? st->c->app_role : "(unknown)";
}

/* --- PostgreSQL classification -------------------------------------------- */

/* The session settings pg_dump writes; the timeouts are the restore's own. */
static bool pg_setting(const char *name, bool *skip)
{
	static const char *const run[] = { "CLIENT_ENCODING", "STANDARD_CONFORMING_STRINGS", "CHECK_FUNCTION_BODIES",
					   "XMLOPTION", "CLIENT_MIN_MESSAGES", "ROW_SECURITY",
					   "DEFAULT_TABLE_ACCESS_METHOD", "DEFAULT_TABLESPACE", "SEARCH_PATH",
					   "DEFAULT_WITH_OIDS" };
	static const char *const skipped[] = { "STATEMENT_TIMEOUT", "LOCK_TIMEOUT",
					       "IDLE_IN_TRANSACTION_SESSION_TIMEOUT", "TRANSACTION_TIMEOUT" };

	for (size_t i = 0; i < sizeof(run) / sizeof(run[0]); i++)
		if (!strcmp(name, run[i]))
			return true;
	for (size_t i = 0; i < sizeof(skipped) / sizeof(skipped[0]); i++)
		if (!strcmp(name, skipped[i]))
			return *skip = true;
	return false;
}

/* Client encodings whose multibyte characters may hold a quote or a
 * backslash byte: the lexer and the server would disagree. */
static bool pg_unsafe_encoding(const char *e)
{
	static const char *const bad[] = { "SJIS", "SHIFT_JIS", "BIG5", "GBK", "UHC", "GB18030", "JOHAB",
					   "SHIFT_JIS_2004", "WIN932", "WIN936", "WIN949", "WIN950", "CP932",
					   "CP936", "CP949", "CP950", "MSKANJI", "SHIFTJIS", "TCVN" };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (!strcasecmp(e, bad[i]))
			return true;
	return false;
}

static void pg_set(const struct stmt *st, struct verdict *v)
{
	size_t i = 1;
	const struct tok *name, *val;
	char *h;

	if (is_word(st, i, "SESSION") || is_word(st, i, "LOCAL")) {
		if (is_word(st, i, "SESSION") && is_word(st, i + 1, "AUTHORIZATION")) {
			set_head_str(v, "SET SESSION AUTHORIZATION");
			return refuse(v, OWN_OBJECTS);
		}
		i++;
	}
	name = at(st, i);
	if (!name || name->kind != T_WORD || !(is_punct(st, i + 1, "=") || is_word(st, i + 1, "TO"))) {
		set_head(v, st, 2);
		return refuse(v, "only the session settings a dump writes may be set");
	}
	h = ms_xasprintf("SET %s", name->val);
	set_head_str(v, h);
	free(h);
	if (!pg_setting(name->val, &v->skip))
		return refuse(v, "only the session settings a dump writes may be set");
	for (size_t k = i + 2; k < st->t->n; k++) {
		const struct tok *x = &st->t->v[k];

		if (x->kind == T_PUNCT && strcmp(x->val, ",") && strcmp(x->val, "-") && strcmp(x->val, "."))
			return refuse(v, "a setting's value must be a plain literal");
		if (x->kind == T_BODY || x->kind == T_PARAM)
			return refuse(v, "a setting's value must be a plain literal");
	}
	val = at(st, i + 2);
	if (!val)
		return refuse(v, "a setting needs a value");
	if (!strcmp(name->val, "STANDARD_CONFORMING_STRINGS") &&
	    !(st->t->n == i + 3 && (val->kind == T_WORD || val->kind == T_STRING) && !strcasecmp(val->val, "on")))
		return refuse(v, "standard_conforming_strings must stay on");
	if (!strcmp(name->val, "ROW_SECURITY") &&
	    !(st->t->n == i + 3 && (val->kind == T_WORD || val->kind == T_STRING) && !strcasecmp(val->val, "off")))
		return refuse(v, "row_security must stay off");
	if (!strcmp(name->val, "CLIENT_ENCODING") && (st->t->n != i + 3 || pg_unsafe_encoding(val->val)))
		return refuse(v, "client encoding '%s' is not allowed", val->val);
}

/* SELECT pg_catalog.set_config('search_path', '...', false) or
 * SELECT pg_catalog.setval('name', N, true|false). */
static void pg_select(const struct stmt *st, struct verdict *v)
{
	const char *why = "only set_config('search_path') and setval() calls may be selected";
	bool setval = is_word(st, 3, "SETVAL");
	size_t neg = setval && is_punct(st, 7, "-") ? 1 : 0;
	const struct tok *a;

	set_head(v, st, 1);
	if (st->t->n != 11 + neg || !is_word(st, 1, "PG_CATALOG") || !is_punct(st, 2, ".") ||
	    !(is_word(st, 3, "SET_CONFIG") || setval) || !is_punct(st, 4, "(") || !is_punct(st, 6, ",") ||
	    !is_punct(st, 8 + neg, ",") || !is_punct(st, 10 + neg, ")") ||
	    !(is_word(st, 9 + neg, "TRUE") || is_word(st, 9 + neg, "FALSE")))
		return refuse(v, "%s", why);
	a = at(st, 5);
	if (a->kind != T_STRING || (!setval && strcmp(a->val, "search_path")))
		return refuse(v, "%s", why);
	a = at(st, 7 + neg);
	if (setval ? a->kind != T_WORD || strspn(a->val, "0123456789") != strlen(a->val) : a->kind != T_STRING)
		return refuse(v, "%s", why);
	if (!setval && !is_word(st, 9, "FALSE"))
		return refuse(v, "%s", why);
	set_head_str(v, setval ? "SELECT pg_catalog.setval" : "SELECT pg_catalog.set_config");
}

/* Every top-level OWNER TO names the application role. */
static void pg_owner(const struct stmt *st, struct verdict *v)
{
	for (size_t i = find_word(st, 0, "OWNER"); i < st->t->n; i = find_word(st, i + 1, "OWNER"))
		if (is_word(st, i + 1, "TO") && !is_app(st, i + 2))
			return refuse(v, "objects may only be owned by the application role '%s'", app_name(st));
}

/* Options of CREATE FUNCTION/PROCEDURE or ALTER FUNCTION/ROUTINE, from
 * token `from` on, outside the body. */
static void pg_routine(const struct stmt *st, struct verdict *v, size_t from)
{
	for (size_t i = from; i < st->t->n; i++) {
		const struct tok *k = &st->t->v[i];

		if (k->depth != 0 || k->kind != T_WORD)
			continue;
		if (!strcmp(k->val, "BEGIN") && is_word(st, i + 1, "ATOMIC"))
			break; /* the SQL-standard body: statements, not options */
		if (!strcmp(k->val, "SECURITY") && is_word(st, i + 1, "DEFINER"))
			return refuse(v, "SECURITY DEFINER routines are not allowed");
		if (!strcmp(k->val, "LANGUAGE")) {
			const struct tok *l = at(st, i + 1);

			if (!l || !(!strcasecmp(l->val, "sql") || !strcasecmp(l->val, "plpgsql")) ||
			    (l->kind == T_QIDENT && strcmp(l->val, "sql") && strcmp(l->val, "plpgsql")))
				return refuse(v, "routines may only be written in sql or plpgsql");
		}
		if (!strcmp(k->val, "SET") && (is_word(st, i + 1, "ROLE") || is_word(st, i + 1, "SESSION_AUTHORIZATION")))
			return refuse(v, "a routine may not change its role");
	}
	pg_owner(st, v);
}

static void pg_create(const struct stmt *st, struct verdict *v)
{
	static const char *const kinds[] = { "TABLE", "SEQUENCE", "INDEX", "VIEW", "TYPE", "DOMAIN", "TRIGGER",
					     "AGGREGATE", "COLLATION", "OPERATOR", "RULE", "POLICY", "STATISTICS",
					     "CAST", "EXTENSION", "SCHEMA", "FUNCTION", "PROCEDURE", "TEXT" };
	size_t i = 1;
	const char *kind = NULL;
	char *h;

	if (is_word(st, i, "OR") && is_word(st, i + 1, "REPLACE"))
		i += 2;
	if (is_word(st, i, "UNIQUE") || is_word(st, i, "UNLOGGED") || is_word(st, i, "MATERIALIZED") ||
	    is_word(st, i, "RECURSIVE") || is_word(st, i, "CONSTRAINT") || is_word(st, i, "DEFAULT"))
		i++;
	if (at(st, i) && at(st, i)->kind == T_WORD)
		for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++)
			if (!strcmp(at(st, i)->val, kinds[k]))
				kind = kinds[k];
	h = ms_xasprintf("CREATE %s", at(st, i) && at(st, i)->kind == T_WORD ? at(st, i)->val : "");
	set_head_str(v, h);
	free(h);
	if (!kind || is_word(st, i - 1, "DEFAULT") || (!strcmp(kind, "TEXT") && !(is_word(st, i + 1, "SEARCH") &&
	    (is_word(st, i + 2, "CONFIGURATION") || is_word(st, i + 2, "DICTIONARY")))))
		return refuse(v, OWN_OBJECTS);
	if (is_word(st, i - 1, "MATERIALIZED") &&
	    !(st->t->n >= 3 && is_word(st, st->t->n - 3, "WITH") && is_word(st, st->t->n - 2, "NO") &&
	      is_word(st, st->t->n - 1, "DATA")))
		return refuse(v, "a materialized view is created WITH NO DATA");
	if (!strcmp(kind, "TABLE") && (find_word(st, i, "AS") < st->t->n || find_word(st, i, "EXECUTE") < st->t->n))
		return refuse(v, "CREATE TABLE AS runs a query");
	if (!strcmp(kind, "SCHEMA")) {
		size_t n = i + 1 + (is_word(st, i + 1, "IF") ? 3 : 0);

		if (is_word(st, n, "AUTHORIZATION") ? !is_app(st, n + 1) || st->t->n != n + 2
						     : is_word(st, n + 1, "AUTHORIZATION") ? !is_app(st, n + 2) || st->t->n != n + 3
											   : st->t->n != n + 1)
			return refuse(v, "a schema may only be created for the application role '%s'", app_name(st));
	}
	if (!strcmp(kind, "FUNCTION") || !strcmp(kind, "PROCEDURE") || !strcmp(kind, "AGGREGATE"))
		return pg_routine(st, v, i + 1);
	pg_owner(st, v);
}

static void pg_alter(const struct stmt *st, struct verdict *v)
{
	static const char *const kinds[] = { "TABLE", "SEQUENCE", "INDEX", "VIEW", "TYPE", "DOMAIN", "SCHEMA",
					     "FUNCTION", "PROCEDURE", "ROUTINE", "AGGREGATE", "TRIGGER", "COLLATION",
					     "OPERATOR", "RULE", "POLICY", "STATISTICS", "TEXT", "MATERIALIZED" };
	const struct tok *k = at(st, 1);
	bool ok = false;

	set_head(v, st, 2);
	for (size_t i = 0; k && k->kind == T_WORD && i < sizeof(kinds) / sizeof(kinds[0]); i++)
		ok = ok || !strcmp(k->val, kinds[i]);
	if (ok && !strcmp(k->val, "MATERIALIZED"))
		ok = is_word(st, 2, "VIEW");
	if (ok && !strcmp(k->val, "TEXT"))
		ok = is_word(st, 2, "SEARCH");
	if (!ok)
		return refuse(v, OWN_OBJECTS);
	if (!strcmp(k->val, "FUNCTION") || !strcmp(k->val, "PROCEDURE") || !strcmp(k->val, "ROUTINE") ||
	    !strcmp(k->val, "AGGREGATE"))
		return pg_routine(st, v, 2);
	pg_owner(st, v);
}

static void pg_grant(const struct stmt *st, struct verdict *v)
{
	size_t on = find_word(st, 1, "ON"), to = find_word(st, 1, "TO"), i;

	set_head(v, st, 1);
	if (on >= st->t->n || to >= st->t->n || to < on)
		return refuse(v, "role memberships may not be granted");
	for (i = to + 1; i < st->t->n; i += 2) {
		if (is_word(st, i, "WITH") && is_word(st, i + 1, "GRANT") && is_word(st, i + 2, "OPTION") &&
		    i + 3 == st->t->n)
			return;
		if (is_word(st, i, "GROUP"))
			i++;
		if (!is_app(st, i)) {
			if (is_word(st, i, "PUBLIC"))
				set_head_str(v, "GRANT ... TO PUBLIC");
			return refuse(v, "privileges may only be granted to the application role '%s'", app_name(st));
		}
		if (i + 1 < st->t->n && !is_punct(st, i + 1, ","))
			return refuse(v, "privileges may only be granted to the application role '%s'", app_name(st));
	}
}

static void pg_comment(const struct stmt *st, struct verdict *v)
{
	set_head(v, st, 3);
	if (!is_word(st, 1, "ON") || is_word(st, 2, "ROLE") || is_word(st, 2, "DATABASE") ||
	    is_word(st, 2, "TABLESPACE") || is_word(st, 2, "SUBSCRIPTION") || is_word(st, 2, "PUBLICATION") ||
	    is_word(st, 2, "SERVER") || is_word(st, 2, "LANGUAGE") || is_word(st, 2, "EVENT") ||
	    (is_word(st, 2, "LARGE") && is_word(st, 3, "OBJECT")))
		return refuse(v, OWN_OBJECTS);
	/* the value is the last token: a string or NULL */
	if (!st->t->n || !(st->t->v[st->t->n - 1].kind == T_STRING || is_word(st, st->t->n - 1, "NULL")) ||
	    !is_word(st, st->t->n - 2, "IS"))
		return refuse(v, "a comment's text must be a plain literal");
}

static void pg_classify(const struct stmt *st, struct verdict *v)
{
	const struct tok *k = at(st, 0);

	if (!k || k->kind != T_WORD) {
		set_head_str(v, k ? k->val : "(empty)");
		return refuse(v, OWN_OBJECTS);
	}
	if (!strcmp(k->val, "SET"))
		return pg_set(st, v);
	if (!strcmp(k->val, "SELECT"))
		return pg_select(st, v);
	if (!strcmp(k->val, "CREATE"))
		return pg_create(st, v);
	if (!strcmp(k->val, "ALTER"))
		return pg_alter(st, v);
	if (!strcmp(k->val, "GRANT"))
		return pg_grant(st, v);
	if (!strcmp(k->val, "COMMENT"))
		return pg_comment(st, v);
	set_head(v, st, 2);
	refuse(v, OWN_OBJECTS);
}

/* --- MariaDB/MySQL classification ----------------------------------------- */

static bool my_session_var(const char *name)
{
	static const char *const ok[] = { "TIME_ZONE", "SQL_MODE", "FOREIGN_KEY_CHECKS", "UNIQUE_CHECKS" };

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		if (!strcmp(name, ok[i]))
			return true;
	return false;
}

static bool my_safe_charset(const char *cs)
{
	static const char *const ok[] = { "utf8mb4", "utf8mb3", "utf8", "latin1", "ascii", "binary" };

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		if (!strcasecmp(cs, ok[i]))
			return true;
	return false;
}

/* The lexer's view of a new sql_mode, applied after the statement. */
static void my_apply_mode(struct lexer *lx, const char *mode)
{
	char *up = upper_dup(mode, strlen(mode));

	lx->no_backslash = strstr(up, "NO_BACKSLASH_ESCAPES") != NULL;
	lx->ansi_quotes = strstr(up, "ANSI_QUOTES") != NULL || !strcmp(up, "ANSI") || strstr(up, "ANSI,") == up ||
			  strstr(up, ",ANSI,") || (strlen(up) > 5 && !strcmp(up + strlen(up) - 5, ",ANSI"));
	free(up);
}

/* SET [SESSION|LOCAL|@@session.|@@] var = literal {, ...} for the
 * variables our scripts set, or SET NAMES charset [COLLATE c]. */
static void my_set(const struct stmt *st, struct verdict *v)
{
	size_t i = 1, n = st->t->n;
	const char *mode = NULL;

	set_head(v, st, 2);
	if (is_word(st, 1, "NAMES")) {
		const struct tok *cs = at(st, 2);

		if (!cs || !my_safe_charset(cs->val) ||
		    !(n == 3 || (n == 5 && is_word(st, 3, "COLLATE") && at(st, 4)->kind != T_PUNCT)))
			return refuse(v, "only SET NAMES utf8mb4 and the session settings a dump writes may be set");
		return;
	}
	if (is_word(st, 1, "PASSWORD") || is_word(st, 1, "ROLE") || is_word(st, 1, "DEFAULT") ||
	    is_word(st, 1, "STATEMENT") || is_word(st, 1, "TRANSACTION"))
		return refuse(v, OWN_OBJECTS);
	while (i < n) {
		const struct tok *name, *val;
		bool global = false;

		if (is_word(st, i, "SESSION") || is_word(st, i, "LOCAL")) {
			i++;
		} else if (is_word(st, i, "GLOBAL")) {
			global = true;
		} else if (is_punct(st, i, "@@")) {
			if ((is_word(st, i + 1, "SESSION") || is_word(st, i + 1, "LOCAL")) && is_punct(st, i + 2, "."))
				i += 3;
			else if (is_word(st, i + 1, "GLOBAL"))
				global = true;
			else
				i++;
		}
		if (global) {
			set_head_str(v, "SET GLOBAL");
			return refuse(v, "only the session settings a dump writes may be set");
		}
		name = at(st, i);
		if (!name || name->kind != T_WORD || !is_punct(st, i + 1, "=") || !my_session_var(name->val)) {
			if (is_punct(st, i, "@"))
				set_head_str(v, "SET @variable");
			return refuse(v, "only the session settings a dump writes may be set");
		}
		val = at(st, i + 2);
		if (!val || !(val->kind == T_STRING || val->kind == T_WORD) ||
		    !(i + 3 == n || is_punct(st, i + 3, ",")))
			return refuse(v, "a setting's value must be a plain literal");
		if (!strcmp(name->val, "SQL_MODE"))
			mode = val->val;
		i += 4;
	}
	if (mode)
		my_apply_mode(st->lx, mode);
}

/* DEFINER = user[@host]: the index after it, or 0 when it is not the
 * application account. */
static size_t my_definer(const struct stmt *st, size_t i)
{
	if (!is_punct(st, i, "=") || !is_app(st, i + 1))
		return 0;
	i += 2;
	if (is_punct(st, i, "@")) {
		const struct tok *h = at(st, i + 1);

		if (!h || h->kind == T_PUNCT)
			return 0;
		i += 2;
	}
	return i;
}

/* Token i names an object of the restored database: unqualified, or
 * qualified with that database's name; *next is the token after it. */
static bool my_own_name(const struct stmt *st, size_t i, size_t *next)
{
	const struct tok *k = at(st, i), *n;

	if (!k || !(k->kind == T_WORD || k->kind == T_QIDENT))
		return false;
	if (!is_punct(st, i + 1, ".")) {
		*next = i + 1;
		return true;
	}
	n = at(st, i + 2);
	if (!st->c->database || k->kind != T_QIDENT || strcmp(k->val, st->c->database) || !n ||
	    !(n->kind == T_WORD || n->kind == T_QIDENT) || is_punct(st, i + 3, "."))
		return false;
	*next = i + 3;
	return true;
}

static bool my_unqualified(const struct stmt *st, size_t i)
{
	size_t next;

	return my_own_name(st, i, &next);
}

/* The statement is in a dump's member NAME (schema-pre.sql, schema-post.sql). */
static bool in_member(const struct stmt *st, const char *name)
{
	const char *m = st->c->member ? st->c->member : "";
	size_t n = strlen(m), k = strlen(name);

	return n >= k && !strcmp(m + n - k, name) && (n == k || m[n - k - 1] == '/');
}

static void my_create_table(const struct stmt *st, struct verdict *v, size_t i)
{
	static const char *const engines[] = { "INNODB", "MYISAM", "ARIA", "MEMORY", "HEAP", "ARCHIVE" };

	if (is_word(st, i, "IF"))
		i += 3;
	/* never qualified (SHOW CREATE TABLE is not): tables are made in the
	 * staging or scratch database, never in the live one */
	if (!at(st, i) || !(at(st, i)->kind == T_WORD || at(st, i)->kind == T_QIDENT) || is_punct(st, i + 1, "."))
		return refuse(v, "objects may only be created in the restored database");
	for (size_t k = i + 1; k < st->t->n; k++) {
		const struct tok *x = &st->t->v[k];

		if (x->depth != 0 || x->kind != T_WORD)
			continue;
		if (!strcmp(x->val, "SELECT") || !strcmp(x->val, "AS") || !strcmp(x->val, "LIKE"))
			return refuse(v, "CREATE TABLE ... SELECT runs a query");
		if (!strcmp(x->val, "DIRECTORY") || !strcmp(x->val, "CONNECTION") || !strcmp(x->val, "UNION"))
			return refuse(v, "a table may not name files, servers or other tables");
		if (!strcmp(x->val, "ENGINE")) {
			const struct tok *e = at(st, k + (is_punct(st, k + 1, "=") ? 2 : 1));
			bool ok = false;

			for (size_t j = 0; e && j < sizeof(engines) / sizeof(engines[0]); j++)
				ok = ok || !strcasecmp(e->val, engines[j]);
			if (!ok)
				return refuse(v, "storage engine '%s' is not allowed", e ? e->val : "");
		}
	}
}

static void my_create(const struct stmt *st, struct verdict *v)
{
	size_t i = 1, definer = 0;
	const struct tok *k;
	char *h;

	if (is_word(st, i, "OR") && is_word(st, i + 1, "REPLACE"))
		i += 2;
	for (;;) {
		if (is_word(st, i, "ALGORITHM") && is_punct(st, i + 1, "=")) {
			i += 3;
		} else if (is_word(st, i, "DEFINER")) {
			definer = my_definer(st, i + 1);
			if (!definer) {
				set_head(v, st, 1);
				for (size_t j = i; j < st->t->n; j++)
					if (is_word(st, j, "PROCEDURE") || is_word(st, j, "FUNCTION") ||
					    is_word(st, j, "VIEW") || is_word(st, j, "TRIGGER") || is_word(st, j, "EVENT")) {
						h = ms_xasprintf("CREATE DEFINER=... %s", st->t->v[j].val);
						set_head_str(v, h);
						free(h);
						break;
					}
				return refuse(v, "the definer must be the application account '%s'", app_name(st));
			}
			i = definer;
		} else if (is_word(st, i, "SQL") && is_word(st, i + 1, "SECURITY")) {
			i += 3;
		} else if (is_word(st, i, "AGGREGATE")) {
			i++;
		} else {
			break;
		}
	}
	k = at(st, i);
	h = ms_xasprintf("CREATE %s", k && k->kind == T_WORD ? k->val : "");
	set_head_str(v, h);
	free(h);
	if (is_word(st, i, "TABLE")) {
		/* schema-post.sql runs in the live database after the tables
		 * were proven in the staging one and renamed in: it holds
		 * routines, views and triggers, and may create or replace no
		 * table, so that what was proven is what stays */
		if (in_member(st, "schema-post.sql"))
			return refuse(v, "schema-post.sql may not create tables");
		return definer ? refuse(v, OWN_OBJECTS) : my_create_table(st, v, i + 1);
	}
	if (!(is_word(st, i, "VIEW") || is_word(st, i, "PROCEDURE") || is_word(st, i, "FUNCTION") ||
	      is_word(st, i, "TRIGGER")))
		return refuse(v, OWN_OBJECTS);
	if (!definer)
		return refuse(v, "the definer must be the application account '%s'", app_name(st));
	if (is_word(st, i + 1, "IF"))
		i += 3;
	if (!my_unqualified(st, i + 1))
		return refuse(v, "objects may only be created in the restored database");
	if (is_word(st, i, "FUNCTION") && (find_word(st, i, "SONAME") < st->t->n))
		return refuse(v, "loadable functions are not allowed");
	if (is_word(st, i, "TRIGGER")) {
		size_t on = find_word(st, i + 2, "ON");

		if (on >= st->t->n || !my_unqualified(st, on + 1))
			return refuse(v, "objects may only be created in the restored database");
	}
	/* schema-pre.sql runs in the staging database before the data,
	 * which several connections load at once: a trigger there would
	 * fire during the load (one connection's rows writing another's
	 * table), and a dump never writes one there (FORMAT.md 7.5) */
	if (in_member(st, "schema-pre.sql"))
		return refuse(v, "schema-pre.sql holds tables only; routines, views and triggers belong in "
			      "schema-post.sql");
}

static void my_classify(const struct stmt *st, struct verdict *v)
{
	const struct tok *k = at(st, 0);

	if (!k || k->kind != T_WORD) {
		set_head_str(v, k ? k->val : "(empty)");
		return refuse(v, OWN_OBJECTS);
	}
	if (!strcmp(k->val, "SET"))
		return my_set(st, v);
	if (!strcmp(k->val, "CREATE"))
		return my_create(st, v);
	set_head(v, st, 2);
	refuse(v, OWN_OBJECTS);
}

/* --- the script ------------------------------------------------------------ */

static void trim(const char *s, size_t *start, size_t *end)
{
	while (*start < *end && blank(s[*start]))
		(*start)++;
	while (*end > *start && blank(s[*end - 1]))
		(*end)--;
}

/* psql meta-commands pg_dump writes: \restrict KEY and \unrestrict KEY. */
static bool pg_meta_ok(const char *s, size_t n)
{
	return (n > 10 && !strncmp(s, "\\restrict ", 10)) || (n > 12 && !strncmp(s, "\\unrestrict ", 12));
}

static bool is_name(const struct stmt *st, size_t i)
{
	const struct tok *k = at(st, i);

	return k && (k->kind == T_WORD || k->kind == T_QIDENT);
}

/* A name token as PostgreSQL resolves it: unquoted folded to lower case;
 * NULL when token i is not a name. */
static char *pg_name(const struct stmt *st, size_t i)
{
	const struct tok *k = at(st, i);
	char *s;

	if (!k || (k->kind != T_WORD && k->kind != T_QIDENT))
		return NULL;
	s = ms_xstrdup(k->val);
	if (k->kind == T_WORD)
		for (char *p = s; *p; p++)
			if (*p >= 'A' && *p <= 'Z')
				*p = (char)(*p - 'A' + 'a');
	return s;
}

/* A name the key can stand for exactly: printable ASCII without a
 * backslash, at most 63 bytes (longer ones the server truncates; other
 * bytes it may fold as the encoding says); anything else keeps its
 * statement in order. */
static bool pg_plain_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 63)
		return false;
	for (; *s; s++)
		if (*s < 0x20 || *s > 0x7e || *s == '\\')
			return false;
	return true;
}

/* The table "schema.name" at token i (a qualified name, as pg_dump writes
 * every name in schema-post.sql) followed by token `next` (a word, or "("
 * when NULL), as schema "\x1f" name; NULL otherwise. */
static char *pg_table_at(const struct stmt *st, size_t i, const char *next)
{
	char *schema, *name, *key = NULL;

	if (!is_punct(st, i + 1, ".") || !(next ? is_word(st, i + 3, next) : is_punct(st, i + 3, "(")))
		return NULL;
	schema = pg_name(st, i);
	name = pg_name(st, i + 2);
	if (schema && name && pg_plain_name(schema) && pg_plain_name(name))
		key = ms_xasprintf("%s\x1f%s", schema, name);
	free(schema);
	free(name);
	return key;
}

/* Whether the statement has a comma outside parentheses (ALTER TABLE
 * with several actions). */
static bool pg_has_comma(const struct stmt *st)
{
	for (size_t i = 0; i < st->t->n; i++)
		if (st->t->v[i].depth == 0 && st->t->v[i].kind == T_PUNCT && !strcmp(st->t->v[i].val, ","))
			return true;
	return false;
}

/* How an allowed PostgreSQL statement may be scheduled (sqlcheck.h);
 * *on gets the table of an MS_SQL_ON_TABLE one. Anything not recognised
 * exactly is MS_SQL_IN_ORDER. */
static enum ms_sql_kind pg_kind(const struct stmt *st, char **on)
{
	size_t i;

	*on = NULL;
	if (is_word(st, 0, "SET") || (is_word(st, 0, "SELECT") && is_word(st, 3, "SET_CONFIG")))
		return MS_SQL_SETTING;
	if (is_word(st, 0, "COMMENT") && is_word(st, 1, "ON"))
		return MS_SQL_COMMENT;
	if (is_word(st, 0, "CREATE")) {
		/* CREATE [UNIQUE] INDEX name ON [ONLY] schema.table USING|(
		 * (not CONCURRENTLY, which a transaction refuses) */
		i = is_word(st, 1, "UNIQUE") ? 2 : 1;
		if (!is_word(st, i, "INDEX") || !is_name(st, i + 1) || is_word(st, i + 1, "CONCURRENTLY") ||
		    is_word(st, i + 1, "IF") || !is_word(st, i + 2, "ON"))
			return MS_SQL_IN_ORDER;
		i += 3;
		if (is_word(st, i, "ONLY"))
			i++;
		*on = pg_table_at(st, i, "USING");
		if (!*on)
			*on = pg_table_at(st, i, NULL);
		return *on ? MS_SQL_ON_TABLE : MS_SQL_IN_ORDER;
	}
	if (is_word(st, 0, "ALTER") && is_word(st, 1, "TABLE")) {
		/* ALTER TABLE ONLY schema.table ADD CONSTRAINT name
		 * PRIMARY KEY | UNIQUE | CHECK | EXCLUDE ..., no REFERENCES,
		 * and no second action after it (ONLY, as pg_dump writes it:
		 * no recursion into child tables) */
		i = 3;
		if (!is_word(st, 2, "ONLY") || pg_has_comma(st) || !is_word(st, i + 4, "CONSTRAINT") || !is_name(st, i + 5) ||
		    !(is_word(st, i + 6, "PRIMARY") || is_word(st, i + 6, "UNIQUE") || is_word(st, i + 6, "CHECK") ||
		      is_word(st, i + 6, "EXCLUDE")) ||
		    find_word(st, 0, "REFERENCES") < st->t->n || find_word(st, 0, "FOREIGN") < st->t->n)
			return MS_SQL_IN_ORDER;
		*on = pg_table_at(st, i, "ADD");
		return *on ? MS_SQL_ON_TABLE : MS_SQL_IN_ORDER;
	}
	return MS_SQL_IN_ORDER;
}

static void push_stmt(struct ms_sql_script *out, size_t *cap, const char *text, size_t len, bool skip,
		      enum ms_sql_kind kind, char *on)
{
	if (out->n == *cap) {
		*cap = *cap ? *cap * 2 : 32;
		out->v = ms_xrealloc(out->v, *cap * sizeof(*out->v));
	}
	out->v[out->n].text = text;
	out->v[out->n].len = len;
	out->v[out->n].skip = skip;
	out->v[out->n].kind = kind;
	out->v[out->n].on = on;
	out->n++;
}

int ms_sqlcheck_script(const struct ms_sqlcheck *c, const char *text, size_t len, struct ms_sql_script *out)
{
	struct lexer lx;
	size_t cap = 0, n = 0;
	int ret = -1;

	memset(out, 0, sizeof(*out));
	memset(&lx, 0, sizeof(lx));
	lx.d = c->dialect;
	lx.s = text;
	lx.len = len;
	snprintf(lx.delim, sizeof(lx.delim), ";");
	if (memchr(text, '\0', len))
		return ms_log_error("database '%s': '%s': contains a NUL byte", c->alias, c->member);
	for (;;) {
		struct toks t = { 0 };
		struct verdict v = { 0 };
		struct stmt st = { &t, c, &lx };
		size_t start = 0, end = 0;
		enum ms_sql_kind kind = MS_SQL_IN_ORDER;
		char *on = NULL;
		enum lexed l = c->dialect == MS_SQL_POSTGRESQL ? pg_next(&lx, &t, &start, &end)
							       : my_next(&lx, &t, &start, &end);

		if (l == L_END) {
			toks_clear(&t);
			break;
		}
		if (l == L_DELIMITER) {
			toks_clear(&t);
			continue;
		}
		n++;
		if (l == L_ERROR) {
			ms_log_error("database '%s': '%s': statement %zu refused: %s", c->alias, c->member, n, lx.err);
			toks_clear(&t);
			goto out;
		}
		trim(text, &start, &end);
		if (l == L_META) {
			n--;
			toks_clear(&t);
			if (!pg_meta_ok(text + start, end - start)) {
				size_t w = 0;
				char *line, *p;

				while (start + w < end && !blank(text[start + w]))
					w++;
				line = ms_xstrndup(text + start, w);
				p = ms_printable(line);
				ms_log_error("database '%s': '%s': statement %zu refused: %s (psql meta-commands are not "
					     "allowed)", c->alias, c->member, n + 1, p);
				free(line);
				free(p);
				goto out;
			}
			continue;
		}
		if (c->dialect == MS_SQL_POSTGRESQL)
			pg_classify(&st, &v);
		else
			my_classify(&st, &v);
		if (!v.reason && c->dialect == MS_SQL_POSTGRESQL)
			kind = pg_kind(&st, &on);
		toks_clear(&t);
		if (v.reason) {
			char *p = ms_printable(v.head ? v.head : "?");

			ms_log_error("database '%s': '%s': statement %zu refused: %s (%s)", c->alias, c->member, n, p,
				     v.reason);
			free(p);
			free(v.head);
			free(v.reason);
			goto out;
		}
		free(v.head);
		push_stmt(out, &cap, text + start, end - start, v.skip, kind, on);
	}
	ret = 0;
out:
	if (ret < 0)
		ms_sql_script_clear(out);
	return ret;
}

void ms_sql_script_clear(struct ms_sql_script *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i].on);
	free(s->v);
	memset(s, 0, sizeof(*s));
}

/* --- whole archives --------------------------------------------------------- */

struct archive_check {
	const struct ms_manifest_db *mdb;
	const char *prefix;
	const char *app_role;
	enum ms_sql_dialect dialect;
	size_t checked;
};

/* Whether `path` (below ac->prefix) is one of the SQL members checked. */
static bool checked_member(const struct archive_check *ac, const char *path)
{
	const char *rel = path + strlen(ac->prefix);

	return !strcmp(rel, "schema-pre.sql") || !strcmp(rel, "schema-post.sql") ||
	       (ac->dialect == MS_SQL_POSTGRESQL && !strcmp(rel, "sequences.sql"));
}

static int check_text(struct archive_check *ac, const char *path, const char *text, size_t len)
{
	struct ms_sql_script script;
	struct ms_sqlcheck c;
	int ret;

	if (len > SQL_MEMBER_MAX)
		return ms_log_error("database '%s': '%s' exceeds %zu MiB", ac->mdb->alias, path, SQL_MEMBER_MAX >> 20);
	c.dialect = ac->dialect;
	c.alias = ac->mdb->alias;
	c.member = path;
	c.app_role = ac->app_role;
	c.database = ac->mdb->n_tables ? ac->mdb->tables[0].schema : NULL;
	ret = ms_sqlcheck_script(&c, text, len, &script);
	ms_sql_script_clear(&script);
	ac->checked++;
	return ret;
}

static int check_member(void *ctx, struct ms_archive_reader *r, const char *path)
{
	struct archive_check *ac = ctx;
	struct ms_strbuf sb = MS_STRBUF_INIT;
	char buf[65536];
	ssize_t n;
	int ret;

	if (!checked_member(ac, path))
		return 0;
	while ((n = ms_archive_reader_read(r, buf, sizeof(buf))) > 0) {
		if (sb.len + (size_t)n > SQL_MEMBER_MAX) {
			ms_strbuf_release(&sb);
			return ms_log_error("database '%s': '%s' exceeds %zu MiB", ac->mdb->alias, path,
					    SQL_MEMBER_MAX >> 20);
		}
		ms_strbuf_add(&sb, buf, (size_t)n);
	}
	if (n < 0) {
		ms_strbuf_release(&sb);
		return -1;
	}
	ret = check_text(ac, path, sb.buf ? sb.buf : "", sb.len);
	ms_strbuf_release(&sb);
	return ret;
}

/* The checker's state for one database; -1 after logging (an engine the
 * checker does not know). */
static int archive_check_init(struct archive_check *ac, const struct ms_manifest_db *mdb, const char *app_role)
{
	memset(ac, 0, sizeof(*ac));
	if (!mdb->engine || (strcmp(mdb->engine, "postgresql") && strcmp(mdb->engine, "mysql")))
		return ms_log_error("database '%s': unknown engine '%s' in the snapshot", mdb->alias,
				    mdb->engine ? mdb->engine : "");
	if (!app_role || !*app_role) {
		/* no USER in settings.py: both client libraries log in as the
		 * operating system user */
		const struct passwd *pw = getpwuid(geteuid());

		app_role = pw ? pw->pw_name : NULL;
	}
	ac->dialect = strcmp(mdb->engine, "postgresql") ? MS_SQL_MYSQL : MS_SQL_POSTGRESQL;
	/* data is loaded with COPY into the table the manifest names: a
	 * superuser may write a system catalog that way (pg_authid,
	 * pg_proc), and the dumper reads no system schema */
	for (size_t i = 0; ac->dialect == MS_SQL_POSTGRESQL && i < mdb->n_tables; i++) {
		const char *s = mdb->tables[i].schema ? mdb->tables[i].schema : "";

		if (!strncmp(s, "pg_", 3) || !strcmp(s, "information_schema")) {
			char *ps = ms_printable(s), *pn = ms_printable(mdb->tables[i].name ? mdb->tables[i].name : "");

			ms_log_error("database '%s': table '%s.%s' is in a system schema, which a dump never holds",
				     mdb->alias, ps, pn);
			free(ps);
			free(pn);
			return -1;
		}
	}
	ac->prefix = ms_xasprintf("db/%s/", mdb->alias);
	ac->mdb = mdb;
	ac->app_role = app_role;
	return 0;
}

int ms_sqlcheck_archive(const char *archive, const struct ms_manifest_db *mdb, const char *app_role)
{
	struct archive_check ac;
	int ret;

	if (archive_check_init(&ac, mdb, app_role) < 0)
		return -1;
	ret = ms_db_replay(archive, ac.prefix, mdb->alias, check_member, &ac, NULL);
	free((char *)ac.prefix);
	return ret;
}

bool ms_sqlcheck_wanted(const char *path, void *ctx)
{
	size_t n = strlen(path);

	(void)ctx;
	return !strncmp(path, "db/", 3) && strchr(path + 3, '/') && !strchr(strchr(path + 3, '/') + 1, '/') &&
	       n > 4 && !strcmp(path + n - 4, ".sql");
}

static int sqlcheck_kept(const struct ms_verify_result *vr, const struct ms_manifest_db *mdb, const char *app_role)
{
	struct archive_check ac;
	int ret = 0;

	if (archive_check_init(&ac, mdb, app_role) < 0)
		return -1;
	for (size_t i = 0; i < vr->n_kept && ret == 0; i++) {
		const struct ms_kept_member *k = &vr->kept[i];

		if (strncmp(k->path, ac.prefix, strlen(ac.prefix)) || !checked_member(&ac, k->path))
			continue;
		ret = k->data ? check_text(&ac, k->path, k->data, k->len) : 1; /* over the budget */
	}
	free((char *)ac.prefix);
	return ret;
}

int ms_sqlcheck_verified(const char *archive, const struct ms_verify_result *vr, const struct ms_manifest_db *mdb,
			 const char *app_role)
{
	int rc = sqlcheck_kept(vr, mdb, app_role);

	return rc > 0 ? ms_sqlcheck_archive(archive, mdb, app_role) : rc; /* over the budget: read again */
}
