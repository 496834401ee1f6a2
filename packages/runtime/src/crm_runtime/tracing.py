"""OpenTelemetry tracing: one provider per service; context travels in Kafka headers."""

from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
)


def build_tracer_provider(
    service: str, exporter: str, endpoint: str, extra: SpanExporter | None = None
) -> TracerProvider:
    """A tracer provider for one service, exporting where the settings say."""
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: service}))
    if exporter == "console":
        provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
    elif exporter == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
            OTLPSpanExporter,
        )

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    elif exporter != "none":
        raise ValueError(f"unknown otel exporter {exporter!r}: use none, console or otlp")
    if extra is not None:
        provider.add_span_processor(SimpleSpanProcessor(extra))
    return provider
