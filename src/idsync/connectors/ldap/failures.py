"""LDAP failures turned into the connector errors the engine acts on (RFC 4511 §4.1.9 result codes).

Each method returns (does not raise) the exception. Text that came from the server
passes :attr:`Failures.scrub` (:mod:`idsync.errors.scrub`) first, so the bind password
could never reach a message even if a server echoed it back. :meth:`Failures.classify` sorts an ldap3 exception
into "refused" (``AccessDenied``: quarantine, never "no users"), "may pass"
(:class:`~idsync.connectors.retry.Retry`) and "failed" (``Unavailable``).
"""

from __future__ import annotations

import ast
import re
from typing import Any
from urllib.parse import urlsplit

from ldap3.core import exceptions as ldap_exc  # type: ignore[import-untyped, unused-ignore]

from idsync.connectors.ldap import ad
from idsync.connectors.ldap.settings import LdapSettings
from idsync.connectors.retry import Retry
from idsync.contract.errors import AccessDenied, ConnectorError, Unavailable, WatermarkExpired
from idsync.errors import catalogue
from idsync.errors.catalogue import IdsyncError
from idsync.errors.scrub import Scrubber

# RFC 4511 §4.1.9 result codes.
PROTOCOL_ERROR, TIME_LIMIT, SIZE_LIMIT, ADMIN_LIMIT = 2, 3, 4, 11
UNAVAILABLE_CRITICAL_EXTENSION, OTHER = 12, 80
STRONGER_AUTH, CONFIDENTIALITY = 8, 13
NO_SUCH_OBJECT, INVALID_CREDENTIALS, INSUFFICIENT_ACCESS = 32, 49, 50
BUSY, UNAVAILABLE, UNWILLING = 51, 52, 53
_LIMITS = {TIME_LIMIT: "time", SIZE_LIMIT: "size", ADMIN_LIMIT: "administrative"}
_TLS_WORDS = ("certificate", "ssl", "tls", "hostname")


class Failures:
    def __init__(self, settings: LdapSettings) -> None:
        self._settings = settings
        self.scrub = Scrubber([settings.password])

    def _common(self) -> dict[str, Any]:
        return {"system": self._settings.system, "integration": self._settings.integration}

    # --- the errors ------------------------------------------------------------------------

    def bind_refused(self, result: str, reason: str = "") -> AccessDenied:
        return AccessDenied(
            catalogue.LDAP_BIND_REFUSED,
            result=result,
            reason=self.scrub(f": {reason}" if reason else ""),
            bind_dn=self._settings.bind_dn,
            **self._common(),
        )

    def access_denied(self, what: str) -> AccessDenied:
        return AccessDenied(
            catalogue.LDAP_ACCESS_DENIED,
            what=what,
            bind_dn=self._settings.bind_dn,
            **self._common(),
        )

    def base_missing(self, base: str, matched: str = "") -> AccessDenied:
        shown = f", the closest existing entry is {matched!r}" if matched else ""
        return AccessDenied(catalogue.LDAP_BASE_MISSING, base=base, matched=shown, **self._common())

    def tls_failed(self, reason: str) -> AccessDenied:
        return AccessDenied(catalogue.LDAP_TLS_FAILED, reason=self.scrub(reason), **self._common())

    def tls_host_mismatch(self, host: str, names: list[str]) -> AccessDenied:
        url = urlsplit(self._settings.url)
        port = f":{url.port}" if url.port else ""
        wanted = next((n for n in names if "*" not in n), host)
        return AccessDenied(
            catalogue.LDAP_TLS_HOST_MISMATCH,
            host=host,
            names=", ".join(names) or "no host name at all",
            suggestion=f"{url.scheme}://{wanted}{port}",
            **self._common(),
        )

    def deleted_objects_unreadable(self, reason: str) -> AccessDenied:
        return AccessDenied(
            catalogue.LDAP_DELETED_OBJECTS_UNREADABLE,
            reason=reason,
            bind_dn=self._settings.bind_dn,
            **self._common(),
        )

    def limit_exceeded(self, result: int) -> Unavailable:
        return Unavailable(
            catalogue.LDAP_LIMIT_EXCEEDED,
            limit=_LIMITS.get(result, "server"),
            result=f"{result} {_result_name(result)}",
            **self._common(),
        )

    def unavailable(self, reason: str) -> Unavailable:
        return Unavailable(
            catalogue.SOURCE_UNAVAILABLE, reason=self.scrub(reason), **self._common()
        )

    def watermark_expired(self, reason: str) -> WatermarkExpired:
        return WatermarkExpired(
            catalogue.WATERMARK_EXPIRED, reason=self.scrub(reason), **self._common()
        )

    def invalid_entry(self, object_type: str, dn: str, reason: str) -> IdsyncError:
        return IdsyncError(
            catalogue.LDAP_INVALID_ENTRY,
            object_type=object_type,
            dn=dn,
            reason=reason,
            system=self._settings.system,
        )

    # --- sorting ldap3's exceptions --------------------------------------------------------

    def classify(self, exc: Exception, *, base: str = "", what: str = "") -> Exception:
        """An ldap3 exception as AccessDenied / Unavailable, or Retry when it may pass."""
        if isinstance(exc, ldap_exc.LDAPOperationResult):
            return self._result(exc, base, what)
        if isinstance(exc, ldap_exc.LDAPCertificateError):
            # From the raw text: it holds the certificate's names, never a secret.
            mismatch = _host_mismatch(str(exc))
            if mismatch is not None:
                return self.tls_host_mismatch(*mismatch)
        text = self.scrub(str(exc) or type(exc).__name__)
        if isinstance(exc, ldap_exc.LDAPCertificateError | ldap_exc.LDAPStartTLSError) or (
            isinstance(exc, ldap_exc.LDAPSocketOpenError) and _mentions_tls(text)
        ):
            return self.tls_failed(_tls_reason(text))
        if isinstance(exc, ldap_exc.LDAPResponseTimeoutError):
            return Retry(f"no answer within {self._settings.timeout:g} s")
        if isinstance(exc, ldap_exc.LDAPCommunicationError | OSError):
            return Retry(f"connection failed: {text}")
        return self.unavailable(f"{type(exc).__name__}: {text}")

    def _result(self, exc: Any, base: str, what: str) -> Exception:
        code = int(getattr(exc, "result", 0) or 0)
        message = self.scrub(str(getattr(exc, "message", "") or ""))
        name = _result_name(code, getattr(exc, "description", None))
        matched = str(getattr(exc, "dn", "") or "")
        failure = self._classified(code, name, message, base, what, matched)
        if isinstance(failure, ConnectorError):
            failure.with_evidence(
                ldap_result=code,
                ldap_result_name=name,
                diagnostic_message=message[:300] or None,
                ad_data=ad.bind_data(message),
            )
        return failure

    def _classified(
        self, code: int, name: str, message: str, base: str, what: str, matched: str
    ) -> Exception:
        if code == INVALID_CREDENTIALS:
            return self.bind_refused(f"{code} {name}", ad.bind_reason(message) or "")
        if code in (STRONGER_AUTH, CONFIDENTIALITY):
            hint = "the server requires TLS or signing: use ldaps:// or --start-tls"
            return self.bind_refused(f"{code} {name}", hint)
        if code == INSUFFICIENT_ACCESS:
            return self.access_denied(what or base or "the directory")
        if code == NO_SUCH_OBJECT:
            return self.base_missing(base or what, matched)
        if code in _LIMITS:
            return self.limit_exceeded(code)
        if code in (BUSY, UNAVAILABLE):
            return Retry(f"the server answered LDAP result {code} {name}: {message}".rstrip(": "))
        detail = f": {message}" if message else ""
        return self.unavailable(f"the server answered LDAP result {code} {name}{detail}")


