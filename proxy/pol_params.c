/* The parameters of a COM_STMT_EXECUTE: decoded for the policy (bound lock names) and summarised,
 * redacted, for the audit record. */
#include <stdio.h>
#include <string.h>

#include "config/cfg.h"
#include "proxy/pkt_exec.h"
#include "proxy/pol_internal.h"

/* Whether bytes are text a reader can take as it is: UTF-8 without
 * control characters other than tab and newlines. A character cut at the
 * end counts as text (only a head is looked at). */
static bool pol_is_text(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n;) {
		uint8_t c = p[i];
		if (c < 0x80) {
			if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f)
				return false;
			i++;
			continue;
		}
		size_t k = c >= 0xf0 ? 3 : c >= 0xe0 ? 2 : c >= 0xc2 ? 1 : 0;
		if (k == 0 || c > 0xf4)
			return false;
		for (size_t j = 1; j <= k && i + j < n; j++)
			if ((p[i + j] & 0xc0) != 0x80)
				return false;
		i += k + 1;
	}
	return true;
}

/*
 * The text a record shows for one value: numbers, dates and times as
 * text (text, from pkt_exec_param_text); bytes as they are when they are
 * text, cut at POL_PARAM_SHOW bytes on a character boundary, else in hex;
 * a cut value ends with "...(N bytes)".
 */
static const char *pol_param_show(struct arena *a, const struct pkt_exec_param *pp,
				  const char *text)
{
	if (!pkt_type_is_bytes(pp->type))
		return arena_strndup(a, text, strlen(text));
	char out[POL_PARAM_SHOW * 2 + 48];
	size_t o = 0, shown = pp->len < POL_PARAM_SHOW ? pp->len : POL_PARAM_SHOW;
	if (pol_is_text(pp->val, shown)) {
		while (shown > 0 && shown < pp->len && (pp->val[shown] & 0xc0) == 0x80)
			shown--; /* not inside a character */
		memcpy(out, pp->val, shown);
		o = shown;
	} else {
		shown = pp->len < POL_PARAM_SHOW / 2 ? pp->len : POL_PARAM_SHOW / 2;
		o = (size_t)snprintf(out, sizeof(out), "0x");
		for (size_t i = 0; i < shown; i++)
			o += (size_t)snprintf(out + o, sizeof(out) - o, "%02X", pp->val[i]);
	}
	if (shown < pp->len)
		o += (size_t)snprintf(out + o, sizeof(out) - o, "...(%zu bytes)", pp->len);
	return arena_strndup(a, out, o);
}

struct pol_params *pol_params_decode(struct pol_sess *ps, const struct pol_prep *pp,
				     const struct hook_exec *x)
{
	struct pol_params *pa = arena_alloc(&ps->arena, sizeof(*pa));
	memset(pa, 0, sizeof(*pa));
	pa->n = pp->nparams;
	if (!x || !x->stmt || x->stmt->nparams != pp->nparams)
		return pa; /* prepared before the relay kept its memory */
	const struct pkt_exec_stmt *st = x->stmt;
	unsigned n = st->nparams;
	struct pkt_exec_param *raw = n ? arena_alloc(&ps->arena, n * sizeof(*raw)) : NULL;
	if (pkt_exec_decode(x->payload, x->len, ps->hs->capabilities, n,
			    st->has_types ? st->types : NULL, st->long_data, raw) != PKT_EXEC_OK)
		return pa;
	pa->decoded = true;
	if (n == 0)
		return pa;
	pa->types = arena_alloc(&ps->arena, n * sizeof(*pa->types));
	pa->values = arena_alloc(&ps->arena, n * sizeof(*pa->values));
	pa->raw = arena_alloc(&ps->arena, n * sizeof(*pa->raw));
	for (unsigned i = 0; i < n; i++) {
		const struct pkt_exec_param *v = &raw[i];
		pa->types[i] = pkt_type_name(v->type, v->unsig);
		pa->values[i] = pa->raw[i] = NULL;
		if (v->null)
			continue;
		if (v->long_data) {
			pa->values[i] = "<long data>";
			continue;
		}
		char text[POL_PARAM_KEEP + 1];
		size_t full = pkt_exec_param_text(v, text, sizeof(text));
		pa->raw[i] =
		    arena_strndup(&ps->arena, text, full < POL_PARAM_KEEP ? full : POL_PARAM_KEEP);
		pa->values[i] = pp->secret && pp->secret[i] ? "<redacted>"
							    : pol_param_show(&ps->arena, v, text);
	}
	return pa;
}

void pol_params_lock(struct pol_stmt *p, const struct pol_prep *pp, const struct pol_params *pa)
{
	unsigned k = pp->lock_param - 1;
	if (!pp->lock_param || !pa->decoded || k >= pa->n || !pa->raw[k] ||
	    strlen(pa->raw[k]) >= sizeof(p->sig.name))
		return; /* NULL, too long or unreadable: no lock of a known name */
	if (p->has_sig) /* the text said more (a directive) */
		return;
	if (!migration_scan_bound(p->sql, p->len, &p->sig, &k))
		return;
	migration_signal_name(&p->sig, pa->raw[k]);
	p->has_sig = true;
}
