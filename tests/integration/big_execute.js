// Node mysql2 client for ddlgate's integration tests: a 20 MiB parameter in, a 20 MiB binary-protocol row out.
// Usage: node big_execute.js HOST PORT USER PASSWORD DATABASE MIB
// Prints one JSON line {"ok": ..., "md5_sent", "md5_server", "md5_back", "length"}; exits non-zero on mismatch.
'use strict';
const crypto = require('crypto');
const mysql = require('mysql2/promise');

async function main() {
	const [host, port, user, password, database, mibArg] = process.argv.slice(2);
	const size = Number(mibArg || 20) * 1024 * 1024 + 777;
	const conn = await mysql.createConnection({ host, port: Number(port), user, password,
		database, connectTimeout: 10000, maxPreparedStatements: 16 });
	// Deterministic pseudo-random bytes (incompressible).
	const data = Buffer.alloc(size);
	let x = 0x12345678;
	for (let i = 0; i < size; i++) {
		x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
		data[i] = x & 0xff;
	}
	const md5 = (b) => crypto.createHash('md5').update(b).digest('hex');
	// Plain CREATE / DELETE: DROP and CREATE OR REPLACE are policy matters, not relay ones.
	await conn.query('CREATE TABLE IF NOT EXISTS node_big (id INT PRIMARY KEY, b LONGBLOB)');
	await conn.query('DELETE FROM node_big');
	// COM_STMT_EXECUTE with a 20 MiB parameter: split into 16 MiB packets.
	await conn.execute('INSERT INTO node_big VALUES (?, ?)', [1, data]);
	const [srv] = await conn.execute('SELECT LENGTH(b) AS n, MD5(b) AS m FROM node_big WHERE id = ?', [1]);
	// A 20 MiB row in the binary protocol.
	const [rows] = await conn.execute('SELECT b, ? AS tag FROM node_big WHERE id = ?', ['after', 1]);
	await conn.query('DELETE FROM node_big');
	await conn.end();
	const out = {
		length: Number(srv[0].n), md5_sent: md5(data), md5_server: srv[0].m,
		md5_back: md5(rows[0].b), tag: rows[0].tag,
	};
	out.ok = out.length === size && out.md5_server === out.md5_sent &&
		out.md5_back === out.md5_sent && out.tag === 'after';
	console.log(JSON.stringify(out));
	process.exit(out.ok ? 0 : 1);
}

main().catch((e) => {
	console.error(e && e.stack ? e.stack : e);
	process.exit(2);
});
