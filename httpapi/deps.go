package httpapi

import (
	"context"
	"encoding/json"

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

// Integrations are the integration use cases (*app.Integrations). An
// integration is addressed by its name; commands take the version the
// client read (If-Match) or domain.ExpectAny. Credentials are write-only:
// no integration returned here carries them.
type Integrations interface {
	// CreateIntegration creates an integration of kind whose spec is
	// edit(the kind's defaults).
	CreateIntegration(ctx context.Context, kind domain.DestinationKind, credentials json.RawMessage, edit func(defaults domain.IntegrationSpec) domain.IntegrationSpec) (*domain.Integration, error)
	// UpdateIntegration replaces the spec with edit(current, the kind's
	// defaults); nil credentials keep the stored ones.
	UpdateIntegration(ctx context.Context, name string, expected int64, credentials json.RawMessage, edit func(current, defaults domain.IntegrationSpec) domain.IntegrationSpec) (*domain.Integration, error)
	DeleteIntegration(ctx context.Context, name string, expected int64) error
	PauseIntegration(ctx context.Context, name string, expected int64) (*domain.Integration, error)
	ResumeIntegration(ctx context.Context, name string, expected int64) (*domain.Integration, error)
	SubscribeIntegration(ctx context.Context, name string, expected int64, eventType string) (*domain.Integration, error)
	// UnsubscribeIntegration fails with domain.ErrNotFound when the event
	// type is not subscribed.
	UnsubscribeIntegration(ctx context.Context, name string, expected int64, eventType string) (*domain.Integration, error)
	// GetIntegration returns an integration that is not deleted, or an
	// error matching domain.ErrNotFound.
	GetIntegration(ctx context.Context, name string) (*domain.Integration, error)
	ListIntegrations(ctx context.Context, f domain.IntegrationFilter) ([]domain.Integration, error)
	// TestIntegration sends a sample event through the integration now.
	TestIntegration(ctx context.Context, name string) (domain.AttemptResult, error)
	// Health pages by name; after is the last name of the previous page.
	Health(ctx context.Context, after string, limit int) ([]domain.IntegrationHealth, error)
	Marketplace() []domain.IntegrationKindView
	// SubscribeZapier and UnsubscribeZapier are a Zapier app's REST hooks.
	SubscribeZapier(ctx context.Context, targetURL, eventType string) (*domain.Integration, error)
	UnsubscribeZapier(ctx context.Context, id domain.IntegrationID) error
}
