<?php
// Client-matrix driver for PHP mysqlnd: mysqli, or PDO with native (server-side) prepares; prints the canonical transcript.
// Usage: php matrix_php.php mysqli|pdo HOST PORT USER PASSWORD DATABASE TLS(0|1)
// The scenario and the transcript format are described in test_client_matrix.py;
// with TLS, MATRIX_TLS_CA names the CA file PDO needs to turn TLS on (not verified).
[, $api, $host, $port, $user, $password, $database, $tls] = $argv;
const MIB = 1048576;

function canon($v) {
    if ($v === null) return 'NULL';
    if (is_string($v) && (strlen($v) > 200 || !preg_match('//u', $v)))
        return 'bytes(' . strlen($v) . ',' . md5($v) . ')';
    if (is_float($v)) return var_export($v, true);
    return (string)$v;
}
function row_text($row) { return implode('|', array_map('canon', $row)); }
function say($step, $text) { echo "$step: $text\n"; }

function blob() {
    $b = '';
    for ($i = 0; $i < 251; $i++) $b .= chr($i);
    return substr(str_repeat($b, intdiv(MIB, 251) + 1), 0, MIB);
}

// ---- mysqli ----------------------------------------------------------------

function mysqli_open($compress) {
    global $host, $port, $user, $password, $database, $tls;
    $m = mysqli_init();
    $flags = $compress ? MYSQLI_CLIENT_COMPRESS : 0;
    if ($tls === '1') {
        $m->ssl_set(null, null, null, null, null);
        $flags |= MYSQLI_CLIENT_SSL | MYSQLI_CLIENT_SSL_DONT_VERIFY_SERVER_CERT;
    }
    $m->real_connect($host, $user, $password, $database, (int)$port, null, $flags);
    $m->set_charset('utf8mb4');
    return $m;
}

function mysqli_try($step, $fn) {
    try {
        $fn();
        say($step, 'no error');
    } catch (mysqli_sql_exception $e) {
        say($step, 'error ' . $e->getCode() . ' ' . $e->getSqlState() . ' ' . $e->getMessage());
    }
}

// Every result of a CALL, from the connection ($m) or a statement: both
// have store_result/get_result, more_results and next_result.
function mysqli_sets($step, $m, $stmt = null) {
    $src = $stmt ?? $m;
    $i = 0;
    do {
        $r = $stmt ? $stmt->get_result() : $m->store_result();
        say("$step set $i", $r ? implode(' ; ', array_map('row_text', $r->fetch_all(MYSQLI_NUM)))
                               : 'ok affected=' . $src->affected_rows);
        $i++;
    } while ($src->more_results() && $src->next_result());
}

