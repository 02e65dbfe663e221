"""The SCIM 2.0 protocol (RFC 7643 schemas, RFC 7644 protocol): pure functions, no I/O."""
