"""The web console at ``/admin`` (docs/console.md): templates, static files and routes."""
