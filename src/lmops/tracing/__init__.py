"""Tracing: traces and spans, the SDK that makes them, OTLP ingestion, cost and feedback."""
