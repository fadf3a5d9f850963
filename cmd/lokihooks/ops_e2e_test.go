package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/loki-interceptor/lokihooks/internal/dbtest"
	"github.com/loki-interceptor/lokihooks/internal/telemetry"
)

// TestServe_MetricsScraped scrapes /metrics of a real `lokihooks serve`
// (no API key) after a delivery and parses it as Prometheus does.
func TestServe_MetricsScraped(t *testing.T) {
	t.Parallel()
	s := startAPIServe(t)
	hits := make(chan struct{}, 10)
	rcv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits <- struct{}{} }))
	t.Cleanup(rcv.Close)
	s.createWebhook(t, map[string]any{"name": "metrics", "url": rcv.URL + "/hook", "event_types": []string{"*"}})
	s.publish(t, "report.generated")
	select {
	case <-hits:
	case <-time.After(30 * time.Second):
		t.Fatal("no delivery within 30s")
	}

	want := []string{
		"http_server_request_duration_seconds", "go_goroutine_count", "go_memory_used_bytes", "process_cpu_seconds_total",
		"process_resident_memory_bytes",
	}
	// Every gauge, and the counters a delivery moves, under the names the
	// documentation gives them.
	for _, in := range telemetry.Catalog() {
		switch in.Name {
		case telemetry.MetricPostponements, telemetry.MetricBreakerTransitions, telemetry.MetricSchemaViolations,
			telemetry.MetricBreakersOpen, telemetry.MetricFailing:
			continue // nothing postponed, no breaker, nothing failing here
		}
		want = append(want, promName(in))
	}
	var families map[string]*dto
	var missing []string
	ok := assert.Eventually(t, func() bool {
		families, missing = scrape(t, s.base+"/metrics"), nil
		for _, name := range want {
			if families[name] == nil {
				missing = append(missing, name)
			}
		}
		return len(missing) == 0
	}, 30*time.Second, 100*time.Millisecond)
	require.True(t, ok, "missing from /metrics: %v", missing)
	delivered := families["lokihooks_deliveries_finished_total"]
	require.Contains(t, delivered.labels, `delivery_status="delivered"`)
	require.Contains(t, delivered.labels, `destination_kind="webhook"`)
	require.Equal(t, "1", families["lokihooks_telemetry_leader"].value, "the only process leads")
}

// dto is the part of a scraped metric family the tests look at.
type dto struct {
	labels []string // name="value" of every sample
	value  string   // the first sample's value
}

func scrape(t *testing.T, u string) map[string]*dto {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, u, nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	parser := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := parser.TextToMetricFamilies(resp.Body)
	require.NoError(t, err)
	out := map[string]*dto{}
	for name, mf := range mfs {
		d := &dto{}
		for i, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				d.labels = append(d.labels, l.GetName()+`="`+l.GetValue()+`"`)
			}
			if i == 0 {
				switch {
				case m.GetGauge() != nil:
					d.value = model.SampleValue(m.GetGauge().GetValue()).String()
				case m.GetCounter() != nil:
					d.value = model.SampleValue(m.GetCounter().GetValue()).String()
				}
			}
		}
		out[name] = d
	}
	return out
}

// TestStatus_XminHolder holds a transaction with a transaction id open
// and finds it, with its application name and age, in the gauge and in
// `lokihooks status`. It keeps it open only until both saw it: while it
// is open, it pauses the outbox of every test on this PostgreSQL.
//
// Not parallel, for that reason: it runs before this package's parallel
// tests start, so it never stalls their deliveries.
func TestStatus_XminHolder(t *testing.T) {
	pool, schema := dbtest.PoolSchema(t, nil)
	ctx := t.Context()
	app := "xmin-holder-test-" + schema[len(schema)-8:]
	ccfg, err := pgx.ParseConfig(dbtest.URL())
	require.NoError(t, err)
	ccfg.RuntimeParams["application_name"] = app
	conn, err := pgx.ConnectConfig(ctx, ccfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close(context.WithoutCancel(ctx)) })
	tx, err := conn.Begin(ctx)
	require.NoError(t, err)
	t.Cleanup(func() { _ = tx.Rollback(context.WithoutCancel(ctx)) })
	require.NoError(t, tx.QueryRow(ctx, `SELECT pg_current_xact_id()`).Scan(new(any)))
	opened := time.Now()

	reader := sdkmetric.NewManualReader()
	_, err = telemetry.RegisterGauges(sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)), pool, nil,
		telemetry.GaugesConfig{MaxAge: time.Nanosecond, Logger: slog.New(slog.NewTextHandler(t.Output(), nil))})
	require.NoError(t, err)
	// Another test's transaction may be older for a moment: wait until
	// ours is the oldest.
	require.Eventually(t, func() bool {
		return metricSum(t, reader, telemetry.MetricXminHolderAge, telemetry.AttrApplicationName.String(app)) > 0
	}, 30*time.Second, 10*time.Millisecond)
	age := metricSum(t, reader, telemetry.MetricXminHolderAge, telemetry.AttrApplicationName.String(app))
	require.LessOrEqual(t, age, time.Since(opened).Seconds()+1)

	u, err := url.Parse(dbtest.URL())
	require.NoError(t, err)
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	getenv := env(map[string]string{envDatabaseURL: u.String()})
	var out strings.Builder
	require.Eventually(t, func() bool {
		out.Reset()
		require.NoError(t, run(ctx, []string{"status"}, getenv, &out, io.Discard))
		return strings.Contains(out.String(), `application "`+app+`"`)
	}, 30*time.Second, 10*time.Millisecond)
	line := out.String()[strings.Index(out.String(), "oldest xid"):]
	require.Regexp(t, `^oldest xid +[0-9.]+(ms|s|m[0-9.]+s), pid [1-9][0-9]*, application "`+app+`"`, line)
	require.Contains(t, line, "idle in transaction")
	require.NoError(t, tx.Rollback(ctx))

	var js struct {
		Outbox struct{ Events int64 }
		Jobs   []any
	}
	out.Reset()
	require.NoError(t, run(ctx, []string{"status", "--json"}, getenv, &out, io.Discard))
	require.NoError(t, json.Unmarshal([]byte(out.String()), &js))
	require.Zero(t, js.Outbox.Events)
}

