/*
 * Sub-commands of the ddlgate binary. Each takes the arguments after its
 * name (argv[0] is the sub-command) and returns the process exit code.
 */
#ifndef DDLGATE_CLI_CLI_H
#define DDLGATE_CLI_CLI_H

int cmd_check(int argc, char **argv); /* cli/check.c */
int cmd_audit(int argc, char **argv); /* cli/audit_cmd.c */

#endif
