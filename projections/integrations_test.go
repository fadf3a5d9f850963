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

type integrationsBundle struct {
	pool   *pgxpool.Pool
	events *eventstore.Store
	now    time.Time
}

// setupIntegrations returns a bundle whose event store projects webhooks
// and integrations inline, as in production.
func setupIntegrations(t *testing.T) *integrationsBundle {
	t.Helper()
	pool := dbtest.Pool(t, nil)
	events := eventstore.New(pool, eventstore.Config{Inline: []eventstore.InlineProjector{
		{StreamTypes: []string{domain.WebhookStreamType}, Project: projections.Webhooks{}.Project},
		{StreamTypes: []string{domain.IntegrationStreamType}, Project: projections.Integrations{}.Project},
	}})
	return &integrationsBundle{pool: pool, events: events, now: time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)}
}

func (b *integrationsBundle) tick() time.Time {
	b.now = b.now.Add(time.Second)
	return b.now
}

func (b *integrationsBundle) execute(ctx context.Context, id domain.IntegrationID, decide func(*domain.Integration) ([]domain.Event, error)) error {
	_, err := b.events.Execute(ctx, eventstore.ExecuteParams{
		StreamID: string(id), StreamType: domain.IntegrationStreamType, ExpectedVersion: domain.ExpectAny,
		Decide: func(history []domain.Recorded) ([]domain.Event, error) {
			i, err := domain.ReplayIntegration(history)
			if err != nil {
				return nil, err
			}
			return decide(i)
		},
	})
	return err
}

func integrationSpec(name string, kind domain.DestinationKind, eventTypes ...string) domain.IntegrationSpec {
	s := domain.DefaultIntegrationSpec(kind)
	s.Name, s.EventTypes = name, eventTypes
	return s
}

func (b *integrationsBundle) create(t *testing.T, s domain.IntegrationSpec) domain.IntegrationID {
	t.Helper()
	id, err := b.tryCreate(t, s)
	require.NoError(t, err)
	return id
}

func (b *integrationsBundle) tryCreate(t *testing.T, s domain.IntegrationSpec) (domain.IntegrationID, error) {
	t.Helper()
	now := b.tick()
	id := domain.IntegrationID(domain.NewID(domain.IntegrationIDPrefix, now))
	return id, b.execute(t.Context(), id, func(*domain.Integration) ([]domain.Event, error) {
		return domain.CreateIntegration(domain.CreateIntegrationParams{
			ID: id, Spec: s, Credentials: json.RawMessage(`{"webhook_url":"enc:v1:sealed"}`),
		}, nil, now)
	})
}

func (b *integrationsBundle) run(t *testing.T, id domain.IntegrationID, cmd func(i *domain.Integration, now time.Time) ([]domain.Event, error)) {
	t.Helper()
	now := b.tick()
	require.NoError(t, b.execute(t.Context(), id, func(i *domain.Integration) ([]domain.Event, error) { return cmd(i, now) }))
}

