package httpapi

import (
	"context"
	"encoding/json"

	"github.com/loki-interceptor/lokihooks/domain"
)

// PublishRequest is an event submitted through the API.
type PublishRequest struct {
	Type     string
	Data     json.RawMessage
	ID       string
	Metadata map[string]string
	// IdempotencyKey, when set, makes a retried request return the first
	// response instead of publishing again.
	IdempotencyKey string
}

// Pipeline is the storage and delivery machinery behind the event and
// delivery operations.
type Pipeline interface {
	// Publish writes an event into the outbox. replayed reports that the
	// idempotency key was seen before with the same request. Errors match
	// domain.ErrUnknownEventType, domain.ErrInvalid or domain.ErrConflict
	// (idempotency key or event id reused with a different request).
	Publish(ctx context.Context, p PublishRequest) (id domain.EventID, replayed bool, err error)
	// GetEvent returns a published event (domain.ErrNotFound if unknown).
	GetEvent(ctx context.Context, id domain.EventID) (*domain.PublishedEvent, error)
	// ListEvents returns published events in publication order.
	ListEvents(ctx context.Context, f domain.PublishedEventFilter) ([]domain.PublishedEvent, error)
	// ListDeliveries returns deliveries ordered by (created_at, id).
	ListDeliveries(ctx context.Context, f domain.DeliveryFilter) ([]domain.DeliveryView, error)
	// GetDelivery returns a delivery with every attempt.
	GetDelivery(ctx context.Context, id domain.DeliveryID) (*domain.DeliveryView, []domain.AttemptView, error)
	// Redrive schedules a new attempt for the webhook's failed and
	// permanent_failure deliveries selected by f and returns how many.
	Redrive(ctx context.Context, webhookID domain.WebhookID, f domain.DeliveryFilter) (int, error)
	// TestWebhook sends a signed webhook.test event to the webhook now.
	TestWebhook(ctx context.Context, webhookID domain.WebhookID) (domain.AttemptResult, error)
	// WakeWebhook runs the held deliveries of a resumed webhook now.
	WakeWebhook(ctx context.Context, webhookID domain.WebhookID) error
}

// registerPipeline registers the event and delivery operations.
func (a *API) registerPipeline() {
	if a.deps.Pipeline == nil && a.deps.Webhooks != nil {
		return
	}
	a.registerEvents()
	a.registerDeliveries()
}
