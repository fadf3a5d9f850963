package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
	"golang.org/x/sync/errgroup"

	"github.com/loki-interceptor/lokihooks/domain"
	"github.com/loki-interceptor/lokihooks/eventstore"
	"github.com/loki-interceptor/lokihooks/internal/app"
	"github.com/loki-interceptor/lokihooks/internal/dbtest"
	"github.com/loki-interceptor/lokihooks/projections"
)

// readModels are the checksums (md5 of the sorted rows) of every read
// model, the history of every webhook, and the names and definitions of
// the swapped tables' indexes and constraints.
func readModels(t *testing.T, pool *pgxpool.Pool, hooks *app.Webhooks, ids []domain.WebhookID) map[string]string {
	t.Helper()
	ctx := t.Context()
	out := map[string]string{}
	for name, q := range map[string]string{
		"webhooks":          `SELECT * FROM webhooks ORDER BY id`,
		"deliveries":        `SELECT * FROM deliveries ORDER BY id`,
		"delivery_attempts": `SELECT * FROM delivery_attempts ORDER BY delivery_id, attempt`,
		"analytics_hourly":  `SELECT * FROM analytics_hourly ORDER BY destination_id, hour`,
		"indexes": `SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema()
			AND tablename IN ('deliveries', 'delivery_attempts', 'analytics_hourly') ORDER BY indexname`,
		"constraints": `SELECT conname, pg_get_constraintdef(c.oid) FROM pg_constraint c
			JOIN pg_class r ON r.oid = c.conrelid JOIN pg_namespace n ON n.oid = r.relnamespace
			WHERE n.nspname = current_schema() AND r.relname IN ('deliveries', 'delivery_attempts', 'analytics_hourly')
			ORDER BY conname`,
	} {
		var sum string
		var n int
		require.NoError(t, pool.QueryRow(ctx, `SELECT md5(coalesce(string_agg(x::text, E'\n'), '')), count(*) FROM (`+q+`) x`).Scan(&sum, &n))
		out[name] = fmt.Sprintf("%d rows, md5 %s", n, sum)
	}
	for _, id := range ids {
		h, err := hooks.WebhookHistory(ctx, id, 0, 1000)
		require.NoError(t, err)
		b, err := json.Marshal(h)
		require.NoError(t, err)
		out["history "+string(id)] = string(b)
	}
	return out
}

// appendDelivery appends a delivery of webhook with n attempts, the last
// one final, starting at `at`.
func appendDelivery(ctx context.Context, store *eventstore.Store, hook domain.WebhookID, at time.Time, n int) error {
	ev := domain.EventID(domain.NewID(domain.EventIDPrefix, at))
	dlv := domain.DeliveryIDFor(ev, hook)
	events := []domain.Event{domain.DeliveryScheduled{
		DeliveryID: dlv, DestinationID: domain.DestinationID(hook),
		Kind: domain.KindWebhook, EventID: ev, Type: domain.EventTypeSystemError, At: at,
	}}
	for i := 1; i <= n; i++ {
		a := domain.DeliveryAttempted{
			Attempt: i, StatusCode: 500, DurationMS: float64(i*7) + float64(at.Nanosecond()%997)/100,
			ErrorCategory: domain.ErrorCategoryHTTP5xx, Status: domain.DeliveryRetrying, At: at.Add(time.Duration(i) * time.Minute),
		}
		if i == n {
			a.StatusCode, a.ErrorCategory, a.Status = 200, "", domain.DeliveryDelivered
		}
		events = append(events, a)
	}
	// Scheduled and attempts in separate transactions, as the relay does.
	if _, err := store.Append(ctx, domain.Append{StreamID: string(dlv), StreamType: domain.DeliveryStreamType, Events: events[:1]}); err != nil {
		return err
	}
	_, err := store.Append(ctx, domain.Append{StreamID: string(dlv), StreamType: domain.DeliveryStreamType, Expect: 1, Events: events[1:]})
	return err
}

