package relay_test

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/loki-interceptor/lokihooks/domain"
	"github.com/loki-interceptor/lokihooks/eventstore"
	"github.com/loki-interceptor/lokihooks/httpapi"
	"github.com/loki-interceptor/lokihooks/internal/app"
	"github.com/loki-interceptor/lokihooks/projections"
)

// observed counts what one receiver answered.
type observed struct {
	mu       sync.Mutex
	requests int
	byAnswer map[string]int
}

func (o *observed) saw(answer string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.requests++
	o.byAnswer[answer]++
}

// TestRelay_AnalyticsMatchReceivers runs a mixed workload through the whole
// pipeline (receivers that answer 200, 404, 500 then 200, always 500,
// never in time, or close the connection, and a blocked destination, with
// retries and dead letters) and compares the analytics API with what the
// receivers saw and with the recorded attempts.
func TestRelay_AnalyticsMatchReceivers(t *testing.T) {
	t.Parallel()
	b := setup(t, &setupOpts{workers: 20})
	ctx := t.Context()
	analytics, err := projections.NewRunner(b.pool, projections.RunnerConfig{
		Name: "analytics", PollInterval: 5 * time.Millisecond,
		// As serve wires it: the lean read and a destination cache.
		Projector: projections.Analytics{First: func(ctx context.Context, tx pgx.Tx, ids []string) ([]domain.Recorded, error) {
			return eventstore.ReadFirst(ctx, tx, ids)
		}, Cache: projections.NewDestinationCache(0)},
		Read: func(ctx context.Context, q projections.DB, after domain.LogPosition, limit int) ([]domain.Recorded, error) {
			return eventstore.ReadLogLean(ctx, q, after, limit)
		},
	})
	require.NoError(t, err)
	runCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan error, 1)
	go func() { done <- analytics.Run(runCtx) }()
	t.Cleanup(func() { stop(); require.NoError(t, <-done) })

	type hook struct {
		name       string
		retries    int
		answer     func(n int, w http.ResponseWriter, r *http.Request) string
		final      domain.DeliveryStatus
		obs        *observed
		id         domain.WebhookID
		perEvent   map[string]int // requests per event id
		perEventMu sync.Mutex
	}
	firstFails := map[string]bool{}
	var ffMu sync.Mutex
	hooks := []*hook{
		{name: "ok", retries: 2, final: domain.DeliveryDelivered, answer: func(int, http.ResponseWriter, *http.Request) string { return "200" }},
		{name: "gone-missing", retries: 1, final: domain.DeliveryPermanentFailure, answer: func(_ int, w http.ResponseWriter, _ *http.Request) string {
			w.WriteHeader(http.StatusNotFound)
			return "404"
		}},
		{name: "flaky", retries: 2, final: domain.DeliveryDelivered, answer: func(_ int, w http.ResponseWriter, r *http.Request) string {
			ffMu.Lock()
			defer ffMu.Unlock()
			if ev := r.Header.Get("webhook-id"); !firstFails[ev] {
				firstFails[ev] = true
				w.WriteHeader(http.StatusInternalServerError)
				return "500"
			}
			return "200"
		}},
		{name: "down", retries: 2, final: domain.DeliveryPermanentFailure, answer: func(_ int, w http.ResponseWriter, _ *http.Request) string {
			w.WriteHeader(http.StatusBadGateway)
			return "500"
		}},
		{name: "slow", retries: 1, final: domain.DeliveryPermanentFailure, answer: func(_ int, _ http.ResponseWriter, r *http.Request) string {
			<-r.Context().Done() // answers only after the sender gave up
			return "timeout"
		}},
		{name: "hangs-up", retries: 1, final: domain.DeliveryPermanentFailure, answer: func(_ int, w http.ResponseWriter, _ *http.Request) string {
			conn, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				_ = conn.Close()
			}
			return "closed"
		}},
	}
	for _, h := range hooks {
		h.obs = &observed{byAnswer: map[string]int{}}
		h.perEvent = map[string]int{}
		rc := newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) {
			h.perEventMu.Lock()
			h.perEvent[r.Header.Get("webhook-id")]++
			h.perEventMu.Unlock()
			h.obs.saw(h.answer(n, w, r))
		})
		h.id = b.createWebhook(t, rc.URL+"/"+h.name, func(s *domain.WebhookSpec) {
			s.MaxRetries, s.TimeoutSeconds = h.retries, 1
		}).ID
	}
	// Refused by the SSRF guard before connecting: ::1 is not among the
	// allowed networks (127.0.0.0/8).
	blocked := b.createWebhook(t, "http://[::1]:9/blocked", func(s *domain.WebhookSpec) { s.MaxRetries = 0 }).ID

	const events = 4
	for range events {
		b.publish(t, domain.EventTypeSystemError, `{"service":"svc","error_code":"E1","message":"m","severity":"high"}`)
	}
	all := append([]domain.WebhookID{blocked}, func() []domain.WebhookID {
		var out []domain.WebhookID
		for _, h := range hooks {
			out = append(out, h.id)
		}
		return out
	}()...)
	require.Eventually(t, func() bool {
		b.promote(t) // retries are due at once (no delay)
		for _, w := range all {
			ds, err := projections.ListDeliveries(ctx, b.pool, domain.DeliveryFilter{DestinationID: domain.DestinationID(w), Limit: 100})
			require.NoError(t, err)
			if len(ds) != events {
				return false
			}
			for _, d := range ds {
				if d.Status != domain.DeliveryDelivered && d.Status != domain.DeliveryPermanentFailure {
					return false
				}
			}
		}
		return true
	}, 60*time.Second, 20*time.Millisecond)
	// Every attempt event is in the analytics read model.
	require.Eventually(t, func() bool {
		var behind bool
		require.NoError(t, b.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM events e, projection_checkpoints c
			WHERE c.name = 'analytics' AND (e.transaction_id, e.position) > (c.transaction_id, c.position))`).Scan(&behind))
		return !behind
	}, 30*time.Second, 5*time.Millisecond)

	const key = "analytics-key-0123456789"
	srv := httptest.NewServer(httpapi.New(httpapi.Deps{Webhooks: b.webhooks, Analytics: app.NewAnalytics(b.pool)},
		httpapi.Config{APIKeys: []string{key}}))
	t.Cleanup(srv.Close)
	get := func(path string, v any) {
		t.Helper()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+path, nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.NoError(t, json.NewDecoder(resp.Body).Decode(v))
	}
	// Events carry the harness clock's time, fixed for the test.
	now := b.clock.Now()
	q := "?from=" + now.Add(-time.Hour).Format(time.RFC3339) + "&to=" + now.Add(time.Hour).Format(time.RFC3339)

	var total httpapi.AnalyticsStats
	for _, h := range hooks {
		var a httpapi.DestinationAnalytics
		get("/api/v1/webhooks/"+string(h.id)+"/analytics"+q, &a)
		s := a.Summary
		obs := h.obs
		obs.mu.Lock()
		require.Equal(t, int64(obs.requests), s.Attempts, "%s: one attempt per request received", h.name)
		require.Equal(t, int64(obs.byAnswer["404"]), s.Errors.HTTP4xx, h.name)
		require.Equal(t, int64(obs.byAnswer["500"]), s.Errors.HTTP5xx, h.name)
		require.Equal(t, int64(obs.byAnswer["timeout"]), s.Errors.Timeout, h.name)
		require.Equal(t, int64(obs.byAnswer["closed"]), s.Errors.Network, h.name)
		require.Equal(t, int64(obs.byAnswer["200"]), s.Delivered, h.name)
		obs.mu.Unlock()
		require.Equal(t, int64(events), s.TotalDeliveries, h.name)
		require.Equal(t, s.Attempts-s.Delivered, s.FailedAttempts, h.name)
		require.Equal(t, s.FailedAttempts-s.PermanentFailures, s.Retries, "%s: every failure but the last is retried", h.name)
		if h.final == domain.DeliveryDelivered {
			require.Equal(t, int64(events), s.Delivered, h.name)
			require.InDelta(t, 1.0, s.SuccessRate, 1e-9, h.name)
		} else {
			require.Equal(t, int64(events), s.PermanentFailures, h.name)
			require.Equal(t, int64(events*(1+h.retries)), s.Attempts, h.name)
			require.Zero(t, s.SuccessRate, h.name)
		}
		total.Attempts += s.Attempts
		total.FailedAttempts += s.FailedAttempts
		h.perEventMu.Lock()
		for ev, n := range h.perEvent {
			require.LessOrEqual(t, n, 1+h.retries, "%s: event %s", h.name, ev)
		}
		h.perEventMu.Unlock()

		// Percentiles against the exact ones of the recorded attempt
		// durations (the sender's, which analytics counts).
		var durations []float64
		require.NoError(t, pgx.BeginFunc(ctx, b.pool, func(tx pgx.Tx) error {
			rows, err := tx.Query(ctx, `SELECT duration_ms FROM delivery_attempts
				WHERE destination_id = $1 AND (status_code IS NOT NULL OR error_category = 'timeout')`, string(h.id))
			if err != nil {
				return err
			}
			durations, err = pgx.CollectRows(rows, pgx.RowTo[float64])
			return err
		}))
		require.Equal(t, int64(len(durations)), s.ResponseCount, h.name)
		if len(durations) == 0 {
			require.Zero(t, s.P99ResponseMS, h.name)
			continue
		}
		slices.Sort(durations)
		require.Equal(t, durations[0], s.MinResponseMS, h.name)
		require.Equal(t, durations[len(durations)-1], s.MaxResponseMS, h.name)
		for _, p := range []struct {
			q   float64
			got float64
		}{{0.5, s.P50ResponseMS}, {0.95, s.P95ResponseMS}, {0.99, s.P99ResponseMS}} {
			exact := durations[int(math.Floor(p.q*float64(len(durations)-1)))]
			require.LessOrEqual(t, math.Abs(p.got-exact), domain.AnalyticsRelativeAccuracy*exact+1e-9,
				"%s p%v: got %v, exact %v", h.name, p.q*100, p.got, exact)
		}
		if h.name == "slow" {
			require.GreaterOrEqual(t, s.MinResponseMS, 1000.0, "timeouts take the whole timeout")
		}
	}

	var bl httpapi.DestinationAnalytics
	get("/api/v1/webhooks/"+string(blocked)+"/analytics"+q, &bl)
	require.Equal(t, int64(events), bl.Summary.Errors.Blocked)
	require.Equal(t, int64(events), bl.Summary.PermanentFailures)
	require.Zero(t, bl.Summary.ResponseCount, "a blocked attempt has no response time")

	var o httpapi.AnalyticsOverview
	get("/api/v1/analytics"+q, &o)
	require.Equal(t, len(hooks)+1, o.Destinations)
	require.Equal(t, total.Attempts+bl.Summary.Attempts, o.Summary.Attempts)
	require.Equal(t, total.FailedAttempts+bl.Summary.FailedAttempts, o.Summary.FailedAttempts)
	require.Equal(t, int64(events*(len(hooks)+1)), o.Summary.TotalDeliveries)
	require.NotEmpty(t, o.TopByFailures)
	require.Equal(t, o.TopByP99[0].DestinationID, string(hooks[4].id), "the slow receiver has the highest p99")
	for i := 1; i < len(o.TopByFailures); i++ {
		require.GreaterOrEqual(t, o.TopByFailures[i-1].FailedAttempts, o.TopByFailures[i].FailedAttempts)
	}
}
