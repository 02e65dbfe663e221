"""The LDAP connector: users and groups from OpenLDAP or Active Directory, via ldap3.

``LdapSource`` implements :class:`idsync.contract.protocols.Source`; the rest of the
package is how: ``settings`` (what to connect to, dialect defaults), ``client``
(connection, TLS, retries, paged searches), ``failures`` (LDAP result codes to
catalogue errors), ``changes`` (watermarks), ``syncrepl`` (RFC 4533 content
synchronisation's controls and messages), ``deletions`` (how an incremental read sees
removals, and why), ``entries`` (values and the DN index), ``references`` (managers and
members resolved by batched searches), ``users`` / ``groups`` (entries to source
objects), ``ad`` (what only AD does).
"""

from idsync.connectors.description import Connector
from idsync.connectors.ldap.settings import DisabledRule, LdapSettings
from idsync.contract.mappings import DIRECTORY
from idsync.contract.protocols import Source


def _open(settings: LdapSettings) -> Source:
    # Imported here, when an integration is opened: ldap3 (with pyasn1) is a tenth of a
    # second that commands which only describe or list integrations should not pay.
    from idsync.connectors.ldap.source import LdapSource

    return LdapSource(settings)


CONNECTOR = Connector(
    kind="ldap",
    title="Active Directory or OpenLDAP",
    summary="Connect Active Directory or OpenLDAP: users and groups sync into the organisation.",
    directions=("source",),
    settings_class=LdapSettings,
    build=LdapSettings.from_integration,
    default_name="Directory",
    default_mappings={"source": DIRECTORY},
    open_source=_open,
)

__all__ = ["CONNECTOR", "DisabledRule", "LdapSettings"]
