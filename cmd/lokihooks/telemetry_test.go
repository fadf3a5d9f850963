package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"golang.org/x/sync/errgroup"

	"github.com/loki-interceptor/lokihooks/domain"
	"github.com/loki-interceptor/lokihooks/internal/dbtest"
	"github.com/loki-interceptor/lokihooks/internal/telemetry"
)

// workloadReceiver answers per path: /ok 200; /flaky 500 on the first
// attempt of each event, then 200; /dead always 500; /limited 200. It
// keeps every signature header it was sent.
type workloadReceiver struct {
	*httptest.Server
	mu         sync.Mutex
	hits       map[string]int // 2xx answers per path
	seen       map[string]bool
	signatures []string
}

func newWorkloadReceiver(t *testing.T) *workloadReceiver {
	t.Helper()
	rc := &workloadReceiver{hits: map[string]int{}, seen: map[string]bool{}}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc.mu.Lock()
		defer rc.mu.Unlock()
		rc.signatures = append(rc.signatures, r.Header.Get("webhook-signature"), r.Header.Get("X-Webhook-Signature"))
		key := r.URL.Path + " " + r.Header.Get("webhook-id")
		first := !rc.seen[key]
		rc.seen[key] = true
		if r.URL.Path == "/dead" || (r.URL.Path == "/flaky" && first) {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		rc.hits[r.URL.Path]++
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *workloadReceiver) count(path string) int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.hits[path]
}

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a logger.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// metricSum adds the values of name's data points whose attributes
// include attrs: counter sums, gauge values, histogram counts.
func metricSum(t *testing.T, reader sdkmetric.Reader, name string, attrs ...attribute.KeyValue) float64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(t.Context(), &rm))
	var total float64
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != name {
				continue
			}
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					if hasAttrs(p.Attributes, attrs) {
						total += float64(p.Value)
					}
				}
			case metricdata.Gauge[float64]:
				for _, p := range d.DataPoints {
					if hasAttrs(p.Attributes, attrs) {
						total += p.Value
					}
				}
			case metricdata.Histogram[float64]:
				for _, p := range d.DataPoints {
					if hasAttrs(p.Attributes, attrs) {
						total += float64(p.Count)
					}
				}
			}
		}
	}
	return total
}

func hasAttrs(set attribute.Set, attrs []attribute.KeyValue) bool {
	for _, a := range attrs {
		if v, ok := set.Value(a.Key); !ok || v != a.Value {
			return false
		}
	}
	return true
}

