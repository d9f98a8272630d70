#!/usr/bin/env python3
"""Writes the fuzz targets' seeds into fuzz/seeds/NAME/ (see src/fuzz.rs for each input's form).

    fuzz/make_seeds.py                 the built ones: RFC 7541 C.4/C.6 blocks, gRPC replies
                                       (Huffman, CONTINUATION, padding), replies of each protocol
                                       as its documentation gives them, real targets and values
    fuzz/make_seeds.py --record BIN [NAME...]   also records what real servers send (redis-server, memcached,
                                       nats-server, mosquitto, PostgreSQL, MariaDB, php-fpm, RabbitMQ,
                                       the gRPC health service of tests/grpc_server.py), each started
                                       here on loopback, by probing them with BIN through a proxy that
                                       keeps the server's side; servers not installed are skipped

A wire input is [target pick][pacing][server bytes]; pacing is chunk sizes and the end
(low 2 bits: 0 EOF, 1 reset, 2 timeout). Regression seeds (crash-*) are never rewritten.
"""
import os, re, shutil, signal, socket, struct, subprocess, sys, tempfile, threading, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SEEDS = os.path.join(ROOT, "fuzz", "seeds")


def write(target, name, data):
    path = os.path.join(SEEDS, target)
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def wire(target, name, server_bytes, pick=0, pacing=(0, 0x40 | 0, 0xfd)):
    """One seed per pacing: EOF in 1-byte chunks and in large ones, a reset, a timeout."""
    for p in pacing:
        write(target, f"{name}-{p:02x}", bytes([pick, p]) + server_bytes)


# --- HPACK (RFC 7541) -----------------------------------------------------------------
def code_lengths():
    text = open(os.path.join(ROOT, "src/probe/grpc/hpack.rs")).read()
    table = text.split("const CODE_LENGTHS: [u8; 257] = [")[1].split("];")[0]
    return [int(n) for n in re.findall(r"\d+", table)]


def huffman_codes():
    lengths, codes, code = code_lengths(), {}, 0
    order = sorted(range(257), key=lambda s: (lengths[s], s))
    previous = lengths[order[0]]
    for symbol in order:
        code <<= lengths[symbol] - previous
        previous = lengths[symbol]
        codes[symbol] = (code, lengths[symbol])
        code += 1
    return codes


CODES = huffman_codes()


def huffman(text):
    bits, count = 0, 0
    for byte in text.encode():
        code, length = CODES[byte]
        bits, count = bits << length | code, count + length
    pad = -count % 8
    bits, count = bits << pad | (1 << pad) - 1, count + pad
    return bits.to_bytes(count // 8, "big")


def integer(value, prefix_bits, first=0):
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes([first | value])
    out, value = [first | limit], value - limit
    while value >= 128:
        out.append(value % 128 + 128)
        value //= 128
    return bytes(out + [value])


def string(text, use_huffman):
    raw = huffman(text) if use_huffman else text.encode()
    return integer(len(raw), 7, 0x80 if use_huffman else 0) + raw


def literal(name, value, use_huffman=True, indexing=True):
    return (b"\x40" if indexing else b"\x00") + string(name, use_huffman) + string(value, use_huffman)


# RFC 7541 C.4 (requests, Huffman) and C.6 (responses, Huffman), as hex.
C4 = [
    "828684418cf1e3c2e5f23a6ba0ab90f4ff",
    "828684be5886a8eb10649cbf",
    "828785bf408825a849e95ba97d7f8925a849e95bb8e8b4bf",
]
C6 = [
    "488264025885aec3771a4b6196d07abe941054d444a8200595040b8166e082a62d1bff6e919d29ad171863c78f0b97c8e9ae82ae43d3",
    "4883640effc1c0bf",
    "88c16196d07abe941054d444a8200595040b8166e084a62d1bffc05a839bd9ab77ad94e7821dd7f2e6c7b335dfdfcd5b3960d5af27087f3672c1ab270fb5291f9587316065c003ed4ee5b1063d5007",
]


def hpack_seeds():
    for i, block in enumerate(C4 + C6):
        data = bytes.fromhex(block)
        write("hpack", f"rfc7541-{'c4' if i < 3 else 'c6'}-{i % 3 + 1}", bytes([len(data)]) + data)
    # C.4.1 then C.4.2 on one decoder: the second indexes the first's dynamic entry.
    one, two = bytes.fromhex(C4[0]), bytes.fromhex(C4[1])
    write("hpack", "rfc7541-c4-1-then-2", bytes([len(one)]) + one + two)
    update = integer(0, 5, 0x20) + integer(4096, 5, 0x20)
    write("hpack", "size-updates", bytes([len(update) + 2]) + update + b"\x88\x89")
    write("hpack", "grpc-trailers", b"\xff" + literal("grpc-status", "0") + literal("grpc-message", "ok"))


# --- HTTP/2 + gRPC ------------------------------------------------------------------
def frame(kind, flags, stream, payload):
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream) + payload


