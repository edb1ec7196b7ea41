"""Stand-in for `trl vllm-serve` (tests only): answers GET /health and /health/ on loopback.

Usage: fake_vllm_server.py [--delay S] [--exit-code N] [--never-healthy] -- <trl vllm-serve arguments>
The arguments after ``--`` are parsed by TRL's own parser for `trl vllm-serve` (trl.scripts.vllm_serve,
the installed TRL), so an option TRL does not know is refused as it would be; ``--model`` must be what
vLLM can load (a folder that exists or a hub id: not ``builtin:...`` nor a ``~`` path). Writes its argv
and CUDA_VISIBLE_DEVICES to stdout (the server log) first."""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from http.server import BaseHTTPRequestHandler, HTTPServer


def parse_serve_args(argv: list[str]):
    """TRL's parser for `trl vllm-serve`; exits 2 (argparse) on an unknown or malformed option."""
    from trl.scripts.vllm_serve import make_parser

    args, rest = make_parser(prog="trl vllm-serve").parse_args_and_config(argv, return_remaining_strings=True)
    if rest:
        print(f"trl vllm-serve: unrecognised arguments {rest}", flush=True)
        sys.exit(2)
    model = args.model or ""
    if not (os.path.isdir(model) or re.fullmatch(r"[\w.-]+(/[\w.-]+)?", model)):
        print(f"vLLM cannot load --model {model!r}: not a folder and not a hub repo id", flush=True)
        sys.exit(2)
    return args


def main() -> int:
    argv = sys.argv[1:]
    own, serve = (argv[:argv.index("--")], argv[argv.index("--") + 1:]) if "--" in argv else (argv, [])
    p = argparse.ArgumentParser()
    p.add_argument("--delay", type=float, default=0.0)
    p.add_argument("--exit-code", type=int, default=None)
    p.add_argument("--never-healthy", action="store_true")
    knobs = p.parse_args(own)
    print(f"fake vllm server argv={serve} CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES')}",
          flush=True)
    args = parse_serve_args(serve)
    if knobs.exit_code is not None:
        print("fatal: stand-in engine failed to start", flush=True)
        return knobs.exit_code
    time.sleep(knobs.delay)
    never = knobs.never_healthy

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
