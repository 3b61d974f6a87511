/* Configuration loader: one INI file through libinih, driven by one key table. */
#include "config/cfg.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <ini.h>

/*
 * How a value is stored and parsed. The "multi" types (ADDR_LIST, LIST,
 * SCHEDULE) accumulate: the first line in a file replaces the default, later
 * lines append. Every other key may appear once per section.
 */
enum cfg_type {
	CFG_T_ADDR_LIST, /* struct cfg_addr[], count at count_off; comma list */
	CFG_T_ADDR,	 /* struct cfg_addr */
	CFG_T_STR,	 /* char *, owned; "" = unset (NULL) */
	CFG_T_PATH,	 /* like STR, relative to the config file's directory */
	CFG_T_INT,	 /* int within [min, max] */
	CFG_T_BOOL,
	CFG_T_SIZE,	/* uint64_t bytes within [min, max] */
	CFG_T_ENUM,	/* int, index into names */
	CFG_T_LIST,	/* struct rules_patterns */
	CFG_T_SCHEDULE, /* struct cfg_schedule[], count at count_off; one per line */
};

struct cfg_key {
	const char *section;
	const char *name;
	enum cfg_type type;
	size_t off;
	const char *def;	  /* default as it would be written in the file; NULL = unset */
	bool reloadable;	  /* SIGHUP may change it; otherwise a restart is needed */
	const char *const *names; /* CFG_T_ENUM: index = value, NULL entries not accepted */
	long long min, max;	  /* CFG_T_INT, CFG_T_SIZE */
	size_t count_off;	  /* CFG_T_ADDR_LIST, CFG_T_SCHEDULE */
};

static const char *const cfg_tls_client_names[] = {"off", "optional", "required", NULL};
static const char *const cfg_tls_backend_names[] = {"off", "preferred", "verify-ca",
						    "verify-identity", NULL};
static const char *const cfg_record_names[] = {"ddl", "writes", "all", NULL};
static const char *const cfg_fsync_names[] = {"always", "interval", NULL};
static const char *const cfg_on_failure_names[] = {"block", "allow", NULL};
static const char *const cfg_record_params_names[] = {"types", "values", NULL};
static const char *const cfg_sample_values_names[] = {"show", "mask", NULL};
static const char *const cfg_conflict_names[] = {"block", "hold", NULL};
static const char *const cfg_scope_names[] = {"server", "schema", "table", NULL};
/* Index = enum rules_spec_action; index 0 (RULES_SPEC_DEFAULT) is not
 * something one writes. */
static const char *const cfg_action_names[] = {[RULES_SPEC_DEFAULT] = "",
					       [RULES_SPEC_OFF] = "off",
					       [RULES_SPEC_WARN] = "warn",
					       [RULES_SPEC_BLOCK] = "block",
					       NULL};

#define OFF(f) offsetof(struct cfg, f)
#define KEY(s, n, t, o, d, r, ...)                                                                 \
	{                                                                                          \
		.section = s, .name = n, .type = t, .off = o, .def = d, .reloadable = r,           \
		__VA_ARGS__                                                                        \
	}
#define G (1024LL * 1024 * 1024)

/*
 * Default lock names. '#' matches a run of digits: Rails (MIGRATOR_SALT *
 * CRC32(database)) and golang-migrate (CRC32("db:table") * salt) both take
 * GET_LOCK with a decimal number as the name. Flyway names its lock
 * "Flyway-<hash>", sqitch "sqitch working on <database>".
 */
#define CFG_DEFAULT_LOCK_NAMES "prisma_migrate, atlas_migrate_execute, Flyway-*, sqitch working*, #"
/* Migration-history tables of the tools (see docs/migration-tools.md): Django,
 * Alembic, Sequelize, Drizzle, Rails / golang-migrate / dbmate, knex, Flyway,
 * Liquibase, Prisma, db-migrate / TypeORM (migrations), Rails' ar_internal_metadata. */
#define CFG_DEFAULT_HISTORY_TABLES                                                                 \
	"django_migrations, alembic_version, SequelizeMeta, __drizzle_migrations, "                \
	"schema_migrations, knex_migrations, flyway_schema_history, DATABASECHANGELOG, "           \
	"_prisma_migrations, migrations, ar_internal_metadata"

