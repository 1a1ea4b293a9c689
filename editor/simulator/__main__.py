"""``python -m editor.simulator``: serve the fake API until SIGINT or SIGTERM."""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from .server import Simulator


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m editor.simulator",
        description="Serve a fake of the OpenAI Images Edits and Generations APIs (AceData Cloud).",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765, help="0 picks any free port")
    parser.add_argument(
        "--token", default="", help='the bearer token to require; "" accepts any token'
    )
    parser.add_argument(
        "--latency", type=float, default=1.5, help="seconds each edit takes (default 1.5)"
    )
    parser.add_argument("--verbose", "-v", action="store_true", help="log every request")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    stop_signals = {signal.SIGINT, signal.SIGTERM}
    # Blocked before the server threads start (they inherit the mask), so only the main
    # thread's sigwait() receives them and shutdown happens in one place.
    can_sigwait = hasattr(signal, "pthread_sigmask") and hasattr(signal, "sigwait")
    if can_sigwait:
        signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)
    sim = Simulator(
        host=args.host,
        port=args.port,
        token=args.token or None,
        latency=args.latency,
        verbose=args.verbose,
    )
    try:
        sim.start()
    except OSError as exc:
        print(
            f"Retouch API simulator could not listen on {args.host}:{args.port}: {exc}",
            file=sys.stderr,
        )
        return 1
    print(f"Retouch API simulator listening on {sim.base_url}", flush=True)
    try:
        if can_sigwait:
            signal.sigwait(stop_signals)
        else:
            threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