// TestReadyz_OutboxLag: /readyz fails while the oldest outbox event not
// fanned out is older than LOKIHOOKS_READY_MAX_OUTBOX_LAG, and only when
// that is set.
func TestReadyz_OutboxLag(t *testing.T) {
	t.Parallel()
	pool := dbtest.Pool(t, nil)
	ctx := t.Context()
	readyz := func(maxLag string) (int, string) {
		cfg, err := loadConfigFor(env(map[string]string{
			envAPIKeys: "readyz-test-key-0123456789", envReadyMaxOutboxLag: maxLag,
		}), true, false)
		require.NoError(t, err)
		sys, err := build(pool, cfg, []string{roleAPI}, slog.New(slog.DiscardHandler), nil)
		require.NoError(t, err)
		t.Cleanup(func() { _ = sys.db.Close() })
		rec := httptest.NewRecorder()
		sys.api.ServeHTTP(rec, httptest.NewRequestWithContext(ctx, http.MethodGet, "/readyz", nil))
		return rec.Code, rec.Body.String()
	}
	code, body := readyz("1m")
	require.Equal(t, http.StatusOK, code, body)

	// An event published an hour ago that the fan-out never consumed.
	_, err := pool.Exec(ctx, `SELECT lokihooks_publish('report.generated', '{"report_id":"r1"}')`)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `UPDATE published_events SET published_at = now() - interval '1 hour'`)
	require.NoError(t, err)
	code, body = readyz("1m")
	require.Equal(t, http.StatusServiceUnavailable, code, body)
	require.Contains(t, body, "outbox lag")
	require.Contains(t, body, envReadyMaxOutboxLag)
	for _, off := range []string{"", "0"} {
		code, body = readyz(off)
		require.Equal(t, http.StatusOK, code, "threshold %q: %s", off, body)
	}
	code, body = readyz("2h")
	require.Equal(t, http.StatusOK, code, body)
}

// TestServe_MetricsAddr: a process without the api role serves /metrics,
// /healthz and /readyz on LOKIHOOKS_METRICS_ADDR.
func TestServe_MetricsAddr(t *testing.T) {
	t.Parallel()
	b := newServeBundle(t)
	c := b.startServeRoles(t, "metrics-addr", "relay,worker", map[string]string{envMetricsAddr: "127.0.0.1:0"})
	c.waitLine(t, "metrics:")
	var base string
	c.out.mu.Lock()
	for _, l := range c.out.lines {
		if _, after, ok := strings.Cut(l, "metrics:"); ok {
			base = strings.TrimSuffix(strings.TrimSpace(after), "/metrics")
		}
	}
	c.out.mu.Unlock()
	require.NotEmpty(t, base)
	families := scrape(t, base+"/metrics")
	require.Contains(t, families, "lokihooks_outbox_lag")
	require.Contains(t, families, "lokihooks_telemetry_leader")
	for _, probe := range []string{"/healthz", "/readyz"} {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, base+probe, nil)
		require.NoError(t, err)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode, probe)
	}
	require.NoError(t, c.cmd.Process.Signal(syscall.SIGTERM))
	require.True(t, c.wait(t, 20*time.Second).Success())
}

// promName is the Prometheus name of one of lokihooks' metrics, as the
// OpenTelemetry Prometheus exporter writes it: dots become underscores,
// seconds get _seconds, counters _total ({…} units add nothing).
func promName(in telemetry.Instrument) string {
	n := strings.ReplaceAll(in.Name, ".", "_")
	if in.Unit == "s" {
		n += "_seconds"
	}
	if in.Kind == "counter" {
		n += "_total"
	}
	return n
}
