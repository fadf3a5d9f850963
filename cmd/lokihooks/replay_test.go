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
	"github.com/loki-interceptor/lokihooks/internal/dbtest"
	"github.com/loki-interceptor/lokihooks/internal/webhookstore"
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
	events := eventstore.New(pool, eventstore.Config{Projectors: []eventstore.Projector{projections.Webhooks{}}})
	hooks := webhookstore.New(events, pool, nil)
	now := time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC)

	var ids []domain.WebhookID
	for i, name := range []string{"a", "b", "c"} {
		spec := domain.DefaultWebhookSpec()
		spec.Name, spec.URL, spec.EventTypes = name, "https://example.com/"+name, []string{"*"}
		id := domain.WebhookID(domain.NewID(domain.WebhookIDPrefix, now.Add(time.Duration(i)*time.Second)))
		_, err := hooks.ExecuteWebhook(ctx, id, 0, func(*domain.Webhook) ([]domain.Event, error) {
			return domain.CreateWebhook(domain.CreateWebhookParams{ID: id, Spec: spec}, domain.ValidationOpts{}, now)
		})
		require.NoError(t, err)
		ids = append(ids, id)
	}
	_, err := hooks.ExecuteWebhook(ctx, ids[1], -1, func(w *domain.Webhook) ([]domain.Event, error) { return w.Pause(now.Add(time.Minute)) })
	require.NoError(t, err)
	_, err = hooks.ExecuteWebhook(ctx, ids[2], -1, func(w *domain.Webhook) ([]domain.Event, error) {
		return w.RotateSecret(domain.RotateSecretParams{}, now.Add(2*time.Minute))
	})
	require.NoError(t, err)

	// Two deliveries with attempts.
	for i, hook := range ids[:2] {
		ev := domain.EventID("evt_replay_" + string(rune('a'+i)))
		dlv := domain.DeliveryIDFor(ev, hook)
		next := now.Add(time.Hour)
		_, err := events.Append(ctx, eventstore.AppendParams{StreamID: string(dlv), StreamType: domain.DeliveryStreamType, Events: []domain.Event{
			domain.DeliveryScheduled{DeliveryID: dlv, WebhookID: hook, EventID: ev, Type: domain.EventTypeSystemError, At: now},
			domain.DeliveryAttempted{Attempt: 1, StatusCode: 500, DurationMS: 12.5, ErrorCategory: domain.ErrorCategoryHTTP5xx,
				Status: domain.DeliveryRetrying, NextAttemptAt: &next, At: now.Add(time.Second)},
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
	require.Contains(t, before, `"last_triggered_at": "2026-11-29T10:00:00+00:00"`)

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
