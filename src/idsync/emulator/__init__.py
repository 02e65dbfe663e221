"""A local Microsoft Entra ID: the slice of the identity platform and Graph v1.0 idsync uses.

Run it with ``idsync emulator`` (the contract: it prints one JSON line once listening),
or in-process with ``server.RunningEmulator``. Modules, one job each:

``directory``  tenant state, versions and the change log  ``seed``    deterministic tenants
``delta``      delta rounds, pages and state tokens        ``graph``   Graph v1.0 routes
``login``      token endpoint, discovery, admin consent    ``tokens``  access tokens
``audit``      directory audit events                      ``filters`` ``$filter`` grammar
``objects``    user/group properties and write checks      ``faults``  fault injection
``admin``      ``/_emulator/`` controls                    ``tls``     certificates
``app``        the ASGI app                                ``server``  uvicorn, threads
"""
