package relay

// This file is the only place that reaches past River's public API: into
// its driver and its river_job table, for what River does not offer (as of
// v0.51.2). riverjobs_test.go fails on a River upgrade until someone has
// checked these statements against the new version.
//
//   - deleteRunning finishes many deliver jobs in one statement, atomically
//     with the caller's transaction, by deleting them: River's
//     JobCompleteTx marks one job completed per statement instead.
//   - wakeParked makes the parked (snoozed) jobs of one destination
//     available now: River can retry a job by id, not select jobs by their
//     arguments.
//   - countWaiting, claimParked, releaseClaimed and hastenFlush collect the
//     parked jobs of a batching destination into one request (see below).
//   - reclaimLapsed, reclaimOwn and reclaimOrphans make the running jobs of
//     a worker process that died available again in seconds: River's
//     rescuer does the same, but only for jobs running longer than
//     RescueAfter, and cannot tell a dead process from a slow delivery.
//   - wakeProbe makes one parked delivery of a destination available as
//     the probe of its half-open circuit breaker.
//
// Each statement that makes jobs available also sends River's insert
// notification (notify.go): River's own inserts wake the workers, and
// these must too, or their jobs wait for the workers' next poll.
//
// River's GIN indexes on args and metadata, and its index on kind, are
// dropped (migrations.Up): a delivery job's row is written twice (inserted,
// then fetched) and each time they took more WAL than the row itself. Every lookup here goes by
// kind 'deliver' and destination, through river_job_deliver_destination_idx;
// River itself queries neither column by containment.

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/loki-interceptor/lokihooks/domain"
)

// riverIndexNames are the indexes of river_job that River's reindexer
// rebuilds: River's own, but for those migrations.Up drops, and the
// destination index it adds.
var riverIndexNames = []string{
	"river_job_pkey", "river_job_prioritized_fetching_index", "river_job_state_and_finalized_at_index",
	"river_job_unique_idx", "river_job_deliver_destination_idx",
}

// RiverVersion is the River release the statements of this file were
// checked against.
const RiverVersion = "v0.51.2"

// errNotRunning reports a job that stopped being ours (rescued or
// cancelled) before its outcome was recorded.
var errNotRunning = errors.New("job is no longer running")

// deleteRunningSQL deletes the jobs $1 that are still running.
const deleteRunningSQL = `DELETE FROM river_job WHERE id = ANY($1::bigint[]) AND state = 'running' RETURNING id`

// deleteRunning finishes deliver jobs on tx by deleting them, in one
// statement, if they are still running; it fails with errNotRunning if any
// is not. The delivery's event log is its record, so a completed job row
// has nothing left to say: marking it completed would write the whole row
// again (its arguments, the event body among them) with an entry in each of
// River's indexes, only for River's cleaner to delete it an hour later. A
// delete writes a few dozen bytes of WAL. River's completer, which then
// tries to mark the job completed, finds no running row and does nothing
// (JobSetStateIfRunningMany updates running rows only).
func deleteRunning(ctx context.Context, tx pgx.Tx, ids []int64) error {
	rows, err := tx.Query(ctx, deleteRunningSQL, ids)
	if err != nil {
		return fmt.Errorf("finish %d jobs: %w", len(ids), err)
	}
	done, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return fmt.Errorf("finish %d jobs: %w", len(ids), err)
	}
	if len(done) != len(ids) {
		return fmt.Errorf("%d of %d jobs: %w", len(ids)-len(done), len(ids), errNotRunning)
	}
	return nil
}

// wakeParked makes up to limit parked deliver jobs of a destination
// available now, and notifies the workers (notify.go). Parked jobs are
// snoozed (state scheduled, with a snooze count in their metadata);
// retries scheduled by a retry policy were never snoozed and keep their
// time.
const wakeParkedSQL = `WITH changed AS (
		UPDATE river_job SET state = 'available', scheduled_at = now()
		WHERE id IN (
			SELECT id FROM river_job
			WHERE state = 'scheduled' AND kind = 'deliver' AND args->>'destination_id' = $1
			  AND metadata ? 'snoozes'
			LIMIT $2
			FOR UPDATE SKIP LOCKED)
		RETURNING id, state)
	` + notifyAvailable

