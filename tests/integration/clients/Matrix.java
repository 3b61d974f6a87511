// Client-matrix driver for MariaDB Connector/J with server-side prepares: runs the matrix scenario and prints its canonical transcript.
// Usage: java -cp CLASSES:mariadb-java-client.jar Matrix HOST PORT USER PASSWORD DATABASE TLS(0|1)
// The scenario and the transcript format are described in test_client_matrix.py.
import java.math.BigDecimal;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.sql.*;

public class Matrix {
	static final int MIB = 1024 * 1024;
	static String host, port, user, password, database, tls;

	static String md5(byte[] b) throws Exception {
		StringBuilder sb = new StringBuilder();
		for (byte x : MessageDigest.getInstance("MD5").digest(b))
			sb.append(String.format("%02x", x));
		return sb.toString();
	}

	static String canon(ResultSet rs, int col) throws Exception {
		int type = rs.getMetaData().getColumnType(col);
		if (type == Types.BLOB || type == Types.LONGVARBINARY || type == Types.VARBINARY) {
			byte[] b = rs.getBytes(col);
			return b == null ? "NULL" : "bytes(" + b.length + "," + md5(b) + ")";
		}
		String s = rs.getString(col);
		if (s == null)
			return "NULL";
		if (s.length() > 200)
			return "text(" + s.length() + "," + md5(s.getBytes(StandardCharsets.UTF_8)) + ")";
		return s;
	}

	static String rows(ResultSet rs) throws Exception {
		StringBuilder sb = new StringBuilder();
		int n = rs.getMetaData().getColumnCount();
		while (rs.next()) {
			if (sb.length() > 0)
				sb.append(" ; ");
			for (int i = 1; i <= n; i++)
				sb.append(i > 1 ? "|" : "").append(canon(rs, i));
		}
		return sb.toString();
	}

	static void say(String step, String text) {
		System.out.println(step + ": " + text);
	}

	// Connector/J names the connection in its messages: masked.
	static String error(SQLException e) {
		return "error " + e.getErrorCode() + " " + e.getSQLState() + " "
		    + e.getMessage().replaceAll("\\(conn=\\d+\\) ", "").replaceAll("\\nQuery is:.*", "");
	}

	interface Step {
		void run() throws Exception;
	}

	static void attempt(String step, Step s) throws Exception {
		try {
			s.run();
			say(step, "no error");
		} catch (SQLException e) {
			say(step, error(e));
		}
	}

	// Every result of a CALL: result sets and update counts until the end.
	static void sets(String step, Statement st, boolean isRs) throws Exception {
		for (int i = 0;; i++) {
			if (isRs) {
				say(step + " set " + i, rows(st.getResultSet()));
			} else {
				int uc = st.getUpdateCount();
				if (uc == -1)
					break;
				say(step + " set " + i, "ok affected=" + uc);
			}
			isRs = st.getMoreResults();
		}
	}

	static Connection open(boolean compress) throws Exception {
		String url = "jdbc:mariadb://" + host + ":" + port + "/" + database + "?user=" + user + "&password="
		    + password + "&useServerPrepStmts=true&useResetConnection=true&connectTimeout=10000"
		    + (compress ? "&useCompression=true" : "")
		    + (tls.equals("1") ? "&useSsl=true&trustServerCertificate=true" : "&useSsl=false");
		return DriverManager.getConnection(url);
	}

