"""Unit tests of the ingress: routing, errors, the ASGI app and the partition client."""