SETTINGS = frame(4, 0, 0, struct.pack(">HI", 3, 100) + struct.pack(">HI", 4, 65535))
SETTINGS_ACK = frame(4, 1, 0, b"")


def message(status):
    proto = b"\x08" + bytes([status]) if status else b""
    return b"\x00" + struct.pack(">I", len(proto)) + proto


def grpc_reply(status=1, huff=True, grpc_status="0", msg=None, split=False, padded=False):
    head = b"\x88" + literal("content-type", "application/grpc", huff)
    trailers = literal("grpc-status", grpc_status, huff)
    if msg:
        trailers += literal("grpc-message", msg, huff)
    out = SETTINGS + SETTINGS_ACK + frame(6, 0, 0, b"12345678")
    if split:  # HEADERS without END_HEADERS, then CONTINUATION
        out += frame(1, 0, 1, head[:3]) + frame(9, 4, 1, head[3:])
    elif padded:  # PADDED and PRIORITY
        out += frame(1, 0x4 | 0x8 | 0x20, 1, b"\x03" + b"\x00\x00\x00\x00\x10" + head + b"\x00" * 3)
    else:
        out += frame(1, 4, 1, head)
    body = message(status)
    if padded:
        out += frame(0, 0x8, 1, b"\x02" + body + b"\x00\x00")
    else:
        out += frame(0, 0, 1, body)
    out += frame(1, 0x4 | 0x1, 1, trailers)
    return out


