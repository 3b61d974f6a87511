/*
 * Configuration: one INI file, read with libinih.
 *
 * cfg_load() fills a struct cfg from a file; every key has a default, and
 * unknown sections, unknown keys and bad values are errors that name the
 * file, line and key. A loaded struct cfg is immutable: SIGHUP loads a new
 * one and swaps the pointer (see proxy/), so readers never see a half-made
 * configuration. The key table in cfg.c is the single list of settings,
 * with each key's type, default and whether SIGHUP can change it.
 */
#ifndef DDLGATE_CONFIG_CFG_H
#define DDLGATE_CONFIG_CFG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rules/engine.h"
#include "rules/pattern.h"

#define CFG_MAX_LISTEN 8
#define CFG_MAX_SCHEDULES 16
#define CFG_MAX_RULES 64
#define CFG_MAX_LIST RULES_PATTERNS_MAX

enum cfg_tls_client { CFG_TLS_CLIENT_OFF, CFG_TLS_CLIENT_OPTIONAL, CFG_TLS_CLIENT_REQUIRED };
enum cfg_tls_backend {
	CFG_TLS_BACKEND_OFF,
	CFG_TLS_BACKEND_PREFERRED,
	CFG_TLS_BACKEND_VERIFY_CA,
	CFG_TLS_BACKEND_VERIFY_IDENTITY,
};
enum cfg_audit_record { CFG_RECORD_DDL, CFG_RECORD_WRITES, CFG_RECORD_ALL };
enum cfg_fsync { CFG_FSYNC_ALWAYS, CFG_FSYNC_INTERVAL };
enum cfg_on_failure { CFG_ON_FAILURE_BLOCK, CFG_ON_FAILURE_ALLOW };
/* What an execute's record says of its parameters: types, or values too. */
enum cfg_record_params { CFG_RECORD_PARAMS_TYPES, CFG_RECORD_PARAMS_VALUES };
/* Data values the guards found (duplicates, NULL samples) in refusals and
 * records: shown, or masked for data-protection rules. */
enum cfg_sample_values { CFG_SAMPLE_VALUES_SHOW, CFG_SAMPLE_VALUES_MASK };
enum cfg_conflict { CFG_CONFLICT_BLOCK, CFG_CONFLICT_HOLD };
enum cfg_scope { CFG_SCOPE_SERVER, CFG_SCOPE_SCHEMA, CFG_SCOPE_TABLE };

/* A host:port address as written ("127.0.0.1:3307", "[::1]:3307"). */
struct cfg_addr {
	char host[256];
	uint16_t port;
};

/* Lists of names (users, lock names, rule scopes) are comma-separated
 * patterns, stored as struct rules_patterns (rules/pattern.h) and matched
 * with rules_patterns_match(): one syntax for every list. */

/* A weekly window: days is a bitmask (bit 0 = Monday), minutes since
 * midnight in the zone of utc_offset_min (UTC = 0). end may be < start:
 * the window crosses midnight. */
struct cfg_schedule {
	uint8_t days;
	uint16_t start_min;
	uint16_t end_min;
	int16_t utc_offset_min;
	char text[64]; /* as written, for /status */
};

struct cfg {
	char *path; /* owned: the file this came from */

	struct {
		struct cfg_addr listen[CFG_MAX_LISTEN];
		size_t nlisten;
		struct cfg_addr backend;
		char *backend_socket; /* owned; NULL = TCP backend */
		int threads;	      /* 0 = one per core */
		int max_connections;
		uint64_t max_packet;
		int handshake_timeout_ms;
		int idle_timeout_s;	 /* 0 = none */
		int connect_timeout_ms;	 /* backend connect */
		int shutdown_timeout_ms; /* SIGTERM: in-flight statements get this long */
		bool allow_plaintext_backend;
		bool allow_replication;
		bool allow_local_infile;
	} proxy;

	struct {
		char *cert; /* owned, NULL = none */
		char *key;
		enum cfg_tls_client client;
		enum cfg_tls_backend backend;
		char *backend_ca;
		/* owned; the server name verify-identity expects; default: backend host */
		char *backend_name;
	} tls;

	struct {
		struct cfg_addr listen;
		bool enabled;
		char *token_file; /* owned */
	} admin;

	struct {
		char *path; /* owned; NULL = no audit log */
		enum cfg_audit_record record;
		enum cfg_fsync fsync;
		int fsync_interval_ms;
		enum cfg_on_failure on_failure;
		enum cfg_record_params record_params;
		uint64_t rotate_bytes; /* 0 = no size rotation */
		char *instance;	       /* owned; default: hostname */
		bool mirror;	       /* copy records into a backend table */
		char *mirror_table;    /* owned; default ddlgate.audit */
		int drift_interval_s;  /* seconds between two looks at the schema; 0 = off */
		int checkpoint_every;  /* records between two published checkpoints; 0 = off */
		char *key_file;	       /* owned; NULL = plain SHA-256 chain, else HMAC-SHA-256 */
	} audit;

	struct {
		struct rules_patterns users;
		struct rules_patterns lock_names;
		struct rules_patterns history_tables; /* a session that uses one is a migration */
		int history_idle_s; /* such a session stops being one after this long without DDL
				       or history-table access; 0 = only at disconnect */
		enum cfg_conflict conflict;
		int hold_timeout_ms;
		enum cfg_scope scope;
		char *cluster_lock; /* owned: named lock shared by ddlgate instances */
	} migration;

	struct {
		struct cfg_schedule schedule[CFG_MAX_SCHEDULES];
		size_t nschedule;
	} window;

	struct {
		char *user;	/* owned; NULL = no live probes */
		char *password; /* owned */
		int probe_timeout_ms;
		bool own_connection; /* ask the session's own backend connection first */
		uint64_t large_table_bytes;
		int max_lock_wait_s;
		enum cfg_sample_values sample_values; /* data values in refusals and records */
		int ddl_lock_wait_ms;	  /* bound on a DDL's metadata-lock wait; 0 = off */
		int ddl_lock_retries;	  /* attempts after the first one */
		int ddl_lock_deadline_ms; /* then lock-wait-exceeded */
		int long_transaction_ms;  /* older transactions on the table are waited for
					     before a DDL is sent; 0 = no look */
	} guard;

	/* [rule "id"] sections, handed as they are to rules_engine_new(). */
	struct rules_spec rules[CFG_MAX_RULES];
	size_t nrules;
};

/*
 * Loads path into a new struct cfg (defaults for every missing key).
 * Returns NULL on error after writing "FILE:LINE: [section] key: why" into
 * err (errlen bytes). The caller frees the result with cfg_free().
 */
struct cfg *cfg_load(const char *path, char *err, size_t errlen);

/* A struct cfg with every default and no file; for tests and `check`. */
struct cfg *cfg_defaults(void);

void cfg_free(struct cfg *c);

/* Returns the [rule "id"] section for id, or NULL. */
const struct rules_spec *cfg_rule_find(const struct cfg *c, const char *id);

/* Parses "64M", "1G", "4096" into bytes; false on garbage. */
bool cfg_parse_size(const char *s, uint64_t *out);

/* struct cfg_addr's host is stored without IPv6 brackets, ready for
 * getaddrinfo(). */

/* SIGHUP: true when new may replace old; false with err naming the first
 * key that only a restart can change (listen, threads, backend, tls, ...). */
bool cfg_reload_check(const struct cfg *old, const struct cfg *neu, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* True for "localhost", 127.0.0.0/8, ::1 and ::ffff:127.x.y.z. */
bool cfg_addr_is_loopback(const char *host);

#endif
