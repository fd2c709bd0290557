"""Cluster mode: partitions replicated through a command log in etcd (see docs/cluster.md)."""
