"""Errors: the catalogue (code, message, action), tracking IDs and the secret scrubber.

The bottom floor: every other package may import it and it imports nothing of idsync
(docs/architecture.md, "Floors: which package may import which").
"""