/* The single list of settings. README.md's reference follows this table. */
/* clang-format off */
static const struct cfg_key cfg_keys[] = {
	KEY("proxy", "listen", CFG_T_ADDR_LIST, OFF(proxy.listen), "127.0.0.1:3307", false, .count_off = OFF(proxy.nlisten)),
	KEY("proxy", "backend", CFG_T_ADDR, OFF(proxy.backend), "127.0.0.1:3306", false),
	KEY("proxy", "backend_socket", CFG_T_PATH, OFF(proxy.backend_socket), NULL, false),
	KEY("proxy", "threads", CFG_T_INT, OFF(proxy.threads), "0", false, .min = 0, .max = 1024),
	KEY("proxy", "max_connections", CFG_T_INT, OFF(proxy.max_connections), "4096", true, .min = 1, .max = 1000000),
	KEY("proxy", "max_packet", CFG_T_SIZE, OFF(proxy.max_packet), "64M", true, .min = 1024, .max = G),
	KEY("proxy", "handshake_timeout_ms", CFG_T_INT, OFF(proxy.handshake_timeout_ms), "10000", true, .min = 1, .max = INT_MAX),
	KEY("proxy", "idle_timeout_s", CFG_T_INT, OFF(proxy.idle_timeout_s), "0", true, .min = 0, .max = INT_MAX),
	KEY("proxy", "connect_timeout_ms", CFG_T_INT, OFF(proxy.connect_timeout_ms), "5000", true, .min = 1, .max = INT_MAX),
	KEY("proxy", "shutdown_timeout_ms", CFG_T_INT, OFF(proxy.shutdown_timeout_ms), "10000", true, .min = 0, .max = INT_MAX),
	KEY("proxy", "allow_plaintext_backend", CFG_T_BOOL, OFF(proxy.allow_plaintext_backend), "false", true),
	KEY("proxy", "allow_replication", CFG_T_BOOL, OFF(proxy.allow_replication), "false", true),
	KEY("proxy", "allow_local_infile", CFG_T_BOOL, OFF(proxy.allow_local_infile), "false", true),

	KEY("tls", "cert", CFG_T_PATH, OFF(tls.cert), NULL, false),
	KEY("tls", "key", CFG_T_PATH, OFF(tls.key), NULL, false),
	/* Default decided after parsing: optional when cert is given, else off. */
	KEY("tls", "client", CFG_T_ENUM, OFF(tls.client), NULL, false, .names = cfg_tls_client_names),
	KEY("tls", "backend", CFG_T_ENUM, OFF(tls.backend), "preferred", false, .names = cfg_tls_backend_names),
	KEY("tls", "backend_ca", CFG_T_PATH, OFF(tls.backend_ca), NULL, false),
	KEY("tls", "backend_name", CFG_T_STR, OFF(tls.backend_name), NULL, false),

	KEY("admin", "listen", CFG_T_ADDR, OFF(admin.listen), "127.0.0.1:9307", false),
	KEY("admin", "enabled", CFG_T_BOOL, OFF(admin.enabled), "true", false),
	KEY("admin", "token_file", CFG_T_PATH, OFF(admin.token_file), NULL, true),

	KEY("audit", "path", CFG_T_PATH, OFF(audit.path), NULL, false),
	KEY("audit", "record", CFG_T_ENUM, OFF(audit.record), "ddl", true, .names = cfg_record_names),
	KEY("audit", "fsync", CFG_T_ENUM, OFF(audit.fsync), "always", true, .names = cfg_fsync_names),
	KEY("audit", "fsync_interval_ms", CFG_T_INT, OFF(audit.fsync_interval_ms), "100", true, .min = 1, .max = 60000),
	KEY("audit", "on_failure", CFG_T_ENUM, OFF(audit.on_failure), "block", true, .names = cfg_on_failure_names),
	KEY("audit", "record_params", CFG_T_ENUM, OFF(audit.record_params), "types", true, .names = cfg_record_params_names),
	KEY("audit", "rotate_bytes", CFG_T_SIZE, OFF(audit.rotate_bytes), "0", true, .min = 0, .max = 1024 * G),
	KEY("audit", "instance", CFG_T_STR, OFF(audit.instance), NULL, false),
	KEY("audit", "mirror", CFG_T_BOOL, OFF(audit.mirror), "false", false),
	KEY("audit", "mirror_table", CFG_T_STR, OFF(audit.mirror_table), "ddlgate.audit", false),
	KEY("audit", "drift_interval_s", CFG_T_INT, OFF(audit.drift_interval_s), "60", false, .min = 0, .max = 86400),
	KEY("audit", "checkpoint_every", CFG_T_INT, OFF(audit.checkpoint_every), "1000", false, .min = 0, .max = INT_MAX),
	KEY("audit", "key_file", CFG_T_PATH, OFF(audit.key_file), NULL, false),

	KEY("migration", "users", CFG_T_LIST, OFF(migration.users), NULL, true),
	KEY("migration", "lock_names", CFG_T_LIST, OFF(migration.lock_names), CFG_DEFAULT_LOCK_NAMES, true),
	KEY("migration", "history_tables", CFG_T_LIST, OFF(migration.history_tables), CFG_DEFAULT_HISTORY_TABLES, true),
	KEY("migration", "history_idle_s", CFG_T_INT, OFF(migration.history_idle_s), "300", true, .min = 0, .max = 86400),
	KEY("migration", "conflict", CFG_T_ENUM, OFF(migration.conflict), "block", true, .names = cfg_conflict_names),
	KEY("migration", "hold_timeout_ms", CFG_T_INT, OFF(migration.hold_timeout_ms), "30000", true, .min = 0, .max = INT_MAX),
	KEY("migration", "scope", CFG_T_ENUM, OFF(migration.scope), "server", true, .names = cfg_scope_names),
	KEY("migration", "cluster_lock", CFG_T_STR, OFF(migration.cluster_lock), "ddlgate_migration", false),

	KEY("window", "schedule", CFG_T_SCHEDULE, OFF(window.schedule), NULL, true, .count_off = OFF(window.nschedule)),

	KEY("guard", "user", CFG_T_STR, OFF(guard.user), NULL, true),
	KEY("guard", "password", CFG_T_STR, OFF(guard.password), NULL, true),
	KEY("guard", "probe_timeout_ms", CFG_T_INT, OFF(guard.probe_timeout_ms), "2000", true, .min = 1, .max = INT_MAX),
	KEY("guard", "own_connection", CFG_T_BOOL, OFF(guard.own_connection), "true", true),
	KEY("guard", "large_table_bytes", CFG_T_SIZE, OFF(guard.large_table_bytes), "1G", true, .min = 0, .max = 1024 * 1024 * G),
	KEY("guard", "max_lock_wait_s", CFG_T_INT, OFF(guard.max_lock_wait_s), "60", true, .min = 0, .max = 31536000),
	KEY("guard", "ddl_lock_wait_ms", CFG_T_INT, OFF(guard.ddl_lock_wait_ms), "2000", true, .min = 0, .max = INT_MAX),
	KEY("guard", "ddl_lock_retries", CFG_T_INT, OFF(guard.ddl_lock_retries), "10", true, .min = 0, .max = 1000),
	KEY("guard", "sample_values", CFG_T_ENUM, OFF(guard.sample_values), "show", true, .names = cfg_sample_values_names),
	KEY("guard", "ddl_lock_deadline_ms", CFG_T_INT, OFF(guard.ddl_lock_deadline_ms), "60000", true, .min = 0, .max = INT_MAX),
	KEY("guard", "long_transaction_ms", CFG_T_INT, OFF(guard.long_transaction_ms), "10000", true, .min = 0, .max = INT_MAX),
};
/* clang-format on */
#define CFG_NKEYS (sizeof(cfg_keys) / sizeof(cfg_keys[0]))

/* Keys of a [rule "id"] section; offsets are into struct rules_spec, the
 * rule engine's input (config turns sections into specs, never the other
 * way round). */
