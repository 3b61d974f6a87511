/* The objects of a statement and of the statements it carries, in one list. */
#include "rules/stmt_objects.h"

size_t stmt_objects(const struct stmt *st, struct stmt_obj *out, size_t max)
{
	bool db = st->verb == DDL_CREATE_DATABASE || st->verb == DDL_DROP_DATABASE ||
		  st->verb == DDL_ALTER_DATABASE;
	size_t n = 0;

	for (size_t i = 0; i < st->nobjects && n < max; i++)
		out[n++] = (struct stmt_obj){st->objects[i].schema, st->objects[i].name, db};
	for (size_t k = 0; k < st->ninner && n < max; k++)
		n += stmt_objects(&st->inner[k], out + n, max - n);
	return n;
}
