package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/loki-interceptor/lokihooks/connectors"
	"github.com/loki-interceptor/lokihooks/domain"
	"github.com/loki-interceptor/lokihooks/eventstore"
	"github.com/loki-interceptor/lokihooks/internal/secretbox"
	"github.com/loki-interceptor/lokihooks/projections"
)

// HealthWindow is the span over which Integrations.Health counts attempts
// and failures.
const HealthWindow = time.Hour

// zapierRESTHookPrefix starts the generated name of a Zapier REST-hook
// subscription.
const zapierRESTHookPrefix = "zapier-"

// Integrations runs integration commands and reads: Slack, Teams, email
// and Zapier destinations, addressed by name. Credentials are sealed at
// rest (Config.Secrets) and never leave this type in a result: every
// integration it returns has empty Credentials. It is safe for concurrent
// use.
type Integrations struct {
	pool   *pgxpool.Pool
	events *eventstore.Store
	waker  Waker
	sender Sender
	cfg    Config
}

// NewIntegrations returns the integration use cases. events must project
// integration streams inline (projections.Integrations). waker and sender
// may be nil: resume then leaves parked deliveries to their next check,
// and test-integration fails.
func NewIntegrations(pool *pgxpool.Pool, events *eventstore.Store, waker Waker, sender Sender, cfg Config) *Integrations {
	return &Integrations{pool: pool, events: events, waker: waker, sender: sender, cfg: cfg}
}

// IntegrationDefaults returns the spec an integration of kind starts with:
// the delivery defaults shared by every destination, with the kind's own
// rate limit and timeout from the connectors' registry (Slack: 60 per
// minute, about one message per second).
func IntegrationDefaults(kind domain.DestinationKind) domain.IntegrationSpec {
	spec := domain.DefaultIntegrationSpec(kind)
	if info, ok := connectors.LookupKind(kind); ok {
		spec.RateLimitPerMinute, spec.TimeoutSeconds = info.Defaults.RateLimitPerMinute, info.Defaults.TimeoutSeconds
	}
	return spec
}

// validate is the domain's IntegrationValidator: the kind's schemas (and
// the rules they cannot express), then the deployment policy on a
// credential's webhook_url (https unless AllowHTTP, no user info or
// fragment).
func (h *Integrations) validate(kind domain.DestinationKind, credentials, config json.RawMessage) error {
	if err := connectors.ValidateIntegration(kind, credentials, config); err != nil {
		return err
	}
	var c struct {
		WebhookURL string `json:"webhook_url"`
	}
	if json.Unmarshal(credentials, &c) != nil || c.WebhookURL == "" {
		return nil
	}
	err := domain.ValidateWebhookURL(c.WebhookURL, h.cfg.Validation.AllowHTTP)
	var ve *domain.ValidationError
	if errors.As(err, &ve) {
		for i := range ve.Fields {
			ve.Fields[i].Field = "credentials.webhook_url"
		}
	}
	return err
}

// CreateIntegration creates an integration of kind with edit(defaults) as
// its spec and credentials (a JSON object, plain text) as its credentials.
// A name in use is a *projections.FieldConflictError (domain.ErrConflict).
func (h *Integrations) CreateIntegration(ctx context.Context, kind domain.DestinationKind, credentials json.RawMessage, edit func(domain.IntegrationSpec) domain.IntegrationSpec) (*domain.Integration, error) {
	spec := edit(IntegrationDefaults(kind))
	spec.Kind = kind
	return h.create(ctx, spec, credentials, domain.SourceAPI)
}

func (h *Integrations) create(ctx context.Context, spec domain.IntegrationSpec, credentials json.RawMessage, source domain.IntegrationSource) (*domain.Integration, error) {
	now := h.cfg.now()
	id := domain.IntegrationID(domain.NewID(domain.IntegrationIDPrefix, now))
	return h.execute(ctx, id, 0, func(*domain.Integration) ([]domain.Event, error) {
		return domain.CreateIntegration(domain.CreateIntegrationParams{
			ID: id, Spec: spec, Credentials: credentials, Source: source,
		}, h.validate, now)
	})
}

