package httpapi

import (
	"context"

	"github.com/loki-interceptor/lokihooks/domain"
)

// Webhooks is the storage the webhook operations need.
type Webhooks interface {
	// ExecuteWebhook runs decide against the webhook's current state (a zero
	// Webhook when the id is new) and appends the events it returns.
	// expectedVersion -1 skips the version check; otherwise a different
	// current version returns an error matching domain.ErrVersionConflict.
	// It returns the webhook as stored after the command.
	ExecuteWebhook(ctx context.Context, id domain.WebhookID, expectedVersion int64, decide func(w *domain.Webhook) ([]domain.Event, error)) (*domain.Webhook, error)
	// GetWebhook returns a webhook that exists and is not deleted, or an
	// error matching domain.ErrNotFound.
	GetWebhook(ctx context.Context, id domain.WebhookID) (*domain.Webhook, error)
	// ListWebhooks returns one page of webhooks ordered by id.
	ListWebhooks(ctx context.Context, f domain.WebhookFilter) ([]domain.Webhook, error)
}

// Readiness reports whether the service can do its work (database reachable,
// migrations current).
type Readiness interface {
	Ready(ctx context.Context) error
}
