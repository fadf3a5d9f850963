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
	"github.com/loki-interceptor/lokihooks/internal/secretbox"
	"github.com/loki-interceptor/lokihooks/projections"
)

// Store implements the webhook storage of httpapi and relay.
type Store struct {
	events *eventstore.Store
	pool   *pgxpool.Pool
	box    *secretbox.Box
}

// New returns a Store. events must run projections.Webhooks inline. box
// encrypts signing secrets in the event log and the read model; nil keeps
// them in plain text (tests).
func New(events *eventstore.Store, pool *pgxpool.Pool, box *secretbox.Box) *Store {
	return &Store{events: events, pool: pool, box: box}
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
			w, err := s.replay(history)
			if err != nil {
				return nil, err
			}
			if expectedVersion != 0 && !w.Exists() {
				return nil, fmt.Errorf("webhook %s: %w", id, domain.ErrNotFound)
			}
			events, err := decide(w)
			return s.seal(events), err
		},
	})
	if err != nil {
		return nil, err
	}
	w, err := s.replay(append(res.History, res.Events...))
	if err != nil {
		return nil, err
	}
	if stored, err := projections.GetWebhook(ctx, s.pool, id); err == nil {
		w.LastTriggeredAt = stored.LastTriggeredAt
	}
	return w, nil
}

// replay rebuilds a webhook with its secrets in plain text.
func (s *Store) replay(history []domain.Recorded) (*domain.Webhook, error) {
	w, err := domain.ReplayWebhook(history)
	if err != nil {
		return nil, err
	}
	return OpenSecrets(s.box, w)
}

// seal encrypts the secrets that events carry.
func (s *Store) seal(events []domain.Event) []domain.Event {
	for i, e := range events {
		switch e := e.(type) {
		case domain.WebhookCreated:
			e.Secret = s.box.Seal(e.Secret)
			events[i] = e
		case domain.WebhookSecretRotated:
			e.Secret = s.box.Seal(e.Secret)
			events[i] = e
		}
	}
	return events
}

// OpenSecrets decrypts a webhook's current and previous secrets in place.
func OpenSecrets(box *secretbox.Box, w *domain.Webhook) (*domain.Webhook, error) {
	var err error
	if w.Secret, err = box.Open(w.Secret); err != nil {
		return nil, fmt.Errorf("webhook %s: %w", w.ID, err)
	}
	for i := range w.PreviousSecrets {
		if w.PreviousSecrets[i].Secret, err = box.Open(w.PreviousSecrets[i].Secret); err != nil {
			return nil, fmt.Errorf("webhook %s: %w", w.ID, err)
		}
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