// UpdateIntegration replaces the configuration of the integration named
// name with edit(current, defaults of its kind). credentials, when not nil,
// replaces its credentials; nil keeps them. expected is the version the
// caller read (If-Match) or domain.ExpectAny; a mismatch is a
// *domain.ConflictError. Without an expected version, a lost race is
// decided again on the new state (ErrBusy after maxCommandAttempts).
func (h *Integrations) UpdateIntegration(ctx context.Context, name string, expected int64, credentials json.RawMessage, edit func(current, defaults domain.IntegrationSpec) domain.IntegrationSpec) (*domain.Integration, error) {
	return h.executeNamed(ctx, name, expected, func(i *domain.Integration) ([]domain.Event, error) {
		return i.Update(edit(i.Spec, IntegrationDefaults(i.Spec.Kind)), credentials, h.validate, h.cfg.now())
	})
}

// DeleteIntegration deletes an integration; its name becomes free.
func (h *Integrations) DeleteIntegration(ctx context.Context, name string, expected int64) error {
	_, err := h.executeNamed(ctx, name, expected, func(i *domain.Integration) ([]domain.Event, error) {
		return i.Delete("", h.cfg.now())
	})
	return err
}

// PauseIntegration holds the integration's deliveries until
// ResumeIntegration.
func (h *Integrations) PauseIntegration(ctx context.Context, name string, expected int64) (*domain.Integration, error) {
	return h.executeNamed(ctx, name, expected, func(i *domain.Integration) ([]domain.Event, error) {
		return i.Pause(h.cfg.now())
	})
}

// ResumeIntegration makes a paused or inactive integration active and
// releases its parked deliveries. A failure to release them is not an
// error of the command: they are released at their next check anyway.
func (h *Integrations) ResumeIntegration(ctx context.Context, name string, expected int64) (*domain.Integration, error) {
	i, err := h.executeNamed(ctx, name, expected, func(i *domain.Integration) ([]domain.Event, error) {
		return i.Resume(h.cfg.now())
	})
	if err != nil || h.waker == nil {
		return i, err
	}
	if _, err := h.waker.Wake(ctx, domain.DestinationID(i.ID)); err != nil {
		h.cfg.logger().WarnContext(ctx, "resumed integration; its held deliveries wait for their next check",
			"integration_id", i.ID, "error", err)
	}
	return i, nil
}

// SubscribeIntegration subscribes the integration to eventType (a catalog
// name or "*"); subscribing again changes nothing.
func (h *Integrations) SubscribeIntegration(ctx context.Context, name string, expected int64, eventType string) (*domain.Integration, error) {
	return h.executeNamed(ctx, name, expected, func(i *domain.Integration) ([]domain.Event, error) {
		return i.Subscribe(eventType, h.cfg.now())
	})
}

// UnsubscribeIntegration removes a subscription; one that does not exist
// is domain.ErrNotFound.
func (h *Integrations) UnsubscribeIntegration(ctx context.Context, name string, expected int64, eventType string) (*domain.Integration, error) {
	return h.executeNamed(ctx, name, expected, func(i *domain.Integration) ([]domain.Event, error) {
		return i.Unsubscribe(eventType, h.cfg.now())
	})
}

// SubscribeZapier is a Zapier app's REST-hook subscription: a Zapier
// integration named zapier-<id> that posts eventType to targetURL, until
// UnsubscribeZapier or a 410 Gone from the target deletes it.
func (h *Integrations) SubscribeZapier(ctx context.Context, targetURL, eventType string) (*domain.Integration, error) {
	spec := IntegrationDefaults(domain.KindZapier)
	spec.EventTypes = []string{eventType}
	credentials, err := json.Marshal(map[string]string{"webhook_url": targetURL})
	if err != nil {
		return nil, err
	}
	now := h.cfg.now()
	id := domain.IntegrationID(domain.NewID(domain.IntegrationIDPrefix, now))
	spec.Name = zapierRESTHookPrefix + strings.ToLower(strings.TrimPrefix(string(id), domain.IntegrationIDPrefix))
	return h.execute(ctx, id, 0, func(*domain.Integration) ([]domain.Event, error) {
		return domain.CreateIntegration(domain.CreateIntegrationParams{
			ID: id, Spec: spec, Credentials: credentials, Source: domain.SourceZapierRESTHook,
		}, h.validate, now)
	})
}