// TestTelemetry_Workload runs the relay, workers and projections in this
// process with an in-memory metric reader and a JSON log, against a known
// workload: two events to four webhooks, one answering at once, one
// failing each event's first attempt, one always failing (a dead letter
// after one retry), one allowed a single delivery an hour (the second
// event is postponed). The counters must equal that workload; the outbox
// lag gauge must rise while the relay is stopped and fall to zero once it
// runs; every line of a delivery carries the producer's trace id, and no
// line holds the signing secret, a secret header value or a signature.
func TestTelemetry_Workload(t *testing.T) {
	t.Parallel()
	installPropagator() // as serve does
	pool := dbtest.Pool(t, nil)
	ctx := t.Context()
	rcv := newWorkloadReceiver(t)

	cfg, err := loadConfigFor(env(map[string]string{
		envSecretsKey: testSecretsKey, envAllowHTTP: "true", envAllowedNetworks: "127.0.0.0/8",
		envPollInterval: "10ms", envProjectionLag: "10ms", envBreaker: "false",
	}), false, true)
	require.NoError(t, err)
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	metrics, err := telemetry.NewMetrics(mp)
	require.NoError(t, err)
	_, err = telemetry.RegisterGauges(mp, pool, nil, telemetry.GaugesConfig{MaxAge: time.Nanosecond})
	require.NoError(t, err)
	logs := &syncBuffer{}
	logger := slog.New(telemetry.NewLogHandler(logs, telemetry.LogConfig{Level: slog.LevelDebug}))
	sys, err := build(pool, cfg, []string{roleRelay, roleWorker, roleProjector}, logger, &telemetrySetup{meters: mp, metrics: metrics})
	require.NoError(t, err)
	t.Cleanup(func() { _ = sys.db.Close() })

	secret := "whsec_" + base64.StdEncoding.EncodeToString([]byte("telemetry-test-signing-secret-32b"))
	const headerSecret = "header-secret-value-telemetry-7f3a"
	for _, h := range []struct {
		path       string
		maxRetries int
		perHour    int
	}{{"/ok", 3, 0}, {"/flaky", 3, 0}, {"/dead", 1, 0}, {"/limited", 3, 1}} {
		spec := domain.DefaultWebhookSpec()
		spec.Name, spec.URL, spec.EventTypes = "telemetry "+h.path, rcv.URL+h.path, []string{"*"}
		spec.RetryStrategy, spec.RetryDelaySeconds, spec.JitterEnabled, spec.MaxRetries = domain.RetryFixed, 1, false, h.maxRetries
		spec.RateLimitPerHour = h.perHour
		spec.CustomHeaders = map[string]string{"Authorization": "Bearer " + headerSecret}
		_, err := sys.webhooks.CreateWebhook(ctx, spec, secret)
		require.NoError(t, err)
	}

	// The producer's span: its trace context rides in the event metadata.
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	traceparent := "00-" + traceID + "-00f067aa0ba902b7-01"
	for range 2 {
		_, err := pool.Exec(ctx, `SELECT lokihooks_publish('report.generated', '{"report_id":"r1"}', NULL, jsonb_build_object('traceparent', $1::text))`, traceparent)
		require.NoError(t, err)
	}
	require.InDelta(t, 2, metricSum(t, reader, telemetry.MetricOutboxLag), 0, "nothing consumes the outbox yet")
	require.Positive(t, metricSum(t, reader, telemetry.MetricOutboxAge))

	runCtx, stop := context.WithCancel(ctx)
	g, gctx := errgroup.WithContext(runCtx)
	g.Go(func() error { return sys.relay.Run(gctx) })
	for _, p := range sys.projections() {
		g.Go(func() error { return p.runner.Run(gctx) })
	}
	t.Cleanup(func() {
		stop()
		if err := g.Wait(); err != nil && !errors.Is(err, context.Canceled) {
			t.Error(err)
		}
	})

	kind := telemetry.AttrDestinationKind.String("webhook")
	status := telemetry.AttrDeliveryStatus
	finished := func(s string) float64 {
		return metricSum(t, reader, telemetry.MetricDeliveriesFinished, kind, status.String(s))
	}
	// The postponed delivery's window is the next hour, which may begin
	// during the test: count it only if it was delivered.
	require.Eventually(t, func() bool {
		return finished("delivered") == float64(2+2+rcv.count("/limited")) && finished("permanent_failure") == 2 &&
			metricSum(t, reader, telemetry.MetricPostponements, telemetry.AttrReason.String(domain.PostponedRateLimited)) == 1 &&
			metricSum(t, reader, telemetry.MetricOutboxLag) == 0
	}, 30*time.Second, 20*time.Millisecond)
	limited := rcv.count("/limited")
	require.InDelta(t, 2+4+4+limited, metricSum(t, reader, telemetry.MetricAttemptDuration, kind), 0,
		"ok 2, flaky 2+2 retries, dead 2+2 retries, limited 1 or 2")
	require.InDelta(t, 2+4, metricSum(t, reader, telemetry.MetricAttemptDuration, telemetry.AttrErrorCategory.String("http_5xx")), 0)
	require.InDelta(t, 2, metricSum(t, reader, telemetry.MetricDeliveriesFinished, telemetry.AttrErrorCategory.String("http_5xx")), 0)
	require.InDelta(t, 6+limited, metricSum(t, reader, telemetry.MetricFirstAttemptDelay, kind), 0,
		"one first attempt per event and webhook, the postponed one's if made")
	require.InDelta(t, 0, metricSum(t, reader, telemetry.MetricOutboxAge), 0)
	require.InDelta(t, 4, metricSum(t, reader, telemetry.MetricDestinations, telemetry.AttrDestinationStatus.String("active")), 0)

	// Logs: the delivery lines carry the producer's trace id; no line
	// holds a secret or a signature.
	text := logs.String()
	var attempted int
	for line := range strings.Lines(text) {
		var rec map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &rec), line)
		if rec["msg"] == "delivery attempted" {
			attempted++
			require.Equal(t, traceID, rec["trace_id"], line)
			require.NotEmpty(t, rec["span_id"], line)
		}
	}
	require.GreaterOrEqual(t, attempted, 2+4+4+limited)
	require.NotContains(t, text, secret)
	require.NotContains(t, text, strings.TrimPrefix(secret, "whsec_"))
	require.NotContains(t, text, headerSecret)
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	require.NotEmpty(t, rcv.signatures)
	for _, sig := range rcv.signatures {
		require.NotEmpty(t, sig)
		require.NotContains(t, text, sig)
		for _, part := range strings.Fields(sig) {
			require.NotContains(t, text, strings.TrimPrefix(strings.TrimPrefix(part, "v1,"), "sha256="))
		}
	}
}
