package projections_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/stretchr/testify/require"

	"github.com/loki-interceptor/lokihooks/domain"
	"github.com/loki-interceptor/lokihooks/eventstore"
	"github.com/loki-interceptor/lokihooks/internal/dbtest"
	"github.com/loki-interceptor/lokihooks/projections"
)

type webhooksBundle struct {
	pool   *pgxpool.Pool
	events *eventstore.Store
	now    time.Time
}

// setupWebhooks returns the projection and a bundle whose event store runs it
// inline, as in production.
func setupWebhooks(t *testing.T) (projections.Webhooks, *webhooksBundle) {
	t.Helper()
	pool := dbtest.Pool(t, nil)
	events := eventstore.New(pool, eventstore.Config{Inline: []eventstore.InlineProjector{{
		StreamTypes: []string{domain.WebhookStreamType}, Project: projections.Webhooks{}.Project,
	}}})
	return projections.Webhooks{}, &webhooksBundle{
		pool:   pool,
		events: events,
		now:    time.Date(2026, 11, 29, 10, 0, 0, 123456000, time.UTC),
	}
}

// execute runs a domain command on a webhook stream, as the application's
// commands do.
func (b *webhooksBundle) execute(ctx context.Context, id domain.WebhookID, expected int64, decide func(*domain.Webhook) ([]domain.Event, error)) error {
	_, err := b.events.Execute(ctx, eventstore.ExecuteParams{
		StreamID: string(id), StreamType: domain.WebhookStreamType, ExpectedVersion: expected,
		Decide: func(history []domain.Recorded) ([]domain.Event, error) {
			w, err := domain.ReplayWebhook(history)
			if err != nil {
				return nil, err
			}
			return decide(w)
		},
	})
	return err
}

// tick advances the bundle's clock, so every command gets its own time.
func (b *webhooksBundle) tick() time.Time {
	b.now = b.now.Add(time.Second)
	return b.now
}

func webhookSpec(name, url string, eventTypes ...string) domain.WebhookSpec {
	s := domain.DefaultWebhookSpec()
	s.Name, s.URL, s.EventTypes = name, url, eventTypes
	return s
}

func (b *webhooksBundle) create(t *testing.T, s domain.WebhookSpec) domain.WebhookID {
	t.Helper()
	now := b.tick()
	id := domain.WebhookID(domain.NewID(domain.WebhookIDPrefix, now))
	err := b.execute(t.Context(), id, 0, func(*domain.Webhook) ([]domain.Event, error) {
		return domain.CreateWebhook(domain.CreateWebhookParams{ID: id, Spec: s}, domain.ValidationOpts{}, now)
	})
	require.NoError(t, err)
	return id
}

func (b *webhooksBundle) run(t *testing.T, id domain.WebhookID, cmd func(w *domain.Webhook, now time.Time) ([]domain.Event, error)) {
	t.Helper()
	now := b.tick()
	err := b.execute(t.Context(), id, domain.ExpectAny, func(w *domain.Webhook) ([]domain.Event, error) {
		return cmd(w, now)
	})
	require.NoError(t, err)
}

// webhookRows returns every row of the read model, all columns, as JSON.
func webhookRows(t *testing.T, pool *pgxpool.Pool) []string {
	t.Helper()
	rows, err := pool.Query(t.Context(), `SELECT to_jsonb(w)::text FROM webhooks w ORDER BY id`)
	require.NoError(t, err)
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	return out
}

// eventLog reads the whole event log in position order.
func eventLog(t *testing.T, pool *pgxpool.Pool) []domain.Recorded {
	t.Helper()
	rows, err := pool.Query(t.Context(), `SELECT position, stream_id, version, type, data, recorded_at FROM events ORDER BY position`)
	require.NoError(t, err)
	recs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (domain.Recorded, error) {
		var r domain.Recorded
		err := row.Scan(&r.Position, &r.StreamID, &r.Version, &r.Type, &r.Data, &r.RecordedAt)
		return r, err
	})
	require.NoError(t, err)
	return recs
}

