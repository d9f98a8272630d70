//! What `--help` prints: written by hand, as pico-args' example does.

pub const HELP: &str = "\
healthprobe: is this service healthy? Probes each TARGET under one hard deadline,
prints one line per target saying why, and exits 0 (healthy) or 1 (unhealthy).

Usage: healthprobe [OPTIONS] TARGET...
       healthprobe [OPTIONS] TARGET... -- CMD [ARGS...]

Targets (several: all must be healthy; they are probed at the same time):
  http://HOST[:PORT][/PATH][?QUERY]
      healthy iff the status is in --status; redirects to the same host and port are
      followed (9 at most), others are the answer (a 3xx: healthy by default)
  https://HOST[:PORT][/PATH][?QUERY]
      the same over TLS, port 443 by default, the certificate verified (TLS build only)
  tcp://HOST:PORT
      healthy iff a connection is established
  unix:///PATH   unix://@NAME   (a unix socket; @NAME: the abstract namespace)
      healthy iff the socket accepts a connection
  grpc://HOST:PORT[/SERVICE]
      healthy iff grpc.health.v1.Health/Check answers SERVING for SERVICE
      (default: the whole server)
  grpcs://HOST:PORT[/SERVICE]
      the same over TLS with ALPN h2, the certificate verified (TLS build only)
  postgres://[USER@]HOST[:5432][/DB]   (also postgresql://)
      healthy iff the server accepts connections, as pg_isready says
  redis://[[USER]:PASSWORD@]HOST[:6379]
      healthy iff PING answers PONG (after AUTH when there is a password)
  mysql://HOST[:3306]
      healthy iff the server greets with a handshake, as mysqladmin ping says
  memcached://HOST[:11211]
      healthy iff `version` answers VERSION (ERROR, SERVER_ERROR: unhealthy)
  nats://HOST[:4222]
      healthy iff the server greets with INFO (nothing is sent: no login needed)
  mqtt://HOST[:1883]
      healthy iff an MQTT 3.1.1 CONNECT (no login) is accepted by the CONNACK
  fcgi://HOST[:9000]/PATH[?QUERY]
      one FastCGI GET of PATH (php-fpm's ping.path or pm.status_path): its Status
      (none: 200) judged by --status, --body-contains as for http://
  amqp://[USER:PASSWORD@]HOST[:5672][/VHOST]
      healthy iff the broker answers the AMQP 0-9-1 header with Connection.Start
      (no login: credentials and vhost are ignored)
  Credentials show as ***@: pass them in a variable, redis://:${REDIS_PASSWORD}@HOST.
  HOST is a name, an IPv4 address or a bracketed IPv6 address ([::1]).
  localhost means 127.0.0.1 and ::1, without asking any resolver.

Options (each also read from the variable in brackets; the command line wins):
  -t, --timeout DUR          deadline for everything [HEALTHPROBE_TIMEOUT, default 3s]
      --connect-timeout DUR  deadline for resolving and connecting
                             [HEALTHPROBE_CONNECT_TIMEOUT, default: the --timeout]
      --method M             HTTP method [HEALTHPROBE_METHOD, default GET]
  -H, --header 'NAME: VALUE' extra request header (gRPC metadata for grpc://),
                             repeatable; may replace Host
                             [HEALTHPROBE_HEADER, one header per line]
      --status LIST          healthy statuses, e.g. 200, 2xx, 200-299, 200-299,401
                             [HEALTHPROBE_STATUS, default 200-399]
      --body-contains TEXT   also require TEXT in the first 10 KiB of the body
                             [HEALTHPROBE_BODY_CONTAINS]
      --json POINTER[=VALUES]
                             [HEALTHPROBE_JSON, one check per line] also require the
                             JSON body's value at POINTER to be one of VALUES (comma
                             list), or without =VALUES, to be there and not null or
                             false: --json /status=green,yellow; repeatable; reads
                             64 KiB of the body at most
      --unix-socket PATH     send http:// and grpc:// to this unix socket (@NAME:
                             abstract); the URL's host is still the Host
                             [HEALTHPROBE_UNIX_SOCKET]
      --user-agent TEXT      the User-Agent header
                             [HEALTHPROBE_USER_AGENT, default healthprobe/VERSION]
      --proxy URL            send HTTP through this proxy, http://[USER:PASS@]HOST:PORT
                             [HEALTHPROBE_PROXY, default none: HTTP_PROXY, HTTPS_PROXY
                             and ALL_PROXY are ignored]
      --cacert FILE          trust the CA certificates in FILE (PEM) instead of the
                             bundled web PKI roots [HEALTHPROBE_CACERT]
  -k, --insecure             do not verify the server's certificate; every line of an
                             https:// target says so [HEALTHPROBE_INSECURE=1]
      --cert FILE            client certificate (PEM, chain allowed) for mutual TLS,
                             with --key [HEALTHPROBE_CERT]
      --key FILE             its private key (PEM: PKCS#8, PKCS#1 or SEC1)
                             [HEALTHPROBE_KEY]
                             (--cacert, -k, --cert, --key: only in the TLS build, for
                             https:// and grpcs://)
      --wait DUR             retry until every target is healthy at once, or exit 1
                             when DUR has passed; one progress line on stderr per
                             change [HEALTHPROBE_WAIT, default: a single attempt]
      --interval DUR         pause between attempts of --wait [HEALTHPROBE_INTERVAL,
                             default 1s]
  -q, --quiet                print nothing when healthy, and no progress lines
                             [HEALTHPROBE_QUIET=1]
  -v, --verbose              also print addresses and timings to stderr
                             [HEALTHPROBE_VERBOSE=1]
      --install DIR          copy this executable to DIR/healthprobe (mode 0755) and
                             exit, for images without cp (a Kubernetes init container)
  -h, --help                 print this help
  -V, --version              print the version
  -- CMD [ARGS...]           once healthy, replace this process with CMD (same PID,
                             same environment; ARGS are passed as they are); a CMD
                             that is not found or not executable exits 64
  Targets also come from HEALTHPROBE_TARGETS (space-separated) when none are given.
  256 targets at most; 32 are probed at once, the rest in turn under the same deadline.
  DUR is 250ms, 3s, 1.5s, 1m30s, 1h (a day at most), or a number of seconds (600
  at most for --timeout and --connect-timeout: 5000 is surely 5000ms).
  An empty variable counts as unset; an unknown HEALTHPROBE_* one is an error.
  An option on the command line that none of the targets uses is an error.
  ${VAR} and ${VAR:-default} are expanded in targets and values ($$ is a $), because
  exec-form HEALTHCHECKs have no shell to do it; an unset VAR without a default is
  an error.

Output: one line per target (300 bytes at most), healthy lines on stdout,
unhealthy lines on stderr.

Exit codes:
  0   every target is healthy (--install: installed)
  1   a target is unhealthy (its line says why), the wait was stopped by SIGTERM or
      SIGINT, or --install failed
  64  usage or configuration error, a CMD that cannot run, or an --install DIR that
      is missing, not a directory or read-only: nothing was probed

Examples (exec form: no shell, so healthprobe expands ${VAR} itself):
  Dockerfile:
    HEALTHCHECK --interval=10s --timeout=5s \\
      CMD [\"/healthprobe\", \"http://localhost:8080/health\"]
  compose:
    healthcheck:
      test: [\"CMD\", \"/healthprobe\", \"--timeout\", \"2s\", \"tcp://localhost:5432\"]
      timeout: 5s
  Kubernetes exec probe:
    livenessProbe:
      exec:
        command: [\"/healthprobe\", \"http://localhost:${PORT:-8080}/healthz\"]
      timeoutSeconds: 5
  Entrypoint that waits for db (30 s at most), then runs /app in its place:
    [\"/healthprobe\", \"--wait\", \"30s\", \"tcp://db:5432\", \"--\", \"/app\"]
";
