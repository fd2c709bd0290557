"""The SQL read model: the rows of the `sys_*` and `state` tables each partition serves from its store."""
