"""The project store: SQLite database, content-addressed files, safe image reading."""
