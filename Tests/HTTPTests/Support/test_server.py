#!/usr/bin/env python3
"""Local HTTP(S) server for the HTTP client tests (Python 3 stdlib only, 127.0.0.1 only).

Usage: test_server.py --port-file PATH [--tls CERT KEY] [--blackhole]
       test_server.py --supervise CMD [ARG...]

Binds an ephemeral port on 127.0.0.1 and writes it to --port-file once it is listening.
--blackhole: instead of HTTP, listens with a backlog of 0 and fills the accept queue without ever
accepting, so new connection attempts hang in SYN (a connect timeout on loopback).

The process exits on its own when its parent dies or after 120 s, so a crashed test run
cannot leave it behind. --supervise runs CMD (e.g. a single-process nginx) under the same rule and
kills it on SIGTERM or when this process ends.

Endpoints (HTTP/1.1, keep-alive, Nagle off):
  /echo              any method; replies 200 with the request body; X-Method, X-Expect (the
                     request's Expect header or "none") and X-Body-Length headers
  /headers           200, body = the request headers as "name: value" lines, in order
  /response-headers  200 with mixed-case custom headers and two Set-Cookie lines
  /status/N          status N, empty body
  /redirect          302 to /echo
  /loop              302 to /loop, forever
  /sleep?ms=N        sleeps N ms, then 200 "slept"
  /hang              reads the request, never answers (until the server dies)
  /bytes?n=N         200 with N bytes of 'x'
  /connection        200, body = "<client port>" (the TCP source port of this connection)
"""
import argparse
import os
import socket
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, *args):
        pass

    def handle_expect_100(self):
        # Behave like servers that ignore "Expect: 100-continue": never send the interim 100.
        # A client that waits for it stalls (libcurl waits 1 s), which the test can detect.
        return True

    def _body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _reply(self, status, body=b"", headers=()):
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)

    def _route(self):
        url = urlparse(self.path)
        query = parse_qs(url.query)
        body = self._body()
        path = url.path
        if path == "/echo":
            self._reply(200, body, [("X-Method", self.command),
                                    ("X-Expect", self.headers.get("Expect", "none")),
                                    ("X-Body-Length", str(len(body))),
                                    ("Content-Type", "application/octet-stream")])
        elif path == "/headers":
            lines = "".join(f"{k}: {v}\n" for k, v in self.headers.items())
            self._reply(200, lines.encode())
        elif path == "/response-headers":
            self._reply(200, b"ok", [("X-Custom-Thing", "abc"), ("Set-Cookie", "a=1"),
                                     ("Set-Cookie", "b=2"), ("content-type", "text/plain")])
        elif path.startswith("/status/"):
            self._reply(int(path.split("/")[2]))
        elif path == "/redirect":
            self._reply(302, b"", [("Location", "/echo")])
        elif path == "/loop":
            self._reply(302, b"", [("Location", "/loop")])
        elif path == "/sleep":
            time.sleep(int(query.get("ms", ["0"])[0]) / 1000.0)
            self._reply(200, b"slept")
        elif path == "/hang":
            time.sleep(600)
        elif path == "/bytes":
            self._reply(200, b"x" * int(query.get("n", ["0"])[0]))
        elif path == "/connection":
            self._reply(200, str(self.client_address[1]).encode())
        else:
            self._reply(404, b"not found")

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _route


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256


def watch_parent(parent, on_exit=lambda: None):
    deadline = time.monotonic() + 120
    while os.getppid() == parent and time.monotonic() < deadline:
        time.sleep(0.2)
    on_exit()
    os._exit(0)


def supervise(command):
    import signal
    import subprocess
    # The test process may start us with signals blocked (the mask is inherited); unblock them so
    # SIGTERM reaches us, and so the child (nginx) can be stopped too.
    signal.pthread_sigmask(signal.SIG_SETMASK, set())
    child = subprocess.Popen(command)

    def stop(*_):
        child.kill()
        child.wait()
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    threading.Thread(target=watch_parent, args=(os.getppid(), child.kill), daemon=True).start()
    sys.exit(child.wait())


def write_port(path, port):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(port))
    os.rename(tmp, path)


def blackhole(port_file):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(3):  # more than the accept queue holds; never accepted
        s = socket.socket()
        s.setblocking(False)
        try:
            s.connect(("127.0.0.1", port))
        except BlockingIOError:
            pass
        fillers.append(s)
    time.sleep(0.05)
    write_port(port_file, port)
    threading.Event().wait()


def main():
    if len(sys.argv) > 2 and sys.argv[1] == "--supervise":
        supervise(sys.argv[2:])
        return
    parser = argparse.ArgumentParser()
    parser.add_argument("--port-file", required=True)
    parser.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    parser.add_argument("--blackhole", action="store_true")
    args = parser.parse_args()
    threading.Thread(target=watch_parent, args=(os.getppid(),), daemon=True).start()
    if args.blackhole:
        blackhole(args.port_file)
        return
    server = Server(("127.0.0.1", 0), Handler)
    if args.tls:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.tls[0], args.tls[1])
        server.socket = context.wrap_socket(server.socket, server_side=True)
    write_port(args.port_file, server.server_address[1])
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
