"""The HTTP ingress process: Restate's ingress API in front of the partitions."""
