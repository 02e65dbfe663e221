"""Secrets out of text, only where they stand as secrets.

A secret is redacted where text shows it *as* a secret: the value of a field whose
name says so (``password=…``, ``"client_secret": "…"``), the password of a URL
(``ldap://user:pass@host``), a query parameter that reads like a credential
(Graph's ``$skiptoken``/``$deltatoken`` cursors, OAuth's ``code`` and
``client_secret``), an ``Authorization`` or ``Cookie`` header, a ``Bearer`` token.
A secret idsync knows (a bind password, a client secret, an access token) is also
replaced wherever it occurs, but only from :data:`MIN_LENGTH` characters on: a
short one ("wrong", "refused") is an ordinary word too, and replacing it as a
substring turned "Connection refused" into "Connection <redacted>" while hiding
nothing a reader could not guess.

Every part of idsync that shows text from elsewhere (connector failures, log lines)
passes it through a :class:`Scrubber`, so this is the one place the rules live.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

REDACTED = "<redacted>"
MIN_LENGTH = 8
"""Known secrets shorter than this are not replaced as substrings (see the module's text)."""

SECRET_FIELDS = frozenset(
    {
        "password", "passwd", "pwd", "secret", "client_secret", "secret_key",
        "token", "access_token", "refresh_token", "id_token", "bearer_token",
        "api_key", "apikey", "client_assertion", "private_key",
        "authorization", "proxy_authorization", "cookie", "set_cookie",
    }
)  # fmt: skip
"""Names (compared in lower case, ``-`` as ``_``) whose values are secrets wherever they
appear: a form or query field, a JSON member, a log event's field."""

_QUERY_ONLY = ("code", "skiptoken", "deltatoken", "sig", "signature")
"""Query parameters that carry credentials (OAuth's authorisation ``code``, Graph's
paging cursors, which read the directory like a bearer token; signed URLs' ``sig``)
but are ordinary words as field names elsewhere (a log line's ``code`` is a catalogue
code)."""

_NAMES = "|".join(
    sorted((re.escape(n).replace("_", "[_-]") for n in SECRET_FIELDS), key=len, reverse=True)
)
_VALUE_END = r"&\s\"'<>,;)}\]"

_URL_PASSWORD = re.compile(r"(?P<head>\b[a-z][a-z0-9+.-]*://[^\s:/@?#]*):[^\s@/?#]+@", re.I)
_QUERY = re.compile(
    r"(?P<head>[?&](?:\$|%24)?(?:" + "|".join(_QUERY_ONLY) + r")=)[^" + _VALUE_END + "]+", re.I
)
_FIELD = re.compile(r"(?P<head>(?:^|[?&;\s\"'(,])(?:" + _NAMES + r")=)[^" + _VALUE_END + "]+", re.I)
_QUOTED_FIELD = re.compile(
    r"(?P<head>[\"'](?:" + _NAMES + r")[\"']\s*:\s*)(?:\"[^\"]*\"|'[^']*'|[^\s,}\]]+)", re.I
)
_HEADER = re.compile(
    r"(?P<head>\b(?:proxy-)?(?:authorization|cookie|set-cookie)[\"']?\s*:\s*[\"']?)"
    r"(?!Bearer\s+<|<)[^\s\"'][^\"'\r\n]*",  # not a placeholder: "Authorization: Bearer <token>"
    re.I,
)
_BEARER = re.compile(r"(?P<head>\bBearer\s+)[A-Za-z0-9\-._~+/]+=*", re.I)
_PATTERNS = (_URL_PASSWORD, _HEADER, _BEARER, _QUOTED_FIELD, _QUERY, _FIELD)
_MAYBE = re.compile(r"=|://|:\s|bearer", re.I)
"""What every pattern needs: most text (a path, a timestamp, a name) is passed as it is."""


def _redact_match(match: re.Match[str]) -> str:
    if match.re is _URL_PASSWORD:
        return f"{match.group('head')}:{REDACTED}@"
    return f"{match.group('head')}{REDACTED}"


class Scrubber:
    """Redacts secrets in text. ``known``: the secrets of one integration (or a callable
    returning them, for those that change, such as an access token)."""

    def __init__(self, known: Iterable[str] | Callable[[], Iterable[str]] = ()) -> None:
        self._known = known if callable(known) else tuple(known)

    def __call__(self, text: str) -> str:
        for secret in self._secrets():
            text = text.replace(secret, REDACTED)
        if not _MAYBE.search(text):
            return text
        for pattern in _PATTERNS:
            text = pattern.sub(_redact_match, text)
        return text

    def fields(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """A log event's or a document's fields: a secret field's value is redacted
        whole, every other string scrubbed."""
        return {key: self._field(key, value) for key, value in values.items()}

    def _field(self, key: str, value: Any) -> Any:
        if value is not None and is_secret_field(key):
            return REDACTED
        return self(value) if isinstance(value, str) else value

    def _secrets(self) -> list[str]:
        known = self._known() if callable(self._known) else self._known
        # Longest first: a secret that contains another is replaced whole.
        return sorted({s for s in known if s and len(s) >= MIN_LENGTH}, key=len, reverse=True)


def is_secret_field(name: str) -> bool:
    return name.lower().replace("-", "_") in SECRET_FIELDS


SCRUB = Scrubber()
"""For text whose secrets idsync does not know (log lines, third-party messages)."""