// UnsubscribeZapier deletes a REST-hook subscription by id; any other id
// is domain.ErrNotFound.
func (h *Integrations) UnsubscribeZapier(ctx context.Context, id domain.IntegrationID) error {
	_, err := h.execute(ctx, id, domain.ExpectAny, func(i *domain.Integration) ([]domain.Event, error) {
		if !i.Exists() || i.Status == domain.WebhookStatusDeleted || i.Source != domain.SourceZapierRESTHook {
			return nil, fmt.Errorf("zapier subscription %s: %w", id, domain.ErrNotFound)
		}
		return i.Delete("", h.cfg.now())
	})
	return err
}

// GetIntegration returns the integration named name that is not deleted
// (domain.ErrNotFound otherwise), with its circuit breaker, without its
// credentials.
func (h *Integrations) GetIntegration(ctx context.Context, name string) (*domain.Integration, error) {
	i, err := projections.GetIntegrationByName(ctx, h.pool, name)
	if err != nil {
		return nil, err
	}
	if i.Breaker, err = projections.BreakerOf(ctx, h.pool, domain.DestinationID(i.ID)); err != nil {
		return nil, err
	}
	return withoutCredentials(i), nil
}

// ListIntegrations returns one page of integrations, without credentials.
func (h *Integrations) ListIntegrations(ctx context.Context, f domain.IntegrationFilter) ([]domain.Integration, error) {
	is, err := projections.ListIntegrations(ctx, h.pool, f)
	for i := range is {
		is[i] = *withoutCredentials(&is[i])
	}
	return is, err
}

// TestIntegration sends a sample webhook.test event (connectors.Sample)
// through the integration's connector now and returns the outcome.
// Nothing is recorded, retried or rate-limited.
func (h *Integrations) TestIntegration(ctx context.Context, name string) (domain.AttemptResult, error) {
	i, err := projections.GetIntegrationByName(ctx, h.pool, name)
	if err == nil {
		err = openCredentials(h.cfg.Secrets, i)
	}
	if err != nil {
		return domain.AttemptResult{}, err
	}
	if h.sender == nil {
		return domain.AttemptResult{}, errors.New("test integration: no sender configured")
	}
	now := h.cfg.now()
	d := i.Destination(now)
	req := connectors.Sample(d.Kind, now)
	req.DestinationID, req.Config, req.Credentials, req.Timeout = d.ID, d.Config, d.Credentials, d.Timeout
	return h.sender.Send(ctx, req), nil
}

// Health returns, for one page of integrations that are not deleted (by
// name; after is the last name of the previous page), the latest success,
// the latest failure and the attempts and failures of the last
// HealthWindow.
func (h *Integrations) Health(ctx context.Context, after string, limit int) ([]domain.IntegrationHealth, error) {
	return projections.IntegrationHealth(ctx, h.pool, h.cfg.now().Add(-HealthWindow), after, limit)
}

// Marketplace lists the integration types with their features, schemas
// and defaults.
func (h *Integrations) Marketplace() []domain.IntegrationKindView {
	kinds := connectors.Kinds()
	out := make([]domain.IntegrationKindView, len(kinds))
	for i, k := range kinds {
		out[i] = domain.IntegrationKindView{
			Kind: k.Kind, Title: k.Title, Description: k.Description, Features: k.Features,
			CredentialsSchema: k.CredentialsSchema, ConfigSchema: k.ConfigSchema,
			Defaults:  IntegrationDefaults(k.Kind).DeliverySettings,
			BatchSize: k.Defaults.BatchSize, BatchIntervalSeconds: k.Defaults.BatchIntervalSeconds,
		}
	}
	return out
}

