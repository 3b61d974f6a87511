// Node mysql2 client for ddlgate's integration tests: prepared execute() driven line by line.
// Usage: node prepared_params.js HOST PORT USER PASSWORD DATABASE
// The same commands and answers as prepared_params.pl; mysql2 binds a
// number as DOUBLE, a Date as DATETIME and a Buffer as BLOB.
'use strict';
const readline = require('readline');
const mysql = require('mysql2/promise');

function param(p) {
	if ('int' in p) return p.int;
	if ('null' in p) return null;
	if ('str' in p) return p.str;
	if ('datetime' in p) return new Date(p.datetime.replace(' ', 'T') + 'Z');
	if ('blob' in p) return Buffer.from(Array.from({ length: p.blob }, (_, i) => i % 256));
	throw new Error(`unknown parameter ${JSON.stringify(p)}`);
}

async function main() {
	const [host, port, user, password, database] = process.argv.slice(2);
	const conn = await mysql.createConnection({ host, port: Number(port), user, password,
		database, timezone: 'Z', connectTimeout: 10000 });
	const rl = readline.createInterface({ input: process.stdin });
	for await (const line of rl) {
		const cmd = JSON.parse(line);
		try {
			const [rows] = await conn.execute({ sql: cmd.sql, rowsAsArray: true },
				(cmd.params || []).map(param));
			console.log(JSON.stringify({ ok: 1, rows: Array.isArray(rows) ? rows : [] }));
		} catch (e) {
			if (!e.errno) throw e;
			console.log(JSON.stringify({ ok: 0, err: e.errno, msg: e.message }));
		}
	}
	await conn.end();
}

main().catch((e) => {
	console.error(e && e.stack ? e.stack : e);
	process.exit(2);
});
