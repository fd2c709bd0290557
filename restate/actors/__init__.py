"""The server's processes and their loops (the I/O shells): supervisor, partition process, timers, start-up.

What the processes share to talk to each other is restate.ipc; the logic a partition applies is
restate.partition, what it stores restate.storage, how it calls deployments restate.invoker."""