func wakeParked(ctx context.Context, pool *pgxpool.Pool, id domain.DestinationID, limit int) (int, error) {
	ids, err := changeNotifying(ctx, pool, wakeParkedSQL, string(id), limit)
	return len(ids), err
}

// The statements below serve batching destinations (relay/batch.go): the
// deliver jobs of such a destination park (snooze, with batchParkedOutput
// recorded as their output) until a deliver_batch job claims up to a
// batch of them. Claiming sets them running as River's own fetch does
// (attempt, attempted_at, attempted_by), so that a process that dies with
// a claimed batch leaves jobs River's rescuer recognises as stuck and runs
// again. Lookups by destination use river_job_deliver_destination_idx,
// which lokihooks creates (migrations.Up) in place of River's GIN indexes
// on args and metadata.

// batchParkedOutput is the output a deliver job records when it parks for
// a batch; only jobs carrying it are claimed.
const batchParkedOutput = "batch_parked"

// parkedFilter selects the parked jobs of destination $1 that may be
// claimed: parked, woken early (short
// snoozes are available with a future scheduled_at), or rescued after a
// crash mid-batch.
const parkedFilter = `kind = 'deliver' AND args->>'destination_id' = $1
	AND state IN ('available', 'scheduled', 'retryable')
	AND metadata @> '{"output": "` + batchParkedOutput + `"}'`

// runningUnclaimedFilter selects the deliver jobs of destination $1 that
// run outside a live batch (about to park, most likely): not claimed by a
// flush job, or claimed by one that is no longer running (it died; River
// rescues the job).
const runningUnclaimedFilter = `kind = 'deliver' AND args->>'destination_id' = $1 AND state = 'running'
	AND NOT EXISTS (SELECT 1 FROM river_job f
		WHERE f.id = (river_job.metadata->>'batch')::bigint AND f.state = 'running')`

const (
	// countWaitingSQL counts, up to $2 each, the parked jobs of a
	// destination and those running outside a batch other than job $3.
	countWaitingSQL = `SELECT
		(SELECT count(*) FROM (SELECT 1 FROM river_job WHERE ` + parkedFilter + ` LIMIT $2) p) +
		(SELECT count(*) FROM (SELECT 1 FROM river_job WHERE ` + runningUnclaimedFilter + ` AND id <> $3 LIMIT $2) r)`
	lockParkedSQL = `SELECT id, created_at FROM river_job WHERE ` + parkedFilter + `
		ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED`
	runningUnparkedSQL = `SELECT EXISTS (SELECT 1 FROM river_job WHERE ` + runningUnclaimedFilter + `)`
	claimParkedSQL     = `UPDATE river_job SET state = 'running', attempt = attempt + 1, attempted_at = now(),
			attempted_by = array_append(coalesce(attempted_by, '{}'), $3),
			metadata = metadata || jsonb_build_object('batch', $2::bigint)
		WHERE id = ANY($1::bigint[])
		RETURNING id, attempt, args`
)

// The statements that make jobs available notify the workers (notify.go).
const (
	releaseClaimedSQL = `WITH changed AS (
			UPDATE river_job SET state = 'available', attempt = river_job.attempt - 1, scheduled_at = now(),
				metadata = river_job.metadata - 'batch'
			FROM unnest($1::bigint[], $2::int[]) AS c(job_id, claimed_attempt)
			WHERE river_job.id = c.job_id AND river_job.attempt = c.claimed_attempt AND river_job.state = 'running'
			  AND river_job.metadata @> jsonb_build_object('batch', $3::bigint)
			RETURNING river_job.id, river_job.state)
		` + notifyAvailable
	// hastenFlushSQL brings a scheduled (or retryable) flush forward to $2;
	// $3 makes it available at once instead of waiting for River's
	// scheduler.
	hastenFlushSQL = `WITH changed AS (
			UPDATE river_job SET scheduled_at = $2,
				state = CASE WHEN $3 THEN 'available'::river_job_state ELSE state END
			WHERE id = $1 AND state IN ('scheduled', 'retryable') AND scheduled_at > $2
			RETURNING id, state)
		` + notifyAvailable
)

