"""Which certificates a connector trusts: the system's store, or the PEM file of CAs an
integration names (``--ca-file``)."""

from __future__ import annotations

import ssl

from idsync.contract.errors import AccessDenied
from idsync.errors import catalogue


def trust(ca_file: str | None, integration: str) -> ssl.SSLContext | bool:
    """httpx's ``verify``: True (the system's store), or a context of ``ca_file``'s CAs."""
    return ca_context(ca_file, integration) if ca_file else True


def ca_context(ca_file: str, integration: str) -> ssl.SSLContext:
    """A client context trusting the CAs of ``ca_file``; a file that is missing or holds
    no certificate is the administrator's to fix, so it quarantines the job, named."""
    try:
        return ssl.create_default_context(cafile=ca_file)
    except OSError as exc:  # ssl.SSLError too: no PEM certificate in the file
        reason = exc.strerror or str(exc) or type(exc).__name__
        raise AccessDenied(
            catalogue.CA_FILE_UNUSABLE, path=ca_file, reason=reason, integration=integration
        ) from exc
