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