function mysqli_scenario($m, $label) {
    $m->query('DELETE FROM kinds');
    $st = $m->prepare('INSERT INTO kinds VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)');
    $id = 1; $ti = -128; $si = 32767; $i = -2147483648; $bi = PHP_INT_MAX; $f = 1.5; $d = 2.25e100;
    $dc = '12345678901234.123456'; $s = "h\u{e9}llo \u{2603}"; $dt = '2024-02-29 23:59:58.123456';
    $da = '2024-02-29'; $tm = '12:34:56.5'; $b = null; $n = null;
    $st->bind_param('iiiiiddsssssbi', $id, $ti, $si, $i, $bi, $f, $d, $dc, $s, $dt, $da, $tm, $b, $n);
    $st->send_long_data(12, blob());  // COM_STMT_SEND_LONG_DATA
    $st->execute();
    $st = $m->prepare('INSERT INTO kinds (id) VALUES (?)');
    $two = 2;
    $st->bind_param('i', $two);
    $st->execute();
    $st = $m->prepare('SELECT * FROM kinds WHERE id IN (?, ?) ORDER BY id');
    $a = 1; $c = 2;
    $st->bind_param('ii', $a, $c);
    $st->execute();
    foreach ($st->get_result()->fetch_all(MYSQLI_NUM) as $row) say("$label prepared row", row_text($row));
    foreach ($m->query('SELECT * FROM kinds ORDER BY id')->fetch_all(MYSQLI_NUM) as $row)
        say("$label text row", row_text($row));

    $sql = "SELECT seq, CONCAT('row-', seq) FROM seq_1_to_100000";
    foreach (['text' => fn() => $m->query($sql),
              'prepared' => function () use ($m, $sql) { $s = $m->prepare($sql); $s->execute(); return $s->get_result(); }]
             as $how => $run) {
        $r = $run();
        $sum = 0; $count = 0; $h = hash_init('md5');
        while ($row = $r->fetch_row()) { $sum += $row[0]; $count++; hash_update($h, $row[1]); }
        say("$label 100k $how", "$count rows sum=$sum md5=" . hash_final($h));
    }

    $big = str_repeat('x', 20 * MIB - 7) . 'the-end';
    $st = $m->prepare('SELECT ?, MD5(?)');
    $st->bind_param('ss', $big, $big);
    $st->execute();
    $row = $st->get_result()->fetch_row();
    say("$label 20MiB", canon($row[0]) . " server-md5=$row[1]");

    $m->multi_query('CALL two_sets(2)');
    mysqli_sets("$label call two_sets text", $m);
    $st = $m->prepare('CALL two_sets(?)');
    $three = 3;
    $st->bind_param('i', $three);
    $st->execute();
    mysqli_sets("$label call two_sets prepared", $m, $st);
    $m->multi_query('CALL cur_p()');
    mysqli_sets("$label call cur_p text", $m);
    $st = $m->prepare('CALL cur_p()');
    $st->execute();
    mysqli_sets("$label call cur_p prepared", $m, $st);

    mysqli_try("$label error text", fn() => $m->query('SELECT * FROM no_such_table'));
    mysqli_try("$label error prepare", fn() => $m->prepare('SELECT * FROM no_such_table WHERE a = ?'));
    mysqli_try("$label error signal", fn() => $m->query(
        "SIGNAL SQLSTATE '45001' SET MYSQL_ERRNO = 4242, MESSAGE_TEXT = 'custom failure'"));
    mysqli_try("$label error duplicate", function () use ($m) {
        $st = $m->prepare('INSERT INTO kinds (id) VALUES (?)');
        $one = 1;
        $st->bind_param('i', $one);
        $st->execute();
    });

    $m->query('DELETE FROM tx');
    $m->begin_transaction();
    $m->query('INSERT INTO tx VALUES (1)');
    $m->rollback();
    $m->begin_transaction();
    $st = $m->prepare('INSERT INTO tx VALUES (?)');
    $two = 2;
    $st->bind_param('i', $two);
    $st->execute();
    $m->commit();
    say("$label transaction", row_text($m->query('SELECT GROUP_CONCAT(id) FROM tx')->fetch_row()));
}

function run_mysqli() {
    global $user, $password, $database;
    mysqli_report(MYSQLI_REPORT_ERROR | MYSQLI_REPORT_STRICT);
    $m = mysqli_open(false);
    say('connect', 'ok');
    mysqli_scenario($m, 'plain');
    $m->query('SET @v = 8');
    $m->change_user($user, $password, $database);  // COM_CHANGE_USER
    say('change user', row_text($m->query('SELECT @v, DATABASE(), CURRENT_USER()')->fetch_row()));
    $m->close();
    $z = mysqli_open(true);
    mysqli_scenario($z, 'compressed');
    $z->close();
}

// ---- PDO with native prepares ----------------------------------------------

function pdo_open($compress) {
    global $host, $port, $user, $password, $database, $tls;
    $opts = [PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION, PDO::ATTR_EMULATE_PREPARES => false,
             PDO::ATTR_STRINGIFY_FETCHES => false, PDO::MYSQL_ATTR_COMPRESS => $compress];
    if ($tls === '1') {
        $opts[PDO::MYSQL_ATTR_SSL_CA] = getenv('MATRIX_TLS_CA');
        $opts[PDO::MYSQL_ATTR_SSL_VERIFY_SERVER_CERT] = false;
    }
    return new PDO("mysql:host=$host;port=$port;dbname=$database;charset=utf8mb4", $user,
                   $password, $opts);
}

function pdo_try($step, $fn) {
    try {
        $fn();
        say($step, 'no error');
    } catch (PDOException $e) {
        say($step, 'error ' . $e->errorInfo[1] . ' ' . $e->errorInfo[0] . ' ' . $e->errorInfo[2]);
    }
}

function pdo_sets($step, $st) {
    $i = 0;
    do {
        say("$step set $i", $st->columnCount() > 0
            ? implode(' ; ', array_map('row_text', $st->fetchAll(PDO::FETCH_NUM)))
            : 'ok affected=' . $st->rowCount());
        $i++;
    } while ($st->nextRowset());
}

