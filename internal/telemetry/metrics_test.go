package telemetry_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/trace"

	"github.com/loki-interceptor/lokihooks/domain"
	"github.com/loki-interceptor/lokihooks/internal/telemetry"
)

// collect reads every metric of reader.
func collect(t *testing.T, reader sdkmetric.Reader) []metricdata.Metrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(t.Context(), &rm))
	var out []metricdata.Metrics
	for _, sm := range rm.ScopeMetrics {
		out = append(out, sm.Metrics...)
	}
	return out
}

// sum adds the values of name's data points whose attributes include
// every one of attrs: counter sums, gauge values, histogram counts.
func sum(ms []metricdata.Metrics, name string, attrs ...attribute.KeyValue) float64 {
	match := func(set attribute.Set) bool {
		for _, a := range attrs {
			if v, ok := set.Value(a.Key); !ok || v != a.Value {
				return false
			}
		}
		return true
	}
	var total float64
	for _, m := range ms {
		if m.Name != name {
			continue
		}
		switch d := m.Data.(type) {
		case metricdata.Sum[int64]:
			for _, p := range d.DataPoints {
				if match(p.Attributes) {
					total += float64(p.Value)
				}
			}
		case metricdata.Gauge[float64]:
			for _, p := range d.DataPoints {
				if match(p.Attributes) {
					total += p.Value
				}
			}
		case metricdata.Histogram[float64]:
			for _, p := range d.DataPoints {
				if match(p.Attributes) {
					total += float64(p.Count)
				}
			}
		}
	}
	return total
}

func TestMetrics_CountsWhatWasRecorded(t *testing.T) {
	t.Parallel()
	reader := sdkmetric.NewManualReader()
	m, err := telemetry.NewMetrics(sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)))
	require.NoError(t, err)
	ctx := t.Context()
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	attempt := func(n int, status domain.DeliveryStatus, cat domain.ErrorCategory) domain.DeliveryAttempted {
		return domain.DeliveryAttempted{Attempt: n, Status: status, ErrorCategory: cat, DurationMS: 20, At: now}
	}
	for range 3 {
		m.DeliveryRecorded(ctx, domain.KindWebhook, attempt(1, domain.DeliveryDelivered, ""), now.Add(-2*time.Second))
	}
	m.DeliveryRecorded(ctx, domain.KindSlack, attempt(1, domain.DeliveryRetrying, domain.ErrorCategoryHTTP5xx), time.Time{})
	m.DeliveryRecorded(ctx, domain.KindSlack, attempt(2, domain.DeliveryPermanentFailure, domain.ErrorCategoryHTTP5xx), time.Time{})
	m.DeliveryRecorded(ctx, domain.KindWebhook, domain.DeliveryCancelled{Reason: "destination is deleted", At: now}, time.Time{})
	m.DeliveryRecorded(ctx, domain.KindWebhook, domain.DeliveryPostponed{Reason: domain.PostponedRateLimited, At: now}, time.Time{})
	m.BreakerChanged(ctx, []domain.Event{domain.BreakerOpened{}, domain.BreakerHalfOpened{}, domain.BreakerClosed{}, domain.BreakerOpened{}})
	m.SchemaViolation(ctx, "report.generated", 2)

	ms := collect(t, reader)
	kind := telemetry.AttrDestinationKind
	status := telemetry.AttrDeliveryStatus
	require.InDelta(t, 3, sum(ms, telemetry.MetricDeliveriesFinished, kind.String("webhook"), status.String("delivered")), 0)
	require.InDelta(t, 1, sum(ms, telemetry.MetricDeliveriesFinished, kind.String("slack"), status.String("permanent_failure"),
		telemetry.AttrErrorCategory.String("http_5xx")), 0)
	require.InDelta(t, 1, sum(ms, telemetry.MetricDeliveriesFinished, status.String("failed"), telemetry.AttrErrorCategory.String("cancelled")), 0)
	require.InDelta(t, 5, sum(ms, telemetry.MetricDeliveriesFinished), 0, "retrying is not finished")
	require.InDelta(t, 5, sum(ms, telemetry.MetricAttemptDuration), 0)
	require.InDelta(t, 2, sum(ms, telemetry.MetricAttemptDuration, telemetry.AttrErrorCategory.String("http_5xx")), 0)
	require.InDelta(t, 3, sum(ms, telemetry.MetricFirstAttemptDelay), 0, "only first attempts with a known publication")
	require.InDelta(t, 1, sum(ms, telemetry.MetricPostponements, telemetry.AttrReason.String("rate_limited")), 0)
	require.InDelta(t, 2, sum(ms, telemetry.MetricBreakerTransitions, telemetry.AttrBreakerState.String("open")), 0)
	require.InDelta(t, 1, sum(ms, telemetry.MetricBreakerTransitions, telemetry.AttrBreakerState.String("closed")), 0)
	require.InDelta(t, 1, sum(ms, telemetry.MetricSchemaViolations, telemetry.AttrEventType.String("report.generated")), 0)

	for _, mt := range ms {
		if mt.Name != telemetry.MetricFirstAttemptDelay {
			continue
		}
		h := mt.Data.(metricdata.Histogram[float64])
		require.InDelta(t, 6, h.DataPoints[0].Sum, 1e-9, "3 × 2 s")
	}
}

