"""Durable storage on LevelDB, and the only package that knows how things are stored (docs/storage.md).

Key layouts (`keys`), one versioned record per kind of value (`records`, `codec`), the read-only view
(`view`), typed writes (`tables`, `partition_store`), the metadata store (`meta`), and the upgrade of
stores written by an earlier release (`upgrade`, `legacy_v1`). Journal entries (protocol frames) and
state values (users' bytes) are stored raw: their format is the protocol's and the user's, so they are
covered by the store-wide format version (the `format` row) rather than a record version of their own.
"""