// destinationArgs is the parameter that selects a destination's deliver
// jobs (args->>'destination_id' = $1, on river_job_deliver_destination_idx).
func destinationArgs(id domain.DestinationID) string { return string(id) }

// countWaiting counts the deliveries of a destination that wait for a
// batch besides job self: parked, or running outside a batch (about to
// park). Each kind is counted up to limit.
func countWaiting(ctx context.Context, pool *pgxpool.Pool, id domain.DestinationID, self int64, limit int) (int, error) {
	var n int
	if err := pool.QueryRow(ctx, countWaitingSQL, destinationArgs(id), limit, self).Scan(&n); err != nil {
		return 0, fmt.Errorf("count parked deliveries of %s: %w", id, err)
	}
	return n, nil
}

// hastenFlush brings the scheduled flush job id forward to at (at once,
// notifying the workers, when now is set).
func hastenFlush(ctx context.Context, pool *pgxpool.Pool, id int64, at time.Time, now bool) error {
	if _, err := changeNotifying(ctx, pool, hastenFlushSQL, id, at, now); err != nil {
		return fmt.Errorf("hasten flush job %d: %w", id, err)
	}
	return nil
}

// claimedJob is a parked deliver job claimed for a batch.
type claimedJob struct {
	id      int64
	attempt int
	args    DeliverArgs
}

// batchClaim is what claimParked decided.
type batchClaim struct {
	// jobs were claimed: send them.
	jobs []claimedJob
	// parked is how many parked jobs there were (up to the batch size);
	// oldest is the creation time of the oldest.
	parked int
	oldest time.Time
	// runningOthers reports deliver jobs of the destination running
	// outside any batch (about to park).
	runningOthers bool
}

// claimParked locks up to size parked jobs of a destination, oldest first,
// and claims them for the flush job flushID when ready says so (given how
// many there are and the creation time of the oldest). Jobs left unclaimed
// stay as they were.
func claimParked(ctx context.Context, pool *pgxpool.Pool, id domain.DestinationID, size int, flushID int64, worker string,
	ready func(parked int, oldest time.Time) bool,
) (batchClaim, error) {
	var c batchClaim
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		filter := destinationArgs(id)
		rows, err := tx.Query(ctx, lockParkedSQL, filter, size)
		if err != nil {
			return err
		}
		var ids []int64
		var jobID int64
		var created time.Time
		_, err = pgx.ForEachRow(rows, []any{&jobID, &created}, func() error {
			if len(ids) == 0 || created.Before(c.oldest) {
				c.oldest = created
			}
			ids = append(ids, jobID)
			return nil
		})
		if err != nil {
			return err
		}
		c.parked = len(ids)
		if err := tx.QueryRow(ctx, runningUnparkedSQL, filter).Scan(&c.runningOthers); err != nil {
			return err
		}
		if c.parked == 0 || !ready(c.parked, c.oldest) {
			return nil
		}
		rows, err = tx.Query(ctx, claimParkedSQL, ids, flushID, worker)
		if err != nil {
			return err
		}
		var j claimedJob
		var args []byte
		_, err = pgx.ForEachRow(rows, []any{&j.id, &j.attempt, &args}, func() error {
			j.args = DeliverArgs{}
			if err := json.Unmarshal(args, &j.args); err != nil {
				return fmt.Errorf("decode deliver job %d: %w", j.id, err)
			}
			c.jobs = append(c.jobs, j)
			return nil
		})
		return err
	})
	if err != nil {
		return batchClaim{}, fmt.Errorf("claim parked deliveries of %s: %w", id, err)
	}
	slices.SortFunc(c.jobs, func(a, b claimedJob) int { return cmp.Compare(a.id, b.id) })
	return c, nil
}

