"""`tickwork api` serving HTTPS itself: a test CA and a server certificate made here, the API
started with them (by option and by setting), a client that trusts only that CA gets an answer
with ``Strict-Transport-Security``; plain HTTP gets none."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.factories import stop_process, wait_for
from worker.broker import free_port
from worker.processes import wait_http

pytestmark = [pytest.mark.e2e]
ROOT = Path(__file__).resolve().parents[2]


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def make_pki(folder: Path) -> tuple[Path, Path, Path]:
    """(CA certificate, server certificate for 127.0.0.1/localhost, server key) as PEM files."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder().subject_name(_name("Tickwork test CA"))
        .issuer_name(_name("Tickwork test CA")).public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                     content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False,
                                     encipher_only=False, decipher_only=False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder().subject_name(_name("127.0.0.1")).issuer_name(ca.subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
            critical=False)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]),
                       critical=False)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    ca_file, cert_file, key_file = folder / "ca.pem", folder / "server.pem", folder / "server.key"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))  # fmt: skip
    return ca_file, cert_file, key_file


@pytest.fixture
def start_api(tmp_path: Path) -> Iterator:
    started: list[subprocess.Popen[bytes]] = []

    def start(*args: str, **settings: str) -> int:
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("TICKWORK_")}
        env.update(TICKWORK_DATA_DIR=str(tmp_path / "data"), TICKWORK_API_PORT=str(port),
                   TICKWORK_LOG_FORMAT="text", **settings)  # fmt: skip
        log = (tmp_path / f"api-{len(started)}.log").open("wb")
        proc = subprocess.Popen([sys.executable, "-m", "worker.cli.main", "api", *args], cwd=ROOT,
                                env=env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)  # fmt: skip
        started.append(proc)
        return port

    yield start
    for proc in started:
        stop_process(proc)


def _get_https(port: int, ca_file: Path) -> httpx.Response:
    trust = ssl.create_default_context(cafile=str(ca_file))

    def answered() -> httpx.Response | None:
        try:
            return httpx.get(f"https://127.0.0.1:{port}/healthz", verify=trust, timeout=2)
        except httpx.ConnectError as exc:
            if isinstance(exc.__cause__, ssl.SSLError) or "CERTIFICATE" in str(exc):
                raise
            return None  # not listening yet

    return wait_for(answered, timeout=30, what="the HTTPS API to answer", every=0.2)


@pytest.mark.parametrize("how", ["options", "settings"])
def test_api_serves_tls_with_hsts(tmp_path: Path, start_api, how: str) -> None:
    ca_file, cert_file, key_file = make_pki(tmp_path)
    if how == "options":
        port = start_api("--ssl-certfile", str(cert_file), "--ssl-keyfile", str(key_file))
    else:
        port = start_api(TICKWORK_TLS_CERT_FILE=str(cert_file),
                         TICKWORK_TLS_KEY_FILE=str(key_file))  # fmt: skip
    answer = _get_https(port, ca_file)
    assert answer.status_code == 200
    assert answer.headers["strict-transport-security"].startswith("max-age=")
    # A client that does not trust the test CA refuses the connection.
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"https://127.0.0.1:{port}/healthz", timeout=5)


def test_plain_http_sends_no_hsts(start_api) -> None:
    port = start_api()
    wait_http(f"http://127.0.0.1:{port}/healthz")
    answer = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
    assert answer.status_code == 200
    assert "strict-transport-security" not in answer.headers


def test_half_a_tls_configuration_is_refused(tmp_path: Path) -> None:
    _, cert_file, _ = make_pki(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TICKWORK_")}
    env["TICKWORK_DATA_DIR"] = str(tmp_path / "data")
    cmd = [sys.executable, "-m", "worker.cli.main", "api", "--ssl-certfile", str(cert_file)]
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, timeout=60)
    assert done.returncode != 0
    assert b"ssl-keyfile" in done.stdout + done.stderr
