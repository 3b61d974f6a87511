/*
 * The proxy's entry point: `ddlgate serve`.
 */
#ifndef DDLGATE_PROXY_PROXY_H
#define DDLGATE_PROXY_PROXY_H

/* Runs the proxy with the configuration file at cfg_path until SIGTERM or
 * SIGINT. Returns the process exit code: 0 after a clean stop, 2 for a bad
 * configuration, 1 for a runtime failure (cannot listen, ...). */
int proxy_serve(const char *cfg_path);

#endif
