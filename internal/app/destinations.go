package app

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/loki-interceptor/lokihooks/domain"
	"github.com/loki-interceptor/lokihooks/eventstore"
	"github.com/loki-interceptor/lokihooks/projections"
)

// Destinations is the workers' view of webhooks and integrations: read with
// secrets opened, and deactivated when a receiver answers 410 Gone. It
// satisfies relay.Destinations and is safe for concurrent use.
type Destinations struct {
	pool   *pgxpool.Pool
	events *eventstore.Store
	cfg    Config
}

// NewDestinations returns the workers' destinations.
func NewDestinations(pool *pgxpool.Pool, events *eventstore.Store, cfg Config) *Destinations {
	return &Destinations{pool: pool, events: events, cfg: cfg}
}

// Destination returns a destination whatever its status, with secrets in
// plain text; domain.ErrNotFound if it never existed.
func (d *Destinations) Destination(ctx context.Context, id domain.DestinationID) (*domain.Destination, error) {
	switch domain.KindOf(id) {
	case domain.KindWebhook:
		w, err := projections.WebhookAnyStatus(ctx, d.pool, domain.WebhookID(id))
		if err != nil {
			return nil, err
		}
		if err := openSecrets(d.cfg.Secrets, w); err != nil {
			return nil, err
		}
		return d.withBreaker(ctx, w.Destination(d.cfg.now()))
	}
	if isIntegration(id) {
		i, err := projections.IntegrationAnyStatus(ctx, d.pool, domain.IntegrationID(id))
		if err != nil {
			return nil, err
		}
		if err := openCredentials(d.cfg.Secrets, i); err != nil {
			return nil, err
		}
		return d.withBreaker(ctx, i.Destination(d.cfg.now()))
	}
	return nil, fmt.Errorf("destination %s: %w", id, domain.ErrNotFound)
}

// withBreaker attaches the destination's circuit breaker.
func (d *Destinations) withBreaker(ctx context.Context, dest *domain.Destination) (*domain.Destination, error) {
	b, err := projections.BreakerOf(ctx, d.pool, dest.ID)
	if err != nil {
		return nil, err
	}
	dest.Breaker = b
	return dest, nil
}

func isIntegration(id domain.DestinationID) bool {
	return strings.HasPrefix(string(id), domain.IntegrationIDPrefix)
}

// DeactivateTx deactivates a destination on tx with reason (it answered
// 410 Gone). An inactive or deleted destination is left as it is. A Zapier
// REST-hook subscription is deleted instead: a 410 is how Zapier says the
// Zap is off (domain.Integration.Gone).
func (d *Destinations) DeactivateTx(ctx context.Context, tx pgx.Tx, id domain.DestinationID, reason string) error {
	return d.deactivateTx(ctx, tx, id, reason, true)
}

// DisableTx deactivates a destination on tx with reason (it kept failing):
// a webhook or integration of any source becomes inactive until resumed.
// An inactive or deleted destination is left as it is.
func (d *Destinations) DisableTx(ctx context.Context, tx pgx.Tx, id domain.DestinationID, reason string) error {
	return d.deactivateTx(ctx, tx, id, reason, false)
}

// deactivateTx deactivates a destination; gone says it answered 410 Gone,
// which unsubscribes a Zapier REST hook instead.
func (d *Destinations) deactivateTx(ctx context.Context, tx pgx.Tx, id domain.DestinationID, reason string, gone bool) error {
	history, err := eventstore.LoadTx(ctx, tx, string(id))
	if err != nil {
		return err
	}
	if isIntegration(id) {
		i, err := domain.ReplayIntegration(history)
		if err != nil {
			return err
		}
		decide := i.Gone
		if !gone {
			decide = func(reason string, now time.Time) ([]domain.Event, error) {
				if i.Status == domain.WebhookStatusDeleted {
					return nil, nil
				}
				return i.Deactivate(reason, now)
			}
		}
		events, err := decide(reason, d.cfg.now())
		if err != nil || len(events) == 0 {
			return err
		}
		_, err = d.events.AppendTx(ctx, tx, domain.Append{
			StreamID: string(id), StreamType: domain.IntegrationStreamType, Expect: i.Version, Events: events,
			Metadata: map[string]string{domain.MetadataActor: domain.ActorSystemRelay},
		})
		return err
	}
	switch domain.KindOf(id) {
	case domain.KindWebhook:
		w, err := domain.ReplayWebhook(history)
		if err != nil {
			return err
		}
		if w.Status == domain.WebhookStatusDeleted {
			return nil
		}
		events, err := w.Deactivate(reason, d.cfg.now())
		if err != nil || len(events) == 0 {
			return err
		}
		_, err = d.events.AppendTx(ctx, tx, domain.Append{
			StreamID: string(id), StreamType: domain.WebhookStreamType, Expect: w.Version, Events: events,
			Metadata: map[string]string{domain.MetadataActor: domain.ActorSystemRelay},
		})
		return err
	default:
		return fmt.Errorf("deactivate destination %s: %w", id, domain.ErrNotFound)
	}
}