// projectTx projects recs in one transaction.
func projectTx(t *testing.T, pool *pgxpool.Pool, p projections.Webhooks, recs []domain.Recorded) {
	t.Helper()
	ctx := t.Context()
	require.NoError(t, pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		return p.Project(ctx, tx, recs)
	}))
}

// history creates webhooks and runs every kind of command on them,
// including a name and url freed by a delete and reused.
func (b *webhooksBundle) history(t *testing.T) {
	t.Helper()
	alerts := b.create(t, webhookSpec("Alerts", "https://example.com/alerts", "compliance.alert"))
	all := b.create(t, webhookSpec("All", "https://example.com/all", "*"))
	failed := b.create(t, webhookSpec("Failed", "https://example.com/failed", "validation.failed"))
	custom := webhookSpec("Custom", "https://example.com/custom", "report.generated", "batch.completed")
	custom.MaxRetries, custom.JitterEnabled, custom.RateLimitPerHour = 9, false, 100
	custom.CustomHeaders = map[string]string{"X-Team": "ops", "Authorization": "Bearer t", "x-key": "k"}
	custom.SecretHeaders = []string{"X-Key"}
	custom.Metadata = map[string]any{"owner": "ops", "tags": []any{"a", "b"}}
	customID := b.create(t, custom)

	b.run(t, alerts, func(w *domain.Webhook, now time.Time) ([]domain.Event, error) {
		s := w.Spec
		s.Name, s.TimeoutSeconds = "Alerts renamed", 30
		return w.Update(s, domain.ValidationOpts{}, now)
	})
	b.run(t, alerts, (*domain.Webhook).Pause)
	b.run(t, all, func(w *domain.Webhook, now time.Time) ([]domain.Event, error) {
		return w.RotateSecret(domain.RotateSecretParams{}, now)
	})
	b.run(t, all, func(w *domain.Webhook, now time.Time) ([]domain.Event, error) {
		return w.RotateSecret(domain.RotateSecretParams{GracePeriod: time.Hour}, now)
	})
	b.run(t, customID, func(w *domain.Webhook, now time.Time) ([]domain.Event, error) {
		return w.Deactivate("receiver answered 410 Gone", now)
	})
	b.run(t, failed, (*domain.Webhook).Delete)
	b.create(t, webhookSpec("Failed", "https://example.com/failed", "validation.failed", "validation.completed"))
	b.run(t, alerts, (*domain.Webhook).Resume)
	b.run(t, customID, (*domain.Webhook).Resume)
	b.run(t, customID, (*domain.Webhook).Pause)
}

func TestWebhooks_Rebuild(t *testing.T) {
	t.Parallel()

	t.Run("EqualsInlineReadModel", func(t *testing.T) {
		t.Parallel()
		p, b := setupWebhooks(t)
		b.history(t)
		before := webhookRows(t, b.pool)
		require.Len(t, before, 5)
		recs := eventLog(t, b.pool)
		require.Len(t, recs, 14)

		_, err := b.pool.Exec(t.Context(), `TRUNCATE webhooks`)
		require.NoError(t, err)
		require.Empty(t, webhookRows(t, b.pool))

		projectTx(t, b.pool, p, recs)
		require.Equal(t, before, webhookRows(t, b.pool))
	})

	t.Run("ProjectingTwiceChangesNothing", func(t *testing.T) {
		t.Parallel()
		p, b := setupWebhooks(t)
		b.history(t)
		before := webhookRows(t, b.pool)
		recs := eventLog(t, b.pool)

		projectTx(t, b.pool, p, recs)
		require.Equal(t, before, webhookRows(t, b.pool))
		projectTx(t, b.pool, p, append(recs, recs...))
		require.Equal(t, before, webhookRows(t, b.pool))

		// Older events of a stream arriving after newer ones are skipped.
		first := recs[:4] // the four creations
		projectTx(t, b.pool, p, first)
		require.Equal(t, before, webhookRows(t, b.pool))
	})

	t.Run("RebuildTwiceInOneTransaction", func(t *testing.T) {
		t.Parallel()
		p, b := setupWebhooks(t)
		b.history(t)
		before := webhookRows(t, b.pool)
		recs := eventLog(t, b.pool)

		ctx := t.Context()
		require.NoError(t, pgx.BeginFunc(ctx, b.pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `TRUNCATE webhooks`); err != nil {
				return err
			}
			if err := p.Project(ctx, tx, recs); err != nil {
				return err
			}
			return p.Project(ctx, tx, recs)
		}))
		require.Equal(t, before, webhookRows(t, b.pool))
	})

	t.Run("RowMatchesReplay", func(t *testing.T) {
		t.Parallel()
		_, b := setupWebhooks(t)
		b.history(t)
		for _, row := range webhookRows(t, b.pool) {
			var r struct {
				ID string `json:"id"`
			}
			require.NoError(t, json.Unmarshal([]byte(row), &r))
			history, err := b.events.Load(t.Context(), r.ID)
			require.NoError(t, err)
			want, err := domain.ReplayWebhook(history)
			require.NoError(t, err)

			got, err := projections.ListWebhooks(t.Context(), b.pool, domain.WebhookFilter{Status: want.Status, Limit: 100})
			require.NoError(t, err)
			var found bool
			for i := range got {
				if got[i].ID == want.ID {
					found = true
					if len(got[i].PreviousSecrets) == 0 {
						got[i].PreviousSecrets = nil // stored as [] for a webhook never rotated
					}
					require.Equal(t, *want, got[i])
				}
			}
			require.True(t, found, "webhook %s not listed with status %s", want.ID, want.Status)
		}
	})
}

