/* Builds the read-only probe SELECTs for rule facts and reads their answers. */
#include "rules/probe_sql.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A bounded string builder: appends until full, then remembers overflow. */
struct pbuf {
	char *buf;
	size_t n;
	size_t len;
	bool overflow;
};

static void pb_putn(struct pbuf *b, const char *s, size_t n)
{
	if (b->overflow || b->len + n + 1 > b->n) {
		b->overflow = true;
		return;
	}
	memcpy(b->buf + b->len, s, n);
	b->len += n;
	b->buf[b->len] = '\0';
}

static void pb_puts(struct pbuf *b, const char *s)
{
	pb_putn(b, s, strlen(s));
}

static void __attribute__((format(printf, 2, 3))) pb_printf(struct pbuf *b, const char *fmt, ...)
{
	char tmp[64];
	va_list ap;
	va_start(ap, fmt);
	int k = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (k < 0 || (size_t)k >= sizeof(tmp))
		b->overflow = true;
	else
		pb_putn(b, tmp, (size_t)k);
}

static void pb_ident(struct pbuf *b, const char *id)
{
	pb_putn(b, "`", 1);
	for (const char *p = id; *p; p++) {
		if (*p == '`')
			pb_putn(b, "``", 2);
		else
			pb_putn(b, p, 1);
	}
	pb_putn(b, "`", 1);
}

bool probe_sql_quote_ident(const char *id, char *buf, size_t n)
{
	struct pbuf b = {buf, n, 0, false};
	if (n)
		buf[0] = '\0';
	pb_ident(&b, id);
	return !b.overflow;
}

/* A name as a literal that no sql_mode can misread: CONVERT(X'..' USING utf8mb4). */
static void pb_name_literal(struct pbuf *b, const char *s)
{
	if (!*s) {
		pb_puts(b, "''");
		return;
	}
	pb_puts(b, "CONVERT(X'");
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		pb_printf(b, "%02x", *p);
	pb_puts(b, "' USING utf8mb4)");
}

/* `schema`.`table`, or `table` alone when schema is "" (the connection's database). */
static void pb_table(struct pbuf *b, const struct stmt_name *t)
{
	if (t->schema && *t->schema) {
		pb_ident(b, t->schema);
		pb_putn(b, ".", 1);
	}
	pb_ident(b, t->name);
}

/* TABLE_SCHEMA = .. AND TABLE_NAME = .. for information_schema. */
static void pb_where_table(struct pbuf *b, const struct stmt_name *t)
{
	pb_puts(b, " WHERE TABLE_SCHEMA = ");
	if (t->schema && *t->schema)
		pb_name_literal(b, t->schema);
	else
		pb_puts(b, "DATABASE()");
	pb_puts(b, " AND TABLE_NAME = ");
	pb_name_literal(b, t->name);
}

/* A key part as an expression: `c` or LEFT(`c`, prefix). alias may be NULL. */
static void pb_part(struct pbuf *b, const char *alias, const struct stmt_key_part *kp)
{
	if (kp->prefix)
		pb_puts(b, "LEFT(");
	if (alias) {
		pb_puts(b, alias);
		pb_putn(b, ".", 1);
	}
	pb_ident(b, kp->column);
	if (kp->prefix)
		pb_printf(b, ", %" PRIu32 ")", kp->prefix);
}

static void pb_select(struct pbuf *b, long timeout_ms)
{
	pb_puts(b, "SELECT ");
	if (timeout_ms > 0)
		pb_printf(b, "/*+ MAX_EXECUTION_TIME(%ld) */ ", timeout_ms);
}

static bool parts_ok(const struct stmt_key_part *parts, size_t n)
{
	if (!parts || n == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!parts[i].column)
			return false;
	return true;
}

/* SELECT EXISTS(SELECT 1 FROM `t` WHERE `col` ...: the row test follows. */
static void pb_exists_where(struct pbuf *b, const struct rules_fact_query *q, long timeout_ms)
{
	pb_select(b, timeout_ms);
	pb_puts(b, "EXISTS(SELECT 1 FROM ");
	pb_table(b, &q->table);
	pb_puts(b, " WHERE ");
	pb_ident(b, q->parts[0].column);
}

