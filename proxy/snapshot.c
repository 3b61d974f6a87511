/* One loaded configuration and its compiled rules, shared by reference count. */
#include "proxy/snapshot.h"

#include <stdlib.h>

#include "config/cfg.h"
#include "proxy/mem.h"
#include "rules/engine.h"

struct snap *snap_new(struct cfg *cfg, char *err, size_t errlen)
{
	struct rules_engine *engine = rules_engine_new(cfg->rules, cfg->nrules, err, errlen);
	if (!engine) {
		cfg_free(cfg);
		return NULL;
	}
	struct snap *s = mem_calloc(1, sizeof(*s), "configuration snapshot");
	atomic_init(&s->refs, 1);
	s->cfg = cfg;
	s->engine = engine;
	return s;
}

struct snap *snap_get(struct snap *s)
{
	atomic_fetch_add(&s->refs, 1);
	return s;
}

void snap_put(struct snap *s)
{
	if (!s || atomic_fetch_sub(&s->refs, 1) != 1)
		return;
	rules_engine_free(s->engine);
	cfg_free(s->cfg);
	free(s);
}
