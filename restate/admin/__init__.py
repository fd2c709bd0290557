"""The admin API: deployments, discovery, services and the schema registry, served over HTTP."""
