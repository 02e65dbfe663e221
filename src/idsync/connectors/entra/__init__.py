"""The Entra ID connector: users and groups from Microsoft Graph v1.0, app-only via msal.

``EntraSource`` implements :class:`idsync.connectors.base.Source`; the rest of the
package is how: ``settings`` (what to connect to), ``auth`` (client credentials
tokens), ``client`` (Graph requests, retries, errors), ``users`` / ``groups`` (Graph
JSON to source objects), ``directory`` (service principals and the audit log).
"""

from idsync.connectors.entra.settings import ClientCertificate, EntraSettings
from idsync.connectors.entra.source import EntraSource

__all__ = ["ClientCertificate", "EntraSettings", "EntraSource"]
