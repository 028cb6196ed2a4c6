"""A `run:` model for bench/soak.sh, in Python's standard library: answers /predict with
its predictor's name (PREDICTOR_ID, set by sluice up) so the load generator can tell who
served each request."""
import json
import os
import socket
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PREDICTOR = os.environ.get("PREDICTOR_ID", "?")
ANSWER = json.dumps({"data": {"names": [PREDICTOR], "ndarray": [[1.0]]}}).encode()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def setup(self):
        super().setup()
        # Headers and body leave in separate writes: without this, Nagle's algorithm and
        # delayed ACKs add 40 ms to every keep-alive request.
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(ANSWER)))
        self.end_headers()
        self.wfile.write(ANSWER)


ThreadingHTTPServer.daemon_threads = True
ThreadingHTTPServer(("127.0.0.1", int(os.environ["PREDICTIVE_UNIT_HTTP_SERVICE_PORT"])), Handler).serve_forever()