func TestWebhooks_SecretHeaders(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	_, b := setupWebhooks(t)
	spec := webhookSpec("Secret", "https://example.com/secret", "*")
	spec.CustomHeaders = map[string]string{"Cookie": "c=1", "x-api-key": "k", "X-Team": "ops"}
	spec.SecretHeaders = []string{"X-Api-Key"}
	id := b.create(t, spec)

	// The read model keeps which headers are listed secret, as the headers
	// spell them.
	w, err := projections.GetWebhook(ctx, b.pool, id)
	require.NoError(t, err)
	require.Equal(t, spec.CustomHeaders, w.Spec.CustomHeaders)
	require.Equal(t, []string{"x-api-key"}, w.Spec.SecretHeaders)
	require.Equal(t, []string{"Cookie", "x-api-key"}, w.Spec.SecretHeaderNames())
	require.Equal(t, spec.SecretHeaderNames(), w.Spec.SecretHeaderNames())

	// Rows written before secret headers existed hold plain strings.
	_, err = b.pool.Exec(ctx, `UPDATE webhooks SET custom_headers = '{"X-Team": "ops", "Authorization": "Bearer t"}' WHERE id = $1`, id)
	require.NoError(t, err)
	w, err = projections.GetWebhook(ctx, b.pool, id)
	require.NoError(t, err)
	require.Equal(t, map[string]string{"X-Team": "ops", "Authorization": "Bearer t"}, w.Spec.CustomHeaders)
	require.Empty(t, w.Spec.SecretHeaders)
	require.Equal(t, []string{"Authorization"}, w.Spec.SecretHeaderNames())
}

func TestWebhooks_Unique(t *testing.T) {
	t.Parallel()

	t.Run("NameAndURLConflicts", func(t *testing.T) {
		t.Parallel()
		_, b := setupWebhooks(t)
		b.create(t, webhookSpec("Taken", "https://example.com/taken", "*"))
		for field, s := range map[string]domain.WebhookSpec{
			"name": webhookSpec("Taken", "https://example.com/other", "*"),
			"url":  webhookSpec("Other", "https://example.com/taken", "*"),
		} {
			now := b.tick()
			id := domain.WebhookID(domain.NewID(domain.WebhookIDPrefix, now))
			err := b.execute(t.Context(), id, 0, func(*domain.Webhook) ([]domain.Event, error) {
				return domain.CreateWebhook(domain.CreateWebhookParams{ID: id, Spec: s}, domain.ValidationOpts{}, now)
			})
			require.ErrorIs(t, err, domain.ErrConflict)
			var fe *projections.FieldConflictError
			require.ErrorAs(t, err, &fe)
			require.Equal(t, field, fe.Field)
		}
		require.Len(t, webhookRows(t, b.pool), 1)
	})

	t.Run("ConflictLeavesTransactionUsable", func(t *testing.T) {
		t.Parallel()
		p, b := setupWebhooks(t)
		b.create(t, webhookSpec("Taken", "https://example.com/taken", "*"))
		ctx := t.Context()
		data, err := json.Marshal(domain.WebhookCreated{
			ID: "wh_clash", Spec: webhookSpec("Taken", "https://example.com/clash", "*"), Secret: domain.GenerateSecret(), At: b.now,
		})
		require.NoError(t, err)

		require.NoError(t, pgx.BeginFunc(ctx, b.pool, func(tx pgx.Tx) error {
			err := p.Project(ctx, tx, []domain.Recorded{{StreamID: "wh_clash", Version: 1, Type: domain.TypeWebhookCreated, Data: data}})
			require.ErrorIs(t, err, domain.ErrConflict)
			var n int
			return tx.QueryRow(ctx, `SELECT count(*) FROM webhooks`).Scan(&n)
		}))
	})
}

