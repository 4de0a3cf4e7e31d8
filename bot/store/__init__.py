"""Persistence: one SQLite database, numbered migrations, one module per aggregate."""