// releaseClaimed puts claimed jobs that were not sent (shutdown) back,
// unless they changed hands since, and notifies the workers.
func releaseClaimed(ctx context.Context, pool *pgxpool.Pool, jobs []claimedJob, flushID int64) error {
	ids, attempts := make([]int64, len(jobs)), make([]int32, len(jobs))
	for i, j := range jobs {
		ids[i], attempts[i] = j.id, int32(j.attempt)
	}
	if _, err := changeNotifying(ctx, pool, releaseClaimedSQL, ids, attempts, flushID); err != nil {
		return fmt.Errorf("release %d claimed deliveries: %w", len(jobs), err)
	}
	return nil
}

// Reclaiming the running jobs of a worker process that stopped (see
// heartbeat.go). A job is the process's while the last entry of its
// attempted_by is the process's River client id (its worker id): River
// appends the id at each fetch, and claimParked does the same. Reclaiming
// sets what River's own rescuer (JobRescueMany) sets: the job available
// again at once (discarded if it has used its attempts), an error saying
// why, and metadata river:rescue_count incremented. Unlike River's
// rescuer, it keeps scheduled_at, which is in the past: River fetches by
// (priority, scheduled_at, id), so a reclaimed job goes ahead of a backlog
// scheduled after it instead of behind it. Unlike River's rescuer too, it
// notifies the workers (notify.go): a reclaimed job runs at once, not at
// their next poll.
const reclaimSet = `state = CASE WHEN attempt >= max_attempts THEN 'discarded'::river_job_state
			ELSE 'available'::river_job_state END,
		scheduled_at = least(scheduled_at, now()),
		finalized_at = CASE WHEN attempt >= max_attempts THEN now() END,
		errors = array_append(errors, jsonb_build_object('at', now(), 'attempt', attempt,
			'error', $1::text, 'trace', '')),
		metadata = metadata || jsonb_build_object('river:rescue_count', coalesce(CASE
			WHEN jsonb_typeof(metadata -> 'river:rescue_count') = 'number'
			THEN (metadata ->> 'river:rescue_count')::int END, 0) + 1)`

// lastAttemptedBy is the River client id that fetched (or claimed) a job
// last.
const lastAttemptedBy = `attempted_by[array_upper(attempted_by, 1)]`

const (
	// reclaimLapsedSQL deletes the heartbeats older than $2 (counted from
	// the server's start if it restarted since: every process lost its
	// connection then, and gets the lapse again to come back) and
	// reclaims the running jobs of those workers.
	reclaimLapsedSQL = `WITH lapsed AS (
			DELETE FROM worker_heartbeats
			WHERE greatest(beat_at, pg_postmaster_start_time()) < now() - make_interval(secs => $2)
			RETURNING worker_id
		), changed AS (
			UPDATE river_job SET ` + reclaimSet + `
			WHERE state = 'running' AND ` + lastAttemptedBy + ` IN (SELECT worker_id FROM lapsed)
			RETURNING id, state)
		` + notifyAvailable
	// reclaimOwnSQL reclaims the running jobs of worker $2 (a process
	// restarting under the same worker id, before it runs any).
	reclaimOwnSQL = `WITH changed AS (
			UPDATE river_job SET ` + reclaimSet + `
			WHERE state = 'running' AND ` + lastAttemptedBy + ` = $2
			RETURNING id, state)
		` + notifyAvailable
	// reclaimIDsSQL reclaims jobs $3 if they are still running for
	// worker $2.
	reclaimIDsSQL = `WITH changed AS (
			UPDATE river_job SET ` + reclaimSet + `
			WHERE id = ANY($3::bigint[]) AND state = 'running' AND ` + lastAttemptedBy + ` = $2
			RETURNING id, state)
		` + notifyAvailable
)

// runningOfSQL lists the jobs of worker $1 that are running since before
// $2, with the flush job that claimed each, if any.
const runningOfSQL = `SELECT id, coalesce((metadata->>'batch')::bigint, 0) FROM river_job
	WHERE state = 'running' AND ` + lastAttemptedBy + ` = $1 AND attempted_at < $2`