func TestWebhooks_Queries(t *testing.T) {
	t.Parallel()

	t.Run("GetDeletedIsNotFound", func(t *testing.T) {
		t.Parallel()
		_, b := setupWebhooks(t)
		id := b.create(t, webhookSpec("Gone", "https://example.com/gone", "*"))
		b.run(t, id, (*domain.Webhook).Delete)
		_, err := projections.GetWebhook(t.Context(), b.pool, id)
		require.ErrorIs(t, err, domain.ErrNotFound)
		_, err = projections.GetWebhook(t.Context(), b.pool, "wh_unknown")
		require.ErrorIs(t, err, domain.ErrNotFound)
	})

	t.Run("MatchSubscribers", func(t *testing.T) {
		t.Parallel()
		_, b := setupWebhooks(t)
		direct := b.create(t, webhookSpec("Direct", "https://example.com/direct", "compliance.alert"))
		wildcard := b.create(t, webhookSpec("Wildcard", "https://example.com/wildcard", "*"))
		paused := b.create(t, webhookSpec("Paused", "https://example.com/paused", "compliance.alert"))
		b.run(t, paused, (*domain.Webhook).Pause)
		inactive := b.create(t, webhookSpec("Inactive", "https://example.com/inactive", "compliance.alert"))
		b.run(t, inactive, func(w *domain.Webhook, now time.Time) ([]domain.Event, error) { return w.Deactivate("gone", now) })
		deleted := b.create(t, webhookSpec("Deleted", "https://example.com/deleted", "*"))
		b.run(t, deleted, (*domain.Webhook).Delete)
		b.create(t, webhookSpec("Other", "https://example.com/other", "validation.failed"))

		// The fan-out's query runs on the outbox consumer's database/sql
		// transaction.
		db := stdlib.OpenDBFromPool(b.pool)
		t.Cleanup(func() { _ = db.Close() })
		tx, err := db.BeginTx(t.Context(), nil)
		require.NoError(t, err)
		t.Cleanup(func() { _ = tx.Rollback() })
		got, err := projections.Subscribers{}.MatchSQLTx(t.Context(), tx,
			[]domain.EventRef{{ID: "evt_1", Type: "compliance.alert"}, {ID: "evt_2", Type: "batch.completed"}})
		require.NoError(t, err)
		var alert, batch []domain.DestinationID
		for _, s := range got {
			require.Equal(t, domain.KindWebhook, s.Kind)
			switch s.EventID {
			case "evt_1":
				require.Equal(t, "compliance.alert", s.EventType)
				alert = append(alert, s.DestinationID)
			case "evt_2":
				batch = append(batch, s.DestinationID)
			}
		}
		ids := func(ws ...domain.WebhookID) []domain.DestinationID {
			out := make([]domain.DestinationID, len(ws))
			for i, w := range ws {
				out[i] = domain.DestinationID(w)
			}
			return out
		}
		require.ElementsMatch(t, ids(direct, wildcard, paused), alert)
		require.ElementsMatch(t, ids(wildcard), batch, "only the wildcard takes other types")
	})
}
