// Package app holds the use cases that the HTTP API, the CLI and the relay
// share: webhook and integration commands (with retry on a lost race and
// wake-up on resume),
// publishing with an idempotency key, deliveries and redrive, and the
// destinations view the workers use (secrets opened). Each is a small
// function over the event store, the read models and the relay; nothing
// here speaks HTTP.
package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/loki-interceptor/lokihooks/domain"
	"github.com/loki-interceptor/lokihooks/eventstore"
	"github.com/loki-interceptor/lokihooks/internal/secretbox"
	"github.com/loki-interceptor/lokihooks/projections"
)

// maxCommandAttempts bounds how often a command without an expected version
// is decided again after losing a race with a concurrent write.
const maxCommandAttempts = 10

// Sender makes one attempt (the test event of a webhook).
type Sender interface {
	Send(ctx context.Context, req domain.AttemptRequest) domain.AttemptResult
}

// Waker releases the parked deliveries of a resumed destination
// (*relay.Relay).
type Waker interface {
	Wake(ctx context.Context, id domain.DestinationID) (int, error)
}

// Config is shared by the use cases. Zero values mean the defaults stated.
type Config struct {
	// Secrets seals signing secrets and custom header values at rest; nil
	// keeps them in plain text (tests).
	Secrets *secretbox.Box
	// Validation carries deployment policy (AllowHTTP).
	Validation domain.ValidationOpts
	// NowFunc is the clock (default time.Now), truncated to microseconds
	// as PostgreSQL stores them, so that a command's answer equals a later
	// read.
	NowFunc func() time.Time
	// Logger receives what a use case handles itself (default: discard).
	Logger *slog.Logger
}

func (c Config) logger() *slog.Logger {
	if c.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return c.Logger
}

func (c Config) now() time.Time {
	now := time.Now
	if c.NowFunc != nil {
		now = c.NowFunc
	}
	return now().UTC().Truncate(time.Microsecond)
}

// Webhooks runs webhook commands and reads. It is safe for concurrent use.
type Webhooks struct {
	pool   *pgxpool.Pool
	events *eventstore.Store
	waker  Waker
	sender Sender
	cfg    Config
}

// NewWebhooks returns the webhook use cases. events must project webhook
// streams inline (projections.Webhooks). waker and sender may be nil: resume
// then leaves parked deliveries to their next check, and test-webhook fails.
func NewWebhooks(pool *pgxpool.Pool, events *eventstore.Store, waker Waker, sender Sender, cfg Config) *Webhooks {
	return &Webhooks{pool: pool, events: events, waker: waker, sender: sender, cfg: cfg}
}

// CreateWebhook creates a webhook from spec (defaults already applied). An
// empty secret is generated. The returned webhook holds the secret in plain
// text: show it once.
func (h *Webhooks) CreateWebhook(ctx context.Context, spec domain.WebhookSpec, secret string) (*domain.Webhook, error) {
	now := h.cfg.now()
	id := domain.WebhookID(domain.NewID(domain.WebhookIDPrefix, now))
	return h.execute(ctx, id, 0, func(*domain.Webhook) ([]domain.Event, error) {
		return domain.CreateWebhook(domain.CreateWebhookParams{ID: id, Spec: spec, Secret: secret}, h.cfg.Validation, now)
	})
}

// UpdateWebhook replaces the webhook's configuration with edit(current).
// expected is the version the caller read (If-Match) or domain.ExpectAny;
// a mismatch is a *domain.ConflictError. Without an expected version, a
// lost race is decided again on the new state (ErrBusy after
// maxCommandAttempts).
func (h *Webhooks) UpdateWebhook(ctx context.Context, id domain.WebhookID, expected int64, edit func(domain.WebhookSpec) domain.WebhookSpec) (*domain.Webhook, error) {
	return h.execute(ctx, id, expected, func(w *domain.Webhook) ([]domain.Event, error) {
		if err := mustExist(w, id); err != nil {
			return nil, err
		}
		return w.Update(edit(w.Spec), h.cfg.Validation, h.cfg.now())
	})
}

// PauseWebhook holds the webhook's deliveries until ResumeWebhook.
func (h *Webhooks) PauseWebhook(ctx context.Context, id domain.WebhookID, expected int64) (*domain.Webhook, error) {
	return h.execute(ctx, id, expected, func(w *domain.Webhook) ([]domain.Event, error) {
		if err := mustExist(w, id); err != nil {
			return nil, err
		}
		return w.Pause(h.cfg.now())
	})
}