func TestReplay_ShadowTablesWhileEventsArrive(t *testing.T) {
	t.Parallel()
	pool, schema := dbtest.PoolSchema(t, nil)
	ctx := t.Context()
	store, hooks := newWebhookStore(pool)
	actx := domain.WithActor(ctx, "api_key:0123456789ab")
	var ids []domain.WebhookID
	for _, name := range []string{"a", "b", "c"} {
		spec := domain.DefaultWebhookSpec()
		spec.Name, spec.URL, spec.EventTypes = name, "https://example.com/"+name, []string{"*"}
		w, err := hooks.CreateWebhook(actx, spec, "")
		require.NoError(t, err)
		ids = append(ids, w.ID)
	}
	_, err := hooks.UpdateWebhook(actx, ids[0], domain.ExpectAny, func(s domain.WebhookSpec) domain.WebhookSpec { s.MaxRetries = 9; return s })
	require.NoError(t, err)
	_, err = hooks.RotateWebhookSecret(actx, ids[1], domain.ExpectAny, domain.RotateSecretParams{})
	require.NoError(t, err)
	_, err = hooks.PauseWebhook(actx, ids[2], domain.ExpectAny)
	require.NoError(t, err)

	base := time.Date(2026, 11, 28, 21, 0, 0, 0, time.UTC)
	for i := range 150 {
		require.NoError(t, appendDelivery(ctx, store, ids[i%3], base.Add(time.Duration(i)*97*time.Second), 1+i%3))
	}
	live := map[string]*projections.Runner{}
	for _, name := range []string{"deliveries", "analytics"} {
		def := definition(name)
		r, err := projections.NewRunner(pool, projections.RunnerConfig{
			Name: name, Projector: def.Projector, Read: readLog,
			BatchSize: 40, PollInterval: time.Millisecond,
		})
		require.NoError(t, err)
		live[name] = r
	}
	// caughtUp waits for both projections to reach the log's head; step
	// applies batches when the runners are not running.
	caughtUp := func(step bool) {
		t.Helper()
		require.Eventually(t, func() bool {
			for _, r := range live {
				if step {
					_, err := r.CatchUp(ctx)
					require.NoError(t, err)
				}
			}
			var behind bool
			require.NoError(t, pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM events e, projection_checkpoints c
				WHERE c.name IN ('deliveries', 'analytics') AND (e.transaction_id, e.position) > (c.transaction_id, c.position))`).Scan(&behind))
			return !behind
		}, 30*time.Second, 2*time.Millisecond)
	}
	caughtUp(true)

	t.Run("Quiescent", func(t *testing.T) {
		before := readModels(t, pool, hooks, ids)
		require.Contains(t, before["analytics_hourly"], "14 rows", "3 webhooks over 5 hours")
		var stdout, stderr bytes.Buffer
		getenv := func(k string) string {
			if k == envDatabaseURL {
				return schemaURL(t, schema)
			}
			return ""
		}
		require.NoError(t, run(context.WithoutCancel(ctx), []string{"replay", "-projection", "all", "-batch", "37"}, getenv, &stdout, &stderr), stderr.String())
		require.Contains(t, stdout.String(), "analytics: rebuilt from")
		require.Contains(t, stderr.String(), "events/s, ETA", "plain progress lines when stderr is no terminal")
		require.Equal(t, before, readModels(t, pool, hooks, ids), "every read model is identical after replay -projection all")
		var version int
		require.NoError(t, pool.QueryRow(ctx, `SELECT definition_version FROM projection_checkpoints WHERE name = 'analytics'`).Scan(&version))
		require.Equal(t, projections.AnalyticsVersion, version)
	})

	t.Run("WhileEventsArrive", func(t *testing.T) {
		runCtx, stopRunners := context.WithCancel(ctx)
		runners, _ := errgroup.WithContext(runCtx)
		for _, r := range live {
			runners.Go(func() error { return r.Run(runCtx) })
		}
		stopWriter := make(chan struct{})
		var written atomic.Int64
		progressed := make(chan struct{}, 1)
		writer, wctx := errgroup.WithContext(ctx)
		writer.Go(func() error {
			for i := 0; ; i++ {
				select {
				case <-stopWriter:
					return nil
				default:
				}
				if err := appendDelivery(wctx, store, ids[i%2], base.Add(3*time.Hour+time.Duration(i)*61*time.Second), 1+i%2); err != nil {
					return err
				}
				if written.Add(1) == 20 {
					progressed <- struct{}{}
				}
				if i > 5000 {
					return nil // bounded
				}
			}
		})
		for _, name := range []string{"deliveries", "analytics"} {
			first := true
			n, err := projections.Rebuild(ctx, pool, definition(name), projections.RebuildConfig{
				Read: readLog, BatchSize: 25,
				ProgressFunc: func(_, _ int64) {
					if first { // new events arrive while the rebuild runs
						first = false
						if name == "deliveries" {
							<-progressed
						}
					}
				},
			})
			require.NoError(t, err)
			require.Positive(t, n)
		}
		close(stopWriter)
		require.NoError(t, writer.Wait())
		require.GreaterOrEqual(t, written.Load(), int64(20))
		caughtUp(false)
		stopRunners()
		require.NoError(t, runners.Wait())
		after := readModels(t, pool, hooks, ids)
		var deliveries int64
		require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM deliveries`).Scan(&deliveries))
		require.Equal(t, 150+written.Load(), deliveries, "no event was missed")

		// A rebuild with nothing arriving is the reference.
		for _, name := range []string{"deliveries", "analytics"} {
			_, err := projections.Rebuild(ctx, pool, definition(name), projections.RebuildConfig{Read: readLog})
			require.NoError(t, err)
		}
		require.Equal(t, readModels(t, pool, hooks, ids), after)
	})
}

