package relay

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
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

// DeliveryNotice is the payload of River's insert notification for the
// delivery queue.
const DeliveryNotice = deliveryNotice

// NotifyWorkers sends River's insert notification for the delivery queue,
// as River's inserts do: idle workers fetch at once.
func NotifyWorkers(ctx context.Context, pool *pgxpool.Pool) error {
	return notifyWorkers(ctx, pool)
}

// WakeParked makes up to limit parked deliveries of a destination
// available, as Relay.Wake does.
func WakeParked(ctx context.Context, pool *pgxpool.Pool, id domain.DestinationID, limit int) (int, error) {
	return wakeParked(ctx, pool, id, limit)
}

// WakeProbe makes one parked delivery of a destination available as its
// breaker's probe.
func WakeProbe(ctx context.Context, pool *pgxpool.Pool, id domain.DestinationID) (bool, error) {
	return wakeProbe(ctx, pool, id)
}

// ReleaseClaimed puts back the jobs (id: attempt) that flush job flushID
// claimed, as a flush job does at shutdown.
func ReleaseClaimed(ctx context.Context, pool *pgxpool.Pool, flushID int64, attempts map[int64]int) error {
	jobs := make([]claimedJob, 0, len(attempts))
	for id, attempt := range attempts {
		jobs = append(jobs, claimedJob{id: id, attempt: attempt})
	}
	return releaseClaimed(ctx, pool, jobs, flushID)
}

// HastenFlush brings the scheduled job id forward to at (at once when now
// is set).
func HastenFlush(ctx context.Context, pool *pgxpool.Pool, id int64, at time.Time, now bool) error {
	return hastenFlush(ctx, pool, id, at, now)
}

// ReclaimLapsed reclaims the running jobs of the workers whose heartbeat
// is older than lapse, as the reaper does.
func ReclaimLapsed(ctx context.Context, pool *pgxpool.Pool, lapse time.Duration) (ids []int64, err error) {
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		ids, err = reclaimLapsed(ctx, tx, lapse)
		return err
	})
	return ids, err
}

// ReclaimOwn reclaims the running jobs of worker id, as a process
// restarting under it does.
func ReclaimOwn(ctx context.Context, pool *pgxpool.Pool, id string) (ids []int64, err error) {
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		ids, err = reclaimOwn(ctx, tx, id)
		return err
	})
	return ids, err
}