// ResumeWebhook makes a paused or inactive webhook active and releases its
// parked deliveries. A failure to release them is not an error of the
// command: they are released at their next check anyway.
func (h *Webhooks) ResumeWebhook(ctx context.Context, id domain.WebhookID, expected int64) (*domain.Webhook, error) {
	w, err := h.execute(ctx, id, expected, func(w *domain.Webhook) ([]domain.Event, error) {
		if err := mustExist(w, id); err != nil {
			return nil, err
		}
		return w.Resume(h.cfg.now())
	})
	if err != nil || h.waker == nil {
		return w, err
	}
	if _, err := h.waker.Wake(ctx, domain.DestinationID(id)); err != nil {
		h.cfg.logger().WarnContext(ctx, "resumed webhook; its held deliveries wait for their next check",
			"webhook_id", id, "error", err)
	}
	return w, nil
}

// DeleteWebhook deletes a webhook; its name and URL become free.
func (h *Webhooks) DeleteWebhook(ctx context.Context, id domain.WebhookID, expected int64) error {
	_, err := h.execute(ctx, id, expected, func(w *domain.Webhook) ([]domain.Event, error) {
		if err := mustExist(w, id); err != nil {
			return nil, err
		}
		return w.Delete(h.cfg.now())
	})
	return err
}

// RotateWebhookSecret replaces the signing secret; the returned webhook
// holds the new secret in plain text.
func (h *Webhooks) RotateWebhookSecret(ctx context.Context, id domain.WebhookID, expected int64, p domain.RotateSecretParams) (*domain.Webhook, error) {
	return h.execute(ctx, id, expected, func(w *domain.Webhook) ([]domain.Event, error) {
		if err := mustExist(w, id); err != nil {
			return nil, err
		}
		return w.RotateSecret(p, h.cfg.now())
	})
}

// GetWebhook returns a webhook that is not deleted (domain.ErrNotFound
// otherwise), with its circuit breaker. Its signing secrets are not
// included; its custom header values are, in plain text (the caller masks
// the secret ones).
func (h *Webhooks) GetWebhook(ctx context.Context, id domain.WebhookID) (*domain.Webhook, error) {
	w, err := projections.GetWebhook(ctx, h.pool, id)
	if err != nil {
		return nil, err
	}
	if w.Breaker, err = projections.BreakerOf(ctx, h.pool, domain.DestinationID(id)); err != nil {
		return nil, err
	}
	w = withoutSecrets(w)
	if err := openHeaders(h.cfg.Secrets, w); err != nil {
		return nil, err
	}
	return w, nil
}

// ListWebhooks returns one page of webhooks, as GetWebhook returns them.
func (h *Webhooks) ListWebhooks(ctx context.Context, f domain.WebhookFilter) ([]domain.Webhook, error) {
	ws, err := projections.ListWebhooks(ctx, h.pool, f)
	if err != nil {
		return nil, err
	}
	for i := range ws {
		ws[i] = *withoutSecrets(&ws[i])
		if err := openHeaders(h.cfg.Secrets, &ws[i]); err != nil {
			return nil, err
		}
	}
	return ws, nil
}

// TestWebhook sends a signed webhook.test event to the webhook now and
// returns the outcome. Nothing is recorded or retried.
func (h *Webhooks) TestWebhook(ctx context.Context, id domain.WebhookID) (domain.AttemptResult, error) {
	w, err := projections.GetWebhook(ctx, h.pool, id)
	if err == nil {
		err = openSecrets(h.cfg.Secrets, w)
	}
	if err != nil {
		return domain.AttemptResult{}, err
	}
	if h.sender == nil {
		return domain.AttemptResult{}, errors.New("test webhook: no sender configured")
	}
	now := h.cfg.now()
	eventID := domain.NewID(domain.EventIDPrefix, now)
	body, err := json.Marshal(map[string]any{
		"id": eventID, "type": domain.EventTypeWebhookTest, "timestamp": now.Format(time.RFC3339Nano),
		"data": map[string]any{"message": "Test event from lokihooks", "sent_at": now.Format(time.RFC3339Nano)},
	})
	if err != nil {
		return domain.AttemptResult{}, err
	}
	d := w.Destination(now)
	return h.sender.Send(ctx, domain.AttemptRequest{
		Kind: domain.KindWebhook, DestinationID: d.ID, URL: d.URL, EventID: eventID, EventType: domain.EventTypeWebhookTest,
		DeliveryID: string(domain.DeliveryIDFor(domain.EventID(eventID), d.ID)), Attempt: 1, Body: body,
		Secrets: d.Secrets, Headers: d.Headers, SecretHeaders: d.SecretHeaders, Timeout: d.Timeout, Now: now,
	}), nil
}

// execute runs a command on a webhook stream. With an expected version a
// concurrent change is the caller's conflict; without one the command is
// decided again on the new state.
func (h *Webhooks) execute(ctx context.Context, id domain.WebhookID, expected int64, decide func(w *domain.Webhook) ([]domain.Event, error)) (*domain.Webhook, error) {
	for attempt := 1; ; attempt++ {
		w, err := h.executeOnce(ctx, id, expected, decide)
		if expected != domain.ExpectAny || !errors.Is(err, domain.ErrVersionConflict) {
			return w, err
		}
		if attempt == maxCommandAttempts {
			return nil, fmt.Errorf("webhook %s: %w", id, domain.ErrBusy)
		}
	}
}

