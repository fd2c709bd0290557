"""The etcd key layout, the records' versioned format, and the client's multi-member target (no etcd needed)."""

from __future__ import annotations

import msgspec
import pytest

from restate.cluster import etcd_records as records
from restate.cluster.etcd_client import grpc_target
from restate.cluster.layout import Layout, prefix_end


def test_log_keys_sort_in_lsn_order_and_parse_back() -> None:
    layout = Layout("c1")
    keys = [layout.log_key(3, lsn) for lsn in (1, 2, 15, 16, 255, 256, 2**40)]
    assert sorted(keys) == keys
    assert [layout.lsn_of(3, k) for k in keys] == [1, 2, 15, 16, 255, 256, 2**40]
    assert layout.log_key(3, 1) == b"/restate/c1/log/3/0000000000000001"
    with pytest.raises(ValueError):
        layout.lsn_of(4, layout.log_key(3, 1))  # another partition's key
    with pytest.raises(ValueError):
        layout.lsn_of(3, layout.chunk_key(3, 1, 0))


def test_prefixes_do_not_reach_other_partitions_or_clusters() -> None:
    layout = Layout("c1")
    start, end = layout.log_prefix(1), prefix_end(layout.log_prefix(1))
    assert not start <= layout.log_key(10, 1) < end
    assert start <= layout.log_key(1, 2**63) < end
    assert not Layout("c").nodes_prefix() <= Layout("c1").node("n1") < prefix_end(Layout("c").nodes_prefix())
    chunk_start, chunk_end = layout.chunks_below(1, 5)
    assert chunk_start <= layout.chunk_key(1, 4, 99) < chunk_end
    assert not chunk_start <= layout.chunk_key(1, 5, 0) < chunk_end
    assert prefix_end(b"a\xff") == b"b"
    with pytest.raises(ValueError):
        Layout("a/b")


def test_records_are_versioned_maps_that_round_trip() -> None:
    record = records.LogRecord(epoch=3, entry=b"\x01\x02", chunks=0)
    data = records.encode(record)
    assert msgspec.msgpack.decode(data) == {"v": 1, "epoch": 3, "entry": b"\x01\x02", "chunks": 0}
    assert records.decode(records.LogRecord, data) == record
    leader = records.LeaderRecord(node="n2", epoch=7)
    assert records.decode(records.LeaderRecord, records.encode(leader)) == leader


def test_records_of_another_version_or_with_unknown_fields_are_refused() -> None:
    newer = msgspec.msgpack.encode({"v": 2, "node": "n1", "epoch": 1})
    with pytest.raises(records.EtcdRecordError, match="version 2"):
        records.decode(records.LeaderRecord, newer)
    extra = msgspec.msgpack.encode({"v": 1, "node": "n1", "epoch": 1, "term": 4})
    with pytest.raises(records.EtcdRecordError):
        records.decode(records.LeaderRecord, extra)
    with pytest.raises(records.EtcdRecordError):
        records.decode(records.LogRecord, b"\xc1garbage")
    assert records.decode_int(records.encode_int(42)) == 42
    with pytest.raises(records.EtcdRecordError):
        records.decode_int(b"-1")


def test_the_grpc_target_spans_every_member() -> None:
    assert grpc_target(["127.0.0.1:2379", "127.0.0.1:22379", "http://10.0.0.1:2379"]) == (
        "ipv4:127.0.0.1:2379,127.0.0.1:22379,10.0.0.1",
        2379,
    )
    assert grpc_target(["127.0.0.1:2379"]) == ("ipv4:127.0.0.1", 2379)
    for bad in ([], ["localhost"], ["host:port"]):
        with pytest.raises(ValueError):
            grpc_target(bad)


def test_a_node_link_task_runs_again_after_a_failure() -> None:
    """Ingress and admin keep their etcd followers alive through failures (etcd away for a while)."""
    import asyncio

    from restate.cluster.node_link import for_ever

    runs: list[int] = []

    async def flaky() -> None:
        runs.append(len(runs))
        if len(runs) < 3:
            raise ConnectionError("etcd unavailable")
        await asyncio.Event().wait()  # the third run follows for ever

    async def main() -> None:
        task = asyncio.create_task(for_ever("the test's follower", flaky, pause_s=0.01))
        while len(runs) < 3:
            await asyncio.sleep(0.01)
        assert not task.done()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        assert task.cancelled()

    asyncio.run(asyncio.wait_for(main(), 5))
    assert runs == [0, 1, 2]
