"""The live dashboard: rich views of a running server, built only from its admin API and `/metrics`."""
