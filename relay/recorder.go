package relay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/rivertype"

	"github.com/loki-interceptor/lokihooks/domain"
)

// maxRecordBatch bounds how many attempts one recording transaction holds.
const maxRecordBatch = 256

// errNotRunning reports a job that stopped being ours (rescued or
// cancelled) before its outcome was recorded.
var errNotRunning = errors.New("job is no longer running")

// record is one finished job waiting to be recorded.
type record struct {
	job     *river.Job[DeliverArgs]
	event   domain.Event
	outcome *domain.AttemptOutcome
	done    chan error
}

// recorder records finished jobs in batches: one transaction appends every
// attempt event, schedules every retry, deactivates webhooks that answered
// 410 and completes every job. Each outcome is still atomic with its job's
// completion, while the database sees one commit for many deliveries
// instead of one each (which, with hundreds of concurrent workers, spent
// most of the time in commit and index-page contention).
type recorder struct {
	pool   *pgxpool.Pool
	store  Store
	client *river.Client[pgx.Tx]
	now    func() time.Time
	logger *slog.Logger
	queue  chan *record
}

func newRecorder(pool *pgxpool.Pool, store Store, now func() time.Time, logger *slog.Logger) *recorder {
	return &recorder{pool: pool, store: store, now: now, logger: logger, queue: make(chan *record, maxRecordBatch)}
}

// submit hands a finished job to the recorder and waits for the outcome.
func (r *recorder) submit(ctx context.Context, rec *record) error {
	rec.done = make(chan error, 1)
	select {
	case r.queue <- rec:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-rec.done:
		return err
	case <-ctx.Done():
		// The batch may still commit; River treats the job as failed and,
		// if the completion did commit, finds it completed.
		return ctx.Err()
	}
}

// run records batches until ctx is cancelled. It must be stopped only after
// the workers that submit to it.
func (r *recorder) run(ctx context.Context) {
	for {
		var first *record
		select {
		case first = <-r.queue:
		case <-ctx.Done():
			return
		}
		batch := []*record{first}
	drain:
		for len(batch) < maxRecordBatch {
			select {
			case rec := <-r.queue:
				batch = append(batch, rec)
			default:
				break drain
			}
		}
		r.commit(context.WithoutCancel(ctx), batch)
	}
}

// commit records a batch; if the batch fails as a whole, each record is
// retried alone so one bad job cannot fail its neighbours.
func (r *recorder) commit(ctx context.Context, batch []*record) {
	err := r.commitTx(ctx, batch)
	if err == nil || len(batch) == 1 {
		for _, rec := range batch {
			rec.done <- err
		}
		return
	}
	r.logger.WarnContext(ctx, "recording batch failed; recording one by one", "size", len(batch), "error", err)
	for _, rec := range batch {
		rec.done <- r.commitTx(ctx, []*record{rec})
	}
}

func (r *recorder) commitTx(ctx context.Context, batch []*record) error {
	return pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
		events := make([]domain.NewStream, len(batch))
		var retries []river.InsertManyParams
		for i, rec := range batch {
			a := rec.job.Args
			events[i] = domain.NewStream{ID: string(a.DeliveryID), Event: rec.event, Metadata: a.Trace}
			if rec.outcome == nil {
				continue
			}
			if rec.outcome.DeactivateWebhook != "" {
				if err := r.deactivate(ctx, tx, a.WebhookID, rec.outcome.DeactivateWebhook); err != nil {
					return err
				}
			}
			if rec.outcome.Status == domain.DeliveryRetrying {
				next := a
				next.Attempt, next.Try = a.Attempt+1, a.Try+1
				retries = append(retries, river.InsertManyParams{Args: next, InsertOpts: &river.InsertOpts{ScheduledAt: *rec.outcome.NextAttemptAt}})
			}
		}
		if err := r.store.AppendNextTx(ctx, tx, events, domain.DeliveryStreamType); err != nil {
			return err
		}
		if len(retries) > 0 {
			if _, err := r.client.InsertManyTx(ctx, tx, retries); err != nil {
				return fmt.Errorf("schedule %d retries: %w", len(retries), err)
			}
		}
		return r.complete(ctx, tx, batch)
	})
}

// complete marks every job of the batch completed in one statement, the
// same statement River's JobCompleteTx runs for one job.
func (r *recorder) complete(ctx context.Context, tx pgx.Tx, batch []*record) error {
	now := r.now().UTC()
	p := &riverdriver.JobSetStateIfRunningManyParams{Now: &now}
	for _, rec := range batch {
		one := riverdriver.JobSetStateCompleted(rec.job.ID, now, nil)
		p.ID = append(p.ID, one.ID)
		p.Attempt = append(p.Attempt, one.Attempt)
		p.ErrData = append(p.ErrData, one.ErrData)
		p.FinalizedAt = append(p.FinalizedAt, one.FinalizedAt)
		p.MetadataDoMerge = append(p.MetadataDoMerge, false)
		p.MetadataUpdates = append(p.MetadataUpdates, nil)
		p.ScheduledAt = append(p.ScheduledAt, one.ScheduledAt)
		p.State = append(p.State, one.State)
	}
	rows, err := r.client.Driver().UnwrapExecutor(tx).JobSetStateIfRunningMany(ctx, p)
	if err != nil {
		return fmt.Errorf("complete %d jobs: %w", len(batch), err)
	}
	for _, row := range rows {
		if row.State != rivertype.JobStateCompleted {
			return fmt.Errorf("job %d: %w", row.ID, errNotRunning)
		}
	}
	if len(rows) != len(batch) {
		return fmt.Errorf("%d of %d jobs: %w", len(batch)-len(rows), len(batch), errNotRunning)
	}
	return nil
}

// deactivate records that a webhook answered 410 Gone.
func (r *recorder) deactivate(ctx context.Context, tx pgx.Tx, id domain.WebhookID, reason string) error {
	history, err := r.store.LoadStreamTx(ctx, tx, string(id))
	if err != nil {
		return err
	}
	hook, err := domain.ReplayWebhook(history)
	if err != nil {
		return err
	}
	events, err := hook.Deactivate(reason, r.now())
	if err != nil || len(events) == 0 {
		return err
	}
	_, err = r.store.AppendStreamTx(ctx, tx, string(id), domain.WebhookStreamType, hook.Version, nil, events...)
	return err
}
