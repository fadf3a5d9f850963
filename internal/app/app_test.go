package app_test

import (
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/stretchr/testify/require"
	"golang.org/x/sync/errgroup"

	"github.com/loki-interceptor/lokihooks/domain"
	"github.com/loki-interceptor/lokihooks/eventstore"
	"github.com/loki-interceptor/lokihooks/internal/app"
	"github.com/loki-interceptor/lokihooks/internal/dbtest"
	"github.com/loki-interceptor/lokihooks/projections"
	"github.com/loki-interceptor/lokihooks/relay"
)

type testBundle struct {
	pool   *pgxpool.Pool
	events *eventstore.Store
}

func setup(t *testing.T) (*app.Webhooks, *testBundle) {
	t.Helper()
	pool := dbtest.Pool(t, nil)
	events := eventstore.New(pool, eventstore.Config{Inline: []eventstore.InlineProjector{{
		StreamTypes: []string{domain.WebhookStreamType}, Project: projections.Webhooks{}.Project,
	}}})
	return app.NewWebhooks(pool, events, nil, nil, app.Config{}), &testBundle{pool: pool, events: events}
}

func createHook(t *testing.T, hooks *app.Webhooks, name string) *domain.Webhook {
	t.Helper()
	spec := domain.DefaultWebhookSpec()
	spec.Name, spec.URL, spec.EventTypes = name, "https://example.com/"+name, []string{"*"}
	w, err := hooks.CreateWebhook(t.Context(), spec, "")
	require.NoError(t, err)
	return w
}

// TestDeliveries_RedriveIsChunked: a redrive used to append every event in
// the API request's one transaction, one round trip each, pausing the
// outbox and the projections cluster-wide for its length. Now each chunk of
// at most 500 deliveries is one transaction with one append statement.
func TestDeliveries_RedriveIsChunked(t *testing.T) {
	t.Parallel()
	_, b := setup(t)
	const dead = 1100
	_, err := b.pool.Exec(t.Context(), `
		WITH d AS (SELECT 'dlv_' || lpad(i::text, 6, '0') AS id, i FROM generate_series(1, $1) i),
		ev AS (
			INSERT INTO events (stream_id, stream_type, version, type, data)
			SELECT id, 'delivery', v, CASE v WHEN 1 THEN 'delivery.scheduled.v1' ELSE 'delivery.attempted.v1' END, '{}'
			FROM d, generate_series(1, 2) v
		)
		INSERT INTO deliveries (id, destination_id, kind, event_id, event_type, status, attempts, created_at, updated_at, version)
		SELECT id, 'wh_dead', 'webhook', 'evt_' || i, 'system.error', 'permanent_failure', 1,
			now() + i * interval '1 microsecond', now(), 2
		FROM d`, dead)
	require.NoError(t, err)
	db := stdlib.OpenDBFromPool(b.pool)
	t.Cleanup(func() { _ = db.Close() })
	rl, err := relay.New(b.pool, db, relay.Deps{Log: b.events}, relay.Config{})
	require.NoError(t, err)

	n, err := app.NewDeliveries(b.pool, rl).Redrive(t.Context(), "wh_dead", domain.DeliveryFilter{})
	require.NoError(t, err)
	require.Equal(t, dead, n)

	var txs, biggest, jobs int
	require.NoError(t, b.pool.QueryRow(t.Context(), `SELECT count(*), max(n) FROM (
			SELECT transaction_id, count(*) AS n FROM events WHERE type = 'delivery.redriven.v1' GROUP BY transaction_id) x`).
		Scan(&txs, &biggest))
	require.NoError(t, b.pool.QueryRow(t.Context(), `SELECT count(*) FROM river_job WHERE kind = 'deliver'`).Scan(&jobs))
	require.Equal(t, 3, txs, "1100 deliveries in transactions of at most 500")
	require.LessOrEqual(t, biggest, 500)
	require.Equal(t, dead, jobs, "one fresh job per redriven delivery")
}

