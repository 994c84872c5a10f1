"""The world's servers in background threads: started with a short poll so stopping is quick."""

from __future__ import annotations

import socketserver
import threading

POLL_SECONDS = 0.05  # how often serve_forever looks for shutdown(): stopping waits at most this


def serve_in_background(server: socketserver.BaseServer, name: str) -> threading.Thread:
    """Run ``server.serve_forever`` in a daemon thread named ``name``; returns the started thread."""
    thread = threading.Thread(target=server.serve_forever, args=(POLL_SECONDS,), name=name, daemon=True)
    thread.start()
    return thread


def stop_serving(server: socketserver.BaseServer, thread: threading.Thread | None) -> None:
    """Stop serving and free the port (a server that never started, ``thread`` None, is only closed)."""
    if thread is not None:
        server.shutdown()
    server.server_close()
    if thread is not None:
        thread.join()
