package main

import (
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// BenchmarkTracing_DeliverySpan is what tracing at 100 % sampling adds to
// one delivery in `bench --telemetry`: the worker's relay.deliver span,
// with its attributes, through the batch span processor into
// countingExporter.
func BenchmarkTracing_DeliverySpan(b *testing.B) {
	exp := &countingExporter{}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()), sdktrace.WithBatcher(exp))
	b.Cleanup(func() { _ = tp.Shutdown(b.Context()) })
	tracer := tp.Tracer("lokihooks/relay")
	ctx := b.Context()
	b.ReportAllocs()
	for b.Loop() {
		_, span := tracer.Start(ctx, "relay.deliver", trace.WithSpanKind(trace.SpanKindClient),
			trace.WithAttributes(attribute.String("delivery_id", "dlv_01JDZ8Q6V3N5T8W2X4Y6Z8A0BC"),
				attribute.String("destination_id", "whk_01JDZ8Q6V3N5T8W2X4Y6Z8A0BC"), attribute.Int("attempt", 1)))
		span.End()
	}
}
