// Package webhookstore joins the event store (writes) and the webhooks read
// model (reads) into the storage the API and the relay use for webhooks:
// load → decide → append, with the read model updated in the same
// transaction.
package webhookstore

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/loki-interceptor/lokihooks/domain"
	"github.com/loki-interceptor/lokihooks/eventstore"
	"github.com/loki-interceptor/lokihooks/projections"
)

// Store implements the webhook storage of httpapi and relay.
type Store struct {
	events *eventstore.Store
	pool   *pgxpool.Pool
}

// New returns a Store. events must run projections.Webhooks inline.
func New(events *eventstore.Store, pool *pgxpool.Pool) *Store {
	return &Store{events: events, pool: pool}
}

// ExecuteWebhook runs decide against the webhook's history and appends the
// resulting events; see httpapi.Webhooks.
func (s *Store) ExecuteWebhook(ctx context.Context, id domain.WebhookID, expectedVersion int64,
	decide func(w *domain.Webhook) ([]domain.Event, error),
) (*domain.Webhook, error) {
	res, err := s.events.Execute(ctx, eventstore.ExecuteParams{
		StreamID:        string(id),
		StreamType:      domain.WebhookStreamType,
		ExpectedVersion: expectedVersion,
		Decide: func(history []domain.Recorded) ([]domain.Event, error) {
			w, err := domain.ReplayWebhook(history)
			if err != nil {
				return nil, err
			}
			if expectedVersion != 0 && !w.Exists() {
				return nil, fmt.Errorf("webhook %s: %w", id, domain.ErrNotFound)
			}
			return decide(w)
		},
	})
	if err != nil {
		return nil, err
	}
	w, err := domain.ReplayWebhook(append(res.History, res.Events...))
	if err != nil {
		return nil, err
	}
	if stored, err := projections.GetWebhook(ctx, s.pool, id); err == nil {
		w.LastTriggeredAt = stored.LastTriggeredAt
	}
	return w, nil
}

// GetWebhook returns a webhook from the read model.
func (s *Store) GetWebhook(ctx context.Context, id domain.WebhookID) (*domain.Webhook, error) {
	return projections.GetWebhook(ctx, s.pool, id)
}

// ListWebhooks returns a page of webhooks from the read model.
func (s *Store) ListWebhooks(ctx context.Context, f domain.WebhookFilter) ([]domain.Webhook, error) {
	return projections.ListWebhooks(ctx, s.pool, f)
}
