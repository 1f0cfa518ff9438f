"""Helpers for the data-layer tests: the reference data and a local HTTP server."""
from __future__ import annotations

import functools
import http.server
import os
import threading
from contextlib import contextmanager
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def shared_data() -> Path | None:
    """The reference data (../shared/data beside the repo, or $RNNBENCH_DATA), if present."""
    for cand in (os.environ.get("RNNBENCH_DATA"), REPO / ".." / "shared" / "data"):
        if cand and (Path(cand) / "course").is_dir():
            return Path(cand).resolve()
    return None


SHARED = shared_data()
needs_data = pytest.mark.skipif(SHARED is None, reason="reference data absent: no ../shared/data beside "
                                "the repo and no $RNNBENCH_DATA holding course/ and ucr/")


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@contextmanager
def http_server(folder: Path):
    """Serve `folder` on 127.0.0.1 (a free port) in a thread; yields the base URL."""
    handler = functools.partial(_Quiet, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
