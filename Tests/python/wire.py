"""Clients on the wire, for tests that send what a library would not or look at the bytes: a
blocking WebSocket client (masked frames out, frames in as they are on the wire) and raw HTTP
requests and responses."""
import base64
import http.client
import json
import os
import socket
import struct
import zlib

TAIL = b"\x00\x00\xff\xff"


def connect(port, rcvbuf=None, timeout=10):
    """A connected socket; `rcvbuf` set before the connect (a small window from the start)."""
    sock = socket.socket()
    if rcvbuf:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.settimeout(timeout)
    sock.connect(("127.0.0.1", port))
    return sock


class RawWebSocket:
    """A minimal client: handshake with the given headers (and Sec-WebSocket-Extensions), masked
    frames out, frames in as they are on the wire. `status` is the handshake's; `refused` names
    it when it is not 101."""

    def __init__(self, port, extensions=None, path="/ws", headers=(), rcvbuf=None, timeout=10):
        self.sock = connect(port, rcvbuf, timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [f"GET {path} HTTP/1.1", "Host: 127.0.0.1", "Upgrade: websocket", "Connection: Upgrade",
                 f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13"]
        for value in ([extensions] if isinstance(extensions, str) else extensions or []):
            lines.append(f"Sec-WebSocket-Extensions: {value}")
        lines += [f"{name}: {value}" for name, value in headers]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        self.buffer = b""
        while b"\r\n\r\n" not in self.buffer:
            chunk = self.sock.recv(65536)
            assert chunk, "closed during the handshake"
            self.buffer += chunk
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        status_line, *header_lines = head.decode().split("\r\n")
        self.status = int(status_line.split()[1])
        self.headers = {}
        for line in header_lines:
            name, value = line.split(":", 1)
            self.headers[name.strip().lower()] = value.strip()

    @property
    def extensions(self):
        return self.headers.get("sec-websocket-extensions")

    def settimeout(self, seconds):
        self.sock.settimeout(seconds)

    def send_frame(self, opcode, payload, rsv1=False, fin=True):
        first = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode
        mask = os.urandom(4)
        n = len(payload)
        header = bytes([first]) + (bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + struct.pack("!H", n)
                                   if n < 65536 else bytes([0x80 | 127]) + struct.pack("!Q", n))
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(header + mask + masked)

    def send_text(self, text, compress=False):
        data = text.encode()
        self.send_frame(1, deflate(data) if compress else data, rsv1=compress)

    def send_json(self, message):
        self.send_text(json.dumps(message))

    def send_close(self, code=1000):
        self.send_frame(8, struct.pack("!H", code))

    def _read(self, n):
        while len(self.buffer) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("connection closed")
            self.buffer += chunk
        out, self.buffer = self.buffer[:n], self.buffer[n:]
        return out

    def recv_frame(self):
        """(first byte, payload, bytes on the wire)."""
        b0, b1 = self._read(2)
        n = b1 & 0x7F
        extra = 2 if n == 126 else 8 if n == 127 else 0
        if extra:
            n = int.from_bytes(self._read(extra), "big")
        return b0, self._read(n), 2 + extra + n

    def recv_message(self):
        """The next data or close message: (opcode, compressed?, payload as sent before
        compression, bytes on the wire). Pings are skipped."""
        while True:
            b0, payload, wire = self.recv_frame()
            opcode = b0 & 0x0F
            if opcode == 9:
                continue
            assert b0 & 0x80, "the hub sends unfragmented messages"
            compressed = bool(b0 & 0x40)
            if compressed:
                payload = zlib.decompressobj(wbits=-15).decompress(payload + TAIL)
            return opcode, compressed, payload, wire

    def recv_json(self):
        opcode, compressed, payload, wire = self.recv_message()
        assert opcode == 1, (opcode, payload)
        return json.loads(payload), compressed, wire

    def next_json(self):
        """The next message, parsed."""
        return self.recv_json()[0]

    def next_type(self, kind):
        """The next message of this type, skipping others."""
        while True:
            message = self.next_json()
            if message["type"] == kind:
                return message

    def poll_json(self):
        """The next message, parsed; None when none comes within the socket's timeout or the
        connection closes (a close frame, EOF, a reset)."""
        try:
            opcode, _, payload, _ = self.recv_message()
        except (OSError, EOFError):
            return None
        return json.loads(payload) if opcode == 1 else None

    def recv_close_code(self):
        while True:
            opcode, _, payload, _ = self.recv_message()
            if opcode == 8:
                return struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None

    def close_code(self):
        """The code of the close frame the server sends next (messages before it skipped); None
        when the connection ends (or the timeout passes) without one."""
        try:
            return self.recv_close_code()
        except (OSError, EOFError):
            return None

    def close(self):
        self.sock.close()


def open_websocket(port, path="/ws", headers=()):
    """A RawWebSocket that was accepted (101); AssertionError naming the answer otherwise."""
    ws = RawWebSocket(port, path=path, headers=headers)
    if ws.status != 101:
        ws.close()
        raise AssertionError(f"upgrade refused: {ws.status}")
    return ws


def deflate(data, wbits=15):
    c = zlib.compressobj(wbits=-wbits)
    out = c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)
    assert out.endswith(TAIL)
    return out[:-4]


def post_bytes(path, body, extra=""):
    """A POST of JSON `body` (str) as raw request bytes."""
    return (f"POST {path} HTTP/1.1\r\nHost: x\r\n{extra}Content-Type: application/json\r\n"
            f"Content-Length: {len(body.encode())}\r\n\r\n{body}").encode()


class Response:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    def json(self):
        return json.loads(self.body)


def exchange(port, method, path, body=None, headers=()):
    """One request on a fresh connection (`body` a dict is sent as JSON): its Response, headers
    by lower-case name."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        data = json.dumps(body).encode() if isinstance(body, (dict, list)) else body
        all_headers = dict(headers)
        if data is not None:
            all_headers.setdefault("Content-Type", "application/json")
        conn.request(method, path, body=data, headers=all_headers)
        response = conn.getresponse()
        return Response(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
    finally:
        conn.close()


def read_response(sock, buffer=b""):
    """One response read off `sock` by its Content-Length: (Response, bytes left over)."""
    while b"\r\n\r\n" not in buffer:
        chunk = sock.recv(65536)
        if not chunk:
            raise EOFError(f"closed before a response head: {buffer[:200]!r}")
        buffer += chunk
    head, buffer = buffer.split(b"\r\n\r\n", 1)
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, value = line.split(":", 1)
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(buffer) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise EOFError("closed inside a response body")
        buffer += chunk
    return Response(int(status_line.split()[1]), headers, buffer[:length]), buffer[length:]


def complete_responses(data):
    """The statuses of the complete responses (by Content-Length) at the start of `data`."""
    statuses, offset = [], 0
    while (end := data.find(b"\r\n\r\n", offset)) >= 0:
        lines = data[offset:end].decode("latin-1").lower().split("\r\n")
        length = next((int(l.split(":", 1)[1]) for l in lines if l.startswith("content-length:")), 0)
        if len(data) < end + 4 + length:
            break
        statuses.append(int(lines[0].split()[1]))
        offset = end + 4 + length
    return statuses


def server_side_state(port, client_port):
    """TCP state (hex, as /proc/net/tcp gives it) of the server's socket for that client, or None."""
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            if int(fields[1].split(":")[1], 16) == port and int(fields[2].split(":")[1], 16) == client_port:
                return fields[3]
    return None


def receive_until_close(sock):
    """Everything the peer sends until it closes (or the socket's timeout passes)."""
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except (socket.timeout, ConnectionResetError):
        pass
    return data
