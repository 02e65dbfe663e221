"""One LDAP connection for one integration: TLS, bind, retries, paged searches that survive a reconnect.

- TLS: ``ldaps://`` or StartTLS (RFC 4511 §4.14), verifying the server's certificate
  against ``ca_file`` (ssl.CERT_REQUIRED) and its host name, unless the integration
  explicitly opted out (``tls_verify=False``), which is logged on every connect.
- Searches ask for an explicit attribute list, never ``*``: the bind account may be
  allowed to read password attributes, and idsync never asks for them.
- Paged results (RFC 2696): the cookie belongs to one connection and one search. When
  the connection breaks mid-search, or a cycle resumes in another process, the search
  is run again from the start and the entries already handed out are skipped; a digest
  of their anchors proves the server returned the same ones in the same order. If it
  did not (the directory changed in between), everything is handed out again: applying
  an object twice is harmless, skipping one is not.
- Content synchronisation (RFC 4533, :mod:`.syncrepl`): one refreshOnly search, not
  paged (syncprov does not page it); what the answer means is :mod:`.syncrepl`'s. A
  cookie the server cannot serve, and a server that cannot synchronise here, are told
  apart from failures (:class:`~.syncrepl.CookieRefused`, :class:`~.syncrepl.Unusable`).
- Transient failures (connection refused or reset, timeouts, busy 51, unavailable 52)
  are retried with the integration's :class:`~idsync.connectors.retry.RetryPolicy`.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import ssl
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import ldap3  # type: ignore[import-untyped, unused-ignore]
from ldap3.core import exceptions as ldap_exc  # type: ignore[import-untyped, unused-ignore]

from idsync.connectors import retry
from idsync.connectors.ldap import syncrepl
from idsync.connectors.ldap.entries import Entry
from idsync.connectors.ldap.failures import (
    ADMIN_LIMIT,
    OTHER,
    PROTOCOL_ERROR,
    SIZE_LIMIT,
    TIME_LIMIT,
    UNAVAILABLE_CRITICAL_EXTENSION,
    UNWILLING,
    Failures,
)
from idsync.connectors.ldap.settings import LdapSettings
from idsync.connectors.tls import ca_context
from idsync.contract.errors import AccessDenied
from idsync.errors.catalogue import LDAP_BASE_MISSING
from idsync.logs import get_logger

log = get_logger("idsync.connectors.ldap")

T = TypeVar("T")
PAGED_RESULTS_OID = "1.2.840.113556.1.4.319"
Control = tuple[str, bool, Any]
BASE, SUBTREE = ldap3.BASE, ldap3.SUBTREE
_SYNC_UNUSABLE = frozenset(
    {PROTOCOL_ERROR, TIME_LIMIT, SIZE_LIMIT, ADMIN_LIMIT, UNAVAILABLE_CRITICAL_EXTENSION, OTHER}
)
"""Answers to a sync search that mean "not here", not "broken": the sweep still works."""


@dataclass(frozen=True, slots=True)
class Position:
    """How far into one search's results a reader is: JSON-friendly, valid across connections."""

    skip: int = 0
    digest: str = ""
    """blake2b of the anchors (or DNs) of the first ``skip`` entries, in order."""


class _PrefixChanged(Exception):
    """On a re-run, the entries before the position were not the ones handed out before."""


