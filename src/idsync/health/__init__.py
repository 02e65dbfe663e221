"""Health: the error catalogue, tracking IDs, and (later) diagnosis and repair."""
