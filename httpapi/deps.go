package httpapi

import (
	"context"

	"github.com/loki-interceptor/lokihooks/domain"
)

// Webhooks are the webhook use cases (*app.Webhooks). Commands take the
// version the client read (If-Match) or domain.ExpectAny; a mismatch is a
// *domain.ConflictError.
type Webhooks interface {
	CreateWebhook(ctx context.Context, spec domain.WebhookSpec, secret string) (*domain.Webhook, error)
	UpdateWebhook(ctx context.Context, id domain.WebhookID, expected int64, edit func(domain.WebhookSpec) domain.WebhookSpec) (*domain.Webhook, error)
	PauseWebhook(ctx context.Context, id domain.WebhookID, expected int64) (*domain.Webhook, error)
	ResumeWebhook(ctx context.Context, id domain.WebhookID, expected int64) (*domain.Webhook, error)
	DeleteWebhook(ctx context.Context, id domain.WebhookID, expected int64) error
	RotateWebhookSecret(ctx context.Context, id domain.WebhookID, expected int64, p domain.RotateSecretParams) (*domain.Webhook, error)
	// GetWebhook returns a webhook that exists and is not deleted, or an
	// error matching domain.ErrNotFound.
	GetWebhook(ctx context.Context, id domain.WebhookID) (*domain.Webhook, error)
	ListWebhooks(ctx context.Context, f domain.WebhookFilter) ([]domain.Webhook, error)
	// TestWebhook sends a signed webhook.test event to the webhook now.
	TestWebhook(ctx context.Context, id domain.WebhookID) (domain.AttemptResult, error)
}

// Events are the event use cases (*app.Events).
type Events interface {
	// Publish writes an event into the outbox. replayed reports that the
	// idempotency key was seen before with the same request. Errors match
	// domain.ErrUnknownEventType, domain.ErrInvalid, domain.ErrConflict
	// (event id reused with other content) or
	// domain.ErrIdempotencyKeyReused.
	Publish(ctx context.Context, p domain.PublishRequest) (id domain.EventID, replayed bool, err error)
	GetEvent(ctx context.Context, id domain.EventID) (*domain.PublishedEvent, error)
	ListEvents(ctx context.Context, f domain.PublishedEventFilter) ([]domain.PublishedEvent, error)
}

// Deliveries are the delivery use cases (*app.Deliveries).
type Deliveries interface {
	ListDeliveries(ctx context.Context, f domain.DeliveryFilter) ([]domain.DeliveryView, error)
	GetDelivery(ctx context.Context, id domain.DeliveryID) (*domain.DeliveryView, []domain.AttemptView, error)
	// Redrive schedules a new attempt for the destination's failed and
	// permanent_failure deliveries selected by f and returns how many.
	Redrive(ctx context.Context, destination domain.DestinationID, f domain.DeliveryFilter) (int, error)
}

// Readiness reports whether the service can do its work (database reachable,
// migrations current).
type Readiness interface {
	Ready(ctx context.Context) error
}
