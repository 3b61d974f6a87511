#!/usr/bin/perl
# Perl DBD::MariaDB client for ddlgate's integration tests: server-side prepared statements in a loop.
# Usage: prepared.pl HOST PORT USER PASSWORD DATABASE N
# Prints one JSON line {"count":..,"sum":..,"text_ok":..}; dies (non-zero exit) on any error.
use strict;
use warnings;
use DBI;

my ($host, $port, $user, $password, $database, $n) = @ARGV;
die "usage: prepared.pl HOST PORT USER PASSWORD DATABASE N\n" unless defined $n;

my $dbh = DBI->connect(
	"DBI:MariaDB:database=$database;host=$host;port=$port;mariadb_server_prepare=1",
	$user, $password, { RaiseError => 1, PrintError => 0, AutoCommit => 1 });
die "driver did not enable server-side prepare\n" unless $dbh->{mariadb_server_prepare};

# Plain CREATE / DELETE: DROP and CREATE OR REPLACE are policy matters, not relay ones.
$dbh->do('CREATE TABLE IF NOT EXISTS perl_ps (id INT PRIMARY KEY, v VARCHAR(64), b BLOB)');
$dbh->do('DELETE FROM perl_ps');
my $ins = $dbh->prepare('INSERT INTO perl_ps (id, v, b) VALUES (?, ?, ?)');
for my $i (0 .. $n - 1) {
	$ins->bind_param(1, $i);
	$ins->bind_param(2, "row-$i");
	$ins->bind_param(3, "\x00\x01\xff" x ($i % 7), DBI::SQL_BLOB);
	$ins->execute;
}

my $sel = $dbh->prepare('SELECT v, LENGTH(b) FROM perl_ps WHERE id = ?');
my $text_ok = 1;
for my $i (0 .. $n - 1) {
	$sel->execute($i);
	my ($v, $len) = $sel->fetchrow_array;
	$text_ok = 0 unless defined $v && $v eq "row-$i" && $len == 3 * ($i % 7);
	$sel->finish;
}

my ($count, $sum) = $dbh->selectrow_array('SELECT COUNT(*), SUM(id) FROM perl_ps');
$dbh->disconnect;
print "{\"count\":$count,\"sum\":$sum,\"text_ok\":$text_ok}\n";