// executeNamed runs a command on the integration named name.
func (h *Integrations) executeNamed(ctx context.Context, name string, expected int64, decide func(*domain.Integration) ([]domain.Event, error)) (*domain.Integration, error) {
	current, err := projections.GetIntegrationByName(ctx, h.pool, name)
	if err != nil {
		return nil, err
	}
	return h.execute(ctx, current.ID, expected, func(i *domain.Integration) ([]domain.Event, error) {
		// Renamed or deleted since it was looked up: the name is gone.
		if !i.Exists() || i.Status == domain.WebhookStatusDeleted || i.Spec.Name != name {
			return nil, fmt.Errorf("integration %q: %w", name, domain.ErrNotFound)
		}
		return decide(i)
	})
}

// execute runs a command on an integration stream. With an expected
// version a concurrent change is the caller's conflict; without one the
// command is decided again on the new state.
func (h *Integrations) execute(ctx context.Context, id domain.IntegrationID, expected int64, decide func(*domain.Integration) ([]domain.Event, error)) (*domain.Integration, error) {
	for attempt := 1; ; attempt++ {
		i, err := h.executeOnce(ctx, id, expected, decide)
		if expected != domain.ExpectAny || !errors.Is(err, domain.ErrVersionConflict) {
			return i, err
		}
		if attempt == maxCommandAttempts {
			return nil, fmt.Errorf("integration %s: %w", id, domain.ErrBusy)
		}
	}
}

func (h *Integrations) executeOnce(ctx context.Context, id domain.IntegrationID, expected int64, decide func(*domain.Integration) ([]domain.Event, error)) (*domain.Integration, error) {
	res, err := h.events.Execute(ctx, eventstore.ExecuteParams{
		StreamID: string(id), StreamType: domain.IntegrationStreamType, ExpectedVersion: expected,
		Decide: func(history []domain.Recorded) ([]domain.Event, error) {
			i, err := replayIntegration(h.cfg.Secrets, history)
			if err != nil {
				return nil, err
			}
			events, err := decide(i)
			return sealIntegrationEvents(h.cfg.Secrets, events), err
		},
	})
	if err != nil {
		return nil, err
	}
	// The events just appended are sealed; nothing below needs them open.
	i, err := domain.ReplayIntegration(append(res.History, res.Events...))
	if err != nil {
		return nil, err
	}
	if stored, err := projections.IntegrationAnyStatus(ctx, h.pool, id); err == nil {
		i.LastTriggeredAt = stored.LastTriggeredAt
	}
	return withoutCredentials(i), nil
}

// replayIntegration rebuilds an integration with its credentials in plain
// text.
func replayIntegration(box *secretbox.Box, history []domain.Recorded) (*domain.Integration, error) {
	i, err := domain.ReplayIntegration(history)
	if err != nil {
		return nil, err
	}
	return i, openCredentials(box, i)
}

// sealIntegrationEvents encrypts the credentials that events carry.
func sealIntegrationEvents(box *secretbox.Box, events []domain.Event) []domain.Event {
	for n, e := range events {
		switch e := e.(type) {
		case domain.IntegrationCreated:
			e.Credentials = box.Seal(e.Credentials)
			events[n] = e
		case domain.IntegrationUpdated:
			e.Credentials = box.Seal(e.Credentials)
			events[n] = e
		}
	}
	return events
}

// openCredentials decrypts an integration's credentials in place.
func openCredentials(box *secretbox.Box, i *domain.Integration) error {
	plain, err := box.Open(i.Credentials)
	if err != nil {
		return fmt.Errorf("integration %s: %w", i.ID, err)
	}
	i.Credentials = plain
	return nil
}

func withoutCredentials(i *domain.Integration) *domain.Integration {
	i.Credentials = ""
	return i
}

// RebuildIntegrations rebuilds the integrations read model from the
// integration streams in one short transaction (see
// projections.RebuildIntegrations).
func RebuildIntegrations(ctx context.Context, pool *pgxpool.Pool) (int, error) {
	n := 0
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		var err error
		n, err = projections.RebuildIntegrations(ctx, tx, readStreams)
		return err
	})
	return n, err
}
