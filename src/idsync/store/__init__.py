"""Storage: the database schema, the one way to open a database, and the queries."""