func TestIntegrations_ProjectAndQuery(t *testing.T) {
	t.Parallel()
	b := setupIntegrations(t)
	ctx := t.Context()
	slack := b.create(t, integrationSpec("slack-alerts", domain.KindSlack, domain.EventTypeComplianceAlert))
	zap := b.create(t, integrationSpec("zap", domain.KindZapier, "*"))
	b.run(t, slack, func(i *domain.Integration, now time.Time) ([]domain.Event, error) {
		return i.Subscribe(domain.EventTypeValidationFailed, now)
	})
	b.run(t, zap, (*domain.Integration).Pause)

	got, err := projections.GetIntegrationByName(ctx, b.pool, "slack-alerts")
	require.NoError(t, err)
	require.Equal(t, slack, got.ID)
	require.Equal(t, domain.KindSlack, got.Spec.Kind)
	require.Equal(t, domain.SourceAPI, got.Source)
	require.Equal(t, []string{domain.EventTypeComplianceAlert, domain.EventTypeValidationFailed}, got.Spec.EventTypes)
	require.Equal(t, `{"webhook_url":"enc:v1:sealed"}`, got.Credentials, "stored as the events carry them")
	require.JSONEq(t, `{}`, string(got.Spec.Config))
	require.Equal(t, int64(2), got.Version)
	require.Nil(t, got.LastTriggeredAt)

	list, err := projections.ListIntegrations(ctx, b.pool, domain.IntegrationFilter{Limit: 10})
	require.NoError(t, err)
	require.Len(t, list, 2)
	require.Equal(t, zap, list[0].ID, "newest first")
	list, err = projections.ListIntegrations(ctx, b.pool, domain.IntegrationFilter{Kind: domain.KindSlack, Limit: 10})
	require.NoError(t, err)
	require.Len(t, list, 1)
	list, err = projections.ListIntegrations(ctx, b.pool, domain.IntegrationFilter{EventType: domain.EventTypeBatchCompleted, Limit: 10})
	require.NoError(t, err)
	require.Len(t, list, 1, "the wildcard subscribes to everything")
	require.Equal(t, domain.WebhookStatusPaused, list[0].Status)

	// The fan-out matches active and paused integrations with their kind.
	db := stdlib.OpenDBFromPool(b.pool)
	t.Cleanup(func() { _ = db.Close() })
	tx, err := db.BeginTx(ctx, nil)
	require.NoError(t, err)
	subs, err := projections.Subscribers{}.MatchSQLTx(ctx, tx, []domain.EventRef{{ID: "evt_1", Type: domain.EventTypeComplianceAlert}})
	require.NoError(t, err)
	require.NoError(t, tx.Rollback())
	require.ElementsMatch(t, []domain.Subscription{
		{EventID: "evt_1", EventType: domain.EventTypeComplianceAlert, DestinationID: domain.DestinationID(slack), Kind: domain.KindSlack},
		{EventID: "evt_1", EventType: domain.EventTypeComplianceAlert, DestinationID: domain.DestinationID(zap), Kind: domain.KindZapier},
	}, subs)

	b.run(t, zap, func(i *domain.Integration, now time.Time) ([]domain.Event, error) { return i.Delete("", now) })
	_, err = projections.GetIntegrationByName(ctx, b.pool, "zap")
	require.ErrorIs(t, err, domain.ErrNotFound)
	deleted, err := projections.IntegrationAnyStatus(ctx, b.pool, zap)
	require.NoError(t, err, "the worker sees deleted integrations")
	require.Equal(t, domain.WebhookStatusDeleted, deleted.Status)
}

func TestIntegrations_NameUnique(t *testing.T) {
	t.Parallel()
	b := setupIntegrations(t)
	first := b.create(t, integrationSpec("taken", domain.KindTeams))
	_, err := b.tryCreate(t, integrationSpec("taken", domain.KindSlack))
	require.ErrorIs(t, err, domain.ErrConflict)
	var fe *projections.FieldConflictError
	require.ErrorAs(t, err, &fe)
	require.Equal(t, "name", fe.Field)
	require.Contains(t, fe.Error(), "another integration")

	// Deleting frees the name; a webhook of the same name never clashed.
	b.run(t, first, func(i *domain.Integration, now time.Time) ([]domain.Event, error) { return i.Delete("", now) })
	b.create(t, integrationSpec("taken", domain.KindSlack))
}

