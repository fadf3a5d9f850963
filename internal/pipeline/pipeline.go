// Package pipeline wires the event store, the read models, the relay and a
// connector into the storage the relay needs (Store) and the machinery the
// API's event and delivery operations need (API).
package pipeline

import (
	"context"
	"database/sql"
	"encoding/json"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/loki-interceptor/lokihooks/domain"
	"github.com/loki-interceptor/lokihooks/eventstore"
	"github.com/loki-interceptor/lokihooks/httpapi"
	"github.com/loki-interceptor/lokihooks/internal/secretbox"
	"github.com/loki-interceptor/lokihooks/internal/webhookstore"
	"github.com/loki-interceptor/lokihooks/projections"
	"github.com/loki-interceptor/lokihooks/relay"
)

// Store implements relay.Store.
type Store struct {
	events *eventstore.Store
	pool   *pgxpool.Pool
	box    *secretbox.Box
}

var _ relay.Store = (*Store)(nil)

// NewStore returns the relay's storage; box opens the signing secrets
// (nil: plain text).
func NewStore(events *eventstore.Store, pool *pgxpool.Pool, box *secretbox.Box) *Store {
	return &Store{events: events, pool: pool, box: box}
}

// MatchSQLTx implements relay.Store.
func (s *Store) MatchSQLTx(ctx context.Context, tx *sql.Tx, events []relay.OutboxEvent) ([]relay.Subscription, error) {
	ids := make([]string, len(events))
	types := make([]string, len(events))
	for i, e := range events {
		ids[i], types[i] = string(e.ID), e.Type
	}
	subs, err := projections.MatchSubscribersSQLTx(ctx, tx, ids, types)
	if err != nil {
		return nil, err
	}
	out := make([]relay.Subscription, len(subs))
	for i, m := range subs {
		out[i] = relay.Subscription{EventID: m.EventID, EventType: m.EventType, WebhookID: m.WebhookID}
	}
	return out, nil
}

// StartStreamsSQLTx implements relay.Store.
func (s *Store) StartStreamsSQLTx(ctx context.Context, tx *sql.Tx, streamType string, streams []domain.NewStream) ([]string, error) {
	return s.events.StartStreamsSQLTx(ctx, tx, streamType, streams)
}

// Webhook implements relay.Store.
func (s *Store) Webhook(ctx context.Context, id domain.WebhookID) (*domain.Webhook, error) {
	w, err := projections.WebhookAnyStatus(ctx, s.pool, id)
	if err != nil {
		return nil, err
	}
	return webhookstore.OpenSecrets(s.box, w)
}

// EventBody implements relay.Store.
func (s *Store) EventBody(ctx context.Context, id domain.EventID) ([]byte, error) {
	return projections.PublishedBody(ctx, s.pool, id)
}

// AppendStreamTx implements relay.Store.
func (s *Store) AppendStreamTx(ctx context.Context, tx pgx.Tx, streamID, streamType string, expected int64,
	meta map[string]string, events ...domain.Event,
) ([]domain.Recorded, error) {
	return s.events.AppendStreamTx(ctx, tx, streamID, streamType, expected, meta, events...)
}

// AppendNextTx implements relay.Store.
func (s *Store) AppendNextTx(ctx context.Context, tx pgx.Tx, events []domain.NewStream, streamType string) error {
	return s.events.AppendNextTx(ctx, tx, events, streamType)
}

// LoadStreamTx implements relay.Store.
func (s *Store) LoadStreamTx(ctx context.Context, tx pgx.Tx, streamID string) ([]domain.Recorded, error) {
	return eventstore.LoadTx(ctx, tx, streamID)
}

// Sender makes one attempt (*connectors.Webhook).
type Sender interface {
	Send(ctx context.Context, req domain.AttemptRequest) domain.AttemptResult
}

// API implements httpapi.Pipeline.
type API struct {
	pool   *pgxpool.Pool
	relay  *relay.Relay
	sender Sender
	box    *secretbox.Box
	now    func() time.Time
}

var _ httpapi.Pipeline = (*API)(nil)