def _result_name(code: int, description: Any = None) -> str:
    if description:
        return str(description)
    return {TIME_LIMIT: "timeLimitExceeded", SIZE_LIMIT: "sizeLimitExceeded"}.get(code, "")


def _mentions_tls(text: str) -> bool:
    lowered = text.lower()
    return any(word in lowered for word in _TLS_WORDS)


# ldap3 checks the host name itself (ldap3.core.tls.check_hostname) and reports a mismatch
# as this text, the certificate being ssl.SSLSocket.getpeercert()'s dict.
_MISMATCH = re.compile(r"certificate (\{.*\}) doesn't match any name in (\[.*\])", re.DOTALL)


def _host_mismatch(text: str) -> tuple[str, list[str]] | None:
    """(the host asked for, the names the certificate carries) from ldap3's mismatch text."""
    match = _MISMATCH.search(text)
    if match is None:
        return None
    try:
        certificate, asked = ast.literal_eval(match.group(1)), ast.literal_eval(match.group(2))
    except (ValueError, SyntaxError):
        return None
    if not isinstance(certificate, dict) or not isinstance(asked, list) or not asked:
        return None
    return str(asked[0]), _certificate_names(certificate)


def _certificate_names(certificate: dict[str, Any]) -> list[str]:
    """The names a certificate is valid for: its subjectAltName DNS and IP entries, else
    its subject's common name (RFC 6125 §6.4.4)."""
    names = [
        str(value)
        for kind, value in certificate.get("subjectAltName", ())
        if kind in ("DNS", "IP Address")
    ]
    if names:
        return names
    return [
        str(value)
        for rdn in certificate.get("subject", ())
        for key, value in rdn
        if key == "commonName"
    ]


def _tls_reason(text: str) -> str:
    lowered = text.lower()
    if "hostname" in lowered or "host name" in lowered:
        return f"the certificate does not name this host ({text})"
    if "verify failed" in lowered or "unknown ca" in lowered or "self-signed" in lowered:
        return f"the server's certificate is not trusted ({text})"
    return text
