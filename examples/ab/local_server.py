"""A tiny HTTP server on 127.0.0.1 to try votakvot-ab without the internet.

Run ``python local_server.py 8000 &``, then from this folder
``EXAMPLE_URL=http://127.0.0.1:8000/ votakvot-ab -g -n500 -c100 my_module.get_example``.
"""

import http.server
import sys


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


class Server(http.server.ThreadingHTTPServer):
    request_queue_size = 1024  # the default (5) stalls bursts of new connections
    daemon_threads = True


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8000
    Server(("127.0.0.1", port), Handler).serve_forever()
