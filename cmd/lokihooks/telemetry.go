package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	promclient "github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/contrib/instrumentation/runtime"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"

	"github.com/loki-interceptor/lokihooks/internal/telemetry"
)

// Standard OpenTelemetry environment variables lokihooks reads.
const (
	envOTLPEndpoint        = "OTEL_EXPORTER_OTLP_ENDPOINT"
	envOTLPTracesEndpoint  = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
	envOTLPMetricsEndpoint = "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"
	envMetricsExporter     = "OTEL_METRICS_EXPORTER"
)

// Metric exporters (OTEL_METRICS_EXPORTER).
const (
	exporterPrometheus = "prometheus"
	exporterOTLP       = "otlp"
	exporterNone       = "none"
)

// metricExporters reads OTEL_METRICS_EXPORTER: a comma-separated list of
// prometheus, otlp and none. Unset, it is prometheus, plus otlp when an
// OTLP endpoint is configured.
func metricExporters(getenv func(string) string) ([]string, error) {
	v := getenv(envMetricsExporter)
	if v == "" {
		out := []string{exporterPrometheus}
		if getenv(envOTLPEndpoint) != "" || getenv(envOTLPMetricsEndpoint) != "" {
			out = append(out, exporterOTLP)
		}
		return out, nil
	}
	var out []string
	for _, e := range strings.Split(v, ",") {
		switch e = strings.TrimSpace(e); e {
		case exporterPrometheus, exporterOTLP:
			out = append(out, e)
		case exporterNone, "":
		default:
			return nil, fmt.Errorf("%s must list prometheus, otlp or none, got %q", envMetricsExporter, e)
		}
	}
	return out, nil
}

// installPropagator makes W3C trace context and baggage the global
// propagator (the default propagates nothing). Setting it again is
// harmless.
func installPropagator() {
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
}

// telemetrySetup is what setupTelemetry installed.
type telemetrySetup struct {
	// meters is the meter provider (a no-op one when no exporter is on).
	meters metric.MeterProvider
	// metrics are lokihooks' own instruments, on meters.
	metrics *telemetry.Metrics
	// handler serves /metrics; nil when Prometheus exposition is off.
	handler http.Handler
	// shutdown flushes and stops the providers.
	shutdown func(context.Context) error
}

// setupTelemetry installs the W3C propagator; a tracer provider exporting
// spans over OTLP/HTTP when an OTLP endpoint is configured
// (OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT); and
// a meter provider with the exporters OTEL_METRICS_EXPORTER names (by
// default the Prometheus exposition behind handler, and OTLP/HTTP when an
// endpoint is configured), with the Go runtime metrics. Process metrics
// (process_*) are added to the Prometheus exposition.
func setupTelemetry(ctx context.Context, getenv func(string) string) (*telemetrySetup, error) {
	installPropagator()
	exporters, err := metricExporters(getenv)
	if err != nil {
		return nil, err
	}
	// Schemaless: resource.Default carries the SDK's own semconv schema,
	// which a different one here would conflict with.
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(
		semconv.ServiceName("lokihooks"), semconv.ServiceVersion(version)))
	if err != nil {
		return nil, err
	}
	ts := &telemetrySetup{meters: noop.NewMeterProvider()}
	var stops []func(context.Context) error
	ts.shutdown = func(ctx context.Context) error {
		var errs []error
		for _, stop := range slices.Backward(stops) {
			errs = append(errs, stop(ctx))
		}
		return errors.Join(errs...)
	}
	if getenv(envOTLPEndpoint) != "" || getenv(envOTLPTracesEndpoint) != "" {
		exp, err := otlptracehttp.New(ctx)
		if err != nil {
			return nil, fmt.Errorf("otlp trace exporter (%s): %w", envOTLPEndpoint, err)
		}
		tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
		otel.SetTracerProvider(tp)
		stops = append(stops, tp.Shutdown)
	}
	opts := []sdkmetric.Option{sdkmetric.WithResource(res)}
	for _, e := range exporters {
		switch e {
		case exporterPrometheus:
			reg := promclient.NewRegistry()
			if err := reg.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})); err != nil {
				return nil, err
			}
			reader, err := otelprom.New(otelprom.WithRegisterer(reg))
			if err != nil {
				return nil, fmt.Errorf("prometheus exporter: %w", err)
			}
			opts = append(opts, sdkmetric.WithReader(reader))
			ts.handler = promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
		case exporterOTLP:
			exp, err := otlpmetrichttp.New(ctx)
			if err != nil {
				return nil, fmt.Errorf("otlp metric exporter (%s): %w", envOTLPEndpoint, err)
			}
			opts = append(opts, sdkmetric.WithReader(sdkmetric.NewPeriodicReader(exp)))
		}
	}
	if len(exporters) > 0 {
		mp := sdkmetric.NewMeterProvider(opts...)
		stops = append(stops, mp.Shutdown)
		ts.meters = mp
		otel.SetMeterProvider(mp)
		if err := runtime.Start(runtime.WithMeterProvider(mp)); err != nil {
			return nil, fmt.Errorf("runtime metrics: %w", err)
		}
	}
	if ts.metrics, err = telemetry.NewMetrics(ts.meters); err != nil {
		return nil, err
	}
	return ts, nil
}
