/* The ddlgate command: dispatches to serve, check and audit. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "config/cfg.h"
#include "proxy/proxy.h"

#define EXIT_USAGE 2

static void usage(FILE *out)
{
	fputs("usage: ddlgate <command> [options]\n"
	      "\n"
	      "commands:\n"
	      "  serve -c FILE                 run the proxy with the configuration FILE\n"
	      "  serve --check-config -c FILE  validate FILE and exit (0 valid, 2 invalid)\n"
	      "  check [-c FILE] [--dsn URL] [--format text|json|github] PATH...\n"
	      "                                lint migration files or folders offline;\n"
	      "                                exit 0 clean, 1 blocking findings, 2 usage error\n"
	      "  audit verify FILE...          check an audit log's hash chain\n"
	      "  audit show [--since T] [--until T] [--user U] [--table T]\n"
	      "             [--decision D] [--format text|json] FILE...\n"
	      "                                show recorded statements for incident review\n"
	      "\n"
	      "options:\n"
	      "  -h, --help                    this text\n"
	      "  --version                     print the version\n"
	      "\n"
	      "signals (serve): SIGHUP reloads the configuration, SIGTERM stops gracefully.\n",
	      out);
}

static void serve_usage(FILE *out)
{
	fputs("usage: ddlgate serve [--check-config] -c FILE\n", out);
}

/*
 * `ddlgate serve [--check-config] -c FILE`. argv[0] is "serve". Returns the
 * exit code: proxy_serve()'s, or 0/2 for --check-config.
 */
static int cmd_serve(int argc, char **argv)
{
	const char *path = NULL;
	bool check_only = false;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if ((!strcmp(a, "-c") || !strcmp(a, "--config")) && i + 1 < argc) {
			path = argv[++i];
		} else if (!strncmp(a, "--config=", 9)) {
			path = a + 9;
		} else if (!strcmp(a, "--check-config") || !strcmp(a, "-t")) {
			check_only = true;
		} else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			serve_usage(stdout);
			return 0;
		} else {
			fprintf(stderr, "ddlgate serve: unexpected argument \"%s\"\n", a);
			serve_usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (!path) {
		fprintf(stderr, "ddlgate serve: -c FILE is required\n");
		serve_usage(stderr);
		return EXIT_USAGE;
	}
	if (check_only) {
		char err[1024];
		struct cfg *c = cfg_load(path, err, sizeof(err));
		if (!c) {
			fprintf(stderr, "ddlgate: %s\n", err);
			return EXIT_USAGE;
		}
		printf("%s: configuration is valid\n", path);
		cfg_free(c);
		return 0;
	}
	return proxy_serve(path);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	const char *cmd = argv[1];
	if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(cmd, "--version") || !strcmp(cmd, "-V") || !strcmp(cmd, "version")) {
		printf("ddlgate %s\n", DDLGATE_VERSION);
		return 0;
	}
	if (!strcmp(cmd, "serve"))
		return cmd_serve(argc - 1, argv + 1);
	if (!strcmp(cmd, "check"))
		return cmd_check(argc - 1, argv + 1);
	if (!strcmp(cmd, "audit"))
		return cmd_audit(argc - 1, argv + 1);
	fprintf(stderr, "ddlgate: unknown command \"%s\"\n\n", cmd);
	usage(stderr);
	return EXIT_USAGE;
}
