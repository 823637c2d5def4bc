"""The :class:`ssl.SSLContext` of each side of an association, from a
:class:`~._tls.Tls`; and the cause of a failed handshake, which pynetdicom only logs."""

from __future__ import annotations

import logging
import ssl
import stat
from pathlib import Path

from dicomref._dimse._tls import Tls
from dicomref.errors import ConfigError, UsageError

LOGGER = logging.getLogger("dicomref._dimse._tls")


def client_context(tls: Tls) -> ssl.SSLContext:
    """The context for associations we request (reads the files now)."""
    context = _RecordingContext(ssl.PROTOCOL_TLS_CLIENT)
    context.failure = None
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if tls.verify_peer:
        _trust(context, tls.ca)
    else:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    _load_own(context, tls)
    return context


def server_context(tls: Tls) -> ssl.SSLContext:
    """The context for associations others request from us (reads the files now)."""
    if tls.cert is None:
        raise UsageError("a TLS server needs a certificate and its key (tls cert, tls key)")
    if tls.verify_peer and tls.ca is None:
        raise UsageError(
            "requiring client certificates needs the CA that signs them (tls ca, "
            "--tls-ca); or do not require them"
        )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if tls.ca is not None:
        _trust(context, tls.ca)
        context.verify_mode = ssl.CERT_REQUIRED if tls.verify_peer else ssl.CERT_OPTIONAL
    else:
        context.verify_mode = ssl.CERT_NONE
    _load_own(context, tls)
    return context


def _trust(context: ssl.SSLContext, ca: Path | None) -> None:
    if ca is None:
        context.load_default_certs(ssl.Purpose.SERVER_AUTH)
        return
    try:
        context.load_verify_locations(cafile=str(ca))
    except FileNotFoundError:
        raise ConfigError(f"{ca}: the TLS CA file does not exist") from None
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(
            f"{ca}: cannot read the TLS CA certificates (PEM expected): {_reason(exc)}"
        ) from exc


def _load_own(context: ssl.SSLContext, tls: Tls) -> None:
    if tls.cert is None:
        return
    key = tls.key if tls.key is not None else tls.cert
    warn_if_readable(key)
    for path in {tls.cert, key}:
        if not path.is_file():
            raise ConfigError(f"{path}: the TLS {_role(path, tls)} file does not exist")
    try:
        context.load_cert_chain(str(tls.cert), str(key), password=_no_password)
    except (OSError, ssl.SSLError, _EncryptedKeyError) as exc:
        raise ConfigError(
            f"{tls.cert}, {key}: cannot use this TLS certificate and key ({_reason(exc)}); "
            "both must be PEM, the key unencrypted and matching the certificate"
        ) from exc


def _role(path: Path, tls: Tls) -> str:
    return "certificate" if path == tls.cert else "private key"


class _EncryptedKeyError(Exception):
    def __str__(self) -> str:
        return "the private key is encrypted"


def _no_password() -> str:
    """An encrypted key would make OpenSSL prompt on the terminal: refuse it instead."""
    raise _EncryptedKeyError


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLError) and exc.reason:
        return str(exc.reason).replace("_", " ").lower()
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc)


def warn_if_readable(key: Path) -> None:
    """Warn when the private key file can be read by every user of the machine."""
    try:
        mode = key.stat().st_mode
    except OSError:
        return  # reported when it is loaded
    if mode & stat.S_IROTH:
        LOGGER.warning(
            "%s: the TLS private key is readable by every user of this machine (mode %s): "
            "chmod 600 it",
            key,
            oct(stat.S_IMODE(mode))[2:],
        )


# -- the cause of a failed handshake, for the client ------------------------------------------


class _RecordingSocket(ssl.SSLSocket):
    """An SSLSocket that tells its context why its handshake failed."""

    def do_handshake(self, block: bool = False) -> None:
        try:
            super().do_handshake(block)
        except ssl.SSLError as exc:
            context = self.context
            if isinstance(context, _RecordingContext):
                context.record(exc)
            raise


class _RecordingContext(ssl.SSLContext):
    """An SSLContext whose sockets record a failed handshake.  The handshake runs in the
    association's DUL thread; one client (one context) requests one association at a
    time, so the last failure is the one its caller asks about."""

    sslsocket_class = _RecordingSocket
    failure: ssl.SSLError | None

    def record(self, exc: ssl.SSLError) -> None:
        self.failure = exc

    def take_failure(self) -> ssl.SSLError | None:
        failure, self.failure = self.failure, None
        return failure


def handshake_failure(context: ssl.SSLContext) -> ssl.SSLError | None:
    """Why the last handshake on ``context`` failed, or None (and forget it).  Only
    contexts from :meth:`Tls.client_context` record failures."""
    if isinstance(context, _RecordingContext):
        return context.take_failure()
    return None


def describe_failure(exc: ssl.SSLError) -> str:
    """A failed handshake in words: OpenSSL's reason and, for a certificate, why."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        detail = exc.verify_message or "certificate verify failed"
        return f"certificate verify failed: {detail}"
    return _reason(exc)
