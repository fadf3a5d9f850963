package relay

// This file is the only place that reaches past River's public API: into
// its driver and its river_job table, for what River does not offer (as of
// v0.51.2). riverjobs_test.go fails on a River upgrade until someone has
// checked these statements against the new version.
//
//   - completeRunning finishes many jobs in one statement, atomically with
//     the caller's transaction: River's JobCompleteTx does the same for one
//     job per statement, with this very driver call.
//   - wakeParked makes the parked (snoozed) jobs of one destination
//     available now: River can retry a job by id, not select jobs by their
//     arguments.

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/rivertype"

	"github.com/loki-interceptor/lokihooks/domain"
)

// RiverVersion is the River release the statements of this file were
// checked against.
const RiverVersion = "v0.51.2"

// errNotRunning reports a job that stopped being ours (rescued or
// cancelled) before its outcome was recorded.
var errNotRunning = errors.New("job is no longer running")

// completeRunning marks jobs completed on tx, in one statement, if they are
// still running; it fails with errNotRunning if any is not.
func completeRunning(ctx context.Context, client *river.Client[pgx.Tx], tx pgx.Tx, ids []int64, now time.Time) error {
	p := &riverdriver.JobSetStateIfRunningManyParams{Now: &now}
	for _, id := range ids {
		one := riverdriver.JobSetStateCompleted(id, now, nil)
		p.ID = append(p.ID, one.ID)
		p.Attempt = append(p.Attempt, one.Attempt)
		p.ErrData = append(p.ErrData, one.ErrData)
		p.FinalizedAt = append(p.FinalizedAt, one.FinalizedAt)
		p.MetadataDoMerge = append(p.MetadataDoMerge, false)
		p.MetadataUpdates = append(p.MetadataUpdates, nil)
		p.ScheduledAt = append(p.ScheduledAt, one.ScheduledAt)
		p.State = append(p.State, one.State)
	}
	rows, err := client.Driver().UnwrapExecutor(tx).JobSetStateIfRunningMany(ctx, p)
	if err != nil {
		return fmt.Errorf("complete %d jobs: %w", len(ids), err)
	}
	for _, row := range rows {
		if row.State != rivertype.JobStateCompleted {
			return fmt.Errorf("job %d: %w", row.ID, errNotRunning)
		}
	}
	if len(rows) != len(ids) {
		return fmt.Errorf("%d of %d jobs: %w", len(ids)-len(rows), len(ids), errNotRunning)
	}
	return nil
}

// wakeParked makes up to limit parked deliver jobs of a destination
// available now. Parked jobs are snoozed (state scheduled, with a snooze
// count in their metadata); retries scheduled by a retry policy were never
// snoozed and keep their time.
const wakeParkedSQL = `UPDATE river_job SET state = 'available', scheduled_at = now()
	WHERE id IN (
		SELECT id FROM river_job
		WHERE state = 'scheduled' AND kind = 'deliver' AND args->>'destination_id' = $1
		  AND metadata ? 'snoozes'
		LIMIT $2
		FOR UPDATE SKIP LOCKED)`

func wakeParked(ctx context.Context, pool *pgxpool.Pool, id domain.DestinationID, limit int) (int, error) {
	tag, err := pool.Exec(ctx, wakeParkedSQL, string(id), limit)
	if err != nil {
		return 0, err
	}
	return int(tag.RowsAffected()), nil
}
