#!/usr/bin/perl
# Perl DBD::MariaDB client for ddlgate's integration tests: server-side prepared statements driven line by line.
# Usage: prepared_params.pl HOST PORT USER PASSWORD DATABASE
# Reads one JSON command a line from stdin: {"sql": "...", "params": [P, ...]}
# with each P one of {"int": 42}, {"null": 1}, {"str": "x"},
# {"datetime": "2024-12-25 10:30:00"} or {"blob": N} (N bytes 0x00..0xff
# repeating). The statement is prepared once per text (server side) and
# executed with the parameters bound with their SQL type. Answers one JSON
# line: {"ok": 1, "rows": [[...], ...]} or {"ok": 0, "err": CODE, "msg": "..."}.
use strict;
use warnings;
use DBI qw(:sql_types);
use JSON::PP;

my ($host, $port, $user, $password, $database) = @ARGV;
die "usage: prepared_params.pl HOST PORT USER PASSWORD DATABASE\n" unless defined $database;

my $dbh = DBI->connect(
	"DBI:MariaDB:database=$database;host=$host;port=$port;mariadb_server_prepare=1",
	$user, $password, { RaiseError => 0, PrintError => 0, AutoCommit => 1 });
die "connect: $DBI::errstr\n" unless $dbh;
die "driver did not enable server-side prepare\n" unless $dbh->{mariadb_server_prepare};

my $json = JSON::PP->new->canonical;
my %sth;
$| = 1;
while (my $line = <STDIN>) {
	my $cmd = $json->decode($line);
	my $sth = $sth{$cmd->{sql}} //= $dbh->prepare($cmd->{sql});
	if (!$sth) {
		print $json->encode({ ok => 0, err => $dbh->err + 0, msg => $dbh->errstr }), "\n";
		delete $sth{$cmd->{sql}};
		next;
	}
	my $i = 0;
	for my $p (@{ $cmd->{params} || [] }) {
		$i++;
		if (exists $p->{int}) {
			$sth->bind_param($i, $p->{int}, SQL_INTEGER);
		} elsif (exists $p->{null}) {
			$sth->bind_param($i, undef);
		} elsif (exists $p->{str}) {
			$sth->bind_param($i, $p->{str}, SQL_VARCHAR);
		} elsif (exists $p->{datetime}) {
			$sth->bind_param($i, $p->{datetime}, SQL_DATETIME);
		} elsif (exists $p->{blob}) {
			$sth->bind_param($i, join('', map { chr($_ % 256) } 0 .. $p->{blob} - 1), SQL_BLOB);
		}
	}
	if (!$sth->execute) {
		print $json->encode({ ok => 0, err => $sth->err + 0, msg => $sth->errstr }), "\n";
		next;
	}
	my $rows = $sth->{NUM_OF_FIELDS} ? $sth->fetchall_arrayref : [];
	print $json->encode({ ok => 1, rows => $rows }), "\n";
}
$dbh->disconnect;
