package main

import (
	"bytes"
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/loki-interceptor/lokihooks/domain"
	"github.com/loki-interceptor/lokihooks/eventstore"
	"github.com/loki-interceptor/lokihooks/internal/app"
	"github.com/loki-interceptor/lokihooks/internal/dbtest"
	"github.com/loki-interceptor/lokihooks/projections"
)

// tableJSON snapshots a table as one JSON document ordered by its key.
func tableJSON(t *testing.T, pool *pgxpool.Pool, query string) string {
	t.Helper()
	var out []byte
	require.NoError(t, pool.QueryRow(t.Context(), `SELECT coalesce(jsonb_agg(to_jsonb(x)), '[]') FROM (`+query+`) x`).Scan(&out))
	return string(out)
}

func schemaURL(t *testing.T, schema string) string {
	t.Helper()
	u, err := url.Parse(dbtest.URL())
	require.NoError(t, err)
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

func TestReplay_RebuildsIdenticalReadModels(t *testing.T) {
	t.Parallel()
	pool, schema := dbtest.PoolSchema(t, nil)
	ctx := t.Context()
	events, hooks := newWebhookStore(pool)
	now := time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC)

	var ids []domain.WebhookID
	for _, name := range []string{"a", "b", "c"} {
		ids = append(ids, createHook(t, hooks, name))
	}
	_, err := hooks.PauseWebhook(ctx, ids[1], domain.ExpectAny)
	require.NoError(t, err)
	_, err = hooks.RotateWebhookSecret(ctx, ids[2], domain.ExpectAny, domain.RotateSecretParams{})
	require.NoError(t, err)

	// Two deliveries with attempts.
	for i, hook := range ids[:2] {
		ev := domain.EventID("evt_replay_" + string(rune('a'+i)))
		dlv := domain.DeliveryIDFor(ev, hook)
		next := now.Add(time.Hour)
		_, err := events.Append(ctx, domain.Append{StreamID: string(dlv), StreamType: domain.DeliveryStreamType, Events: []domain.Event{
			domain.DeliveryScheduled{
				DeliveryID: dlv, DestinationID: domain.DestinationID(hook), Kind: domain.KindWebhook,
				EventID: ev, Type: domain.EventTypeSystemError, At: now,
			},
			domain.DeliveryAttempted{
				Attempt: 1, StatusCode: 500, DurationMS: 12.5, ErrorCategory: domain.ErrorCategoryHTTP5xx,
				Status: domain.DeliveryRetrying, NextAttemptAt: &next, At: now.Add(time.Second),
			},
			domain.DeliveryAttempted{Attempt: 2, StatusCode: 200, DurationMS: 3, Status: domain.DeliveryDelivered, At: now.Add(time.Hour)},
		}})
		require.NoError(t, err)
	}
	live, err := projections.NewRunner(pool, projections.RunnerConfig{Name: "deliveries", Projector: projections.Deliveries{}, Read: readLog})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		_, err := live.CatchUp(ctx)
		d, gerr := projections.GetDelivery(ctx, pool, domain.DeliveryIDFor("evt_replay_b", ids[1]))
		return err == nil && gerr == nil && d.Status == domain.DeliveryDelivered
	}, 30*time.Second, 10*time.Millisecond)

	snap := func() string {
		return tableJSON(t, pool, `SELECT * FROM webhooks ORDER BY id`) +
			tableJSON(t, pool, `SELECT * FROM deliveries ORDER BY id`) +
			tableJSON(t, pool, `SELECT * FROM delivery_attempts ORDER BY delivery_id, attempt`)
	}
	before := snap()
	require.Contains(t, before, `"last_triggered_at": "2026-11-29T10:00:00+00:00"`, "kept across the rebuild")

	var stdout, stderr bytes.Buffer
	getenv := func(k string) string {
		if k == envDatabaseURL {
			return schemaURL(t, schema)
		}
		return ""
	}
	require.NoError(t, run(context.WithoutCancel(ctx), []string{"replay"}, getenv, &stdout, &stderr), stderr.String())
	require.Contains(t, stdout.String(), "webhooks: rebuilt")
	require.Equal(t, before, snap(), "replayed read models equal the live ones")
}

func newWebhookStore(pool *pgxpool.Pool) (*eventstore.Store, *app.Webhooks) {
	events := eventstore.New(pool, eventstore.Config{Inline: []eventstore.InlineProjector{{
		StreamTypes: []string{domain.WebhookStreamType}, Project: projections.Webhooks{}.Project,
	}}})
	return events, app.NewWebhooks(pool, events, nil, nil, app.Config{})
}

func createHook(t *testing.T, hooks *app.Webhooks, name string) domain.WebhookID {
	t.Helper()
	spec := domain.DefaultWebhookSpec()
	spec.Name, spec.URL, spec.EventTypes = name, "https://example.com/"+name, []string{"*"}
	w, err := hooks.CreateWebhook(t.Context(), spec, "")
	require.NoError(t, err)
	return w.ID
}

// TestReplay_WebhooksWhileAnOlderTransactionIsOpen reproduces the dropped
// webhook of a replay that read the log until its first empty read: a
// transaction holding an older id hides every newer event from the log,
// yet those webhooks are committed and must be rebuilt.
func TestReplay_WebhooksWhileAnOlderTransactionIsOpen(t *testing.T) {
	t.Parallel()
	pool, schema := dbtest.PoolSchema(t, nil)
	ctx := t.Context()
	_, hooks := newWebhookStore(pool)
	first := createHook(t, hooks, "first")

	old, err := pool.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = old.Rollback(context.WithoutCancel(ctx)) }()
	require.NoError(t, old.QueryRow(ctx, `SELECT pg_current_xact_id()::text`).Scan(new(string)))
	later := createHook(t, hooks, "later") // committed, but after the open transaction's id

	var stdout, stderr bytes.Buffer
	getenv := func(k string) string {
		if k == envDatabaseURL {
			return schemaURL(t, schema)
		}
		return ""
	}
	require.NoError(t, run(context.WithoutCancel(ctx), []string{"replay", "-projection", "webhooks"}, getenv, &stdout, &stderr), stderr.String())
	require.NoError(t, old.Rollback(ctx))
	for _, id := range []domain.WebhookID{first, later} {
		_, err := hooks.GetWebhook(ctx, id)
		require.NoError(t, err, "webhook %s must survive the rebuild", id)
	}
}