#define ROFF(f) offsetof(struct rules_spec, f)
static const struct cfg_key cfg_rule_keys[] = {
    KEY("rule", "action", CFG_T_ENUM, ROFF(action), NULL, true, .names = cfg_action_names),
    KEY("rule", "pattern", CFG_T_STR, ROFF(pattern), NULL, true),
    KEY("rule", "message", CFG_T_STR, ROFF(message), NULL, true),
    KEY("rule", "schemas", CFG_T_LIST, ROFF(schemas), NULL, true),
    KEY("rule", "tables", CFG_T_LIST, ROFF(tables), NULL, true),
    KEY("rule", "users", CFG_T_LIST, ROFF(users), NULL, true),
};
#define CFG_NRULEKEYS (sizeof(cfg_rule_keys) / sizeof(cfg_rule_keys[0]))

static const char *const cfg_sections[] = {"proxy",	"tls",	  "admin", "audit",
					   "migration", "window", "guard", NULL};

/* State of one cfg_load(): the reader and the handler share it. */
struct cfg_parse {
	struct cfg *c;
	const char *path;
	char base_dir[PATH_MAX]; /* relative paths are joined to this; "" = leave as is */
	FILE *fp;
	char *linebuf; /* owned; getline's buffer */
	size_t linecap;
	int lineno;
	char section[256]; /* current section as the reader saw it, trimmed */
	int rule;	   /* index of the current [rule] section, -1 otherwise */
	int key_line[CFG_NKEYS];
	int rule_key_line[CFG_MAX_RULES][CFG_NRULEKEYS];
	int err_line; /* 0 = no error yet */
	char *err;
	size_t errlen;
};

/* ---- small helpers ------------------------------------------------------ */

static char *cfg_strdup(const char *s)
{
	char *d = strdup(s);
	if (!d)
		abort();
	return d;
}

/* Copies s without surrounding whitespace into out (outlen bytes). */
static void cfg_trim_copy(char *out, size_t outlen, const char *s, size_t n)
{
	while (n && isspace((unsigned char)*s)) {
		s++;
		n--;
	}
	while (n && isspace((unsigned char)s[n - 1]))
		n--;
	if (n >= outlen)
		n = outlen - 1;
	memcpy(out, s, n);
	out[n] = '\0';
}

/* CFG_T_ENUM fields are read and written as int. */
_Static_assert(
    sizeof(enum cfg_tls_client) == sizeof(int) && sizeof(enum cfg_tls_backend) == sizeof(int) &&
	sizeof(enum cfg_audit_record) == sizeof(int) && sizeof(enum cfg_fsync) == sizeof(int) &&
	sizeof(enum cfg_on_failure) == sizeof(int) && sizeof(enum cfg_conflict) == sizeof(int) &&
	sizeof(enum cfg_scope) == sizeof(int) && sizeof(enum rules_spec_action) == sizeof(int) &&
	sizeof(enum cfg_record_params) == sizeof(int) &&
	sizeof(enum cfg_sample_values) == sizeof(int),
    "enum fields must be int-sized");

static int cfg_enum_get(const void *field)
{
	int v;
	memcpy(&v, field, sizeof(v));
	return v;
}

static void cfg_enum_set(void *field, int v)
{
	memcpy(field, &v, sizeof(v));
}

static void cfg_list_clear(struct rules_patterns *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->items[i]);
	l->n = 0;
}

/* Writes "why" for a failed value; the caller adds file, line and key. */
__attribute__((format(printf, 3, 4))) static void cfg_why(char *why, size_t whylen, const char *fmt,
							  ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
}

/* ---- value parsers ------------------------------------------------------ */

