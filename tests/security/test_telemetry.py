"""Nothing about a request leaves the service through OpenTelemetry, whatever the environment says.

FastAPI traces every request by default through the process's global providers; a deployment
with any OpenTelemetry SDK installed (or a library that installs one) would then export request
paths, which name children's pseudonyms, and exception text."""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, INVALID_SPAN_CONTEXT


class _Recording(trace.TracerProvider):
    """A provider that records every span anybody starts (the API's own extension point)."""

    def __init__(self) -> None:
        self.spans: list[str] = []

    def get_tracer(self, *args, **kwargs):
        provider = self

        class _Tracer(trace.Tracer):
            def start_span(self, name, *a, **k):
                provider.spans.append(name)
                return NonRecordingSpan(INVALID_SPAN_CONTEXT)

            def start_as_current_span(self, name, *a, **k):
                provider.spans.append(name)
                return trace.use_span(NonRecordingSpan(INVALID_SPAN_CONTEXT))

        return _Tracer()


def test_no_request_is_traced_even_when_the_environment_asks_for_export(tmp_path, monkeypatch):
    from fastapi.testclient import TestClient

    from linkage.api.app import create_app
    from linkage.config import Settings

    provider = _Recording()
    monkeypatch.setattr(trace, "_TRACER_PROVIDER", provider)
    monkeypatch.setenv("FASTAPI_OTEL_AUTO_CONFIGURE", "true")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9")
    app = create_app(tmp_path / "home", Settings(home=tmp_path / "home"))
    with TestClient(app, raise_server_exceptions=False) as client:
        for path in ("/healthz", "/v1/children/some-pseudonym", "/app/", "/no/such/route"):
            client.get(path)
    assert provider.spans == []