func (h *Webhooks) executeOnce(ctx context.Context, id domain.WebhookID, expected int64, decide func(w *domain.Webhook) ([]domain.Event, error)) (*domain.Webhook, error) {
	res, err := h.events.Execute(ctx, eventstore.ExecuteParams{
		StreamID: string(id), StreamType: domain.WebhookStreamType, ExpectedVersion: expected,
		Metadata: actorMetadata(ctx),
		Decide: func(history []domain.Recorded) ([]domain.Event, error) {
			w, err := h.replay(history)
			if err != nil {
				return nil, err
			}
			events, err := decide(w)
			return sealEvents(h.cfg.Secrets, events), err
		},
	})
	if err != nil {
		return nil, err
	}
	w, err := h.replay(append(res.History, res.Events...))
	if err != nil {
		return nil, err
	}
	if stored, err := projections.WebhookAnyStatus(ctx, h.pool, id); err == nil {
		w.LastTriggeredAt = stored.LastTriggeredAt
	}
	return w, nil
}

// replay rebuilds a webhook with its secrets in plain text.
func (h *Webhooks) replay(history []domain.Recorded) (*domain.Webhook, error) {
	w, err := domain.ReplayWebhook(history)
	if err != nil {
		return nil, err
	}
	return w, openSecrets(h.cfg.Secrets, w)
}

func mustExist(w *domain.Webhook, id domain.WebhookID) error {
	if !w.Exists() || w.Status == domain.WebhookStatusDeleted {
		return fmt.Errorf("webhook %s: %w", id, domain.ErrNotFound)
	}
	return nil
}

// sealEvents encrypts the secrets that events carry: signing secrets and
// the values of every custom header (any of which may be a credential).
func sealEvents(box *secretbox.Box, events []domain.Event) []domain.Event {
	for i, e := range events {
		switch e := e.(type) {
		case domain.WebhookCreated:
			e.Secret = box.Seal(e.Secret)
			e.Spec.CustomHeaders = sealHeaders(box, e.Spec.CustomHeaders)
			events[i] = e
		case domain.WebhookUpdated:
			e.Spec.CustomHeaders = sealHeaders(box, e.Spec.CustomHeaders)
			events[i] = e
		case domain.WebhookSecretRotated:
			e.Secret = box.Seal(e.Secret)
			events[i] = e
		}
	}
	return events
}

// sealHeaders returns a copy of headers with every value sealed; the
// caller's map is left as it is.
func sealHeaders(box *secretbox.Box, headers map[string]string) map[string]string {
	if headers == nil {
		return nil
	}
	out := make(map[string]string, len(headers))
	for k, v := range headers {
		out[k] = box.Seal(v)
	}
	return out
}

// openSecrets decrypts a webhook's current and previous secrets and its
// custom header values in place.
func openSecrets(box *secretbox.Box, w *domain.Webhook) error {
	var err error
	if w.Secret, err = box.Open(w.Secret); err != nil {
		return fmt.Errorf("webhook %s: %w", w.ID, err)
	}
	for i := range w.PreviousSecrets {
		if w.PreviousSecrets[i].Secret, err = box.Open(w.PreviousSecrets[i].Secret); err != nil {
			return fmt.Errorf("webhook %s: %w", w.ID, err)
		}
	}
	return openHeaders(box, w)
}

// openHeaders decrypts a webhook's custom header values in place. Values
// stored before they were sealed open as themselves.
func openHeaders(box *secretbox.Box, w *domain.Webhook) error {
	if w.Spec.CustomHeaders == nil {
		return nil
	}
	opened := make(map[string]string, len(w.Spec.CustomHeaders))
	for k, v := range w.Spec.CustomHeaders {
		plain, err := box.Open(v)
		if err != nil {
			return fmt.Errorf("webhook %s: custom header %s: %w", w.ID, k, err)
		}
		opened[k] = plain
	}
	w.Spec.CustomHeaders = opened
	return nil
}

func withoutSecrets(w *domain.Webhook) *domain.Webhook {
	w.Secret, w.PreviousSecrets = "", nil
	return w
}

// RebuildWebhooks rebuilds the webhooks read model from the webhook streams
// in one short transaction (see projections.RebuildWebhooks).
func RebuildWebhooks(ctx context.Context, pool *pgxpool.Pool) (int, error) {
	n := 0
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		var err error
		n, err = projections.RebuildWebhooks(ctx, tx, readStreams)
		return err
	})
	return n, err
}

func readStreams(ctx context.Context, q projections.DB, streamType, afterStream string, afterVersion int64, limit int) ([]domain.Recorded, error) {
	return eventstore.ReadStreams(ctx, q, streamType, afterStream, afterVersion, limit)
}