function pdo_scenario($p, $label) {
    $p->exec('DELETE FROM kinds');
    $st = $p->prepare('INSERT INTO kinds VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)');
    $values = [[1, PDO::PARAM_INT], [-128, PDO::PARAM_INT], [32767, PDO::PARAM_INT],
               [-2147483648, PDO::PARAM_INT], [PHP_INT_MAX, PDO::PARAM_INT], ['1.5', PDO::PARAM_STR],
               ['2.25e100', PDO::PARAM_STR], ['12345678901234.123456', PDO::PARAM_STR],
               ["h\u{e9}llo \u{2603}", PDO::PARAM_STR], ['2024-02-29 23:59:58.123456', PDO::PARAM_STR],
               ['2024-02-29', PDO::PARAM_STR], ['12:34:56.5', PDO::PARAM_STR], [blob(), PDO::PARAM_LOB],
               [null, PDO::PARAM_NULL]];
    foreach ($values as $k => [$v, $type]) $st->bindValue($k + 1, $v, $type);
    $st->execute();
    $p->prepare('INSERT INTO kinds (id) VALUES (?)')->execute([2]);
    $st = $p->prepare('SELECT * FROM kinds WHERE id IN (?, ?) ORDER BY id');
    $st->execute([1, 2]);
    foreach ($st->fetchAll(PDO::FETCH_NUM) as $row) say("$label prepared row", row_text($row));
    foreach ($p->query('SELECT * FROM kinds ORDER BY id')->fetchAll(PDO::FETCH_NUM) as $row)
        say("$label text row", row_text($row));

    $sql = "SELECT seq, CONCAT('row-', seq) FROM seq_1_to_100000";
    foreach (['text' => fn() => $p->query($sql),
              'prepared' => function () use ($p, $sql) { $s = $p->prepare($sql); $s->execute(); return $s; }]
             as $how => $run) {
        $r = $run();
        $sum = 0; $count = 0; $h = hash_init('md5');
        while ($row = $r->fetch(PDO::FETCH_NUM)) { $sum += $row[0]; $count++; hash_update($h, $row[1]); }
        say("$label 100k $how", "$count rows sum=$sum md5=" . hash_final($h));
    }

    $big = str_repeat('x', 20 * MIB - 7) . 'the-end';
    $st = $p->prepare('SELECT ?, MD5(?)');
    $st->execute([$big, $big]);
    $row = $st->fetch(PDO::FETCH_NUM);
    say("$label 20MiB", canon($row[0]) . " server-md5=$row[1]");
    $st->closeCursor();

    pdo_sets("$label call two_sets text", $p->query('CALL two_sets(2)'));
    $st = $p->prepare('CALL two_sets(?)');
    $st->execute([3]);
    pdo_sets("$label call two_sets prepared", $st);
    pdo_sets("$label call cur_p text", $p->query('CALL cur_p()'));
    $st = $p->prepare('CALL cur_p()');
    $st->execute();
    pdo_sets("$label call cur_p prepared", $st);

    pdo_try("$label error text", fn() => $p->query('SELECT * FROM no_such_table'));
    pdo_try("$label error prepare", fn() => $p->prepare('SELECT * FROM no_such_table WHERE a = ?'));
    pdo_try("$label error signal", fn() => $p->exec(
        "SIGNAL SQLSTATE '45001' SET MYSQL_ERRNO = 4242, MESSAGE_TEXT = 'custom failure'"));
    pdo_try("$label error duplicate", fn() => $p->prepare('INSERT INTO kinds (id) VALUES (?)')->execute([1]));

    $p->exec('DELETE FROM tx');
    $p->beginTransaction();
    $p->exec('INSERT INTO tx VALUES (1)');
    $p->rollBack();
    $p->beginTransaction();
    $p->prepare('INSERT INTO tx VALUES (?)')->execute([2]);
    $p->commit();
    say("$label transaction", row_text($p->query('SELECT GROUP_CONCAT(id) FROM tx')->fetch(PDO::FETCH_NUM)));
}

function run_pdo() {
    $p = pdo_open(false);
    say('connect', 'ok');
    pdo_scenario($p, 'plain');
    $p = null;
    pdo_scenario(pdo_open(true), 'compressed');
}

ini_set('memory_limit', '1G');
try {
    $api === 'pdo' ? run_pdo() : run_mysqli();
    say('done', 'ok');
} catch (Throwable $e) {
    echo 'fatal: ' . get_class($e) . ' ' . $e->getCode() . ' ' . $e->getMessage() . "\n";
    exit(1);
}
