package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	promclient "github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/loki-interceptor/lokihooks/internal/telemetry"
)

// defaultBenchScrapeInterval is how often `bench --telemetry` scrapes its
// own /metrics unless --scrape-interval says otherwise: more often than a
// Prometheus server would (15 s or more), so that the gauges' queries
// weigh at least as much as in production.
const defaultBenchScrapeInterval = time.Second

// countingExporter is a span exporter that drops the spans it is handed
// after counting them: every span is still built, sampled, batched and
// exported, without a collector to measure along.
type countingExporter struct{ spans atomic.Int64 }

func (e *countingExporter) ExportSpans(_ context.Context, spans []sdktrace.ReadOnlySpan) error {
	e.spans.Add(int64(len(spans)))
	return nil
}

func (e *countingExporter) Shutdown(context.Context) error { return nil }

// benchTelemetry turns on, for `bench --telemetry`, what production runs
// with: tracing at 100 % sampling through a batch span processor (into
// countingExporter), lokihooks' metrics and the runtime metrics on a
// meter provider with the Prometheus exporter, and the database-wide
// gauges, scraped every scrapeEvery. stop ends the scrapes, flushes the
// spans and reports how many were exported and scraped.
func benchTelemetry(ctx context.Context, pool *pgxpool.Pool, scrapeEvery time.Duration, w io.Writer) (*telemetrySetup, func(), error) {
	installPropagator()
	exp := &countingExporter{}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()), sdktrace.WithBatcher(exp))
	otel.SetTracerProvider(tp)
	reg := promclient.NewRegistry()
	reader, err := otelprom.New(otelprom.WithRegisterer(reg))
	if err != nil {
		return nil, nil, err
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	metrics, err := telemetry.NewMetrics(mp)
	if err != nil {
		return nil, nil, err
	}
	if _, err := telemetry.RegisterGauges(mp, pool, nil, telemetry.GaugesConfig{}); err != nil {
		return nil, nil, err
	}
	handler := promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	scrapeCtx, cancel := context.WithCancel(ctx)
	var scrapes atomic.Int64
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(scrapeEvery)
		defer tick.Stop()
		for {
			select {
			case <-scrapeCtx.Done():
				return
			case <-tick.C:
			}
			req := httptest.NewRequestWithContext(scrapeCtx, http.MethodGet, "/metrics", nil)
			handler.ServeHTTP(httptest.NewRecorder(), req)
			scrapes.Add(1)
		}
	})
	stop := func() {
		cancel()
		wg.Wait()
		flushCtx := context.WithoutCancel(ctx)
		_ = tp.Shutdown(flushCtx)
		_ = mp.Shutdown(flushCtx)
		fmt.Fprintf(w, "telemetry: %d spans exported (100%% sampling), /metrics scraped %d times\n", exp.spans.Load(), scrapes.Load())
	}
	return &telemetrySetup{meters: mp, metrics: metrics, handler: handler}, stop, nil
}
