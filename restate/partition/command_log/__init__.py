"""The partition's command log format: log entries (batches of commands) as stable, versioned bytes."""

from restate.partition.command_log.codec import FORMAT_VERSION, LogFormatError, decode_entry, encode_entry

__all__ = ["FORMAT_VERSION", "LogFormatError", "decode_entry", "encode_entry"]
