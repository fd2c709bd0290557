"""The `restate` command line (Typer): `up` runs the server, the other commands operate it."""
