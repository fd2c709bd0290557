"""Records to bytes and back, in the current store format; the registry of format versions.

Reads accept the current version of each record only: a store written by an earlier release is
upgraded once when it is opened (`restate.storage.upgrade`), so the hot paths never branch on versions.
"""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec

from restate.storage import records as r

#: The store format this release writes in partition shards. Format 1 is the release before versioned
#: records; every record of format 2 is at its version 2; format 3 has the invocation status and the
#: outbox record at version 3 (an invocation's trace context).
STORE_FORMAT = 3
#: The store format of the metadata store: format 3 keeps the registry in storage-owned records
#: (SchemaRecord version 3) instead of admin's registry model (format 2); its settings are still at version 2.
META_FORMAT = 3


#: Every record kind, its struct and current version: the golden fixtures hold one sample per entry.
RECORDS: dict[str, type[msgspec.Struct]] = {
    "status": r.InvocationStatus,
    "live": r.LiveRecord,
    "inbox": r.InboxRecord,
    "lock": r.LockRecord,
    "timer": r.TimerRecord,
    "promise": r.PromiseRecord,
    "outbox": r.OutboxRecord,
    "dedup": r.DedupRecord,
    "sequence": r.SequenceRecord,
    "queue_counts": r.QueueCountsRecord,
    "store_format": r.StoreFormatRecord,
    "schema": r.SchemaRecord,
    "settings": r.SettingsRecord,
    "kafka": r.KafkaRegistryRecord,
    "kafka_parked": r.ParkedRecordsRecord,
}


def version_of(kind: str) -> int:
    """The format version a kind of record is written with (1 for the untagged store format marker)."""
    config = RECORDS[kind].__struct_config__
    return int(config.tag) if isinstance(config.tag, int) else 1


_encoder = msgspec.msgpack.Encoder()
encode = _encoder.encode  # every record is encoded by the same msgpack encoder (maps, by field name)

T = TypeVar("T")
_decoders: dict[type[Any], msgspec.msgpack.Decoder[Any]] = {}


def decoder(record: type[T]) -> msgspec.msgpack.Decoder[T]:
    found = _decoders.get(record)
    if found is None:
        found = _decoders[record] = msgspec.msgpack.Decoder(record)
    return found


decode_status = decoder(r.InvocationStatus).decode
decode_live = decoder(r.LiveRecord).decode
decode_inbox = decoder(r.InboxRecord).decode
decode_lock = decoder(r.LockRecord).decode
decode_promise = decoder(r.PromiseRecord).decode
decode_outbox = decoder(r.OutboxRecord).decode
decode_dedup = decoder(r.DedupRecord).decode
decode_sequence = decoder(r.SequenceRecord).decode
decode_queue_counts = decoder(r.QueueCountsRecord).decode
decode_store_format = decoder(r.StoreFormatRecord).decode
decode_schema = decoder(r.SchemaRecord).decode
decode_settings = decoder(r.SettingsRecord).decode
decode_kafka_registry = decoder(r.KafkaRegistryRecord).decode
decode_parked_records = decoder(r.ParkedRecordsRecord).decode

TIMER_VALUE = encode(r.TimerRecord())  # every timer's value: the key holds all there is to know