class LdapClient:
    """Not thread-safe; ``close()`` when done."""

    def __init__(
        self, settings: LdapSettings, *, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self.settings = settings
        self.failures = Failures(settings)
        self._sleep = sleep
        self._conn: Any = None

    def __repr__(self) -> str:
        return f"LdapClient({self.settings!r})"

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            # Closing a broken connection: nothing left to tell the server.
            with contextlib.suppress(ldap_exc.LDAPException, OSError):
                conn.unbind()

    # --- connecting --------------------------------------------------------------------------

    def connect(self) -> None:
        """Open and bind now (with retries), or raise the connector error."""
        self._with_retries(self._connection)

    def _connection(self) -> Any:
        if self._conn is None:
            self._conn = self._open()
        return self._conn

    def _open(self) -> Any:
        settings = self.settings
        if not settings.tls_verify and settings.tls_mode != "none":
            log.warning(
                "ldap.tls_verify_disabled",
                integration=settings.integration,
                url=settings.url,
                detail="the server's certificate is NOT verified: anyone on the network path "
                "can read the bind password and the directory",
            )
        server = ldap3.Server(
            settings.url,
            use_ssl=settings.ldaps,
            tls=self._tls(),
            get_info=ldap3.NONE,
            connect_timeout=_seconds(settings.timeout),
        )
        conn = ldap3.Connection(
            server,
            user=settings.bind_dn,
            password=settings.password,
            auto_bind=ldap3.AUTO_BIND_NONE,
            raise_exceptions=True,
            read_only=True,
            auto_referrals=False,
            auto_range=False,
            receive_timeout=_seconds(settings.timeout),
            return_empty_attributes=False,
        )
        try:
            conn.open()
            if settings.start_tls:
                conn.start_tls()
            conn.bind()
        except Exception:
            _discard(conn)
            raise
        finally:
            # ldap3's repr of a connection shows the password: keep it nowhere once bound.
            conn.password = None
        return conn

    def _tls(self) -> Any:
        settings = self.settings
        if settings.tls_mode == "none":
            return None
        if not settings.tls_verify:
            return ldap3.Tls(validate=ssl.CERT_NONE)
        # ldap3 checks the host name itself against the certificate (valid_names=None:
        # the URL's host), after the handshake verified the chain against ca_file.
        if settings.ca_file:  # ldap3 would say only "invalid CA public key file"
            ca_context(settings.ca_file, settings.integration)
        return ldap3.Tls(
            validate=ssl.CERT_REQUIRED,
            ca_certs_file=settings.ca_file,
            version=ssl.PROTOCOL_TLS_CLIENT,
        )

    def _with_retries(self, attempt: Callable[[], T], *, base: str = "") -> T:
        def once() -> T:
            try:
                return attempt()
            except (ldap_exc.LDAPException, OSError) as exc:
                failure = self.failures.classify(exc, base=base)
                if isinstance(failure, retry.Retry):
                    self.close()  # a new connection for the next try
                raise failure from exc

        try:
            return retry.call(once, self.settings.retry, sleep=self._sleep, on_retry=_log_retry)
        except retry.GaveUp as gave_up:
            reason = f"{gave_up.last.reason} (gave up after {gave_up.attempts} attempts)"
            raise self.failures.unavailable(reason) from None

    # --- searching ---------------------------------------------------------------------------

    def search(
        self,
        base: str,
        search_filter: str,
        attributes: Sequence[str],
        *,
        scope: Any = SUBTREE,
        controls: Sequence[Control] = (),
    ) -> list[Entry]:
        """A plain (unpaged) search with retries: for the rootDSE and single entries."""

        def attempt() -> list[Entry]:
            conn = self._connection()
            conn.search(
                base, search_filter, scope, attributes=list(attributes), controls=list(controls)
            )
            self._check_limits(conn)
            return _entries(conn.response)

        return self._with_retries(attempt, base=base)

    def sync(
        self,
        base: str,
        search_filter: str,
        attributes: Sequence[str],
        cookie: bytes | None,
        *,
        scope: Any = SUBTREE,
    ) -> syncrepl.Refresh:
        """One refreshOnly content synchronisation search (RFC 4533 §3.3) from ``cookie``,
        with retries; raises :class:`~.syncrepl.CookieRefused` or :class:`~.syncrepl.Unusable`."""
        control = syncrepl.request_control(cookie)

        def attempt() -> syncrepl.Refresh:
            conn = self._connection()
            try:
                # syncprov refuses derefAliases "searching" (ldap3's default is "always").
                conn.search(
                    base,
                    search_filter,
                    scope,
                    dereference_aliases=ldap3.DEREF_NEVER,
                    attributes=list(attributes),
                    controls=[control],
                )
            except ldap_exc.LDAPOperationResult as exc:
                refusal = self._sync_refusal(exc, with_cookie=cookie is not None)
                if refusal is None:
                    raise
                raise refusal from exc
            code = int((conn.result or {}).get("result") or 0)
            if code in (SIZE_LIMIT, TIME_LIMIT):  # ldap3 does not raise for these
                raise syncrepl.Unusable(
                    f"the server's {_LIMIT_NAMES[code]} limit for the bind account cut the "
                    "answer short; OpenLDAP: olcLimits size=unlimited time=unlimited for it"
                )
            return syncrepl.refresh_of(conn.response or (), conn.result or {})

        return self._with_retries(attempt, base=base)

    def _sync_refusal(self, exc: Any, *, with_cookie: bool) -> Exception | None:
        code = int(getattr(exc, "result", 0) or 0)
        said = self.failures.scrub(
            f"LDAP result {code} {getattr(exc, 'description', '') or ''}: "
            f"{getattr(exc, 'message', '') or ''}".rstrip(": ")
        )
        if with_cookie and code in (syncrepl.E_SYNC_REFRESH_REQUIRED, UNWILLING):
            return syncrepl.CookieRefused(said)
        if code in _SYNC_UNUSABLE or code in (syncrepl.E_SYNC_REFRESH_REQUIRED, UNWILLING):
            return syncrepl.Unusable(said)
        return None

    def read(
        self, dn: str, attributes: Sequence[str], search_filter: str = "(objectClass=*)"
    ) -> Entry | None:
        """One entry by DN (None if it does not exist or does not match the filter)."""
        try:
            found = self.search(dn, search_filter, attributes, scope=BASE)
        except AccessDenied as exc:
            if exc.error is LDAP_BASE_MISSING:
                return None
            raise
        return found[0] if found else None

    def paged(
        self,
        base: str,
        search_filter: str,
        attributes: Sequence[str],
        key: Callable[[Entry], str],
        start: Position = Position(),
        *,
        controls: Sequence[Control] = (),
    ) -> Iterator[tuple[list[Entry], Position]]:
        """Pages of a subtree search from ``start``, each with the position after it.

        ``key`` names an entry for the position's digest (its anchor). A broken
        connection or a busy server restarts the search from the last position
        handed out, within the retry policy.
        """
        position, failures = start, 0
        while True:
            try:
                pages = self._paged_once(base, search_filter, attributes, key, position, controls)
                for entries, reached in pages:
                    position, failures = reached, 0
                    yield entries, reached
                return
            except _PrefixChanged:
                log.info("ldap.search_restarted", base=base, reason="directory changed")
                position = Position()
            except retry.Retry as again:
                failures += 1
                if failures >= self.settings.retry.attempts:
                    reason = f"{again.reason} (gave up after {failures} attempts)"
                    raise self.failures.unavailable(reason) from None
                delay = self.settings.retry.backoff(failures)
                _log_retry(again, delay, failures)
                self._sleep(delay)

    def _paged_once(
        self,
        base: str,
        search_filter: str,
        attributes: Sequence[str],
        key: Callable[[Entry], str],
        start: Position,
        controls: Sequence[Control],
    ) -> Iterator[tuple[list[Entry], Position]]:
        hasher = hashlib.blake2b(digest_size=16)
        seen, cookie = 0, None
        verified = start.skip == 0
        while True:
            entries, cookie = self._page(base, search_filter, attributes, cookie, controls)
            fresh: list[Entry] = []
            for entry in entries:
                if not verified and seen == start.skip:
                    verified = self._same_prefix(hasher, start)
                hasher.update(key(entry).encode() + b"\n")
                seen += 1
                if seen > start.skip:
                    fresh.append(entry)
            if fresh:
                yield fresh, Position(seen, hasher.hexdigest())
            if not cookie:
                break
        if not verified:  # no entry after the position: the prefix must still be the same
            self._same_prefix(hasher, start, seen)

    @staticmethod
    def _same_prefix(hasher: Any, start: Position, seen: int | None = None) -> bool:
        if (seen is not None and seen != start.skip) or hasher.hexdigest() != start.digest:
            raise _PrefixChanged
        return True

    def _page(
        self,
        base: str,
        search_filter: str,
        attributes: Sequence[str],
        cookie: bytes | None,
        controls: Sequence[Control],
    ) -> tuple[list[Entry], bytes | None]:
        conn = self._connection_or_retry(base)
        try:
            conn.search(
                base,
                search_filter,
                SUBTREE,
                attributes=list(attributes),
                paged_size=self.settings.page_size,
                paged_cookie=cookie,
                controls=list(controls) or None,
            )
            self._check_limits(conn)
        except (ldap_exc.LDAPException, OSError) as exc:
            failure = self.failures.classify(exc, base=base)
            if isinstance(failure, retry.Retry):
                self.close()  # the cookie dies with the connection: restart from the position
            raise failure from exc
        return _entries(conn.response), _cookie(conn.result)

    def _connection_or_retry(self, base: str) -> Any:
        try:
            return self._connection()
        except (ldap_exc.LDAPException, OSError) as exc:
            raise self.failures.classify(exc, base=base) from exc

    def _check_limits(self, conn: Any) -> None:
        # ldap3 does not raise for these two (they come with partial results): we do, as
        # a partial read must never look like a complete one.
        code = int((conn.result or {}).get("result") or 0)
        if code in (SIZE_LIMIT, TIME_LIMIT):
            raise self.failures.limit_exceeded(code)


_LIMIT_NAMES = {SIZE_LIMIT: "size", TIME_LIMIT: "time"}


def resumed_pages(
    keys: list[str], start: Position, size: int
) -> Iterator[tuple[int, int, Position]]:
    """(begin, end, position after) of each page of ``keys``, from ``start`` when the
    first ``start.skip`` keys are the ones handed out before (their digest), else from 0."""
    hasher = hashlib.blake2b(digest_size=16)
    begin = 0
    if start.skip:
        for key in keys[: start.skip]:
            hasher.update(key.encode() + b"\n")
        if start.skip <= len(keys) and hasher.hexdigest() == start.digest:
            begin = start.skip
        else:
            log.info("ldap.search_restarted", reason="the server answered differently")
            hasher = hashlib.blake2b(digest_size=16)
    for offset in range(begin, len(keys), size):
        end = min(offset + size, len(keys))
        for key in keys[offset:end]:
            hasher.update(key.encode() + b"\n")
        yield offset, end, Position(end, hasher.hexdigest())


def _entries(response: Any) -> list[Entry]:
    # Referrals (searchResRef) are not followed: the bases say what to read.
    return [Entry.of(item) for item in response or () if item.get("type") == "searchResEntry"]


def _cookie(result: Any) -> bytes | None:
    control = ((result or {}).get("controls") or {}).get(PAGED_RESULTS_OID) or {}
    cookie = (control.get("value") or {}).get("cookie")
    return bytes(cookie) if cookie else None


def _seconds(timeout: float) -> int:
    # ldap3 packs timeouts into socket options as whole seconds.
    return max(1, math.ceil(timeout))


def _discard(conn: Any) -> None:
    with contextlib.suppress(ldap_exc.LDAPException, OSError):
        conn.unbind()  # it never worked: nothing to close politely


def _log_retry(failure: retry.Retry, delay: float, attempt: int) -> None:
    log.info("ldap.retry", reason=failure.reason, delay=round(delay, 3), attempt=attempt)