def grpc_seeds():
    wire("grpc", "serving-huffman", grpc_reply(1))
    wire("grpc", "serving-literal", grpc_reply(1, huff=False))
    wire("grpc", "not-serving-continuation", grpc_reply(2, split=True))
    wire("grpc", "service-unknown-padded", grpc_reply(3, padded=True), pick=1)
    wire("grpc", "unimplemented", SETTINGS + frame(1, 5, 1, b"\x88" + literal("content-type", "application/grpc") + literal("grpc-status", "12") + literal("grpc-message", "Method%20not%20found")))
    wire("grpc", "goaway", SETTINGS + frame(7, 0, 0, struct.pack(">II", 0, 11) + b"enhance your calm"))
    wire("grpc", "rst-stream", SETTINGS + frame(3, 0, 1, struct.pack(">I", 7)))
    wire("grpc", "http2-404", SETTINGS + frame(1, 5, 1, b"\x8d" + literal("content-type", "text/html")), pick=2)
    wire("grpc", "http1", b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")


# --- the database and broker replies -------------------------------------------------
def pg_message(kind, body):
    return kind + struct.pack(">I", len(body) + 4) + body


def pg_error(severity, code, text, detail=None):
    body = b"S" + severity + b"\0V" + severity + b"\0C" + code + b"\0M" + text + b"\0"
    if detail:
        body += b"D" + detail + b"\0"
    return pg_message(b"E", body + b"\0")


def mysql_packet(seq, payload):
    return struct.pack("<I", len(payload))[:3] + bytes([seq]) + payload


def amqp_start(product=b"RabbitMQ", version=b"3.12.1"):
    table = b""
    for name, value in ((b"product", product), (b"version", version), (b"platform", b"Erlang/OTP 25")):
        table += bytes([len(name)]) + name + b"S" + struct.pack(">I", len(value)) + value
    table += b"\x0ccapabilities" + b"F" + struct.pack(">I", 13) + b"\x09publisherst\x01"
    payload = b"\x00\x0a\x00\x0a\x00\x09" + struct.pack(">I", len(table)) + table
    payload += struct.pack(">I", 5) + b"PLAIN" + struct.pack(">I", 5) + b"en_US"
    return b"\x01\x00\x00" + struct.pack(">I", len(payload)) + payload + b"\xce"


def fcgi_record(kind, content, padding=0):
    return bytes([1, kind, 0, 1]) + struct.pack(">H", len(content)) + bytes([padding, 0]) + content + b"\0" * padding


def fcgi_response(stdout, stderr=b"", status=0):
    out = fcgi_record(6, stdout, padding=(-len(stdout)) % 8)
    if stderr:
        out += fcgi_record(7, stderr)
    return out + fcgi_record(6, b"") + fcgi_record(3, struct.pack(">IB", 0, status) + b"\0\0\0")


def protocol_seeds():
    wire("postgres", "auth-ok", pg_message(b"R", struct.pack(">I", 0)) + pg_message(b"S", b"server_version\x0016.1\x00"))
    wire("postgres", "scram", pg_message(b"R", struct.pack(">I", 10) + b"SCRAM-SHA-256\0\0"))
    wire("postgres", "md5", pg_message(b"R", struct.pack(">I", 5) + b"salt"))
    wire("postgres", "starting-up", pg_error(b"FATAL", b"57P03", b"the database system is starting up"))
    wire("postgres", "no-database", pg_error(b"FATAL", b"3D000", b'database "appdb" does not exist'), pick=1)
    wire("postgres", "shutdown-detail", pg_error(b"FATAL", b"57P01", b"terminating connection", b"admin shutdown"))

    wire("redis", "pong", b"+OK\r\n+PONG\r\n")
    wire("redis", "wrongpass", b"-WRONGPASS invalid username-password pair or user is disabled.\r\n")
    wire("redis", "loading", b"+OK\r\n-LOADING Redis is loading the dataset in memory\r\n")
    wire("redis", "noauth", b"-NOAUTH Authentication required.\r\n", pick=2)
    wire("redis", "echoes-auth", b"-ERR unknown command 'AUTH', with args beginning with: 's3cr3t-Pa55' \r\n")

    handshake = b"\x0a8.0.36\x00" + struct.pack("<I", 12) + b"abcdefgh\x00" + b"\xff\xf7\x21\x02\x00\xff\xc1\x15" + b"\0" * 10 + b"ijklmnopqrst\x00mysql_native_password\x00"
    wire("mysql", "mysql-8", mysql_packet(0, handshake))
    wire("mysql", "mariadb", mysql_packet(0, b"\x0a5.5.5-10.11.6-MariaDB-0+deb12u1\x00" + b"\0" * 40))
    wire("mysql", "host-blocked", mysql_packet(0, b"\xff\x69\x04Host '10.0.0.1' is blocked because of many connection errors"))
    wire("mysql", "too-many", mysql_packet(0, b"\xff\x10\x04#08004Too many connections"))

    wire("memcached", "version", b"VERSION 1.6.21\r\n")
    wire("memcached", "error", b"ERROR\r\n")
    wire("memcached", "server-error", b"SERVER_ERROR out of memory\r\n")

    wire("nats", "info", b'INFO {"server_id":"NABC","server_name":"n1","version":"2.10.7","go":"go1.21","host":"0.0.0.0","port":4222,"headers":true,"max_payload":1048576,"proto":1}\r\n')
    wire("nats", "info-no-name", b'INFO {"version":"2.9.0"}\r\n')
    wire("nats", "err", b"-ERR 'Authorization Violation'\r\n")

    for code in range(6):
        wire("mqtt", f"connack-{code}", bytes([0x20, 2, 0, code]))
    wire("mqtt", "connack-session", bytes([0x20, 2, 1, 0]))

    wire("fcgi", "ok", fcgi_response(b"Content-type: text/plain\r\n\r\npong"))
    wire("fcgi", "status-503", fcgi_response(b"Status: 503 Service Unavailable\r\nContent-type: text/html\r\n\r\ndown", b"PHP Warning: something"), pick=1)
    wire("fcgi", "not-found", fcgi_response(b"Status: 404 Not Found\nContent-type: text/html\n\nFile not found.\n", b"Primary script unknown"))
    wire("fcgi", "overloaded", fcgi_record(3, struct.pack(">IB", 0, 2) + b"\0\0\0"))

    wire("amqp", "rabbitmq", amqp_start())
    wire("amqp", "no-version", amqp_start(version=b""))
    wire("amqp", "amqp-1-0", b"AMQP\x00\x01\x00\x00")
    wire("amqp", "refused-091", b"AMQP\x00\x00\x09\x01")


def http_seeds():
    responses = {
        "200": b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok",
        "204": b"HTTP/1.1 204 No Content\r\nServer: nginx\r\n\r\n",
        "503": b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 5\r\nContent-Length: 4\r\n\r\ndown",
        "chunked": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
        "redirect-same": b"HTTP/1.1 302 Found\r\nLocation: /ready\r\nContent-Length: 0\r\n\r\n",
        "redirect-other": b"HTTP/1.1 301 Moved Permanently\r\nLocation: http://example.test:81/x\r\n\r\n",
        "http10": b"HTTP/1.0 200 OK\r\n\r\nold",
        "599": b"HTTP/1.1 599 Whatever\r\nContent-Length: 0\r\n\r\n",
        "http2-settings": SETTINGS,
    }
    for name, data in responses.items():
        for hint in (0, 1, 2):
            write("http", f"{name}-{hint}", bytes([hint, 0x80]) + data)
    write("http", "200-reset", bytes([0, 0x81]) + responses["200"])


def text_seeds():
    targets = [
        "http://localhost:8080/health", "http://[::1]:8080/ready?full=1#x", "https://example.com/",
        "tcp://127.0.0.1:5432", "grpc://localhost:50051/my.Service", "postgres://app:pw@db:5432/app?sslmode=disable",
        "postgresql://db", "redis://:secret@cache:6379/2", "mysql://root:p%40ss@mariadb/app", "memcached://cache",
        "nats://nats:4222", "mqtt://broker", "fcgi://php:9000/ping", "amqp://guest:guest@rabbit/vhost",
        "http://localhost:8080/a%20b/<x>", "http://h:99999/", "http://[fe80::1%25eth0]:80/",
    ]
    for i, text in enumerate(targets):
        write("target", f"t{i:02}", text)
    for i, text in enumerate(["250ms", "3s", "1.5s", "1m30s", "1h", "600", "24h", "0.001s", "90000", "1h1ns", "5us"]):
        write("duration", f"d{i:02}", text)
    for i, text in enumerate(["200", "2xx", "200-299", "200, 3xx ,404", "5XX", "100-599"]):
        write("status", f"s{i:02}", text)
    for i, text in enumerate(["Host: example.com", "Authorization: Bearer abc", "X-Empty:", "User-Agent: probe/1\t(x)", "Accept: */*"]):
        write("header", f"h{i:02}", text)
    # --json bodies: what Spring Boot, ASP.NET and Kubernetes-style endpoints send, and the
    # edges json::parse refuses (depth, surrogates, a BOM, text after the value).
    bodies = [
        '{"status":"UP","components":{"db":{"status":"UP"}}}', '{"status":"ok","checks":[{"healthy":true}]}',
        '{"a/b":{"~c":1.0},"status":"DOWN"}', '[1,-2.5E+3,"\\u00e9\\ud83d\\ude00",true,false,null,{}]',
        '\ufeff{"status":"UP"}', '"\\u001b[2J\\u202e"', '{"status":"UP","status":"DOWN"}',
        "[" * 64 + "]" * 64, "[" * 65, '{"checks":[{"healthy":null}]} x', '01', '"\\ud800"',
    ]
    for i, text in enumerate(bodies):
        write("json", f"j{i:02}", text)
    for i, text in enumerate(["http://localhost:${PORT}/", "${EMPTY:-default}", "$$PORT ${LONG}${LONG}", "${UNSET:-x}", "tcp://h:$PORT", "${A-B}"]):
        write("expand", f"e{i:02}", text)


# --- recording from real servers -----------------------------------------------------
def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, seconds=30):
    until = time.time() + seconds
    while time.time() < until:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return True
        except OSError:
            time.sleep(0.1)
    return False


