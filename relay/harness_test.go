package relay_test

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/trace"

	"github.com/loki-interceptor/lokihooks/connectors"
	"github.com/loki-interceptor/lokihooks/domain"
	"github.com/loki-interceptor/lokihooks/eventstore"
	"github.com/loki-interceptor/lokihooks/httpapi"
	"github.com/loki-interceptor/lokihooks/internal/app"
	"github.com/loki-interceptor/lokihooks/internal/dbtest"
	"github.com/loki-interceptor/lokihooks/internal/secretbox"
	"github.com/loki-interceptor/lokihooks/projections"
	"github.com/loki-interceptor/lokihooks/relay"
)

// clock is a settable test clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// received is one request seen by a test receiver.
type received struct {
	Header http.Header
	Body   []byte
}

// receiver is an httptest server whose answers the test scripts.
type receiver struct {
	*httptest.Server
	mu      sync.Mutex
	got     []received
	respond func(n int, w http.ResponseWriter, r *http.Request) // n is 1-based
	arrived chan struct{}
}

func newReceiver(t *testing.T, respond func(n int, w http.ResponseWriter, r *http.Request)) *receiver {
	t.Helper()
	rc := &receiver{respond: respond, arrived: make(chan struct{}, 1000)}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.got = append(rc.got, received{Header: r.Header.Clone(), Body: body})
		n := len(rc.got)
		rc.mu.Unlock()
		if rc.respond != nil {
			rc.respond(n, w, r)
		}
		select {
		case rc.arrived <- struct{}{}:
		default:
		}
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) requests() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.got...)
}

type testBundle struct {
	pool       *pgxpool.Pool
	events     *eventstore.Store
	webhooks   *app.Webhooks
	published  *app.Events
	deliveries *app.Deliveries
	relay      *relay.Relay
	clock      *clock
	// newRelay builds another relay on the same schema, clock and sender.
	newRelay func(t testing.TB, cfg relay.Config) *relay.Relay
}

type setupOpts struct {
	workers       int
	tracer        trace.TracerProvider
	recordTimeout time.Duration
	// queries, when set, sees every query of the pool.
	queries pgx.QueryTracer
	// noWork runs the fan-out only; noFanout leaves the outbox alone.
	noWork, noFanout bool
	// workerID, heartbeat and breaker tune the workers.
	workerID  string
	heartbeat time.Duration
	breaker   relay.BreakerConfig
	// pollFallback and fetchPoll, when set, replace the fan-out's and the
	// workers' fallback polls (defaults here: 1s and 10ms).
	pollFallback, fetchPoll time.Duration
	// observer, when set, is told what the workers record.
	observer relay.Observer
}

