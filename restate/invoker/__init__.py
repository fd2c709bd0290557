"""The invoker of a partition: runs invocation attempts against deployments and reports what they did.

Each attempt is a sans-IO machine (`attempt`) driven by a shell (`attempt_runner`) over the HTTP clients
(`http2`, `http1`); `invoker` starts them, owns the retry policy (`retry`) and turns their effects into
commands for the partition. It reads the store (an attempt's start) and never writes it."""
