package relay

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/loki-interceptor/lokihooks/domain"
)

// ClaimParkedAsCrashedFlush claims up to size parked deliveries of a
// destination as a flush job would, and then does nothing more: the state
// a process that died mid-batch leaves behind. It returns how many it
// claimed.
func ClaimParkedAsCrashedFlush(ctx context.Context, pool *pgxpool.Pool, id domain.DestinationID, size int) (int, error) {
	c, err := claimParked(ctx, pool, id, size, 0, "crashed-process", func(int, time.Time) bool { return true })
	return len(c.jobs), err
}

// ReclaimOrphans reclaims the jobs of workerID running since before that
// are not among working, as a worker process does after the database came
// back.
func ReclaimOrphans(ctx context.Context, pool *pgxpool.Pool, workerID string, before time.Time, working ...int64) ([]int64, error) {
	set := make(map[int64]bool, len(working))
	for _, id := range working {
		set[id] = true
	}
	return reclaimOrphans(ctx, pool, workerID, before, set)
}

// FlushBreakers adds the relay's breaker counts to the shared window and
// decides on them now, as it does every Breaker.FlushInterval.
func (r *Relay) FlushBreakers(ctx context.Context) { r.breakers.flush(ctx) }

// ObserveAttempts counts attempts of a destination as the workers do after
// each request.
func (r *Relay) ObserveAttempts(id domain.DestinationID, success bool, n int) {
	for range n {
		r.breakers.observe(id, domain.AttemptResult{Success: success, Category: domain.ErrorCategoryHTTP5xx}, r.cfg.NowFunc())
	}
}
