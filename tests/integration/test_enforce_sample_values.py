#!/usr/bin/python3
# Enforcement tests: [guard] sample_values = mask keeps data values out of refusals and audit records.
"""
A unique key over duplicates is refused with unique-unguarded, and the
refusal names an example of the duplicates. Under data-protection rules that
example is personal data: with [guard] sample_values = mask, the client's
ERR and the audit record say `'<masked>'` where the value was, and the audit
file holds the value nowhere; with the default (show) the value is there.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

SCHEMA = "samples"
EMAIL = "alice.private@example.com"


def db():
	return h.shared_mariadb(accounts=(h.PROBER,))


def fresh_schema():
	d = db()
	d.fresh_database(SCHEMA)
	d.query(f"CREATE TABLE `{SCHEMA}`.users (id INT PRIMARY KEY, email VARCHAR(64))")
	d.query(f"INSERT INTO `{SCHEMA}`.users VALUES (1, '{EMAIL}'), (2, '{EMAIL}'), (3, 'b@x')")


def refuse_unique(sample_values=None):
	"""ADD UNIQUE over the duplicates through a guarded ddlgate; returns
	(the ERR's message, the refusal's audit record, the audit file's text)."""
	guard = {"sample_values": sample_values} if sample_values else {}
	gw = h.guarded_gateway(db(), {"guard": guard})
	c = h.connect(gw, database=SCHEMA)
	err = h.run_err(c, "ALTER TABLE users ADD UNIQUE KEY uq_email (email)")
	c.close()
	h.assert_refused(err, "unique-unguarded")
	assert "uq_email" not in [r[2] for r in db().query(f"SHOW INDEX FROM `{SCHEMA}`.users")]
	assert gw.stop() == 0  # every record written
	recs = h.audit_records(gw, containing="ADD UNIQUE", decision="block")
	assert len(recs) == 1, recs
	code, out = h.verify_audit(gw.audit)
	assert code == 0, out
	with open(gw.audit) as f:
		return err[1], recs[0], f.read()


def test_sample_values_shown_by_default():
	h.require_proxy("refusals are ddlgate's")
	fresh_schema()
	msg, rec, text = refuse_unique()
	assert f"'{EMAIL}'" in msg, msg
	assert EMAIL in text


def test_sample_values_masked():
	h.require_proxy("refusals are ddlgate's")
	fresh_schema()
	msg, rec, text = refuse_unique("mask")
	assert EMAIL not in msg, msg
	assert "duplicates, e.g. '<masked>' in 2 rows" in msg, msg
	hits = [r for r in rec["rules"] if r["id"] == "unique-unguarded"]
	assert hits and "'<masked>'" in hits[0]["message"], rec
	assert hits[0]["guard"] == "probe: duplicate value '<masked>' (2 rows)", rec
	assert EMAIL not in text


if __name__ == "__main__":
	h.main(globals())
