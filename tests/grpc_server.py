"""gRPC servers for tests/grpc.rs, built on the reference implementation (grpcio).

Starts three servers on 127.0.0.1, port 0, in one process (Python's start-up is the slow
part), prints `PORTS <health> <bare> <token>` and serves until killed:
  health  grpc.health.v1.Health (grpcio-health-checking) with the statuses in STATUSES
  bare    a gRPC server with no service at all: every call is UNIMPLEMENTED
  token   the same health service behind an interceptor that rejects any call without
          the metadata `x-probe-token: secret` (UNAUTHENTICATED, with a message that
          needs percent-encoding on the wire)
Options (for tests/unix.rs and tests/grpcs.rs):
  --unix PATH             the health server also listens on that unix socket
  --tls CERT KEY CA       two more health servers on 127.0.0.1 over TLS, with that
                          certificate and key: one without client certificates and one
                          that requires one signed by CA; printed first, as
                          `TLS <tls> <mutual>`
Each health check prints one JSON line to stdout: the metadata the call carried and the
deadline the server saw (from grpc-timeout), so the tests can check what was sent.
"""

import json
import sys
from concurrent import futures

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

Status = health_pb2.HealthCheckResponse

STATUSES = {
    "": Status.SERVING,
    "svc.Serving": Status.SERVING,
    "svc.NotServing": Status.NOT_SERVING,
    "svc.Unknown": Status.UNKNOWN,
    "svc.ServiceUnknown": Status.SERVICE_UNKNOWN,
    "svc.Space Name": Status.SERVING,
}

TOKEN = "secret"
# Non-ASCII, '%' and a newline: grpc-message carries it percent-encoded.
TOKEN_MESSAGE = "missing x-probe-token: 100% refusé\nsecond line"


class LoggingHealth(health.HealthServicer):
    def Check(self, request, context):
        print(
            json.dumps(
                {
                    "service": request.service,
                    "metadata": dict(context.invocation_metadata()),
                    "time_remaining": context.time_remaining(),
                }
            ),
            flush=True,
        )
        return super().Check(request, context)


def health_service():
    servicer = LoggingHealth()
    for service, status in STATUSES.items():
        servicer.set(service, status)
    return servicer


class RequireToken(grpc.ServerInterceptor):
    def intercept_service(self, continuation, details):
        if dict(details.invocation_metadata).get("x-probe-token") == TOKEN:
            return continuation(details)

        def reject(request, context):
            context.abort(grpc.StatusCode.UNAUTHENTICATED, TOKEN_MESSAGE)

        return grpc.unary_unary_rpc_method_handler(reject)


def start(with_health, interceptors=(), unix_socket=None):
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4), interceptors=interceptors)
    if with_health:
        health_pb2_grpc.add_HealthServicer_to_server(health_service(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    if unix_socket:
        server.add_insecure_port("unix:" + unix_socket)
    server.start()
    return server, port


def start_tls(cert, key, client_ca):
    with open(cert, "rb") as f:
        chain = f.read()
    with open(key, "rb") as f:
        private_key = f.read()
    root = None
    if client_ca:
        with open(client_ca, "rb") as f:
            root = f.read()
    credentials = grpc.ssl_server_credentials(
        [(private_key, chain)], root_certificates=root, require_client_auth=bool(client_ca)
    )
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    health_pb2_grpc.add_HealthServicer_to_server(health_service(), server)
    port = server.add_secure_port("127.0.0.1:0", credentials)
    server.start()
    return server, port


def main():
    args = sys.argv[1:]
    unix_socket = args[args.index("--unix") + 1] if "--unix" in args else None
    servers = [start(True, (), unix_socket), start(False), start(True, [RequireToken()])]
    if "--tls" in args:
        at = args.index("--tls")
        cert, key, ca = args[at + 1 : at + 4]
        tls = [start_tls(cert, key, None), start_tls(cert, key, ca)]
        print("TLS", *(port for _, port in tls), flush=True)
    print("PORTS", *(port for _, port in servers), flush=True)
    # Serve until the test kills us (or closes our stdin, when it dies first).
    sys.stdin.read()
    for server, _ in servers:
        server.stop(None)


if __name__ == "__main__":
    main()
