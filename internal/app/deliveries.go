package app

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/loki-interceptor/lokihooks/domain"
	"github.com/loki-interceptor/lokihooks/projections"
)

// Redriver schedules fresh attempts for failed deliveries (*relay.Relay);
// one call is one transaction.
type Redriver interface {
	Redrive(ctx context.Context, deliveries []domain.DeliveryView) (int, error)
}

// redriveChunk is how many deliveries one redrive transaction covers.
const redriveChunk = projections.DefaultRedrivableLimit

// Deliveries reads deliveries and redrives them. It is safe for concurrent
// use.
type Deliveries struct {
	pool     *pgxpool.Pool
	redriver Redriver
}

// NewDeliveries returns the delivery use cases.
func NewDeliveries(pool *pgxpool.Pool, redriver Redriver) *Deliveries {
	return &Deliveries{pool: pool, redriver: redriver}
}

// ListDeliveries returns one page of deliveries.
func (d *Deliveries) ListDeliveries(ctx context.Context, f domain.DeliveryFilter) ([]domain.DeliveryView, error) {
	return projections.ListDeliveries(ctx, d.pool, f)
}

// GetDelivery returns a delivery with every attempt.
func (d *Deliveries) GetDelivery(ctx context.Context, id domain.DeliveryID) (*domain.DeliveryView, []domain.AttemptView, error) {
	v, err := projections.GetDelivery(ctx, d.pool, id)
	if err != nil {
		return nil, nil, err
	}
	attempts, err := projections.ListAttempts(ctx, d.pool, id)
	if err != nil {
		return nil, nil, err
	}
	return v, attempts, nil
}

// Redrive schedules a new attempt, with a fresh retry budget, for the
// destination's failed and permanent_failure deliveries selected by f, in
// transactions of at most redriveChunk deliveries each (DESIGN §3.14: a
// redrive of 100,000 dead letters never holds one long transaction). It
// returns how many it redrove, also when a later chunk fails.
func (d *Deliveries) Redrive(ctx context.Context, destination domain.DestinationID, f domain.DeliveryFilter) (int, error) {
	if len(f.IDs) > redriveChunk {
		return 0, fmt.Errorf("redrive: %d delivery ids, at most %d at once: %w", len(f.IDs), redriveChunk, domain.ErrInvalid)
	}
	total := 0
	f.Limit = redriveChunk
	for {
		page, err := projections.RedrivableDeliveries(ctx, d.pool, destination, f)
		if err != nil {
			return total, err
		}
		if len(page) == 0 {
			return total, nil
		}
		n, err := d.redriver.Redrive(ctx, page)
		total += n
		if err != nil {
			return total, fmt.Errorf("redrive after %d deliveries: %w", total, err)
		}
		if len(page) < redriveChunk {
			return total, nil
		}
		last := page[len(page)-1]
		f.After = &domain.DeliveryCursor{CreatedAt: last.CreatedAt, ID: last.ID}
	}
}
