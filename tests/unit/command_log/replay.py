"""Applies log entries to a fresh store the way the partition actor does, and fingerprints the result:
what each entry wrote (keys and bytes), the actions it produced, and the whole store at the end.

`python -m tests.unit.command_log.replay ENTRIES DIR` prints the fingerprint of replaying a file of
entries (a msgpack array of encoded entries) into DIR: the determinism test runs it in processes with
different hash seeds, as other nodes would."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import msgspec

from restate.partition.command_log import decode_entry
from restate.partition.commands import LogEntry
from restate.partition.state_machine import StateMachine
from restate.storage.partition_store import PartitionStore
from tests.unit.partition.harness import make_schema

_encoder = msgspec.msgpack.Encoder()


class Trace(msgspec.Struct):
    """Per entry: its writes (sorted, None = delete) and its actions (type name, encoded); then the store."""

    writes: list[list[tuple[bytes, bytes | None]]] = []
    actions: list[list[tuple[str, bytes]]] = []
    store: list[tuple[bytes, bytes]] = []

    def digest(self) -> str:
        return hashlib.sha256(_encoder.encode(self)).hexdigest()


def replay(entries: list[LogEntry], path: Path) -> Trace:
    """Applies `entries` in order to a fresh store at `path`, one transaction and commit each."""
    first = entries[0]
    machine = StateMachine(first.partition, first.num_partitions, first.protocol_v7)
    schema = make_schema()
    store = PartitionStore(path)
    trace = Trace()
    try:
        for entry in entries:
            txn = store.transaction()
            actions = machine.apply_entry(txn, entry, schema)
            trace.writes.append(sorted(txn.writes.items()))
            trace.actions.append([(type(a).__name__, _encoder.encode(a)) for a in actions])
            txn.commit()
        trace.store = list(store.scan(b""))
    finally:
        store.close()
    return trace


def main(entries_file: str, directory: str) -> None:
    encoded = msgspec.msgpack.decode(Path(entries_file).read_bytes(), type=list[bytes])
    print(replay([decode_entry(e) for e in encoded], Path(directory)).digest())


if __name__ == "__main__":
    main(*sys.argv[1:])
