"""yfinance in a child process, for processes where curl_cffi cannot work.

Where TensorFlow was loaded before curl_cffi, curl_cffi's libcurl is shadowed by
TensorFlow's and cannot impersonate a browser (see :mod:`fincast.data.yahoo_session`).
A fresh Python process that imports only the data layer has no TensorFlow, so
:class:`ChildDownloader` runs ``yfinance.download`` there: one long-lived child per
downloader, started on first use, answering one pickled request at a time over its
standard input and output (a request is one JSON line; a reply, holding a DataFrame,
is pickled: the only peer is the parent's own child on a private pipe). Run as
``python -m fincast.data.yahoo_process``.
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import threading
from typing import IO, Any

from fincast.data.yahoo_failures import Reply


def serve(requests: IO[bytes], replies: IO[bytes]) -> None:
    """Answer ``download_reply`` keyword arguments (JSON lines) with pickled replies until EOF."""
    from fincast.data.yahoo import download_reply, yahoo_download

    download = yahoo_download()
    for line in requests:
        pickle.dump(download_reply(download, **json.loads(line)), replies)
        replies.flush()


class ChildDownloader:
    """Calls ``yfinance.download`` in a child process; one call at a time.

    Called like :func:`fincast.data.yahoo.download_reply` without its first argument.
    A child that dies is restarted on the next call; its failure becomes an
    ``error`` reply, never an exception.
    """

    def __init__(self) -> None:
        self._process: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()

    def _started(self) -> subprocess.Popen[bytes]:
        if self._process is None or self._process.poll() is not None:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "fincast.data.yahoo_process"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
            )
        return self._process

    def __call__(self, ticker: str, **request: Any) -> Reply:
        """The reply of ``download_reply(yfinance.download, ticker, **request)`` in the child."""
        with self._lock:
            process = self._started()
            assert process.stdin is not None and process.stdout is not None
            try:
                line = json.dumps({"ticker": ticker, **request}) + "\n"
                process.stdin.write(line.encode())
                process.stdin.flush()
                reply: Reply = pickle.load(process.stdout)  # noqa: S301  (our own child)
            except (EOFError, OSError, pickle.UnpicklingError) as error:
                self.close()
                cause = f"the yfinance child process failed ({type(error).__name__}: {error})"
                return Reply(ticker, None, "error", cause)
        return reply

    def close(self) -> None:
        """End the child (it also ends by itself when this process exits)."""
        process, self._process = self._process, None
        if process is None:
            return
        for stream in (process.stdin, process.stdout):
            if stream is not None:
                stream.close()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def __del__(self) -> None:
        if getattr(self, "_process", None) is not None:
            self.close()


def main() -> None:
    """Serve requests on stdin/stdout; anything else printed goes to stderr."""
    replies = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    serve(sys.stdin.buffer, replies)


if __name__ == "__main__":
    main()
