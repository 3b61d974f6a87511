# Bounded decompression: a compressed packet that would inflate past max_packet is refused before it is inflated, and a flood of them cannot raise ddlgate's peak memory; other sessions keep working.
import hashlib
import socket
import struct
import time
import zlib

import harness as h

DB = None
MAX_PACKET = 1024 * 1024

CLIENT_LONG_PASSWORD = 1
CLIENT_CONNECT_WITH_DB = 8
CLIENT_COMPRESS = 32
CLIENT_PROTOCOL_41 = 512
CLIENT_TRANSACTIONS = 8192
CLIENT_SECURE_CONNECTION = 32768
CLIENT_MULTI_RESULTS = 1 << 17
CLIENT_PLUGIN_AUTH = 1 << 19


def db():
	global DB
	if DB is None:
		DB = h.shared_mariadb()
	return DB


def gateway():
	return h.gateway(db(), {"proxy": {"max_packet": "1M"}})


def vm_hwm_kib(pid):
	with open(f"/proc/{pid}/status") as f:
		for line in f:
			if line.startswith("VmHWM:"):
				return int(line.split()[1])
	raise AssertionError("no VmHWM")


def native_password(password, scramble):
	p1 = hashlib.sha1(password.encode()).digest()
	p2 = hashlib.sha1(p1).digest()
	p3 = hashlib.sha1(scramble + p2).digest()
	return bytes(a ^ b for a, b in zip(p1, p3))


class RawClient:
	"""A minimal MySQL client: mysql_native_password, then CLIENT_COMPRESS
	frames built by hand."""

	def __init__(self, ep):
		self.sock = socket.create_connection((ep.host, ep.port), timeout=20)
		self.buf = b""
		self.zseq = 0
		seq, greeting = self.read_plain()
		assert greeting[0] == 10, greeting[:1]
		pos = greeting.index(b"\0", 1) + 1 + 4  # version, connection id
		part1 = greeting[pos:pos + 8]
		pos += 9
		caps = struct.unpack("<H", greeting[pos:pos + 2])[0]
		pos += 2 + 1 + 2
		caps |= struct.unpack("<H", greeting[pos:pos + 2])[0] << 16
		pos += 2 + 1 + 10
		part2 = greeting[pos:pos + 12]
		assert caps & CLIENT_COMPRESS, "ddlgate does not offer CLIENT_COMPRESS"
		scramble = part1 + part2
		mine = (CLIENT_LONG_PASSWORD | CLIENT_CONNECT_WITH_DB | CLIENT_COMPRESS |
			CLIENT_PROTOCOL_41 | CLIENT_TRANSACTIONS | CLIENT_SECURE_CONNECTION |
			CLIENT_MULTI_RESULTS | CLIENT_PLUGIN_AUTH)
		auth = native_password(h.APP_PASSWORD, scramble)
		hello = (struct.pack("<IIB23x", mine, 16 * 1024 * 1024, 45) +
			 h.APP_USER.encode() + b"\0" + bytes([len(auth)]) + auth +
			 h.APP_DB.encode() + b"\0" + b"mysql_native_password\0")
		self.send_plain(seq + 1, hello)
		seq, reply = self.read_plain()
		if reply[0] == 0xFE:  # auth switch
			plugin, _, data = reply[1:].partition(b"\0")
			assert plugin == b"mysql_native_password", plugin
			self.send_plain(seq + 1, native_password(h.APP_PASSWORD, data[:20]))
			seq, reply = self.read_plain()
		assert reply[0] == 0x00, reply

	def recv_exact(self, n):
		while len(self.buf) < n:
			chunk = self.sock.recv(65536)
			if not chunk:
				raise EOFError("connection closed")
			self.buf += chunk
		out, self.buf = self.buf[:n], self.buf[n:]
		return out

	def read_plain(self):
		hdr = self.recv_exact(4)
		n = hdr[0] | hdr[1] << 8 | hdr[2] << 16
		return hdr[3], self.recv_exact(n)

	def send_plain(self, seq, payload):
		self.sock.sendall(struct.pack("<I", len(payload))[:3] + bytes([seq & 0xFF]) + payload)

	def frame(self, plain, announce=None):
		"""One compressed frame holding plain (announce: the uncompressed
		length written in its header)."""
		z = zlib.compress(plain)
		ulen = len(plain) if announce is None else announce
		f = struct.pack("<I", len(z))[:3] + bytes([self.zseq]) + struct.pack("<I", ulen)[:3] + z
		self.zseq = (self.zseq + 1) & 0xFF
		return f

	def packets(self):
		"""Yields the plain packets of the compressed frames ddlgate sends."""
		plain = b""
		while True:
			hdr = self.recv_exact(7)
			clen = hdr[0] | hdr[1] << 8 | hdr[2] << 16
			ulen = hdr[4] | hdr[5] << 8 | hdr[6] << 16
			body = self.recv_exact(clen)
			plain += zlib.decompress(body) if ulen else body
			while len(plain) >= 4:
				n = plain[0] | plain[1] << 8 | plain[2] << 16
				if len(plain) < 4 + n:
					break
				pkt, plain = plain[4:4 + n], plain[4 + n:]
				yield pkt

	def query(self, sql):
		"""Sends sql compressed; returns the plain answer packets."""
		self.zseq = 0
		payload = b"\x03" + sql.encode()
		self.sock.sendall(self.frame(struct.pack("<I", len(payload))[:3] + b"\0" + payload))
		out = []
		for pkt in self.packets():
			out.append(pkt)
			eofs = sum(1 for p in out if p[0] == 0xFE and len(p) < 9)
			if pkt[0] == 0xFF or (len(out) == 1 and pkt[0] == 0x00) or eofs == 2:
				return out

	def closed(self, timeout=10):
		"""True once ddlgate closed the connection (whatever it said first)."""
		self.sock.settimeout(timeout)
		try:
			while self.sock.recv(65536):
				pass
			return True
		except (ConnectionResetError, BrokenPipeError):
			return True
		except socket.timeout:
			return False