func TestCatalog_NamesEveryInstrument(t *testing.T) {
	t.Parallel()
	names := map[string]bool{}
	for _, in := range telemetry.Catalog() {
		require.False(t, names[in.Name], "%s listed twice", in.Name)
		names[in.Name] = true
		require.NotEmpty(t, in.Description)
	}
	for _, n := range []string{
		telemetry.MetricDeliveriesFinished, telemetry.MetricAttemptDuration, telemetry.MetricFirstAttemptDelay,
		telemetry.MetricPostponements, telemetry.MetricBreakerTransitions, telemetry.MetricSchemaViolations,
		telemetry.MetricOutboxLag, telemetry.MetricOutboxAge, telemetry.MetricProjectionLag, telemetry.MetricProjectionAge,
		telemetry.MetricJobs, telemetry.MetricBreakersOpen, telemetry.MetricDestinations, telemetry.MetricFailing,
		telemetry.MetricXminHolderAge, telemetry.MetricLeader,
	} {
		require.True(t, names[n], "%s missing from Catalog", n)
	}
}

func TestLogHandler(t *testing.T) {
	t.Parallel()
	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{1, 2, 3}, SpanID: trace.SpanID{4, 5, 6}, TraceFlags: trace.FlagsSampled,
	})
	inSpan := trace.ContextWithSpanContext(context.Background(), sc)

	t.Run("JSONWithTraceIDs", func(t *testing.T) {
		t.Parallel()
		var buf bytes.Buffer
		logger := slog.New(telemetry.NewLogHandler(&buf, telemetry.LogConfig{})).With("component", "relay")
		logger.InfoContext(inSpan, "delivery attempted", "attempt", 1)
		logger.InfoContext(context.Background(), "started")
		lines := bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n"))
		require.Len(t, lines, 2)
		var first, second map[string]any
		require.NoError(t, json.Unmarshal(lines[0], &first))
		require.NoError(t, json.Unmarshal(lines[1], &second))
		require.Equal(t, sc.TraceID().String(), first["trace_id"])
		require.Equal(t, sc.SpanID().String(), first["span_id"])
		require.Equal(t, "relay", first["component"])
		require.NotContains(t, second, "trace_id")
	})

	t.Run("TextOnATerminal", func(t *testing.T) {
		t.Parallel()
		var buf bytes.Buffer
		slog.New(telemetry.NewLogHandler(&buf, telemetry.LogConfig{Terminal: true})).InfoContext(inSpan, "started")
		require.Contains(t, buf.String(), "msg=started")
		require.Contains(t, buf.String(), "trace_id="+sc.TraceID().String())
	})

	t.Run("FormatOverridesAndLevel", func(t *testing.T) {
		t.Parallel()
		var buf bytes.Buffer
		logger := slog.New(telemetry.NewLogHandler(&buf, telemetry.LogConfig{Format: telemetry.LogJSON, Terminal: true, Level: slog.LevelWarn}))
		logger.Info("hidden")
		logger.Warn("shown")
		require.NotContains(t, buf.String(), "hidden")
		require.Contains(t, buf.String(), `"msg":"shown"`)
	})
}

// BenchmarkMetrics_DeliveryRecorded is what the metrics add to one
// delivery: its attempt, first-attempt latency and final status.
func BenchmarkMetrics_DeliveryRecorded(b *testing.B) {
	reader := sdkmetric.NewManualReader()
	m, err := telemetry.NewMetrics(sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)))
	require.NoError(b, err)
	now := time.Now()
	ev := domain.DeliveryAttempted{Attempt: 1, Status: domain.DeliveryDelivered, DurationMS: 12.5, At: now}
	ctx := b.Context()
	b.ReportAllocs()
	for b.Loop() {
		m.DeliveryRecorded(ctx, domain.KindWebhook, ev, now.Add(-time.Second))
	}
}
