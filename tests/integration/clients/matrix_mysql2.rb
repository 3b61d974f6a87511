# Client-matrix driver for Ruby mysql2: runs the matrix scenario and prints its canonical transcript.
# Usage: ruby matrix_mysql2.rb HOST PORT USER PASSWORD DATABASE TLS(0|1)
# With TLS, MATRIX_TLS_CA names the CA file.
# The scenario and the transcript format are described in test_client_matrix.py.
require 'bigdecimal'
require 'digest'
require 'mysql2'

HOST, PORT, USER, PASSWORD, DATABASE, TLS = ARGV
MIB = 1024 * 1024

def canon(v)
  case v
  when nil then 'NULL'
  when String
    v.bytesize > 200 || v.encoding == Encoding::BINARY ? "bytes(#{v.bytesize},#{Digest::MD5.hexdigest(v)})" : v
  when BigDecimal then v.to_s('F')
  when Time then v.strftime('%Y-%m-%d %H:%M:%S.%6N')
  else v.to_s
  end
end

def row_text(row)
  row.map { |v| canon(v) }.join('|')
end

def say(step, text)
  puts "#{step}: #{text}"
end

def open_client(compress)
  flags = Mysql2::Client::MULTI_STATEMENTS
  flags |= Mysql2::Client::COMPRESS if compress
  opts = { host: HOST, port: PORT.to_i, username: USER, password: PASSWORD, database: DATABASE,
           flags: flags, encoding: 'utf8mb4', connect_timeout: 10 }
  # With MariaDB's client library mysql2 turns TLS on only when given a CA (not verified here).
  opts.merge!(sslca: ENV['MATRIX_TLS_CA'], sslverify: false, ssl_mode: :required) if TLS == '1'
  Mysql2::Client.new(opts)
end

def attempt(step)
  yield
  say(step, 'no error')
rescue Mysql2::Error => e
  say(step, "error #{e.error_number} #{e.sql_state} #{e.message}")
end

# Every result of a text CALL (the final OK included).
def text_sets(step, client, sql)
  i = 0
  result = client.query(sql, as: :array)
  loop do
    say("#{step} set #{i}", result ? result.map { |r| row_text(r) }.join(' ; ') : "ok affected=#{client.affected_rows}")
    i += 1
    break unless client.next_result
    result = client.store_result
  end
end

def scenario(c, label)
  blob = ((0...251).map(&:chr).join * (MIB / 251 + 1))[0, MIB].b
  c.query('DELETE FROM kinds')
  c.prepare('INSERT INTO kinds VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)').execute(
    1, -128, 32767, -2147483648, 9223372036854775807, 1.5, 2.25e100, BigDecimal('12345678901234.123456'),
    "h\u00e9llo \u2603", Time.utc(2024, 2, 29, 23, 59, 58, 123456), Date.new(2024, 2, 29), '12:34:56.5',
    blob, nil)
  c.prepare('INSERT INTO kinds (id) VALUES (?)').execute(2)
  c.prepare('SELECT * FROM kinds WHERE id IN (?, ?) ORDER BY id').execute(1, 2, as: :array).each do |r|
    say("#{label} prepared row", row_text(r))
  end
  c.query('SELECT * FROM kinds ORDER BY id', as: :array).each { |r| say("#{label} text row", row_text(r)) }

  sql = "SELECT seq, CONCAT('row-', seq) FROM seq_1_to_100000"
  { 'text' => -> { c.query(sql, as: :array) }, 'prepared' => -> { c.prepare(sql).execute(as: :array) } }.each do |how, run|
    sum = 0
    count = 0
    md5 = Digest::MD5.new
    run.call.each do |r|
      sum += r[0]
      count += 1
      md5 << r[1]
    end
    say("#{label} 100k #{how}", "#{count} rows sum=#{sum} md5=#{md5.hexdigest}")
  end

  big = 'x' * (20 * MIB - 7) + 'the-end'
  row = c.prepare('SELECT ?, MD5(?)').execute(big, big, as: :array).first
  say("#{label} 20MiB", "#{canon(row[0])} server-md5=#{row[1]}")

  text_sets("#{label} call two_sets text", c, 'CALL two_sets(2)')
  attempt("#{label} call two_sets prepared") do
    r = c.prepare('CALL two_sets(?)').execute(3, as: :array)
    say("#{label} call two_sets prepared set 0", r.map { |x| row_text(x) }.join(' ; '))
    c.abandon_results!
  end
  text_sets("#{label} call cur_p text", c, 'CALL cur_p()')
  attempt("#{label} call cur_p prepared") do
    r = c.prepare('CALL cur_p()').execute(as: :array)
    say("#{label} call cur_p prepared set 0", r.map { |x| row_text(x) }.join(' ; '))
    c.abandon_results!
  end

  attempt("#{label} error text") { c.query('SELECT * FROM no_such_table') }
  attempt("#{label} error prepare") { c.prepare('SELECT * FROM no_such_table WHERE a = ?') }
  attempt("#{label} error signal") do
    c.query("SIGNAL SQLSTATE '45001' SET MYSQL_ERRNO = 4242, MESSAGE_TEXT = 'custom failure'")
  end
  attempt("#{label} error duplicate") { c.prepare('INSERT INTO kinds (id) VALUES (?)').execute(1) }

  c.query('DELETE FROM tx')
  c.query('BEGIN')
  c.query('INSERT INTO tx VALUES (1)')
  c.query('ROLLBACK')
  c.query('BEGIN')
  c.prepare('INSERT INTO tx VALUES (?)').execute(2)
  c.query('COMMIT')
  say("#{label} transaction", row_text(c.query('SELECT GROUP_CONCAT(id) FROM tx', as: :array).first))
end

begin
  c = open_client(false)
  say('connect', 'ok')
  scenario(c, 'plain')
  c.close
  # mysql2 has no change-user or reset-connection call.
  z = open_client(true)
  scenario(z, 'compressed')
  z.close
  say('done', 'ok')
rescue StandardError => e
  puts "fatal: #{e.class} #{e.message}"
  exit 1
end