// setup starts a relay (fan-out, workers and the deliveries projection) on
// an isolated schema; everything stops when the test ends.
func setup(t testing.TB, opts *setupOpts) *testBundle {
	t.Helper()
	if opts == nil {
		opts = &setupOpts{}
	}
	pool := dbtest.Pool(t, &dbtest.Opts{MaxConns: 20, Tracer: opts.queries})
	events := eventstore.New(pool, eventstore.Config{Inline: []eventstore.InlineProjector{
		{StreamTypes: []string{domain.WebhookStreamType}, Project: projections.Webhooks{}.Project},
		{StreamTypes: []string{domain.BreakerStreamType}, Project: projections.Breakers{}.Project},
	}})
	db := stdlib.OpenDBFromPool(pool)
	t.Cleanup(func() { _ = db.Close() })
	sender := connectors.NewWebhook(connectors.NewClient(connectors.ClientConfig{
		AllowHTTP: true, AllowedNetworks: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
	}), connectors.WebhookConfig{})
	clk := &clock{now: time.Now().UTC().Truncate(time.Microsecond)}
	// Secrets are encrypted at rest as in production.
	box, boxErr := secretbox.New(bytes.Repeat([]byte{42}, secretbox.KeySize))
	require.NoError(t, boxErr)
	appCfg := app.Config{Secrets: box, Validation: domain.ValidationOpts{AllowHTTP: true}, NowFunc: clk.Now}
	logger := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	newRelay := func(t testing.TB, cfg relay.Config) *relay.Relay {
		t.Helper()
		cfg.FanoutConfig = relay.FanoutConfig{
			PollInterval: 5 * time.Millisecond, PollFallback: opts.pollFallback,
			Poison: relay.PoisonConfig{MaxTries: 2, RetryInterval: 20 * time.Millisecond},
		}
		cfg.Workers = max(cfg.Workers, 10)
		cfg.FetchPollInterval, cfg.ShutdownTimeout = cmp.Or(opts.fetchPoll, 10*time.Millisecond), 5*time.Second
		cfg.NowFunc, cfg.RandomFunc, cfg.Logger = clk.Now, func() float64 { return 0.5 }, logger
		rl, err := relay.New(pool, db, relay.Deps{
			Log: events, Subscribers: projections.Subscribers{}, Destinations: app.NewDestinations(pool, events, appCfg),
			Sender: sender, Observer: opts.observer,
		}, cfg)
		require.NoError(t, err)
		return rl
	}
	rl := newRelay(t, relay.Config{
		Fanout: !opts.noFanout, Work: !opts.noWork, Workers: opts.workers, RecordTimeout: opts.recordTimeout,
		TracerProvider: opts.tracer, WorkerID: opts.workerID, HeartbeatInterval: opts.heartbeat, Breaker: opts.breaker,
	})
	runner, err := projections.NewRunner(pool, projections.RunnerConfig{
		Name: "deliveries", Projector: projections.Deliveries{}, PollInterval: 5 * time.Millisecond,
		Read: func(ctx context.Context, q projections.DB, after domain.LogPosition, limit int) ([]domain.Recorded, error) {
			return eventstore.ReadLog(ctx, q, after, limit)
		},
	})
	require.NoError(t, err)

	ctx, cancel := context.WithCancel(context.WithoutCancel(t.Context()))
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	wg.Add(2)
	go func() { defer wg.Done(); errs <- rl.Run(ctx) }()
	go func() { defer wg.Done(); errs <- runner.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
	})
	if !opts.noFanout {
		select {
		case <-rl.FanoutRunning():
		case <-time.After(10 * time.Second):
			t.Fatal("fan-out did not start")
		}
	}
	return &testBundle{
		pool: pool, events: events, webhooks: app.NewWebhooks(pool, events, rl, sender, appCfg),
		published: app.NewEvents(pool, appCfg), deliveries: app.NewDeliveries(pool, rl), relay: rl, clock: clk,
		newRelay: newRelay,
	}
}

// createWebhook registers a webhook for url with the given spec changes.
func (b *testBundle) createWebhook(t testing.TB, url string, change func(*domain.WebhookSpec)) *domain.Webhook {
	t.Helper()
	spec := domain.DefaultWebhookSpec()
	spec.Name, spec.URL, spec.EventTypes = "hook "+url, url, []string{"*"}
	spec.RetryDelaySeconds, spec.JitterEnabled = 0, false
	if change != nil {
		change(&spec)
	}
	w, err := b.webhooks.CreateWebhook(t.Context(), spec, "")
	require.NoError(t, err)
	return w
}

// publish publishes one event through lokihooks_publish in its own
// transaction and returns its id.
func (b *testBundle) publish(t *testing.T, eventType string, data string) domain.EventID {
	t.Helper()
	var id string
	require.NoError(t, b.pool.QueryRow(t.Context(), "SELECT lokihooks_publish($1, $2::jsonb)", eventType, data).Scan(&id))
	return domain.EventID(id)
}

// waitDelivery polls the deliveries read model until the delivery of
// (event, webhook) has the wanted status.
func (b *testBundle) waitDelivery(t *testing.T, ev domain.EventID, hook domain.WebhookID, want domain.DeliveryStatus) *domain.DeliveryView {
	t.Helper()
	id := domain.DeliveryIDFor(ev, hook)
	var last *domain.DeliveryView
	ok := assertEventually(t, func() bool {
		d, err := projections.GetDelivery(t.Context(), b.pool, id)
		if err != nil {
			return false
		}
		last = d
		return d.Status == want
	})
	if !ok {
		b.diagnose(t, id)
		t.Fatalf("delivery %s never reached %s (last: %+v)", id, want, last)
	}
	return last
}