// NewAPI returns the API's pipeline. box opens signing secrets (nil: plain
// text); now defaults to time.Now.
func NewAPI(pool *pgxpool.Pool, r *relay.Relay, sender Sender, box *secretbox.Box, now func() time.Time) *API {
	if now == nil {
		now = time.Now
	}
	return &API{pool: pool, relay: r, sender: sender, box: box, now: now}
}

// Publish implements httpapi.Pipeline.
func (a *API) Publish(ctx context.Context, p httpapi.PublishRequest) (domain.EventID, bool, error) {
	// The API checks data against the catalog schema (lokihooks_publish,
	// called from producers' own transactions, checks the type only).
	if err := domain.ValidateEventData(p.Type, p.Data); err != nil {
		return "", false, err
	}
	return eventstore.PublishIdempotent(ctx, a.pool, p.IdempotencyKey, eventstore.PublishParams{
		Type: p.Type, Data: p.Data, ID: p.ID, Metadata: p.Metadata,
	})
}

// GetEvent implements httpapi.Pipeline.
func (a *API) GetEvent(ctx context.Context, id domain.EventID) (*domain.PublishedEvent, error) {
	return projections.GetPublishedEvent(ctx, a.pool, id)
}

// ListEvents implements httpapi.Pipeline.
func (a *API) ListEvents(ctx context.Context, f domain.PublishedEventFilter) ([]domain.PublishedEvent, error) {
	return projections.ListPublishedEvents(ctx, a.pool, f)
}

// ListDeliveries implements httpapi.Pipeline.
func (a *API) ListDeliveries(ctx context.Context, f domain.DeliveryFilter) ([]domain.DeliveryView, error) {
	return projections.ListDeliveries(ctx, a.pool, f)
}

// GetDelivery implements httpapi.Pipeline.
func (a *API) GetDelivery(ctx context.Context, id domain.DeliveryID) (*domain.DeliveryView, []domain.AttemptView, error) {
	d, err := projections.GetDelivery(ctx, a.pool, id)
	if err != nil {
		return nil, nil, err
	}
	attempts, err := projections.ListAttempts(ctx, a.pool, id)
	if err != nil {
		return nil, nil, err
	}
	return d, attempts, nil
}

// Redrive implements httpapi.Pipeline.
func (a *API) Redrive(ctx context.Context, webhookID domain.WebhookID, f domain.DeliveryFilter) (int, error) {
	if _, err := projections.GetWebhook(ctx, a.pool, webhookID); err != nil {
		return 0, err
	}
	ds, err := projections.RedrivableDeliveries(ctx, a.pool, webhookID, f)
	if err != nil {
		return 0, err
	}
	return a.relay.Redrive(ctx, ds)
}

// TestWebhook implements httpapi.Pipeline: it sends a signed webhook.test
// event to the webhook now. The test is not recorded as a delivery.
func (a *API) TestWebhook(ctx context.Context, webhookID domain.WebhookID) (domain.AttemptResult, error) {
	hook, err := projections.GetWebhook(ctx, a.pool, webhookID)
	if err == nil {
		hook, err = webhookstore.OpenSecrets(a.box, hook)
	}
	if err != nil {
		return domain.AttemptResult{}, err
	}
	now := a.now().UTC()
	id := domain.NewID(domain.EventIDPrefix, now)
	body, err := json.Marshal(map[string]any{
		"id": id, "type": domain.EventTypeWebhookTest, "timestamp": now.Format(time.RFC3339Nano),
		"data": map[string]any{"message": "Test event from lokihooks", "sent_at": now.Format(time.RFC3339Nano)},
	})
	if err != nil {
		return domain.AttemptResult{}, err
	}
	return a.sender.Send(ctx, domain.AttemptRequest{
		URL: hook.Spec.URL, EventID: id, EventType: domain.EventTypeWebhookTest,
		DeliveryID: string(domain.DeliveryIDFor(domain.EventID(id), webhookID)), Attempt: 1, Body: body,
		Secrets: hook.SigningSecrets(now), Headers: hook.Spec.CustomHeaders,
		Timeout: time.Duration(hook.Spec.TimeoutSeconds) * time.Second, Now: now,
	}), nil
}

// WakeWebhook implements httpapi.Pipeline.
func (a *API) WakeWebhook(ctx context.Context, webhookID domain.WebhookID) error {
	_, err := a.relay.Wake(ctx, webhookID)
	return err
}