bool cfg_parse_size(const char *s, uint64_t *out)
{
	const char *p = s;
	uint64_t v = 0;

	while (isspace((unsigned char)*p))
		p++;
	if (!isdigit((unsigned char)*p))
		return false;
	for (; isdigit((unsigned char)*p); p++) {
		if (v > (UINT64_MAX - 9) / 10)
			return false;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	unsigned shift = 0;
	switch (toupper((unsigned char)*p)) {
	case 'K':
		shift = 10;
		break;
	case 'M':
		shift = 20;
		break;
	case 'G':
		shift = 30;
		break;
	case 'T':
		shift = 40;
		break;
	}
	if (shift) {
		p++;
		/* "64M", "64MB" and "64MiB" all mean 64 * 2^20. */
		if (*p == 'i' || *p == 'I')
			p++;
		if (*p == 'b' || *p == 'B')
			p++;
	}
	while (isspace((unsigned char)*p))
		p++;
	if (*p)
		return false;
	if (shift && v > (UINT64_MAX >> shift))
		return false;
	*out = v << shift;
	return true;
}

/*
 * Parses "host:port" or "[v6addr]:port" into a. The host is stored without
 * brackets so it can go to getaddrinfo() as is. Returns false with why set.
 */
static bool cfg_parse_addr(const char *s, struct cfg_addr *a, char *why, size_t whylen)
{
	const char *colon, *host = s;
	size_t hostlen;

	if (*s == '[') {
		const char *close = strchr(s, ']');
		if (!close || close[1] != ':') {
			cfg_why(why, whylen, "\"%s\" is not host:port (IPv6: [::1]:3307)", s);
			return false;
		}
		host = s + 1;
		hostlen = (size_t)(close - host);
		colon = close + 1;
		char v6[64];
		struct in6_addr tmp;
		if (hostlen == 0 || hostlen >= sizeof(v6)) {
			cfg_why(why, whylen, "\"%s\" is not host:port", s);
			return false;
		}
		memcpy(v6, host, hostlen);
		v6[hostlen] = '\0';
		if (inet_pton(AF_INET6, v6, &tmp) != 1) {
			cfg_why(why, whylen, "\"%s\": \"%s\" is not an IPv6 address", s, v6);
			return false;
		}
	} else {
		colon = strrchr(s, ':');
		if (!colon) {
			cfg_why(why, whylen, "\"%s\" is not host:port (e.g. 127.0.0.1:3307)", s);
			return false;
		}
		hostlen = (size_t)(colon - s);
		if (memchr(s, ':', hostlen)) {
			cfg_why(why, whylen, "\"%s\": write IPv6 addresses in brackets, [::1]:3307",
				s);
			return false;
		}
		if (hostlen == 0) {
			cfg_why(why, whylen, "\"%s\" has no host (e.g. 127.0.0.1:3307)", s);
			return false;
		}
		for (size_t i = 0; i < hostlen; i++) {
			unsigned char ch = (unsigned char)s[i];
			if (!isalnum(ch) && ch != '.' && ch != '-' && ch != '_') {
				cfg_why(why, whylen, "\"%s\" is not host:port (bad host)", s);
				return false;
			}
		}
	}
	if (hostlen >= sizeof(a->host)) {
		cfg_why(why, whylen, "\"%s\": host name too long", s);
		return false;
	}
	const char *port = colon + 1;
	long v = 0;
	if (!*port || strlen(port) > 5) {
		cfg_why(why, whylen, "\"%s\" is not host:port (bad port)", s);
		return false;
	}
	for (const char *p = port; *p; p++) {
		if (!isdigit((unsigned char)*p)) {
			cfg_why(why, whylen, "\"%s\" is not host:port (bad port)", s);
			return false;
		}
		v = v * 10 + (*p - '0');
	}
	if (v < 1 || v > 65535) {
		cfg_why(why, whylen, "\"%s\": port must be 1-65535", s);
		return false;
	}
	memcpy(a->host, host, hostlen);
	a->host[hostlen] = '\0';
	a->port = (uint16_t)v;
	return true;
}

static const char *const cfg_day_names[7][2] = {
    {"mon", "monday"}, {"tue", "tuesday"},  {"wed", "wednesday"}, {"thu", "thursday"},
    {"fri", "friday"}, {"sat", "saturday"}, {"sun", "sunday"},
};

static int cfg_day(const char *s, size_t n)
{
	for (int d = 0; d < 7; d++)
		for (int k = 0; k < 2; k++)
			if (strlen(cfg_day_names[d][k]) == n &&
			    !strncasecmp(s, cfg_day_names[d][k], n))
				return d;
	return -1;
}

/* "Mon", "Mon-Fri", "Sat,Sun", "Mon-Wed,Fri", "daily" -> bitmask (bit 0 = Monday). */
static bool cfg_parse_days(const char *s, uint8_t *days)
{
	*days = 0;
	if (!strcasecmp(s, "daily")) {
		*days = 0x7f;
		return true;
	}
	while (*s) {
		size_t n = strcspn(s, ",");
		const char *dash = memchr(s, '-', n);
		int from, to;
		if (dash) {
			from = cfg_day(s, (size_t)(dash - s));
			to = cfg_day(dash + 1, n - (size_t)(dash - s) - 1);
		} else {
			from = to = cfg_day(s, n);
		}
		if (from < 0 || to < 0)
			return false;
		/* A range may wrap around the week: Fri-Mon. */
		for (int d = from;; d = (d + 1) % 7) {
			*days |= (uint8_t)(1u << d);
			if (d == to)
				break;
		}
		s += n;
		if (*s == ',') {
			s++;
			if (!*s)
				return false;
		}
	}
	return *days != 0;
}

/* "HH:MM" -> minutes; 24:00 only when allow_24. */
static bool cfg_parse_hhmm(const char *s, size_t n, bool allow_24, uint16_t *out)
{
	if (n != 5 || !isdigit((unsigned char)s[0]) || !isdigit((unsigned char)s[1]) ||
	    s[2] != ':' || !isdigit((unsigned char)s[3]) || !isdigit((unsigned char)s[4]))
		return false;
	int h = (s[0] - '0') * 10 + (s[1] - '0');
	int m = (s[3] - '0') * 10 + (s[4] - '0');
	if (m > 59 || h > 24 || (h == 24 && (m != 0 || !allow_24)))
		return false;
	*out = (uint16_t)(h * 60 + m);
	return true;
}

/* "UTC", "+02:00", "-05:30", "UTC+02:00" -> minutes east of UTC. */
static bool cfg_parse_zone(const char *s, int16_t *off, char *why, size_t whylen)
{
	if (!strncasecmp(s, "UTC", 3) || !strncasecmp(s, "GMT", 3)) {
		s += 3;
		if (!*s) {
			*off = 0;
			return true;
		}
	}
	uint16_t hm;
	if ((s[0] == '+' || s[0] == '-') && cfg_parse_hhmm(s + 1, strlen(s + 1), false, &hm) &&
	    hm <= 14 * 60) {
		*off = (int16_t)(s[0] == '-' ? -(int)hm : (int)hm);
		return true;
	}
	if (strchr(s, '/') || isalpha((unsigned char)s[0]))
		cfg_why(why, whylen,
			"time zone \"%s\" is not supported: named zones change their offset "
			"with daylight saving time; write UTC or a fixed offset like +02:00",
			s);
	else
		cfg_why(why, whylen, "\"%s\" is not a time zone (write UTC or +02:00)", s);
	return false;
}

/*
 * Parses one schedule line: "DAYS HH:MM-HH:MM [ZONE]" with ZONE defaulting
 * to UTC. Returns false with why set.
 */
static bool cfg_parse_schedule(const char *s, struct cfg_schedule *w, char *why, size_t whylen)
{
	char tok[3][96];
	int ntok = 0;
	const char *p = s;

	memset(w, 0, sizeof(*w));
	while (*p) {
		while (isspace((unsigned char)*p))
			p++;
		if (!*p)
			break;
		size_t n = strcspn(p, " \t");
		if (ntok == 3 || n >= sizeof(tok[0])) {
			ntok = 4;
			break;
		}
		memcpy(tok[ntok], p, n);
		tok[ntok][n] = '\0';
		ntok++;
		p += n;
	}
	if (ntok < 2 || ntok > 3) {
		cfg_why(why, whylen, "\"%s\" is not a schedule (e.g. Sat 02:00-04:00 UTC)", s);
		return false;
	}
	if (!cfg_parse_days(tok[0], &w->days)) {
		cfg_why(why, whylen,
			"\"%s\": \"%s\" is not a day list (Mon, Mon-Fri, Sat,Sun or daily)", s,
			tok[0]);
		return false;
	}
	const char *dash = strchr(tok[1], '-');
	if (!dash || !cfg_parse_hhmm(tok[1], (size_t)(dash - tok[1]), false, &w->start_min) ||
	    !cfg_parse_hhmm(dash + 1, strlen(dash + 1), true, &w->end_min)) {
		cfg_why(why, whylen, "\"%s\": \"%s\" is not a time range (HH:MM-HH:MM)", s, tok[1]);
		return false;
	}
	if (w->start_min == w->end_min) {
		cfg_why(why, whylen, "\"%s\": the window is empty (start = end)", s);
		return false;
	}
	if (ntok == 3 && !cfg_parse_zone(tok[2], &w->utc_offset_min, why, whylen))
		return false;
	cfg_trim_copy(w->text, sizeof(w->text), s, strlen(s));
	return true;
}

/* ---- storing values ----------------------------------------------------- */

/* Strips one pair of surrounding double quotes: message = "a; b". */
static void cfg_unquote(char *buf, size_t buflen, const char *value)
{
	size_t n = strlen(value);
	if (n >= 2 && value[0] == '"' && value[n - 1] == '"')
		cfg_trim_copy(buf, buflen, value + 1, n - 2);
	else
		cfg_trim_copy(buf, buflen, value, n);
}

/*
 * Stores value into the field of base that k describes. append is true for a
 * second line of a multi key. base_dir resolves relative CFG_T_PATH values
 * ("" leaves them alone). Returns false with why set; base is then
 * unchanged for scalar keys.
 */
/* The next item of a comma-separated value at *cursor, trimmed, into one
 * (empty items skipped); false when none is left. */
static bool cfg_next_item(const char **cursor, char *one, size_t cap)
{
	while (*cursor) {
		const char *item = *cursor;
		const char *comma = strchr(item, ',');
		cfg_trim_copy(one, cap, item, comma ? (size_t)(comma - item) : strlen(item));
		*cursor = comma ? comma + 1 : NULL;
		if (*one)
			return true;
	}
	return false;
}

static bool cfg_set(void *base, const struct cfg_key *k, const char *value, bool append,
		    const char *base_dir, char *why, size_t whylen)
{
	char *field = (char *)base + k->off;
	char buf[1024];

	cfg_unquote(buf, sizeof(buf), value);
	switch (k->type) {
	case CFG_T_ADDR_LIST: {
		struct cfg_addr *arr = (struct cfg_addr *)field;
		size_t *count = (size_t *)((char *)base + k->count_off);
		struct cfg_addr tmp[CFG_MAX_LISTEN];
		size_t n = append ? *count : 0;
		memcpy(tmp, arr, sizeof(tmp));
		char one[300];
		for (const char *item = buf; cfg_next_item(&item, one, sizeof(one));) {
			if (n == CFG_MAX_LISTEN) {
				cfg_why(why, whylen, "at most %d addresses", CFG_MAX_LISTEN);
				return false;
			}
			if (!cfg_parse_addr(one, &tmp[n], why, whylen))
				return false;
			n++;
		}
		if (n == 0) {
			cfg_why(why, whylen, "needs at least one host:port");
			return false;
		}
		memcpy(arr, tmp, sizeof(tmp));
		*count = n;
		return true;
	}
	case CFG_T_ADDR: {
		struct cfg_addr tmp;
		if (!cfg_parse_addr(buf, &tmp, why, whylen))
			return false;
		memcpy(field, &tmp, sizeof(tmp));
		return true;
	}
	case CFG_T_STR:
	case CFG_T_PATH: {
		char **sp = (char **)field;
		char *nv = NULL;
		if (*buf) {
			if (k->type == CFG_T_PATH && buf[0] != '/' && *base_dir) {
				size_t n = strlen(base_dir) + 1 + strlen(buf) + 1;
				nv = malloc(n);
				if (!nv)
					abort();
				snprintf(nv, n, "%s/%s", base_dir, buf);
			} else {
				nv = cfg_strdup(buf);
			}
		}
		free(*sp);
		*sp = nv;
		return true;
	}
	case CFG_T_INT: {
		char *end;
		errno = 0;
		long long v = strtoll(buf, &end, 10);
		if (!*buf || *end || errno) {
			cfg_why(why, whylen, "\"%s\" is not a whole number", buf);
			return false;
		}
		if (v < k->min || v > k->max) {
			cfg_why(why, whylen, "%lld is out of range (%lld-%lld)", v, k->min, k->max);
			return false;
		}
		*(int *)field = (int)v;
		return true;
	}
	case CFG_T_BOOL: {
		static const char *const yes[] = {"true", "yes", "on", "1"};
		static const char *const no[] = {"false", "no", "off", "0"};
		for (size_t i = 0; i < 4; i++) {
			if (!strcasecmp(buf, yes[i])) {
				*(bool *)field = true;
				return true;
			}
			if (!strcasecmp(buf, no[i])) {
				*(bool *)field = false;
				return true;
			}
		}
		cfg_why(why, whylen, "\"%s\" is not a boolean (true/false, yes/no, on/off, 1/0)",
			buf);
		return false;
	}
	case CFG_T_SIZE: {
		uint64_t v;
		if (!cfg_parse_size(buf, &v)) {
			cfg_why(why, whylen, "\"%s\" is not a size (use 64M, 1G, ...)", buf);
			return false;
		}
		if (v < (uint64_t)k->min || v > (uint64_t)k->max) {
			cfg_why(why, whylen, "\"%s\" is out of range (%lld-%lld bytes)", buf,
				k->min, k->max);
			return false;
		}
		*(uint64_t *)field = v;
		return true;
	}
	case CFG_T_ENUM: {
		for (int i = 0; k->names[i]; i++) {
			if (*k->names[i] && !strcasecmp(buf, k->names[i])) {
				cfg_enum_set(field, i);
				return true;
			}
		}
		char list[256] = "";
		for (int i = 0; k->names[i]; i++) {
			if (!*k->names[i])
				continue;
			size_t used = strlen(list);
			snprintf(list + used, sizeof(list) - used, "%s%s", used ? " | " : "",
				 k->names[i]);
		}
		cfg_why(why, whylen, "\"%s\" is not one of %s", buf, list);
		return false;
	}
	case CFG_T_LIST: {
		struct rules_patterns *l = (struct rules_patterns *)field;
		struct rules_patterns add = {0};
		size_t have = append ? l->n : 0;
		char one[256];
		for (const char *item = buf; cfg_next_item(&item, one, sizeof(one));) {
			if (have + add.n == CFG_MAX_LIST) {
				cfg_list_clear(&add);
				cfg_why(why, whylen, "at most %d items", CFG_MAX_LIST);
				return false;
			}
			add.items[add.n++] = cfg_strdup(one);
		}
		if (!append)
			cfg_list_clear(l);
		for (size_t i = 0; i < add.n; i++)
			l->items[l->n++] = add.items[i];
		return true;
	}
	case CFG_T_SCHEDULE: {
		struct cfg_schedule *arr = (struct cfg_schedule *)field;
		size_t *count = (size_t *)((char *)base + k->count_off);
		size_t n = append ? *count : 0;
		if (!*buf && !append) { /* "schedule =" clears: no windows */
			*count = 0;
			return true;
		}
		if (n == CFG_MAX_SCHEDULES) {
			cfg_why(why, whylen, "at most %d schedules", CFG_MAX_SCHEDULES);
			return false;
		}
		if (!cfg_parse_schedule(buf, &arr[n], why, whylen))
			return false;
		*count = n + 1;
		return true;
	}
	}
	return false;
}

/* Frees what field k of base owns. */
static void cfg_field_free(void *base, const struct cfg_key *k)
{
	char *field = (char *)base + k->off;
	if (k->type == CFG_T_STR || k->type == CFG_T_PATH) {
		free(*(char **)field);
		*(char **)field = NULL;
	} else if (k->type == CFG_T_LIST) {
		cfg_list_clear((struct rules_patterns *)field);
	}
}

static bool cfg_str_eq(const char *a, const char *b)
{
	if (!a || !b)
		return a == b;
	return strcmp(a, b) == 0;
}

/* True when field k holds the same value in a and b. */
static bool cfg_field_equal(const void *a, const void *b, const struct cfg_key *k)
{
	const char *fa = (const char *)a + k->off, *fb = (const char *)b + k->off;
	switch (k->type) {
	case CFG_T_ADDR_LIST:
	case CFG_T_SCHEDULE: {
		size_t na = *(const size_t *)((const char *)a + k->count_off);
		size_t nb = *(const size_t *)((const char *)b + k->count_off);
		size_t sz = k->type == CFG_T_ADDR_LIST ? sizeof(struct cfg_addr)
						       : sizeof(struct cfg_schedule);
		if (na != nb)
			return false;
		for (size_t i = 0; i < na; i++) {
			if (k->type == CFG_T_ADDR_LIST) {
				const struct cfg_addr *x = (const void *)(fa + i * sz);
				const struct cfg_addr *y = (const void *)(fb + i * sz);
				if (strcmp(x->host, y->host) || x->port != y->port)
					return false;
			} else if (strcmp(((const struct cfg_schedule *)(const void *)(fa + i * sz))
					      ->text,
					  ((const struct cfg_schedule *)(const void *)(fb + i * sz))
					      ->text)) {
				return false;
			}
		}
		return true;
	}
	case CFG_T_ADDR: {
		const struct cfg_addr *x = (const void *)fa, *y = (const void *)fb;
		return !strcmp(x->host, y->host) && x->port == y->port;
	}
	case CFG_T_STR:
	case CFG_T_PATH:
		return cfg_str_eq(*(char *const *)fa, *(char *const *)fb);
	case CFG_T_INT:
		return *(const int *)fa == *(const int *)fb;
	case CFG_T_BOOL:
		return *(const bool *)fa == *(const bool *)fb;
	case CFG_T_SIZE:
		return *(const uint64_t *)fa == *(const uint64_t *)fb;
	case CFG_T_ENUM:
		return cfg_enum_get(fa) == cfg_enum_get(fb);
	case CFG_T_LIST: {
		const struct rules_patterns *x = (const void *)fa, *y = (const void *)fb;
		if (x->n != y->n)
			return false;
		for (size_t i = 0; i < x->n; i++)
			if (strcmp(x->items[i], y->items[i]))
				return false;
		return true;
	}
	}
	return false;
}

/* ---- the parse ---------------------------------------------------------- */

/* Records the first error: "FILE:LINE: [section] key: why". */
__attribute__((format(printf, 4, 5))) static void cfg_error(struct cfg_parse *p, int line,
							    const char *where, const char *fmt, ...)
{
	if (p->err_line)
		return;
	p->err_line = line > 0 ? line : INT_MAX;
	char why[768];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	if (line > 0)
		snprintf(p->err, p->errlen, "%s:%d: %s%s%s", p->path, line, where,
			 *where ? ": " : "", why);
	else
		snprintf(p->err, p->errlen, "%s: %s%s%s", p->path, where, *where ? ": " : "", why);
}

static bool cfg_rule_id_ok(const char *id)
{
	if (!*id || strlen(id) > 64)
		return false;
	for (const char *q = id; *q; q++)
		if (!isalnum((unsigned char)*q) && *q != '-' && *q != '_' && *q != '.')
			return false;
	return true;
}

/*
 * A section header as the reader sees it. Known sections are remembered so
 * the handler can check keys; [rule "id"] creates the rule here, so a rule
 * section with no keys still exists and has its line.
 */
static void cfg_section(struct cfg_parse *p, const char *name)
{
	snprintf(p->section, sizeof(p->section), "%s", name);
	p->rule = -1;
	for (int i = 0; cfg_sections[i]; i++)
		if (!strcmp(name, cfg_sections[i]))
			return;
	if (!strncmp(name, "rule", 4) && isspace((unsigned char)name[4])) {
		char id[128];
		const char *q = name + 4;
		while (isspace((unsigned char)*q))
			q++;
		size_t n = strlen(q);
		if (n >= 2 && q[0] == '"' && q[n - 1] == '"')
			cfg_trim_copy(id, sizeof(id), q + 1, n - 2);
		else
			cfg_trim_copy(id, sizeof(id), q, n);
		if (!cfg_rule_id_ok(id)) {
			cfg_error(p, p->lineno, "",
				  "[%s]: \"%s\" is not a rule id (letters, digits, -, _, .)", name,
				  id);
			return;
		}
		struct cfg *c = p->c;
		for (size_t i = 0; i < c->nrules; i++) {
			if (!strcmp(c->rules[i].id, id)) {
				cfg_error(p, p->lineno, "",
					  "[%s]: defined twice (first on line %d)", name,
					  c->rules[i].line);
				return;
			}
		}
		if (c->nrules == CFG_MAX_RULES) {
			cfg_error(p, p->lineno, "", "[%s]: at most %d rule sections", name,
				  CFG_MAX_RULES);
			return;
		}
		struct rules_spec *r = &c->rules[c->nrules];
		memset(r, 0, sizeof(*r));
		r->id = cfg_strdup(id);
		r->line = p->lineno;
		p->rule = (int)c->nrules++;
		return;
	}
	cfg_error(p, p->lineno, "",
		  "[%s]: unknown section (known: proxy, tls, admin, audit, "
		  "migration, window, guard, rule \"id\")",
		  name);
}

/*
 * libinih's line source. It reads whole lines itself so it knows the line
 * number (Debian's libinih is built without INI_HANDLER_LINENO and inih
 * calls the handler for a line before it asks for the next one), rejects
 * lines longer than inih's buffer instead of letting inih split them, and
 * strips leading whitespace: inih would take an indented line as the
 * continuation of the previous value, which is never what an indented
 * config means.
 */
static char *cfg_reader(char *buf, int size, void *stream)
{
	struct cfg_parse *p = stream;
	ssize_t n = getline(&p->linebuf, &p->linecap, p->fp);
	if (n < 0) {
		if (ferror(p->fp)) /* e.g. the path is a directory */
			cfg_error(p, 0, "", "cannot read: %s", strerror(errno));
		return NULL;
	}
	p->lineno++;
	char *line = p->linebuf;
	if (p->lineno == 1 && n >= 3 && !memcmp(line, "\xEF\xBB\xBF", 3)) {
		line += 3;
		n -= 3;
	}
	while (n > 0 && isspace((unsigned char)*line) && *line != '\n') {
		line++;
		n--;
	}
	if (memchr(line, '\0', (size_t)n)) {
		cfg_error(p, p->lineno, "", "NUL byte in the file");
		buf[0] = '\0';
		return buf;
	}
	if (n >= size && (*line == ';' || *line == '#')) {
		buf[0] = '\0'; /* a long comment is still a comment */
		return buf;
	}
	if (n >= size) {
		cfg_error(p, p->lineno, "", "line too long (at most %d characters)", size - 2);
		buf[0] = '\0';
		return buf;
	}
	memcpy(buf, line, (size_t)n + 1);
	if (buf[0] == '[') {
		/* Same rules as inih: the name ends at ']' or an inline comment. */
		size_t end = strcspn(buf + 1, "]");
		if (buf[1 + end] == ']') {
			char name[256];
			cfg_trim_copy(name, sizeof(name), buf + 1, end);
			cfg_section(p, name);
		}
	}
	return buf;
}

/*
 * libinih's callback for one "name = value" line of section. Looks the key
 * up in cfg_keys (or cfg_rule_keys inside [rule "id"]) and stores the value
 * into p->c. Always returns 1: the first error is kept in p with its line,
 * later lines are skipped, so inih's own return value only reports syntax
 * errors.
 */
static int cfg_handler(void *user, const char *section, const char *name, const char *value)
{
	struct cfg_parse *p = user;
	char why[768], where[400];
	char sec[256], key[128];

	cfg_trim_copy(sec, sizeof(sec), section, strlen(section));
	cfg_trim_copy(key, sizeof(key), name, strlen(name));
	if (p->err_line)
		return 1;
	if (!*sec) {
		cfg_error(p, p->lineno, key, "key outside a section");
		return 1;
	}
	snprintf(where, sizeof(where), "[%s] %s", sec, key);
	if (!strncmp(sec, "rule", 4) && isspace((unsigned char)sec[4])) {
		if (p->rule < 0)
			return 1; /* the section itself was an error */
		struct rules_spec *r = &p->c->rules[p->rule];
		for (size_t i = 0; i < CFG_NRULEKEYS; i++) {
			const struct cfg_key *k = &cfg_rule_keys[i];
			if (strcmp(k->name, key))
				continue;
			int *seen = &p->rule_key_line[p->rule][i];
			if (*seen && k->type != CFG_T_LIST) {
				cfg_error(p, p->lineno, where, "set twice (first on line %d)",
					  *seen);
				return 1;
			}
			if (!cfg_set(r, k, value, *seen != 0, p->base_dir, why, sizeof(why)))
				cfg_error(p, p->lineno, where, "%s", why);
			*seen = p->lineno;
			return 1;
		}
		cfg_error(
		    p, p->lineno, where,
		    "unknown key (rule keys: action, pattern, message, schemas, tables, users)");
		return 1;
	}
	bool known_section = false;
	for (size_t i = 0; i < CFG_NKEYS; i++) {
		const struct cfg_key *k = &cfg_keys[i];
		if (strcmp(k->section, sec))
			continue;
		known_section = true;
		if (strcmp(k->name, key))
			continue;
		int *seen = &p->key_line[i];
		bool multi = k->type == CFG_T_ADDR_LIST || k->type == CFG_T_LIST ||
			     k->type == CFG_T_SCHEDULE;
		if (*seen && !multi) {
			cfg_error(p, p->lineno, where, "set twice (first on line %d)", *seen);
			return 1;
		}
		if (!cfg_set(p->c, k, value, *seen != 0, p->base_dir, why, sizeof(why)))
			cfg_error(p, p->lineno, where, "%s", why);
		*seen = p->lineno;
		return 1;
	}
	if (known_section)
		cfg_error(p, p->lineno, where, "unknown key");
	/* Keys of an unknown section: the reader already reported the section. */
	return 1;
}

static int cfg_key_index(const char *section, const char *name)
{
	for (size_t i = 0; i < CFG_NKEYS; i++)
		if (!strcmp(cfg_keys[i].section, section) && !strcmp(cfg_keys[i].name, name))
			return (int)i;
	return -1;
}

static int cfg_line_of(const struct cfg_parse *p, const char *section, const char *name)
{
	int i = cfg_key_index(section, name);
	return i < 0 ? 0 : p->key_line[i];
}

bool cfg_addr_is_loopback(const char *host)
{
	struct in_addr v4;
	struct in6_addr v6;
	if (!strcasecmp(host, "localhost"))
		return true;
	if (inet_pton(AF_INET, host, &v4) == 1)
		return (ntohl(v4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, host, &v6) == 1) {
		if (IN6_IS_ADDR_LOOPBACK(&v6))
			return true;
		return IN6_IS_ADDR_V4MAPPED(&v6) && v6.s6_addr[12] == 127;
	}
	return false;
}

/* Checks that span keys, and fills the defaults that depend on other keys. */
static void cfg_validate(struct cfg_parse *p)
{
	struct cfg *c = p->c;

	int l_backend = cfg_line_of(p, "proxy", "backend");
	int l_socket = cfg_line_of(p, "proxy", "backend_socket");
	if (l_backend && l_socket)
		cfg_error(p, l_backend > l_socket ? l_backend : l_socket,
			  l_backend > l_socket ? "[proxy] backend" : "[proxy] backend_socket",
			  "set either backend or backend_socket, not both");

	int l_cert = cfg_line_of(p, "tls", "cert"), l_key = cfg_line_of(p, "tls", "key");
	if (!c->tls.cert != !c->tls.key)
		cfg_error(p, l_cert ? l_cert : l_key, c->tls.cert ? "[tls] cert" : "[tls] key",
			  "cert and key go together: set both");
	int l_client = cfg_line_of(p, "tls", "client");
	if (!l_client)
		c->tls.client = c->tls.cert ? CFG_TLS_CLIENT_OPTIONAL : CFG_TLS_CLIENT_OFF;
	else if (c->tls.client != CFG_TLS_CLIENT_OFF && (!c->tls.cert || !c->tls.key))
		cfg_error(p, l_client, "[tls] client", "\"%s\" needs [tls] cert and key",
			  cfg_tls_client_names[c->tls.client]);

	if (c->admin.enabled && !c->admin.token_file && !cfg_addr_is_loopback(c->admin.listen.host))
		cfg_error(p, cfg_line_of(p, "admin", "listen"), "[admin] listen",
			  "\"%s\" is not a loopback address: set [admin] token_file to protect the "
			  "admin API",
			  c->admin.listen.host);

	for (size_t i = 0; i < c->nrules; i++) {
		struct rules_spec *r = &c->rules[i];
		char where[128];
		snprintf(where, sizeof(where), "[rule \"%s\"]", r->id);
		if (rules_builtin_find(r->id)) {
			if (r->pattern || r->message)
				cfg_error(
				    p, r->line, where,
				    "pattern and message are for custom rules; \"%s\" is built in",
				    r->id);
		} else if (!r->pattern) {
			cfg_error(p, r->line, where,
				  "not a built-in rule, and no pattern: a custom rule needs one");
		} else if (r->action == RULES_SPEC_DEFAULT) {
			r->action = RULES_SPEC_BLOCK; /* custom rules block unless told */
		}
	}

	if (!c->audit.instance) {
		char host[256] = "ddlgate";
		if (gethostname(host, sizeof(host) - 1) != 0)
			snprintf(host, sizeof(host), "ddlgate");
		host[sizeof(host) - 1] = '\0';
		c->audit.instance = cfg_strdup(host);
	}
}

/* Fills c with every default. */
static void cfg_apply_defaults(struct cfg *c)
{
	char why[256];
	for (size_t i = 0; i < CFG_NKEYS; i++) {
		if (!cfg_keys[i].def)
			continue;
		if (!cfg_set(c, &cfg_keys[i], cfg_keys[i].def, false, "", why, sizeof(why)))
			abort(); /* a bad default is a bug in the table */
	}
}

static struct cfg *cfg_new(void)
{
	struct cfg *c = calloc(1, sizeof(*c));
	if (!c)
		abort();
	cfg_apply_defaults(c);
	return c;
}

struct cfg *cfg_defaults(void)
{
	struct cfg *c = cfg_new();
	struct cfg_parse p = {.c = c, .path = "(defaults)", .rule = -1};
	char err[256];
	p.err = err;
	p.errlen = sizeof(err);
	cfg_validate(&p);
	return c;
}

struct cfg *cfg_load(const char *path, char *err, size_t errlen)
{
	struct cfg_parse *p = calloc(1, sizeof(*p));
	if (!p)
		abort();
	p->path = path;
	p->err = err;
	p->errlen = errlen;
	p->rule = -1;
	if (errlen)
		err[0] = '\0';

	p->fp = fopen(path, "r");
	if (!p->fp) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		free(p);
		return NULL;
	}
	/* Relative paths in the file are relative to the file's directory. */
	char dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s", path);
	char *slash = strrchr(dir, '/');
	if (slash == dir)
		dir[1] = '\0';
	else if (slash)
		*slash = '\0';
	else
		snprintf(dir, sizeof(dir), ".");
	if (!realpath(dir, p->base_dir))
		snprintf(p->base_dir, sizeof(p->base_dir), "%s", dir);

	p->c = cfg_new();
	p->c->path = cfg_strdup(path);
	int syntax = ini_parse_stream(cfg_reader, p, cfg_handler, p);
	if (syntax < 0)
		cfg_error(p, 0, "", "cannot read the file");
	else if (syntax > 0 && (!p->err_line || syntax < p->err_line)) {
		p->err_line = 0;
		cfg_error(p, syntax, "", "syntax error (expected [section] or key = value)");
	}
	if (!p->err_line)
		cfg_validate(p);
	fclose(p->fp);
	free(p->linebuf);

	struct cfg *c = p->c;
	bool failed = p->err_line != 0;
	free(p);
	if (failed) {
		cfg_free(c);
		return NULL;
	}
	return c;
}

void cfg_free(struct cfg *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < CFG_NKEYS; i++)
		cfg_field_free(c, &cfg_keys[i]);
	for (size_t i = 0; i < c->nrules; i++) {
		for (size_t k = 0; k < CFG_NRULEKEYS; k++)
			cfg_field_free(&c->rules[i], &cfg_rule_keys[k]);
		free(c->rules[i].id);
	}
	free(c->path);
	free(c);
}

const struct rules_spec *cfg_rule_find(const struct cfg *c, const char *id)
{
	for (size_t i = 0; i < c->nrules; i++)
		if (!strcasecmp(c->rules[i].id, id))
			return &c->rules[i];
	return NULL;
}

bool cfg_reload_check(const struct cfg *old, const struct cfg *neu, char *err, size_t errlen)
{
	for (size_t i = 0; i < CFG_NKEYS; i++) {
		const struct cfg_key *k = &cfg_keys[i];
		if (k->reloadable || cfg_field_equal(old, neu, k))
			continue;
		snprintf(err, errlen, "[%s] %s cannot change on reload: restart ddlgate",
			 k->section, k->name);
		return false;
	}
	return true;
}
