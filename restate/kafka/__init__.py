"""Kafka ingress: clusters and subscriptions, and the process that turns topic records into invocations."""
