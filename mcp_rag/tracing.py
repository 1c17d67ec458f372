"""OpenTelemetry tracing: off by default, OTLP over HTTP when configured.

Spans: the HTTP request (middleware) → the service use case (ingest, search,
ask) → embedding, SQL statements and LLM calls. With tracing off, the
OpenTelemetry API hands out no-op spans, so the instrumentation costs nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from opentelemetry import trace

from mcp_rag import __version__

if TYPE_CHECKING:
    from opentelemetry.sdk.trace.export import SpanExporter

tracer = trace.get_tracer("mcp_rag", __version__)
_configured = False


def configure(endpoint: str | None, service_name: str = "mcp-rag", exporter: SpanExporter | None = None) -> bool:
    """Install an SDK tracer provider exporting to `endpoint` (OTLP/HTTP) or to
    `exporter` (tests pass an in-process one). Returns whether tracing is on."""
    global _configured
    if _configured or not (endpoint or exporter):
        return _configured
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": service_name, "service.version": __version__}))
    if exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    trace.set_tracer_provider(provider)
    _configured = True
    return True