func TestProjections_EnsureVersion(t *testing.T) {
	t.Parallel()
	pool := dbtest.Pool(t, nil)
	ctx := t.Context()
	store, hooks := newWebhookStore(pool)
	hook := createHook(t, hooks, "versioned")
	require.NoError(t, appendDelivery(ctx, store, hook, time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC), 2))
	def := definition("analytics")
	r, err := projections.NewRunner(pool, projections.RunnerConfig{Name: "analytics", Projector: def.Projector, Read: readLog})
	require.NoError(t, err)
	catchUpAll(t, pool, r)
	before := readModels(t, pool, hooks, nil)

	rebuilt, err := projections.EnsureVersion(ctx, pool, def, projections.RebuildConfig{Read: readLog})
	require.NoError(t, err)
	require.False(t, rebuilt, "the stored version is the code's")

	def.Version++
	_, err = pool.Exec(ctx, `UPDATE analytics_hourly SET attempts = 0`) // what an old definition built
	require.NoError(t, err)
	rebuilt, err = projections.EnsureVersion(ctx, pool, def, projections.RebuildConfig{Read: readLog})
	require.NoError(t, err)
	require.True(t, rebuilt)
	require.Equal(t, before, readModels(t, pool, hooks, nil))
	var version int
	require.NoError(t, pool.QueryRow(ctx, `SELECT definition_version FROM projection_checkpoints WHERE name = 'analytics'`).Scan(&version))
	require.Equal(t, def.Version, version)
}

// TestReplay_AheadOfTheLiveRunner: a rebuild that passes the live runner
// (stopped, or starting after the start-up rebuild) must leave the borrowed
// webhooks.last_triggered_at as the live runner would have.
func TestReplay_AheadOfTheLiveRunner(t *testing.T) {
	t.Parallel()
	pool := dbtest.Pool(t, nil)
	ctx := t.Context()
	store, hooks := newWebhookStore(pool)
	hook := createHook(t, hooks, "ahead")
	first := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	require.NoError(t, appendDelivery(ctx, store, hook, first, 1))
	def := definition("deliveries")
	r, err := projections.NewRunner(pool, projections.RunnerConfig{Name: "deliveries", Projector: def.Projector, Read: readLog})
	require.NoError(t, err)
	catchUpAll(t, pool, r)
	require.NoError(t, appendDelivery(ctx, store, hook, first.Add(time.Hour), 2)) // the live runner never sees it

	require.Eventually(t, func() bool {
		_, err := projections.Rebuild(ctx, pool, def, projections.RebuildConfig{Read: readLog})
		require.NoError(t, err)
		var n int
		require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM deliveries`).Scan(&n))
		return n == 2
	}, 10*time.Second, time.Millisecond)
	w, err := projections.WebhookAnyStatus(ctx, pool, hook)
	require.NoError(t, err)
	require.NotNil(t, w.LastTriggeredAt)
	require.Equal(t, first.Add(time.Hour+2*time.Minute), *w.LastTriggeredAt)
}

// failingProjector fails every batch.
type failingProjector struct{}

func (failingProjector) Project(context.Context, pgx.Tx, []domain.Recorded) error {
	return errors.New("projector failed")
}

func TestReplay_FailedRebuildLeavesTheLiveTables(t *testing.T) {
	t.Parallel()
	pool, schema := dbtest.PoolSchema(t, nil)
	ctx := t.Context()
	store, hooks := newWebhookStore(pool)
	hook := createHook(t, hooks, "failing")
	require.NoError(t, appendDelivery(ctx, store, hook, time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC), 1))
	def := definition("analytics")
	r, err := projections.NewRunner(pool, projections.RunnerConfig{Name: "analytics", Projector: def.Projector, Read: readLog})
	require.NoError(t, err)
	catchUpAll(t, pool, r)
	before := readModels(t, pool, hooks, nil)

	def.Projector = failingProjector{}
	_, err = projections.Rebuild(ctx, pool, def, projections.RebuildConfig{Read: readLog})
	require.ErrorContains(t, err, "projector failed")
	require.Equal(t, before, readModels(t, pool, hooks, nil), "the live tables are untouched")
	var shadows int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM pg_namespace WHERE nspname = $1`, schema+"_rb_analytics").Scan(&shadows))
	require.Zero(t, shadows, "the shadow schema is dropped")
}

// catchUpAll runs r until it has applied every event the log holds now.
// One CatchUp may stop short of the last ones for a moment, while other
// tests' open transactions hold back the log's visibility horizon.
func catchUpAll(t *testing.T, pool *pgxpool.Pool, r *projections.Runner) {
	t.Helper()
	var want int
	require.NoError(t, pool.QueryRow(t.Context(), `SELECT count(*) FROM events`).Scan(&want))
	got := 0
	var err error
	require.Eventually(t, func() bool {
		var n int
		n, err = r.CatchUp(t.Context())
		got += n
		return err != nil || got >= want
	}, 10*time.Second, time.Millisecond, "the runner never applied every event of the log")
	require.NoError(t, err)
	require.Equal(t, want, got)
}
