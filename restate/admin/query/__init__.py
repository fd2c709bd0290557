"""SQL introspection for the admin API (`POST /query`), answered with Apache DataFusion.

* `schemas`: the Arrow schema of every table the real Restate 1.7 server has (docs/reference/tables.txt)
* `pushdown`: what each table scan of a planned query needs (filters, columns, row limit)
* `scan`: the partitions' side over ZeroMQ (`wire.ScanTable` -> `wire.TableRows`)
* `engine`: plan, fetch from the partitions in parallel, run in DataFusion
* `encode`: the JSON (`{"rows": [...]}`) and Arrow IPC stream answers
* `route`: the HTTP handler

Only the admin process imports DataFusion, and only on the first query (`route` is imported lazily).
"""