def test_compressed_queries_work():
	gw = gateway()
	c = RawClient(gw)
	pkts = c.query("select 'hello' as greeting")
	assert any(b"hello" in p for p in pkts), pkts
	# a statement near max_packet, inflated in one go
	big = "select length('" + "x" * (MAX_PACKET - 1024) + "') as n"
	pkts = c.query(big)
	assert any(str(MAX_PACKET - 1024).encode() in p for p in pkts), pkts[-2:]


def test_inflating_past_max_packet_is_refused():
	h.require_proxy("max_packet for compressed packets is ddlgate's")
	gw = gateway()
	bystander = h.connect(gw)
	assert h.scalar(bystander, "select 1") == 1
	c = RawClient(gw)
	assert any(b"1" in p for p in c.query("select 1"))
	time.sleep(0.3)
	base = vm_hwm_kib(gw.proc.pid)
	# Frames announcing (and holding) 8 MiB each: about 8 KiB on the wire,
	# 2 GiB if all were inflated.
	plain = struct.pack("<I", 8 * 1024 * 1024 - 8)[:3] + b"\0\x03" + b"\0" * (8 * 1024 * 1024 - 5)
	c.zseq = 0
	one = c.frame(plain)
	wire = b"".join([one] * 256)
	try:
		c.sock.sendall(wire)
	except (BrokenPipeError, ConnectionResetError):
		pass
	assert c.closed(), "ddlgate kept the connection open"
	peak = vm_hwm_kib(gw.proc.pid)
	print(f"  {len(wire) // 1024} KiB of compressed frames (2 GiB announced): "
	      f"VmHWM {base} -> {peak} KiB (+{peak - base} KiB)")
	assert peak - base < 2 * MAX_PACKET // 1024, (base, peak)
	h.wait_for(lambda: "compressed packet of 8388608 plain bytes, over max_packet" in gw.logs(),
		   10, "the refusal's log line")
	assert "compressed packet bigger than max_packet" in gw.logs()
	# the other session is untouched
	assert h.scalar(bystander, "select 2") == 2
	assert h.scalar(h.connect(gw), "select 3") == 3


def test_lying_frames_are_refused():
	h.require_proxy("checking compressed frames is ddlgate's")
	gw = gateway()
	# announces 100 bytes but carries 64 KiB of zlib data: no such stream exists
	c = RawClient(gw)
	junk = bytes(range(256)) * 256
	z = zlib.compress(junk, 0)
	c.sock.sendall(struct.pack("<I", len(z))[:3] + b"\0" + struct.pack("<I", 100)[:3] + z)
	assert c.closed()
	h.wait_for(lambda: "malformed compressed packet" in gw.logs(), 10, "the close line")
	assert h.scalar(h.connect(gw), "select 1") == 1


def test_pipelined_frames_inflate_with_back_pressure():
	"""Many small compressed queries sent at once: all answered, in order,
	while inflation stays bounded."""
	gw = gateway()
	c = RawClient(gw)
	n = 300
	frames = []
	for i in range(n):
		payload = b"\x03" + f"select {i} as n, repeat('y', 4000) as pad".encode()
		c.zseq = 0
		frames.append(c.frame(struct.pack("<I", len(payload))[:3] + b"\0" + payload))
	c.sock.sendall(b"".join(frames))
	# read the n answers: each ends with the EOF after its one row
	seen = eofs = 0
	c.sock.settimeout(30)
	for pkt in c.packets():
		assert pkt[0] != 0xFF, pkt
		if pkt[0] == 0xFE and len(pkt) < 9:
			eofs += 1
			if eofs % 2 == 0:
				seen += 1
				if seen == n:
					break
		elif eofs % 2 == 1:
			want = str(seen).encode()
			assert pkt[1:1 + len(want)] == want, (seen, pkt[:16])
	assert seen == n


if __name__ == "__main__":
	h.main(globals())
