"""Generated protobuf code for the Restate service protocol (do not edit; see ../regenerate.sh)."""
