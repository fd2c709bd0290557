"""OpenTelemetry tracing of invocations: W3C context, the real server's span model, OTLP export per process."""
