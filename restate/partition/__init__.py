"""The partition state machine: commands in, stored records changed, actions out (restate.partition.state_machine)."""