	static void scenario(Connection c, String label) throws Exception {
		byte[] blob = new byte[MIB];
		for (int i = 0; i < MIB; i++)
			blob[i] = (byte)(i % 251);
		c.createStatement().execute("DELETE FROM kinds");
		PreparedStatement ps = c.prepareStatement("INSERT INTO kinds VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
		ps.setInt(1, 1);
		ps.setByte(2, (byte)-128);
		ps.setShort(3, (short)32767);
		ps.setInt(4, Integer.MIN_VALUE);
		ps.setLong(5, Long.MAX_VALUE);
		ps.setFloat(6, 1.5f);
		ps.setDouble(7, 2.25e100);
		ps.setBigDecimal(8, new BigDecimal("12345678901234.123456"));
		ps.setString(9, "h\u00e9llo \u2603");
		ps.setTimestamp(10, Timestamp.valueOf("2024-02-29 23:59:58.123456"));
		ps.setDate(11, Date.valueOf("2024-02-29"));
		ps.setTime(12, Time.valueOf("12:34:56"));
		ps.setBytes(13, blob);
		ps.setNull(14, Types.INTEGER);
		ps.executeUpdate();
		ps = c.prepareStatement("INSERT INTO kinds (id) VALUES (?)");
		ps.setInt(1, 2);
		ps.executeUpdate();
		ps = c.prepareStatement("SELECT * FROM kinds WHERE id IN (?, ?) ORDER BY id");
		ps.setInt(1, 1);
		ps.setInt(2, 2);
		for (String r : rows(ps.executeQuery()).split(" ; "))
			say(label + " prepared row", r);
		for (String r : rows(c.createStatement().executeQuery("SELECT * FROM kinds ORDER BY id")).split(" ; "))
			say(label + " text row", r);

		String sql = "SELECT seq, CONCAT('row-', seq) FROM seq_1_to_100000";
		for (String how : new String[] {"text", "prepared"}) {
			ResultSet rs = how.equals("text") ? c.createStatement().executeQuery(sql)
							  : c.prepareStatement(sql).executeQuery();
			long sum = 0, count = 0;
			MessageDigest md = MessageDigest.getInstance("MD5");
			while (rs.next()) {
				sum += rs.getLong(1);
				count++;
				md.update(rs.getString(2).getBytes(StandardCharsets.UTF_8));
			}
			StringBuilder hex = new StringBuilder();
			for (byte x : md.digest())
				hex.append(String.format("%02x", x));
			say(label + " 100k " + how, count + " rows sum=" + sum + " md5=" + hex);
		}

		String big = "x".repeat(20 * MIB - 7) + "the-end";
		ps = c.prepareStatement("SELECT ?, MD5(?)");
		ps.setString(1, big);
		ps.setString(2, big);
		ResultSet rs = ps.executeQuery();
		rs.next();
		say(label + " 20MiB", canon(rs, 1) + " server-md5=" + rs.getString(2));

		Statement st = c.createStatement();
		sets(label + " call two_sets text", st, st.execute("CALL two_sets(2)"));
		ps = c.prepareStatement("CALL two_sets(?)");
		ps.setInt(1, 3);
		sets(label + " call two_sets prepared", ps, ps.execute());
		sets(label + " call cur_p text", st, st.execute("CALL cur_p()"));
		ps = c.prepareStatement("CALL cur_p()");
		sets(label + " call cur_p prepared", ps, ps.execute());

		attempt(label + " error text", () -> c.createStatement().executeQuery("SELECT * FROM no_such_table"));
		attempt(label + " error prepare", () -> {
			PreparedStatement p = c.prepareStatement("SELECT * FROM no_such_table WHERE a = ?");
			p.setInt(1, 1);
			p.executeQuery();
		});
		attempt(label + " error signal", () -> c.createStatement().execute(
		    "SIGNAL SQLSTATE '45001' SET MYSQL_ERRNO = 4242, MESSAGE_TEXT = 'custom failure'"));
		attempt(label + " error duplicate", () -> {
			PreparedStatement p = c.prepareStatement("INSERT INTO kinds (id) VALUES (?)");
			p.setInt(1, 1);
			p.executeUpdate();
		});

		c.createStatement().execute("DELETE FROM tx");
		c.setAutoCommit(false);
		c.createStatement().execute("INSERT INTO tx VALUES (1)");
		c.rollback();
		ps = c.prepareStatement("INSERT INTO tx VALUES (?)");
		ps.setInt(1, 2);
		ps.executeUpdate();
		c.commit();
		c.setAutoCommit(true);
		say(label + " transaction", rows(c.createStatement().executeQuery("SELECT GROUP_CONCAT(id) FROM tx")));
	}

	public static void main(String[] args) {
		host = args[0];
		port = args[1];
		user = args[2];
		password = args[3];
		database = args[4];
		tls = args[5];
		try {
			Connection c = open(false);
			say("connect", "ok");
			scenario(c, "plain");
			// COM_RESET_CONNECTION: the driver sends it from reset() only with
			// useResetConnection (otherwise @v would survive).
			c.createStatement().execute("SET @v = 7");
			c.unwrap(org.mariadb.jdbc.MariaDbConnection.class).reset();
			say("reset connection", rows(c.createStatement().executeQuery("SELECT @v, DATABASE()")));
			c.close();
			Connection z = open(true);
			scenario(z, "compressed");
			z.close();
			say("done", "ok");
		} catch (Exception e) {
			System.out.println("fatal: " + e);
			System.exit(1);
		}
	}
}
