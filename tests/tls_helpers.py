"""Certificates made in the test (trustme) and the TLS contexts around them."""

from __future__ import annotations

import ssl
from datetime import datetime

import trustme


def server_context(cert: trustme.LeafCert) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    return context


def self_signed_server_context(ca: trustme.CA) -> ssl.SSLContext:
    """A server presenting the CA's own certificate: self-signed in the strict sense."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    with ca.cert_pem.tempfile() as cert_file, ca.private_key_pem.tempfile() as key_file:
        context.load_cert_chain(cert_file, key_file)
    return context


def client_context_trusting(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


def leaf(ca: trustme.CA, *, not_after: datetime | None = None) -> trustme.LeafCert:
    return ca.issue_cert("127.0.0.1", "localhost", not_after=not_after)
