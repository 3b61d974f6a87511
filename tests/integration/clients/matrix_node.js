// Client-matrix driver for Node `mariadb`: runs the matrix scenario and prints its canonical transcript.
// Usage: node matrix_node.js HOST PORT USER PASSWORD DATABASE TLS(0|1)
// The scenario and the transcript format are described in test_client_matrix.py.
'use strict';
const crypto = require('crypto');
const mariadb = require('mariadb');

const [host, port, user, password, database, tls] = process.argv.slice(2);
const MIB = 1024 * 1024;

function md5(v) {
  return crypto.createHash('md5').update(v).digest('hex');
}

// One value as the transcript writes it: NULL, a blob's length and md5,
// a date in ISO form (microseconds are not kept by JavaScript dates).
function canon(v) {
  if (v === null || v === undefined) return 'NULL';
  if (Buffer.isBuffer(v)) return `blob(${v.length},${md5(v)})`;
  if (v instanceof Date) return v.toISOString();
  if (typeof v === 'string' && v.length > 200) return `text(${v.length},${md5(v)})`;
  return String(v);
}

function rowText(row) {
  return Array.isArray(row) ? row.map(canon).join('|') : Object.values(row).map(canon).join('|');
}

function print(step, text) {
  console.log(`${step}: ${text}`);
}

// Every result set of a CALL (the final OK packet included).
function printSets(step, res) {
  const sets = Array.isArray(res) && Array.isArray(res[0]) ? res : [res];
  sets.forEach((set, i) => {
    if (Array.isArray(set)) print(`${step} set ${i}`, set.map(rowText).join(' ; '));
    else print(`${step} set ${i}`, `ok affected=${set.affectedRows}`);
  });
}

async function printError(step, fn) {
  try {
    await fn();
    print(step, 'no error');
  } catch (e) {
    print(step, `error ${e.errno} ${e.sqlState} ${e.text}`);
  }
}

async function connect(extra) {
  const opts = { host, port: Number(port), user, password, database, maxAllowedPacket: 64 * MIB,
    connectTimeout: 10000, dateStrings: false, ...extra };
  if (tls === '1') opts.ssl = { rejectUnauthorized: false };
  return mariadb.createConnection(opts);
}

async function scenario(conn, label) {
  // Prepared statements with every parameter type, NULL, a datetime and a 1 MiB blob.
  const blob = Buffer.alloc(MIB);
  for (let i = 0; i < blob.length; i++) blob[i] = i % 251;
  await conn.query('DELETE FROM kinds');
  await conn.execute('INSERT INTO kinds VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)',
    [1, -128, 32767, -2147483648, 9223372036854775807n, 1.5, 2.25e100, '12345678901234.123456',
      'h\u00e9llo \u2603', new Date(Date.UTC(2024, 1, 29, 23, 59, 58, 123)), '2024-02-29',
      '12:34:56.5', blob, null]);
  await conn.execute('INSERT INTO kinds (id) VALUES (?)', [2]);
  const kinds = await conn.execute('SELECT * FROM kinds WHERE id IN (?, ?) ORDER BY id', [1, 2]);
  kinds.forEach((r) => print(`${label} prepared row`, rowText(r)));
  const textKinds = await conn.query('SELECT * FROM kinds ORDER BY id');
  textKinds.forEach((r) => print(`${label} text row`, rowText(r)));

  // 100k rows, text and binary protocol.
  for (const [how, run] of [['text', (s) => conn.query(s)], ['prepared', (s) => conn.execute(s)]]) {
    const rows = await run("SELECT seq, CONCAT('row-', seq) AS r FROM seq_1_to_100000");
    let sum = 0;
    const h = crypto.createHash('md5');
    for (const r of rows) { sum += Number(r.seq); h.update(r.r); }
    print(`${label} 100k ${how}`, `${rows.length} rows sum=${sum} md5=${h.digest('hex')}`);
  }

  // A 20 MiB round trip: sent as a parameter, echoed back.
  const big = 'x'.repeat(20 * MIB - 7) + 'the-end';
  const echo = await conn.execute('SELECT ? AS v, MD5(?) AS m', [big, big]);
  print(`${label} 20MiB`, `${canon(echo[0].v)} server-md5=${echo[0].m}`);

  // Multi-result CALLs, one of a procedure that used a cursor; text and prepared.
  printSets(`${label} call two_sets text`, await conn.query('CALL two_sets(2)'));
  printSets(`${label} call two_sets prepared`, await conn.execute('CALL two_sets(?)', [3]));
  printSets(`${label} call cur_p text`, await conn.query('CALL cur_p()'));
  printSets(`${label} call cur_p prepared`, await conn.execute('CALL cur_p()'));

  // Errors with their code and SQLSTATE.
  await printError(`${label} error text`, () => conn.query('SELECT * FROM no_such_table'));
  await printError(`${label} error prepare`, () => conn.execute('SELECT * FROM no_such_table WHERE a = ?', [1]));
  await printError(`${label} error signal`, () => conn.query(
    "SIGNAL SQLSTATE '45001' SET MYSQL_ERRNO = 4242, MESSAGE_TEXT = 'custom failure'"));
  await printError(`${label} error duplicate`, () => conn.execute('INSERT INTO kinds (id) VALUES (?)', [1]));

  // A transaction: rolled back, then committed.
  await conn.query('DELETE FROM tx');
  await conn.beginTransaction();
  await conn.query('INSERT INTO tx VALUES (1)');
  await conn.rollback();
  await conn.beginTransaction();
  await conn.execute('INSERT INTO tx VALUES (?)', [2]);
  await conn.commit();
  print(`${label} transaction`, rowText((await conn.query('SELECT GROUP_CONCAT(id) AS g FROM tx'))[0]));
}

async function main() {
  const conn = await connect({});
  print('connect', 'ok');
  await scenario(conn, 'plain');

  // COM_RESET_CONNECTION and COM_CHANGE_USER.
  await conn.query('SET @v = 7');
  await conn.reset();
  print('reset connection', rowText((await conn.query('SELECT @v AS v, DATABASE() AS d'))[0]));
  await conn.query('SET @v = 8');
  await conn.changeUser({ user, password, database });
  print('change user', rowText((await conn.query('SELECT @v AS v, DATABASE() AS d, CURRENT_USER() AS u'))[0]));
  await conn.end();

  // The same scenario over the compressed protocol.
  const zconn = await connect({ compress: true });
  await scenario(zconn, 'compressed');
  await zconn.end();
  print('done', 'ok');
}

main().catch((e) => {
  console.log(`fatal: ${e.errno} ${e.sqlState} ${e.message}`);
  process.exit(1);
});
