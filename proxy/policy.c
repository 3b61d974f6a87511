/* Default inspection hook: forwards every command and every answer unchanged. */
#include "proxy/hook.h"

#include "config/cfg.h"

bool hook_init(const struct cfg *cfg, char *err, size_t errlen)
{
	(void)cfg;
	(void)err;
	(void)errlen;
	return true;
}

bool hook_reload(const struct cfg *cfg, char *err, size_t errlen)
{
	(void)cfg;
	(void)err;
	(void)errlen;
	return true;
}

void hook_shutdown(void)
{
}

void hook_session_begin(struct sess *s, struct hook_sess *hs)
{
	(void)s;
	(void)hs;
}

void hook_session_end(struct sess *s, struct hook_sess *hs)
{
	(void)s;
	hs->policy = NULL;
}

void hook_session_reset(struct sess *s, struct hook_sess *hs)
{
	(void)s;
	(void)hs;
}

enum hook_verdict hook_command(struct sess *s, struct hook_sess *hs, const uint8_t *payload,
			       size_t len, struct hook_reply *reply)
{
	(void)s;
	(void)hs;
	(void)payload;
	(void)len;
	(void)reply;
	return HOOK_FORWARD;
}

bool hook_result(struct sess *s, struct hook_sess *hs, const struct hook_result *r)
{
	(void)s;
	(void)hs;
	(void)r;
	return true;
}
