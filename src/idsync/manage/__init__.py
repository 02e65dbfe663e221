"""The service layer: what an administrator does to organisations, tokens, integrations
and their jobs. The CLI calls it, and the console and management API will; faces never
reach the store themselves (docs/architecture.md, "Floors: which package may import which").
"""
