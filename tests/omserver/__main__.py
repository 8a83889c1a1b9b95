"""Run the stand-in on a port until killed (for the benchmark): ``python -m tests.omserver``."""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import threading

from .server import OMServer


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--token", default="bench-token")
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--no-validate", action="store_true", help="skip JSON Schema checks")
    args = parser.parse_args()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with OMServer(token=args.token) as server:
        server.latency = args.latency_ms / 1000
        server.validate = not args.no_validate
        print(server.url, flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait()
        json.dump({f"{m} {r}": n for (m, r), n in server.requests.items()}, sys.stdout)
        print(flush=True)


if __name__ == "__main__":
    main()