// TestDeliveries_RedriveChosenIDs: a redrive of chosen dead letters (a
// single one from the dashboard) redrives exactly those of the
// destination that are failed or permanent_failure, each once.
func TestDeliveries_RedriveChosenIDs(t *testing.T) {
	t.Parallel()
	_, b := setup(t)
	_, err := b.pool.Exec(t.Context(), `
		WITH d(id, dest, status) AS (VALUES
			('dlv_1', 'wh_dead', 'permanent_failure'), ('dlv_2', 'wh_dead', 'failed'),
			('dlv_3', 'wh_dead', 'delivered'), ('dlv_4', 'wh_other', 'permanent_failure'),
			('dlv_5', 'wh_dead', 'permanent_failure')),
		ev AS (
			INSERT INTO events (stream_id, stream_type, version, type, data)
			SELECT id, 'delivery', v, CASE v WHEN 1 THEN 'delivery.scheduled.v1' ELSE 'delivery.attempted.v1' END, '{}'
			FROM d, generate_series(1, 2) v
		)
		INSERT INTO deliveries (id, destination_id, kind, event_id, event_type, status, attempts, created_at, updated_at, version)
		SELECT id, dest, 'webhook', 'evt_' || id, 'system.error', status, 1, now(), now(), 2 FROM d`)
	require.NoError(t, err)
	db := stdlib.OpenDBFromPool(b.pool)
	t.Cleanup(func() { _ = db.Close() })
	rl, err := relay.New(b.pool, db, relay.Deps{Log: b.events}, relay.Config{})
	require.NoError(t, err)
	deliveries := app.NewDeliveries(b.pool, rl)
	redriven := func() []string {
		rows, err := b.pool.Query(t.Context(), `SELECT stream_id FROM events WHERE type = 'delivery.redriven.v1' ORDER BY stream_id`)
		require.NoError(t, err)
		ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
		require.NoError(t, err)
		return ids
	}

	n, err := deliveries.Redrive(t.Context(), "wh_dead", domain.DeliveryFilter{
		Status: domain.DeliveryFailed, IDs: []domain.DeliveryID{"dlv_1", "dlv_2"},
	})
	require.NoError(t, err)
	require.Equal(t, 1, n, "the status filter still narrows the chosen ids")
	require.Equal(t, []string{"dlv_2"}, redriven())

	n, err = deliveries.Redrive(t.Context(), "wh_dead", domain.DeliveryFilter{
		IDs: []domain.DeliveryID{"dlv_1", "dlv_3", "dlv_4", "dlv_nope", "dlv_1"},
	})
	require.NoError(t, err)
	require.Equal(t, 1, n, "delivered, another destination's and unknown ids are skipped; a repeated id counts once")
	require.Equal(t, []string{"dlv_1", "dlv_2"}, redriven(), "dlv_5, not chosen, stays a dead letter")

	var jobs int
	require.NoError(t, b.pool.QueryRow(t.Context(), `SELECT count(*) FROM river_job WHERE kind = 'deliver'`).Scan(&jobs))
	require.Equal(t, 2, jobs)

	_, err = deliveries.Redrive(t.Context(), "wh_dead", domain.DeliveryFilter{IDs: make([]domain.DeliveryID, 501)})
	require.ErrorIs(t, err, domain.ErrInvalid)
}

func TestWebhooks_CommandsWithoutIfMatchRetryALostRace(t *testing.T) {
	t.Parallel()
	hooks, _ := setup(t)
	w := createHook(t, hooks, "busy")
	var g errgroup.Group
	var mu sync.Mutex
	seen := map[int]bool{}
	for i := range 8 {
		g.Go(func() error {
			_, err := hooks.UpdateWebhook(t.Context(), w.ID, domain.ExpectAny, func(s domain.WebhookSpec) domain.WebhookSpec {
				s.MaxRetries = i
				return s
			})
			mu.Lock()
			seen[i] = err == nil
			mu.Unlock()
			return err
		})
	}
	require.NoError(t, g.Wait(), "without If-Match a concurrent change is decided again, not reported")
	got, err := hooks.GetWebhook(t.Context(), w.ID)
	require.NoError(t, err)
	require.Equal(t, int64(9), got.Version, "created plus eight updates")

	_, err = hooks.PauseWebhook(t.Context(), w.ID, 1)
	var ce *domain.ConflictError
	require.ErrorAs(t, err, &ce, "with If-Match a stale version is the client's conflict")
}

func TestWebhooks_ReadsNeverCarrySecrets(t *testing.T) {
	t.Parallel()
	hooks, _ := setup(t)
	w := createHook(t, hooks, "secretive")
	require.NotEmpty(t, w.Secret, "the creating answer shows the secret once")
	rotated, err := hooks.RotateWebhookSecret(t.Context(), w.ID, domain.ExpectAny, domain.RotateSecretParams{})
	require.NoError(t, err)
	require.NotEqual(t, w.Secret, rotated.Secret)
	got, err := hooks.GetWebhook(t.Context(), w.ID)
	require.NoError(t, err)
	require.Empty(t, got.Secret)
	require.Empty(t, got.PreviousSecrets)
	list, err := hooks.ListWebhooks(t.Context(), domain.WebhookFilter{Limit: 10})
	require.NoError(t, err)
	require.Len(t, list, 1)
	require.Empty(t, list[0].Secret)
}