def record(binary, target, name, url_of, port, pick=0):
    """Probes url_of(proxy_port) with binary through a proxy to port; keeps what the server sent."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    proxy_port = listener.getsockname()[1]
    sent = bytearray()

    def relay():
        client, _ = listener.accept()
        server = socket.create_connection(("127.0.0.1", port))
        def up():
            while (data := client.recv(65536)):
                server.sendall(data)
            server.shutdown(socket.SHUT_WR)
        threading.Thread(target=up, daemon=True).start()
        try:
            while (data := server.recv(65536)):
                sent.extend(data)
                client.sendall(data)
        except OSError:  # a reset ends the recording as well as an EOF
            pass
        client.close()

    thread = threading.Thread(target=relay, daemon=True)
    thread.start()
    result = subprocess.run([binary, "--timeout", "5s", url_of(proxy_port)], capture_output=True, text=True)
    thread.join(3)
    listener.close()
    print(f"  {target}/{name}: {len(sent)} bytes; {result.stdout.strip() or result.stderr.strip()}")
    if sent:
        wire(target, f"recorded-{name}", bytes(sent), pick=pick)


def recordings(binary, only):
    def want(kind):
        return not only or kind in only

    tmp = tempfile.mkdtemp(prefix="healthprobe-seeds-")
    os.chmod(tmp, 0o755)  # postgres and rabbitmq run as their own users
    children = []

    def start(args, port, **kw):
        if not shutil.which(args[0]):
            print(f"  skipped: {args[0]} is not installed")
            return False
        children.append(subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kw))
        return wait_port(port)

    try:
        port = free_port()
        if want("redis") and start(["redis-server", "--port", str(port), "--save", "", "--appendonly", "no", "--requirepass", "s3cr3t-Pa55"], port):
            record(binary, "redis", "pong", lambda p: f"redis://:s3cr3t-Pa55@127.0.0.1:{p}", port)
            record(binary, "redis", "wrongpass", lambda p: f"redis://:wrong@127.0.0.1:{p}", port)
            record(binary, "redis", "noauth", lambda p: f"redis://127.0.0.1:{p}", port, pick=2)
        port = free_port()
        if want("memcached") and start(["memcached", "-l", "127.0.0.1", "-p", str(port), "-U", "0", "-u", "nobody"], port):
            record(binary, "memcached", "version", lambda p: f"memcached://127.0.0.1:{p}", port)
        port = free_port()
        if want("nats") and start(["nats-server", "-a", "127.0.0.1", "-p", str(port)], port):
            record(binary, "nats", "info", lambda p: f"nats://127.0.0.1:{p}", port)
        port = free_port()
        conf = os.path.join(tmp, "mosquitto.conf")
        open(conf, "w").write(f"listener {port} 127.0.0.1\nallow_anonymous true\n")
        if want("mqtt") and start(["mosquitto", "-c", conf], port):
            record(binary, "mqtt", "connack", lambda p: f"mqtt://127.0.0.1:{p}", port)
        line = []
        if want("grpc"):
            grpc = subprocess.Popen([sys.executable, os.path.join(ROOT, "tests/grpc_server.py")], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            children.append(grpc)
            line = grpc.stdout.readline().split()
        if line[:1] == ["PORTS"]:
            health, bare, _ = map(int, line[1:])
            record(binary, "grpc", "serving", lambda p: f"grpc://127.0.0.1:{p}", health)
            record(binary, "grpc", "service", lambda p: f"grpc://127.0.0.1:{p}/my.pkg.Service", health, pick=1)
            record(binary, "grpc", "unimplemented", lambda p: f"grpc://127.0.0.1:{p}", bare)
        pg_bin = sorted(d for d in os.listdir("/usr/lib/postgresql") if d.isdigit()) if os.path.isdir("/usr/lib/postgresql") else []
        if pg_bin and want("postgres"):
            bin_dir = f"/usr/lib/postgresql/{pg_bin[-1]}/bin"
            data = os.path.join(tmp, "pg")
            os.makedirs(data)
            shutil.chown(data, "postgres")
            as_pg = ["runuser", "-u", "postgres", "--"]
            subprocess.run(as_pg + [f"{bin_dir}/initdb", "-D", data, "-A", "trust"], capture_output=True)
            port = free_port()
            if start(as_pg + [f"{bin_dir}/postgres", "-D", data, "-p", str(port), "-k", tmp, "-c", "listen_addresses=127.0.0.1"], port):
                time.sleep(1)
                record(binary, "postgres", "trust", lambda p: f"postgres://postgres@127.0.0.1:{p}", port, pick=1)
                record(binary, "postgres", "no-database", lambda p: f"postgres://app:s3cr3t-Pa55@127.0.0.1:{p}/appdb", port)
        if shutil.which("mariadb-install-db") and want("mysql"):
            data = os.path.join(tmp, "my")
            subprocess.run(["mariadb-install-db", f"--datadir={data}", "--user=root", "--auth-root-authentication-method=normal"], capture_output=True)
            port = free_port()
            if start(["mariadbd", "--no-defaults", f"--datadir={data}", "--user=root", "--bind-address=127.0.0.1", f"--port={port}", f"--socket={tmp}/my.sock", f"--pid-file={tmp}/my.pid", "--skip-grant-tables=0"], port):
                record(binary, "mysql", "mariadb", lambda p: f"mysql://app:s3cr3t-Pa55@127.0.0.1:{p}/appdb", port)
        fpm = shutil.which("php-fpm8.2") or shutil.which("php-fpm")
        if fpm and want("fcgi"):
            port = free_port()
            conf = os.path.join(tmp, "fpm.conf")
            open(conf, "w").write(f"[global]\nerror_log = {tmp}/fpm.log\n[www]\nuser = nobody\nlisten = 127.0.0.1:{port}\npm = static\npm.max_children = 1\nping.path = /ping\npm.status_path = /status\n")
            if start([fpm, "-F", "-y", conf, "-R"], port):
                record(binary, "fcgi", "ping", lambda p: f"fcgi://127.0.0.1:{p}/ping", port)
                record(binary, "fcgi", "status", lambda p: f"fcgi://127.0.0.1:{p}/status?full", port, pick=1)
                record(binary, "fcgi", "missing", lambda p: f"fcgi://127.0.0.1:{p}/missing.php", port)
        if shutil.which("rabbitmq-server") and want("amqp"):
            # As tests/amqp.rs starts it: its own node, ports, epmd and files under tmp.
            port, epmd = free_port(), str(free_port())
            rabbit = os.path.join(tmp, "rabbit")
            os.makedirs(rabbit)
            open(os.path.join(rabbit, "enabled_plugins"), "w").write("[].\n")
            open(os.path.join(rabbit, "rabbitmq.conf"), "w").write("")
            for path in (rabbit, *(os.path.join(rabbit, f) for f in os.listdir(rabbit))):
                shutil.chown(path, "rabbitmq", "rabbitmq")  # rabbitmq-server drops to it
            env = dict(os.environ, HOME=rabbit, RABBITMQ_NODE_IP_ADDRESS="127.0.0.1",
                       RABBITMQ_NODE_PORT=str(port), RABBITMQ_DIST_PORT=str(free_port()),
                       RABBITMQ_NODENAME=f"hp-seeds-{os.getpid()}@localhost",
                       RABBITMQ_MNESIA_BASE=os.path.join(rabbit, "mnesia"),
                       RABBITMQ_LOG_BASE=os.path.join(rabbit, "log"),
                       RABBITMQ_PID_FILE=os.path.join(rabbit, "rabbitmq.pid"),
                       RABBITMQ_CONFIG_FILE=os.path.join(rabbit, "rabbitmq.conf"),
                       RABBITMQ_ENABLED_PLUGINS_FILE=os.path.join(rabbit, "enabled_plugins"),
                       ERL_EPMD_PORT=epmd, ERL_EPMD_ADDRESS="127.0.0.1")
            server = subprocess.Popen(["rabbitmq-server"], env=env, start_new_session=True,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            children.append(server)
            if wait_port(port, 90):
                record(binary, "amqp", "rabbitmq", lambda p: f"amqp://guest:s3cr3t-Pa55@127.0.0.1:{p}/", port)
            else:
                print("  rabbitmq-server did not listen within 90 s")
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(30)
            subprocess.run(["epmd", "-kill"], env=env, capture_output=True)
    finally:
        for child in children:
            try:
                child.terminate()
            except OSError:
                pass
        for child in children:
            try:
                child.wait(10)
            except subprocess.TimeoutExpired:
                child.kill()
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    hpack_seeds()
    grpc_seeds()
    protocol_seeds()
    http_seeds()
    text_seeds()
    if sys.argv[1:2] == ["--record"]:
        recordings(os.path.abspath(sys.argv[2]), sys.argv[3:])


if __name__ == "__main__":
    main()
