"""idsync: an identity sync hub that keeps directories and applications in step over SCIM 2.0."""

__version__ = "0.1.0"
