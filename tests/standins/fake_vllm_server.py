"""Stand-in for `trl vllm-serve` (tests only): answers GET /health and /health/ on loopback.

Usage: fake_vllm_server.py --port P [--host 127.0.0.1] [--delay S] [--exit-code N] [--never-healthy]
Writes its argv and CUDA_VISIBLE_DEVICES to stdout (the server log) first."""

from __future__ import annotations

import argparse
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, HTTPServer


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--delay", type=float, default=0.0)
    p.add_argument("--exit-code", type=int, default=None)
    p.add_argument("--never-healthy", action="store_true")
    args, rest = p.parse_known_args()
    print(f"fake vllm server argv={sys.argv[1:]} CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES')}",
          flush=True)
    if args.exit_code is not None:
        print("fatal: stand-in engine failed to start", flush=True)
        return args.exit_code
    time.sleep(args.delay)
    never = args.never_healthy

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path in ("/health", "/health/") and not never:
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")
            else:
                self.send_response(503)
                self.end_headers()

        def log_message(self, *a):
            pass

    # Bounded: a test server never outlives a minute even if nobody stops it.
    server = HTTPServer((args.host, args.port), Handler)
    server.timeout = 0.2
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        server.handle_request()
    return 0


if __name__ == "__main__":
    sys.exit(main())