// assertEventually polls cond for up to 20 s.
func assertEventually(t *testing.T, cond func() bool) bool {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		<-tick.C
	}
	return true
}

// diagnose logs what a stuck delivery's job, the outbox consumer and the
// cluster's oldest transactions look like.
func (b *testBundle) diagnose(t *testing.T, id domain.DeliveryID) {
	t.Helper()
	ctx := context.WithoutCancel(t.Context())
	dump := func(title, query string, args ...any) {
		var out string
		err := b.pool.QueryRow(ctx, `SELECT coalesce(jsonb_agg(to_jsonb(x))::text, '[]') FROM (`+query+`) x`, args...).Scan(&out)
		t.Logf("%s: %s %v", title, out, err)
	}
	dump("jobs", `SELECT id, state, attempt, scheduled_at, args->>'attempt' AS try, errors FROM river_job WHERE args->>'delivery_id' = $1`, string(id))
	dump("poison", `SELECT event_id, reason, tries FROM outbox_poison`)
	dump("events", `SELECT version, type, transaction_id::text FROM events WHERE stream_id = $1`, string(id))
	dump("outbox offsets", `SELECT * FROM watermill_offsets_outbox`)
	dump("checkpoints", `SELECT name, transaction_id::text, position FROM projection_checkpoints`)
	dump("oldest transactions", `SELECT pid, state, backend_xid::text, now() - xact_start AS age, left(query, 80) AS query
		FROM pg_stat_activity WHERE backend_xid IS NOT NULL ORDER BY xact_start LIMIT 5`)
}

// promote makes scheduled retries runnable now, as if their time had come.
func (b *testBundle) promote(t *testing.T) int64 {
	t.Helper()
	tag, err := b.pool.Exec(t.Context(), `UPDATE river_job SET state = 'available', scheduled_at = now()
		WHERE state IN ('scheduled', 'retryable') AND kind = 'deliver'`)
	require.NoError(t, err)
	return tag.RowsAffected()
}

// waitScheduled waits until n delivery jobs wait in the future.
func (b *testBundle) waitScheduled(t *testing.T, n int) {
	t.Helper()
	require.Eventually(t, func() bool {
		var c int
		err := b.pool.QueryRow(t.Context(), `SELECT count(*) FROM river_job WHERE state = 'scheduled' AND kind = 'deliver'`).Scan(&c)
		return err == nil && c == n
	}, 20*time.Second, 5*time.Millisecond)
}

func attempts(t *testing.T, b *testBundle, id domain.DeliveryID) []domain.AttemptView {
	t.Helper()
	as, err := projections.ListAttempts(t.Context(), b.pool, id)
	require.NoError(t, err)
	return as
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	out, err := json.Marshal(v)
	require.NoError(t, err)
	return string(out)
}

// run runs rl until the test ends, or until the returned stop is called;
// stop returns Run's error.
func run(t testing.TB, rl *relay.Relay) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.WithoutCancel(t.Context()))
	done := make(chan error, 1)
	go func() { done <- rl.Run(ctx) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() { cancel(); err = <-done })
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

// apiCaller serves the API over b's relay with one key, for the test's
// lifetime, and returns a function that makes a request with a JSON body
// (nil: none), checks its status and returns the response body.
func (b *testBundle) apiCaller(t *testing.T) func(method, path string, body []byte, want int) []byte {
	t.Helper()
	const key = "test-key-0123456789"
	srv := httptest.NewServer(httpapi.New(httpapi.Deps{Webhooks: b.webhooks, Events: b.published, Deliveries: b.deliveries},
		httpapi.Config{APIKeys: []string{key}}))
	t.Cleanup(srv.Close)
	return func(method, path string, body []byte, want int) []byte {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), method, srv.URL+path, bytes.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		raw, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		require.Equal(t, want, resp.StatusCode, "%s %s: %s", method, path, raw)
		return raw
	}
}