// reclaimLapsed reclaims, on tx, the running jobs of every worker whose
// heartbeat is older than lapse, and forgets those workers. It returns the
// ids of the jobs reclaimed.
func reclaimLapsed(ctx context.Context, tx pgx.Tx, lapse time.Duration) ([]int64, error) {
	ids, err := changeNotifying(ctx, tx, reclaimLapsedSQL, "worker process stopped heartbeating", lapse.Seconds())
	if err != nil {
		return nil, fmt.Errorf("reclaim jobs of lapsed workers: %w", err)
	}
	return ids, nil
}

// reclaimOwn reclaims, on tx, the jobs that an earlier run of worker id
// left running.
func reclaimOwn(ctx context.Context, tx pgx.Tx, id string) ([]int64, error) {
	ids, err := changeNotifying(ctx, tx, reclaimOwnSQL, "worker process restarted", id)
	if err != nil {
		return nil, fmt.Errorf("reclaim jobs of the previous run of %s: %w", id, err)
	}
	return ids, nil
}

// reclaimOrphans reclaims the jobs of worker id that run since before
// before yet that the process is not working on: running, in its own
// eyes, are the jobs in working and the jobs claimed by a flush job in
// working. These are jobs whose outcome River could not write while the
// database was away. It returns the ids reclaimed.
func reclaimOrphans(ctx context.Context, db dbExecutor, id string, before time.Time, working map[int64]bool) ([]int64, error) {
	rows, err := db.Query(ctx, runningOfSQL, id, before)
	if err != nil {
		return nil, fmt.Errorf("list running jobs of %s: %w", id, err)
	}
	var orphans []int64
	var jobID, batch int64
	_, err = pgx.ForEachRow(rows, []any{&jobID, &batch}, func() error {
		if !working[jobID] && (batch == 0 || !working[batch]) {
			orphans = append(orphans, jobID)
		}
		return nil
	})
	if err != nil || len(orphans) == 0 {
		return nil, err
	}
	ids, err := changeNotifying(ctx, db, reclaimIDsSQL, "outcome not recorded while the database was away", id, orphans)
	if err != nil {
		return nil, fmt.Errorf("reclaim orphaned jobs of %s: %w", id, err)
	}
	return ids, nil
}

// dbExecutor is what reclaimOrphans and changeNotifying run on: a
// connection, a transaction or a pool.
type dbExecutor interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// wakeProbeSQL makes the oldest parked deliver job of destination $1
// available, marked as the probe of its breaker, and notifies the workers
// (notify.go). Parked jobs are snoozed: state scheduled with a snooze
// count.
const wakeProbeSQL = `WITH changed AS (
		UPDATE river_job SET state = 'available', scheduled_at = now(),
			metadata = metadata || jsonb_build_object('` + probeMetadataKey + `', true)
		WHERE id = (
			SELECT id FROM river_job
			WHERE state = 'scheduled' AND kind = 'deliver' AND args->>'destination_id' = $1 AND metadata ? 'snoozes'
			ORDER BY id LIMIT 1
			FOR UPDATE SKIP LOCKED)
		RETURNING id, state)
	` + notifyAvailable

// wakeProbe makes one parked delivery of a destination available as its
// breaker's probe; false if none is parked.
func wakeProbe(ctx context.Context, pool *pgxpool.Pool, id domain.DestinationID) (bool, error) {
	ids, err := changeNotifying(ctx, pool, wakeProbeSQL, destinationArgs(id))
	if err != nil {
		return false, fmt.Errorf("wake a probe of %s: %w", id, err)
	}
	return len(ids) > 0, nil
}

// runningDeliveriesSQL reports whether a deliver job of destination $1 is
// running.
const runningDeliveriesSQL = `SELECT EXISTS (SELECT 1 FROM river_job
	WHERE state = 'running' AND kind = 'deliver' AND args->>'destination_id' = $1)`

// runningDeliveries reports whether a delivery of a destination is running.
func runningDeliveries(ctx context.Context, pool *pgxpool.Pool, id domain.DestinationID) (bool, error) {
	var running bool
	if err := pool.QueryRow(ctx, runningDeliveriesSQL, destinationArgs(id)).Scan(&running); err != nil {
		return false, fmt.Errorf("look for running deliveries of %s: %w", id, err)
	}
	return running, nil
}
