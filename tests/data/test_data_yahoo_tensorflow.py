"""Live data next to TensorFlow: curl_cffi requests with yfinance's impersonation.

TensorFlow exports a plain libcurl; curl_cffi loaded after it binds to that one and
every request fails with ``ImpersonateError`` before connecting. Each test runs a
fresh Python process (the order of imports is the point) that imports TensorFlow
and then makes a real request through fincast's code path: to a local HTTPS server
with a self-signed certificate on 127.0.0.1, or through yfinance to Yahoo via a
proxy on a closed loopback port (the real curl failure, no Yahoo server needed).
"""

from __future__ import annotations

import datetime
import http.server
import ipaddress
import os
import socket
import ssl
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
GREETING = "hello from a local yahoo"


def write_self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, valid for a day."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


class Greeter(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = f"{GREETING} {self.headers.get('User-Agent', '')}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


@pytest.fixture
def https_url(tmp_path: Path) -> Iterator[str]:
    """An HTTPS server on 127.0.0.1 with a fresh self-signed certificate."""
    cert_path, key_path = write_self_signed(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Greeter)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}/v8/finance/chart/AAPL"
    finally:
        server.shutdown()
        server.server_close()


def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def run_python(code: str, **environment: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "NO_PROXY": "127.0.0.1,localhost"}
    env.update(no_proxy="127.0.0.1,localhost", **environment)
    env.pop("KERAS_BACKEND", None)
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )


def test_request_after_tensorflow_through_fincasts_session(https_url: str) -> None:
    """The entry points' order: select the backend, import Keras (TensorFlow), then fetch."""
    result = run_python(
        f"""
        import sys
        from fincast.backend import select_backend

        select_backend("tensorflow")
        import keras

        assert keras.backend.backend() == "tensorflow" and "tensorflow" in sys.modules
        from fincast.data.yahoo_session import YAHOO_IMPERSONATE, impersonation_works, yahoo_session

        session = yahoo_session(verify=False)
        response = session.get({https_url!r}, timeout=20)
        print(response.status_code, response.text)
        print("impersonation", YAHOO_IMPERSONATE, impersonation_works())
        """
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"200 {GREETING} Mozilla/5.0" in result.stdout  # a browser's User-Agent
    assert "impersonation chrome True" in result.stdout


def test_bare_curl_cffi_after_tensorflow_is_what_fincast_avoids(https_url: str) -> None:
    """The failure itself, so that the test above keeps proving something."""
    result = run_python(
        f"""
        import tensorflow
        from curl_cffi import requests
        from fincast.data.yahoo_session import impersonation_works

        print("impersonation", impersonation_works())
        try:
            requests.get({https_url!r}, impersonate="chrome", verify=False, timeout=20)
        except Exception as error:
            print(type(error).__name__, error)
        """
    )
    assert result.returncode == 0, result.stderr[-3000:]
    if "impersonation True" in result.stdout:  # a TensorFlow that no longer clashes
        pytest.skip("curl_cffi works after this TensorFlow: nothing to work around")
    assert "impersonation False" in result.stdout
    assert "ImpersonateError" in result.stdout


def test_yfinance_after_tensorflow_reaches_the_network_in_a_child_process() -> None:
    """TensorFlow imported first (a notebook): fincast fetches in a child process.

    yfinance goes to Yahoo through a proxy on a closed loopback port, so the real
    curl_cffi connection error must come back as "no network", not ImpersonateError.
    """
    proxy = f"http://127.0.0.1:{closed_port()}"
    result = run_python(
        """
        import tensorflow
        from fincast.data.yahoo import YahooClient, YahooRequest
        from fincast.data.yahoo_process import ChildDownloader
        from fincast.data.yahoo_session import impersonation_works

        print("impersonation", impersonation_works())
        client = YahooClient(YahooRequest.from_options({"retry": {"tries": 1}}))
        print("child", isinstance(client.call, ChildDownloader))
        reply = client.fetch("AAPL")
        print("reply", reply.kind, reply.cause)
        """,
        HTTPS_PROXY=proxy,
        HTTP_PROXY=proxy,
        https_proxy=proxy,
        http_proxy=proxy,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "impersonation False" in result.stdout
    assert "child True" in result.stdout
    assert "reply network no network: cannot reach Yahoo Finance (" in result.stdout
    assert "Impersonat" not in result.stdout
