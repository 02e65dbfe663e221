"""Health: diagnosis of a failing integration, its findings, repair and validation.

It stands above connectors, store and sync and changes no data of its own accord
(docs/architecture.md, "Floors: which package may import which").
"""
