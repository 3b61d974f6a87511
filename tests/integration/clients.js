// Node mysql2 client for ddlgate's integration tests: prepared execute() and text query().
// Usage: node clients.js HOST PORT USER PASSWORD DATABASE N
// Prints one JSON line {"ok": true, ...}; exits non-zero on any error or mismatch.
'use strict';
const mysql = require('mysql2/promise');

async function main() {
	const [host, port, user, password, database, nArg] = process.argv.slice(2);
	const n = Number(nArg || 100);
	const conn = await mysql.createConnection({ host, port: Number(port), user, password,
		database, charset: 'utf8mb4', connectTimeout: 10000 });
	const checks = {};

	const [sum] = await conn.execute('SELECT ? + ? AS s', [40, 2]);
	checks.execute_sum = Number(sum[0].s) === 42;

	// Plain CREATE / DELETE: DROP and CREATE OR REPLACE are policy matters, not relay ones.
	await conn.query('CREATE TABLE IF NOT EXISTS node_ps (id INT PRIMARY KEY, t VARCHAR(64) ' +
		'CHARACTER SET utf8mb4, d DATETIME, j JSON)');
	await conn.query('DELETE FROM node_ps');
	for (let i = 0; i < n; i++) {
		await conn.execute('INSERT INTO node_ps VALUES (?, ?, ?, ?)',
			[i, `n\u00e9-${i}-\u{1F600}`, new Date(Date.UTC(2024, 0, 1, 0, 0, i % 60)),
				JSON.stringify({ i })]);
	}
	let same = true;
	for (let i = 0; i < n; i += 7) {
		const [rows] = await conn.execute('SELECT t, JSON_VALUE(j, "$.i") AS ji FROM node_ps WHERE id = ?', [i]);
		same = same && rows.length === 1 && rows[0].t === `n\u00e9-${i}-\u{1F600}` &&
			Number(rows[0].ji) === i;
	}
	checks.execute_rows = same;

	// CALL through a prepared statement: two binary result sets and the CALL's OK.
	const [sets] = await conn.execute('CALL two_sets(?)', [2]);
	checks.execute_call = Array.isArray(sets) && sets.length === 3 && sets[0].length === 2 &&
		sets[1][0].label === 'n=2' && sets[1][0].big.length === 70000;

	const [agg] = await conn.query('SELECT COUNT(*) AS c, SUM(id) AS s FROM node_ps');
	checks.query_agg = Number(agg[0].c) === n && Number(agg[0].s) === (n * (n - 1)) / 2;

	// A prepared statement that fails on the server reports the server's error.
	try {
		await conn.execute('SELECT * FROM no_such_table WHERE id = ?', [1]);
		checks.execute_error = false;
	} catch (e) {
		checks.execute_error = e.errno === 1146;
	}
	const [after] = await conn.query('SELECT 1 AS one');
	checks.after_error = after[0].one === 1;

	await conn.end();
	const ok = Object.values(checks).every(Boolean);
	console.log(JSON.stringify({ ok, checks }));
	process.exit(ok ? 0 : 1);
}

main().catch((e) => {
	console.error(e && e.stack ? e.stack : e);
	process.exit(2);
});