/* information_schema.COLUMNS' row for the query's column. */
static void pb_where_column(struct pbuf *b, const struct rules_fact_query *q)
{
	pb_where_table(b, &q->table);
	pb_puts(b, " AND COLUMN_NAME = ");
	pb_name_literal(b, q->parts[0].column);
}

/* A character set name goes into the probe unquoted (CONVERT ... USING
 * takes a name): letters, digits and '_' only. */
static bool charset_ok(const char *cs)
{
	if (!cs || !*cs || strlen(cs) > 32)
		return false;
	for (const char *p = cs; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_'))
			return false;
	return true;
}

bool probe_sql_build(const struct rules_fact_query *q, long timeout_ms, char *buf, size_t n)
{
	struct pbuf b = {buf, n, 0, false};
	if (n)
		buf[0] = '\0';
	if (!q->table.name)
		return false;
	switch (q->kind) {
	case FACT_HAS_ROWS:
		pb_select(&b, timeout_ms);
		pb_puts(&b, "COUNT(*) FROM (SELECT 1 FROM ");
		pb_table(&b, &q->table);
		pb_puts(&b, " LIMIT 2) AS ddlgate_probe");
		break;
	case FACT_DUPLICATES:
		if (!parts_ok(q->parts, q->nparts))
			return false;
		pb_select(&b, timeout_ms);
		for (size_t i = 0; i < q->nparts; i++) {
			pb_part(&b, NULL, &q->parts[i]);
			pb_puts(&b, ", ");
		}
		pb_puts(&b, "COUNT(*) FROM ");
		pb_table(&b, &q->table);
		for (size_t i = 0; i < q->nparts; i++) {
			pb_puts(&b, i ? " AND " : " WHERE ");
			pb_ident(&b, q->parts[i].column);
			pb_puts(&b, " IS NOT NULL");
		}
		pb_puts(&b, " GROUP BY ");
		for (size_t i = 0; i < q->nparts; i++)
			pb_printf(&b, "%s%zu", i ? ", " : "", i + 1);
		pb_puts(&b, " HAVING COUNT(*) > 1 LIMIT 1");
		break;
	case FACT_NULLS:
	case FACT_COLUMN_DATA:
		if (!parts_ok(q->parts, q->nparts))
			return false;
		pb_exists_where(&b, q, timeout_ms);
		pb_puts(&b, q->kind == FACT_NULLS ? " IS NULL)" : " IS NOT NULL)");
		break;
	case FACT_LARGE_TABLE:
		pb_select(&b, timeout_ms);
		pb_puts(&b, "DATA_LENGTH + INDEX_LENGTH FROM information_schema.TABLES");
		pb_where_table(&b, &q->table);
		break;
	case FACT_ORPHANS:
		if (!parts_ok(q->parts, q->nparts) || !parts_ok(q->ref_parts, q->nparts) ||
		    !q->ref.name)
			return false;
		pb_select(&b, timeout_ms);
		for (size_t i = 0; i < q->nparts; i++) {
			if (i)
				pb_puts(&b, ", ");
			pb_part(&b, "c", &q->parts[i]);
		}
		pb_puts(&b, " FROM ");
		pb_table(&b, &q->table);
		pb_puts(&b, " AS c WHERE ");
		for (size_t i = 0; i < q->nparts; i++) {
			pb_puts(&b, "c.");
			pb_ident(&b, q->parts[i].column);
			pb_puts(&b, " IS NOT NULL AND ");
		}
		pb_puts(&b, "NOT EXISTS (SELECT 1 FROM ");
		pb_table(&b, &q->ref);
		pb_puts(&b, " AS p WHERE ");
		for (size_t i = 0; i < q->nparts; i++) {
			if (i)
				pb_puts(&b, " AND ");
			pb_puts(&b, "p.");
			pb_ident(&b, q->ref_parts[i].column);
			pb_puts(&b, " = c.");
			pb_ident(&b, q->parts[i].column);
		}
		pb_puts(&b, ") LIMIT 1");
		break;
	case FACT_SCHEMA_TABLES:
		pb_select(&b, timeout_ms);
		pb_puts(&b, "COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ");
		pb_name_literal(&b, q->table.name);
		/* everything that holds rows: system-versioned tables and sequences too */
		pb_puts(&b, " AND TABLE_TYPE NOT IN ('VIEW', 'SYSTEM VIEW')");
		break;
	case FACT_COLUMN_TYPE:
		if (!parts_ok(q->parts, q->nparts))
			return false;
		pb_select(&b, timeout_ms);
		pb_puts(&b, "LOWER(COLUMN_TYPE) FROM information_schema.COLUMNS");
		pb_where_column(&b, q);
		break;
	case FACT_LOSSY_CHARSET:
		/* round trip through the target, compared as Unicode code points
		 * (utf8mb4_bin): a character the target lacks comes back as '?' */
		if (!parts_ok(q->parts, q->nparts) || !charset_ok(q->charset))
			return false;
		pb_select(&b, timeout_ms);
		pb_puts(&b, "EXISTS(SELECT 1 FROM ");
		pb_table(&b, &q->table);
		pb_puts(&b, " WHERE CONVERT(");
		pb_ident(&b, q->parts[0].column);
		pb_puts(&b, " USING utf8mb4) COLLATE utf8mb4_bin <> CONVERT(CONVERT(");
		pb_ident(&b, q->parts[0].column);
		pb_printf(&b, " USING %s)", q->charset);
		pb_puts(&b, " USING utf8mb4) COLLATE utf8mb4_bin)");
		break;
	case FACT_NEGATIVES:
		if (!parts_ok(q->parts, q->nparts))
			return false;
		pb_exists_where(&b, q, timeout_ms);
		pb_puts(&b, " < 0)");
		break;
	case FACT_COLUMN_GENERATED:
		/* not LIKE '%GENERATED': MySQL marks expression defaults DEFAULT_GENERATED */
		if (!parts_ok(q->parts, q->nparts))
			return false;
		pb_select(&b, timeout_ms);
		pb_puts(&b, "EXISTS(SELECT 1 FROM information_schema.COLUMNS");
		pb_where_column(&b, q);
		pb_puts(&b, " AND EXTRA IN ('VIRTUAL GENERATED', 'STORED GENERATED', 'VIRTUAL', "
			    "'PERSISTENT'))");
		break;
	case FACT_COLUMN_CHARSET:
		/* the collation's name, not a join on COLLATION_CHARACTER_SET_APPLICABILITY:
		 * MariaDB 11 shares collation names between character sets */
		if (!parts_ok(q->parts, q->nparts))
			return false;
		pb_select(&b, timeout_ms);
		pb_puts(&b, "IFNULL(CHARACTER_SET_NAME, ''), (SELECT TABLE_COLLATION FROM "
			    "information_schema.TABLES");
		pb_where_table(&b, &q->table);
		pb_puts(&b, ") FROM information_schema.COLUMNS");
		pb_where_column(&b, q);
		break;
	case FACT_TABLE_COMMENT:
		pb_select(&b, timeout_ms);
		pb_puts(&b, "TABLE_COMMENT FROM information_schema.TABLES");
		pb_where_table(&b, &q->table);
		break;
	default:
		return false;
	}
	return !b.overflow;
}

/* Reads row[i] as an unsigned number; false for NULL or garbage. */
static bool row_u64(const char *const *row, unsigned ncols, unsigned i, uint64_t *out)
{
	if (!row || i >= ncols || !row[i])
		return false;
	char *end;
	unsigned long long v = strtoull(row[i], &end, 10);
	if (end == row[i])
		return false;
	*out = v;
	return true;
}

/* "'a', 'b'": the first k values of row, quoted and cut to fit detail;
 * mask: each value (not NULL) is PROBE_SQL_MASK instead. */
static void sample_text(const char *const *row, const unsigned long *lens, unsigned k, bool mask,
			char *detail, size_t n)
{
	struct pbuf b = {detail, n, 0, false};
	detail[0] = '\0';
	for (unsigned i = 0; i < k; i++) {
		if (i)
			pb_puts(&b, ", ");
		if (!row[i]) {
			pb_puts(&b, "NULL");
			continue;
		}
		if (mask) {
			pb_puts(&b, PROBE_SQL_MASK);
			continue;
		}
		size_t len = lens ? lens[i] : strlen(row[i]);
		if (len > 60)
			len = 60;
		pb_putn(&b, "'", 1);
		for (size_t j = 0; j < len; j++) {
			unsigned char ch = (unsigned char)row[i][j];
			if (ch < 0x20 || ch == 0x7f)
				pb_putn(&b, "?", 1);
			else
				pb_putn(&b, (const char *)&ch, 1);
		}
		pb_putn(&b, "'", 1);
	}
	if (b.overflow && n > 4)
		memcpy(detail + n - 4, "...", 4);
}

void probe_sql_answer(const struct rules_fact_query *q, const char *const *row,
		      const unsigned long *lens, unsigned ncols, struct rules_fact_answer *out)
{
	probe_sql_answer_mask(q, row, lens, ncols, false, out);
}

void probe_sql_answer_mask(const struct rules_fact_query *q, const char *const *row,
			   const unsigned long *lens, unsigned ncols, bool mask,
			   struct rules_fact_answer *out)
{
	uint64_t v = 0;
	out->status = RULES_FACT_OK;
	out->value = RULES_UNKNOWN;
	out->number = 0;
	out->detail[0] = '\0';
	switch (q->kind) {
	case FACT_HAS_ROWS:
	case FACT_NULLS:
	case FACT_COLUMN_DATA:
	case FACT_SCHEMA_TABLES:
	case FACT_LOSSY_CHARSET:
	case FACT_NEGATIVES:
	case FACT_COLUMN_GENERATED:
		if (!row_u64(row, ncols, 0, &v))
			break;
		out->number = v;
		out->value = v ? RULES_YES : RULES_NO;
		return;
	case FACT_DUPLICATES:
		if (!row) {
			out->value = RULES_NO;
			return;
		}
		if (ncols < q->nparts + 1 || !row_u64(row, ncols, (unsigned)q->nparts, &v))
			break;
		out->value = RULES_YES;
		out->number = v;
		sample_text(row, lens, (unsigned)q->nparts, mask, out->detail, sizeof(out->detail));
		return;
	case FACT_ORPHANS:
		if (!row) {
			out->value = RULES_NO;
			return;
		}
		out->value = RULES_YES;
		sample_text(row, lens, ncols < q->nparts ? ncols : (unsigned)q->nparts, mask,
			    out->detail, sizeof(out->detail));
		return;
	case FACT_LARGE_TABLE:
		if (!row) {
			snprintf(out->detail, sizeof(out->detail), "table not found");
			break;
		}
		if (!row_u64(row, ncols, 0, &v))
			break;
		out->number = v;
		out->value = v > q->threshold ? RULES_YES : RULES_NO;
		return;
	case FACT_COLUMN_CHARSET:
		if (!row) {
			out->value = RULES_NO;
			return;
		}
		if (ncols < 2 || !row[0] || !row[1])
			break;
		out->value = RULES_YES;
		snprintf(out->detail, sizeof(out->detail), "%s %s", row[0], row[1]);
		return;
	case FACT_COLUMN_TYPE:
	case FACT_TABLE_COMMENT:
		if (!row) {
			out->value = RULES_NO;
			return;
		}
		if (ncols < 1 || !row[0])
			break;
		out->value = RULES_YES;
		snprintf(out->detail, sizeof(out->detail), "%s", row[0]);
		return;
	}
	out->status = RULES_FACT_FAILED;
	out->value = RULES_UNKNOWN;
	if (!out->detail[0])
		snprintf(out->detail, sizeof(out->detail), "unexpected probe result");
}
