package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/loki-interceptor/lokihooks/domain"
	"github.com/loki-interceptor/lokihooks/eventstore"
	"github.com/loki-interceptor/lokihooks/projections"
)

// Events publishes events for the API and reads what was published. It is
// safe for concurrent use.
type Events struct {
	pool *pgxpool.Pool
	cfg  Config
}

// NewEvents returns the event use cases.
func NewEvents(pool *pgxpool.Pool, cfg Config) *Events {
	return &Events{pool: pool, cfg: cfg}
}

const (
	claimIdempotencyKey = `INSERT INTO idempotency_keys (key, request_hash, event_id) VALUES ($1, $2, $3)
		ON CONFLICT (key) DO NOTHING RETURNING event_id`
	selectIdempotencyKey = `SELECT request_hash, event_id FROM idempotency_keys WHERE key = $1`
)

// Publish checks the event's data against its catalog schema and writes it
// into the outbox in its own transaction. With an idempotency key, a
// request repeated with the same content returns the first event id with
// replayed true, and the same key with other content fails with
// domain.ErrIdempotencyKeyReused; concurrent requests with one key
// serialise on the key's row. A reused event id with other content is
// domain.ErrConflict; an unknown type domain.ErrUnknownEventType.
func (e *Events) Publish(ctx context.Context, p domain.PublishRequest) (id domain.EventID, replayed bool, err error) {
	if err := domain.ValidateEventData(p.Type, p.Data); err != nil {
		return "", false, err
	}
	hash := ""
	if p.IdempotencyKey != "" {
		hash = requestHash(p) // before an id is generated: it is not part of the request
	}
	if p.ID == "" {
		p.ID = domain.NewID(domain.EventIDPrefix, e.cfg.now())
	}
	params := eventstore.PublishParams{Type: p.Type, Data: p.Data, ID: p.ID, Metadata: p.Metadata}
	if p.IdempotencyKey == "" {
		// One statement, its own transaction: no BEGIN and COMMIT round trips.
		id, err = eventstore.Publish(ctx, e.pool, params)
		if err != nil {
			return "", false, err
		}
		return id, false, nil
	}
	err = pgx.BeginFunc(ctx, e.pool, func(tx pgx.Tx) error {
		var claimed string
		err := tx.QueryRow(ctx, claimIdempotencyKey, p.IdempotencyKey, hash, p.ID).Scan(&claimed)
		if errors.Is(err, pgx.ErrNoRows) {
			var prevHash, prevID string
			if err := tx.QueryRow(ctx, selectIdempotencyKey, p.IdempotencyKey).Scan(&prevHash, &prevID); err != nil {
				return fmt.Errorf("read idempotency key: %w", err)
			}
			if prevHash != hash {
				return domain.ErrIdempotencyKeyReused
			}
			id, replayed = domain.EventID(prevID), true
			return nil
		}
		if err != nil {
			return fmt.Errorf("claim idempotency key: %w", err)
		}
		id, err = eventstore.PublishTx(ctx, tx, params)
		return err
	})
	if err != nil {
		return "", false, err
	}
	return id, replayed, nil
}

// requestHash identifies a publish request's content.
func requestHash(p domain.PublishRequest) string {
	h := sha256.New()
	keys := make([]string, 0, len(p.Metadata))
	for k := range p.Metadata {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00", p.Type, p.ID, p.Data)
	for _, k := range keys {
		fmt.Fprintf(h, "%s=%s\x00", k, p.Metadata[k])
	}
	return hex.EncodeToString(h.Sum(nil))
}

// GetEvent returns a published event (domain.ErrNotFound if unknown).
func (e *Events) GetEvent(ctx context.Context, id domain.EventID) (*domain.PublishedEvent, error) {
	return projections.GetPublishedEvent(ctx, e.pool, id)
}

// ListEvents returns one page of published events.
func (e *Events) ListEvents(ctx context.Context, f domain.PublishedEventFilter) ([]domain.PublishedEvent, error) {
	return projections.ListPublishedEvents(ctx, e.pool, f)
}
