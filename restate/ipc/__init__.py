"""The message bus between the server's processes: ZeroMQ nodes and the request/answer client of the partitions.

Why a package of its own (ARCHITECTURE.md 2, "Transport: ZeroMQ only"): every process kind (admin,
ingress, partitions, admin's query engine) talks over the same bus, so the transport cannot live with any
one of them, and `restate.actors` holds the processes and their loops, not what they share. `node` is the
only importer of zmq; `partition_rpc` is the client side of the requests that ingress and admin send to the
partitions (routing by partition key, re-sends, answer correlation). The messages themselves are
`restate.wire` (every process, and the state machine's commands and actions, carry them). Nothing here
imports the storage, the state machine or a process module.
"""
