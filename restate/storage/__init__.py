"""Durable storage on LevelDB: key registry, partition store, metadata store."""
