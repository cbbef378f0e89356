"""mTLS: with PONTO_CLIENT_CERT/KEY the client presents its certificate; a server that demands one
refuses a client without it. Real TLS on loopback, certificates made for the test."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import socket
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from bot.errors import ProviderUnavailable
from bot.providers.ponto.api import PontoClient, Transport, http_client
from bot.sandbox.ponto import PontoSimulator
from tests.ponto_support import FAST, StaticTokens


def _issue(
    name: str,
    issuer: tuple[x509.Name, ec.EllipticCurvePrivateKey] | None,
    *,
    ca: bool = False,
    server: bool = False,
):  # type: ignore[no-untyped-def]
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    issuer_name, issuer_key = issuer or (subject, key)
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False
        )
    return builder.sign(issuer_key, hashes.SHA256()), key


def _write(
    directory: Path, name: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey
) -> tuple[str, str]:
    cert_path, key_path = directory / f"{name}.pem", directory / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return str(cert_path), str(key_path)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    directory = tmp_path_factory.mktemp("pki")
    ca_cert, ca_key = _issue("cashbot test CA", None, ca=True)
    server_cert, server_key = _issue("127.0.0.1", (ca_cert.subject, ca_key), server=True)
    client_cert, client_key = _issue("cashbot client", (ca_cert.subject, ca_key))
    ca_path, _ = _write(directory, "ca", ca_cert, ca_key)
    server = _write(directory, "server", server_cert, server_key)
    client = _write(directory, "client", client_cert, client_key)
    return {
        "ca": ca_path,
        "server_cert": server[0],
        "server_key": server[1],
        "client_cert": client[0],
        "client_key": client[1],
    }


@pytest.fixture
async def tls_ponto(pki: dict[str, str]) -> AsyncIterator[tuple[PontoSimulator, str]]:
    """The simulator behind TLS that requires a client certificate signed by the test CA."""
    sim = PontoSimulator(transactions=50)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(
        sim.app,
        log_level="critical",
        lifespan="off",
        ssl_certfile=pki["server_cert"],
        ssl_keyfile=pki["server_key"],
        ssl_ca_certs=pki["ca"],
        ssl_cert_reqs=ssl.CERT_REQUIRED,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        await asyncio.sleep(0.01)
    url = f"https://127.0.0.1:{sock.getsockname()[1]}"
    sim.base_url = url
    try:
        yield sim, url
    finally:
        server.should_exit = True
        await task
        sock.close()


async def test_the_client_certificate_opens_the_api(
    tls_ponto: tuple[PontoSimulator, str], pki: dict[str, str]
) -> None:
    sim, url = tls_ponto
    token = sim.issue_access_token()
    async with http_client(pki["client_cert"], pki["client_key"], cafile=pki["ca"]) as http:
        accounts = await PontoClient(Transport(http, url, policy=FAST), StaticTokens(token)).accounts()

    assert len(accounts) == 5


async def test_without_a_client_certificate_the_server_refuses(
    tls_ponto: tuple[PontoSimulator, str], pki: dict[str, str]
) -> None:
    sim, url = tls_ponto
    async with http_client(cafile=pki["ca"]) as http:
        with pytest.raises(ProviderUnavailable):
            await PontoClient(Transport(http, url, policy=FAST), StaticTokens("AT-any")).accounts()

    assert sim.calls == []