func TestIntegrations_RebuildIsIdentical(t *testing.T) {
	t.Parallel()
	b := setupIntegrations(t)
	ctx := t.Context()
	a := b.create(t, integrationSpec("a", domain.KindSlack, "*"))
	c := b.create(t, integrationSpec("c", domain.KindEmail))
	b.run(t, a, (*domain.Integration).Pause)
	b.run(t, c, func(i *domain.Integration, now time.Time) ([]domain.Event, error) { return i.Delete("", now) })
	b.create(t, integrationSpec("c", domain.KindZapier, domain.EventTypeReportGenerated))

	before := tableJSONOf(t, b.pool, `SELECT * FROM integrations ORDER BY id`)
	var n int
	require.NoError(t, pgx.BeginFunc(ctx, b.pool, func(tx pgx.Tx) error {
		var err error
		n, err = projections.RebuildIntegrations(ctx, tx, func(ctx context.Context, q projections.DB, st, after string, v int64, limit int) ([]domain.Recorded, error) {
			return eventstore.ReadStreams(ctx, q, st, after, v, limit)
		})
		return err
	}))
	require.Equal(t, 5, n)
	require.JSONEq(t, before, tableJSONOf(t, b.pool, `SELECT * FROM integrations ORDER BY id`))
}

func TestIntegrations_Health(t *testing.T) {
	t.Parallel()
	b := setupIntegrations(t)
	ctx := t.Context()
	slack := b.create(t, integrationSpec("a-slack", domain.KindSlack, "*"))
	quiet := b.create(t, integrationSpec("b-quiet", domain.KindTeams, "*"))
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	// Attempts: one success 3 h ago (outside the window), one failure and
	// one success within the last hour, then the latest failure.
	for i, a := range []struct {
		ago    time.Duration
		status domain.DeliveryStatus
		code   int
		detail string
	}{
		{3 * time.Hour, domain.DeliveryDelivered, 200, ""},
		{50 * time.Minute, domain.DeliveryRetrying, 503, "HTTP 503 Service Unavailable"},
		{40 * time.Minute, domain.DeliveryDelivered, 200, ""},
		{10 * time.Minute, domain.DeliveryPermanentFailure, 404, "slack: channel_not_found"},
	} {
		_, err := b.pool.Exec(ctx, `INSERT INTO delivery_attempts (delivery_id, attempt, destination_id, event_type, status,
			status_code, error_category, error_detail, duration_ms, attempted_at) VALUES ($1, 1, $2, 'x', $3, $4, 'http_4xx', nullif($5, ''), 1, $6)`,
			"dlv_"+string(rune('a'+i)), string(slack), string(a.status), a.code, a.detail, now.Add(-a.ago))
		require.NoError(t, err)
	}
	hs, err := projections.IntegrationHealth(ctx, b.pool, now.Add(-time.Hour), "", 10)
	require.NoError(t, err)
	require.Len(t, hs, 2)
	h := hs[0]
	require.Equal(t, slack, h.ID)
	require.Equal(t, now.Add(-40*time.Minute), *h.LastSuccessAt)
	require.Equal(t, now.Add(-10*time.Minute), *h.LastFailureAt)
	require.Equal(t, 404, h.LastFailureStatusCode)
	require.Equal(t, "slack: channel_not_found", h.LastFailureReason)
	require.Equal(t, 3, h.AttemptsInWindow)
	require.Equal(t, 2, h.FailuresInWindow)
	require.InDelta(t, 2.0/3, h.FailureRate(), 1e-9)
	require.Equal(t, quiet, hs[1].ID)
	require.Nil(t, hs[1].LastSuccessAt)
	require.Zero(t, hs[1].FailureRate())

	page, err := projections.IntegrationHealth(ctx, b.pool, now.Add(-time.Hour), "a-slack", 10)
	require.NoError(t, err)
	require.Len(t, page, 1, "pages by name")

	got, err := projections.GetIntegrationByName(ctx, b.pool, "a-slack")
	require.NoError(t, err)
	require.Equal(t, now.Add(-10*time.Minute), *got.LastTriggeredAt, "last_triggered_at comes from the attempts")
}

func tableJSONOf(t *testing.T, pool *pgxpool.Pool, query string) string {
	t.Helper()
	var out []byte
	require.NoError(t, pool.QueryRow(t.Context(), `SELECT coalesce(jsonb_agg(to_jsonb(x)), '[]') FROM (`+query+`) x`).Scan(&out))
	return string(out)
}
