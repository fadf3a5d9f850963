package relay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/loki-interceptor/lokihooks/domain"
)

// Batching: a destination whose Destination.BatchSize is above 1 (Zapier
// with config batch_size) takes up to that many events in one request,
// sent when that many wait or when the oldest has waited BatchInterval.
//
// Its deliveries stay ordinary deliver jobs with their own retry budget,
// attempts and events; only the sending is shared. A deliver job passes
// the usual checks (status, rate limit: a batch counts one token per
// event) and then parks: it snoozes with batchParkedOutput as its output
// and makes sure its destination has a flush job (BatchArgs, unique per
// destination), due at once when a batch is full and otherwise when the
// job's interval ends. The flush job claims up to a batch of parked jobs
// (riverjobs.go), sends them in one request, and records every delivery's
// attempt through the recorder, which completes each claimed job in the
// same transaction as its event: a batch is never half recorded per
// delivery. Nothing is lost across a crash: a claimed job is running in
// River's eyes, so River rescues it if its process dies and it runs, parks
// and is batched again; a parked job that no flush claimed (its flush
// ended the moment it parked) runs again after one more interval and asks
// for a flush itself; a flush cut short by shutdown puts its claimed jobs
// back. As for every delivery, a crash after the request left but before
// it was recorded sends those events again (at least once).

// BatchArgs is the River job that sends the parked deliveries of one
// batching destination. There is at most one per destination in a state
// that will run.
type BatchArgs struct {
	DestinationID domain.DestinationID `json:"destination_id" river:"unique"`
}

// Kind implements river.JobArgs.
func (BatchArgs) Kind() string { return "deliver_batch" }

// InsertOpts implements river.JobArgsWithInsertOpts.
func (BatchArgs) InsertOpts() river.InsertOpts { return onePerDestination() }

const (
	// batchSettle is how long a flush waits before deciding again when
	// deliveries of its destination are running outside a batch: they are
	// about to park and may fill it.
	batchSettle = 100 * time.Millisecond
	// maxBatchRounds bounds the batches one run of a flush job sends
	// before it yields (and runs again at once).
	maxBatchRounds = 10
)

// batcher is what deliver jobs and flush jobs share.
type batcher struct {
	pool   *pgxpool.Pool
	client *river.Client[pgx.Tx]
	now    func() time.Time
	// workerID is the process's River client id, which claiming writes
	// into attempted_by as River's fetch does; set before workers start.
	workerID string
}

// park is what a deliver job of a batching destination does instead of
// sending: it asks for a flush (at once when, with itself, a batch is full
// or its interval is over) and snoozes until a flush claims it. Should
// none claim it, it runs again one interval after its own ended.
func (b *batcher) park(ctx context.Context, job *river.Job[DeliverArgs], dest *domain.Destination) error {
	now := b.now()
	deadline := job.CreatedAt.Add(dest.BatchInterval)
	// Jobs that run alongside count too: when a batch arrives at once, its
	// jobs all run before any of them parks.
	waiting, err := countWaiting(ctx, b.pool, dest.ID, job.ID, dest.BatchSize)
	if err != nil {
		return err
	}
	soon := waiting+1 >= dest.BatchSize || !now.Before(deadline)
	if err := b.ensureFlush(ctx, dest.ID, deadline, soon); err != nil {
		return err
	}
	if err := river.RecordOutput(ctx, batchParkedOutput); err != nil {
		return fmt.Errorf("park delivery %s: %w", job.Args.DeliveryID, err)
	}
	return river.JobSnooze(max(deadline.Sub(now), 0) + dest.BatchInterval)
}

// ensureFlush makes sure the destination has a flush job due at the latest
// at at (at once when soon).
func (b *batcher) ensureFlush(ctx context.Context, id domain.DestinationID, at time.Time, soon bool) error {
	opts := &river.InsertOpts{}
	if soon {
		at = b.now()
	} else {
		opts.ScheduledAt = at
	}
	res, err := b.client.Insert(ctx, BatchArgs{DestinationID: id}, opts)
	if err != nil {
		return fmt.Errorf("schedule the flush of %s: %w", id, err)
	}
	waiting := res.Job.State == rivertype.JobStateScheduled || res.Job.State == rivertype.JobStateRetryable
	if res.UniqueSkippedAsDuplicate && waiting && res.Job.ScheduledAt.After(at) {
		return hastenFlush(ctx, b.pool, res.Job.ID, at, soon)
	}
	return nil
}

// BatchWorker runs flush jobs.
type BatchWorker struct {
	river.WorkerDefaults[BatchArgs]
	deps     Deps
	cfg      Config
	logger   *slog.Logger
	tracer   trace.Tracer
	recorder *recorder
	cache    *destinationCache
	batcher  *batcher
	breakers *breakers
	bodies   *bodies
}

// Work sends the parked deliveries of its destination, a batch at a time,
// while a batch is ready; then it snoozes until the next is due, or ends
// when none is parked. It returns an error only when claiming or recording
// failed (River runs it again).
func (w *BatchWorker) Work(ctx context.Context, job *river.Job[BatchArgs]) error {
	for range maxBatchRounds {
		dest, err := w.cache.get(ctx, job.Args.DestinationID)
		if errors.Is(err, domain.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if dest.Status != domain.WebhookStatusActive ||
			w.breakers.enabled(dest) && dest.Breaker.State != domain.BreakerStateClosed {
			// Parked jobs run again at the end of their wait and meet the
			// status there (held while paused or while the breaker is not
			// closed, cancelled otherwise).
			return nil
		}
		size := max(dest.BatchSize, 1)
		now := w.cfg.NowFunc()
		ready := func(parked int, oldest time.Time) bool {
			return parked >= size || !now.Before(oldest.Add(dest.BatchInterval))
		}
		c, err := claimParked(ctx, w.batcher.pool, dest.ID, size, job.ID, w.batcher.workerID, ready)
		if err != nil {
			return err
		}
		if len(c.jobs) == 0 {
			switch {
			case c.runningOthers:
				return river.JobSnooze(batchSettle)
			case c.parked == 0:
				return nil
			default:
				return river.JobSnooze(max(c.oldest.Add(dest.BatchInterval).Sub(now), batchSettle))
			}
		}
		if err := w.send(ctx, dest, job.ID, c.jobs, now); err != nil {
			return err
		}
	}
	return river.JobSnooze(0)
}

// send makes one attempt for the claimed jobs and records each delivery's
// outcome.
func (w *BatchWorker) send(ctx context.Context, dest *domain.Destination, flushID int64, jobs []claimedJob, now time.Time) error {
	ctx, span := w.tracer.Start(ctx, "relay.deliver_batch", trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("destination_id", string(dest.ID)), attribute.Int("size", len(jobs))))
	defer span.End()

	var recs []*record
	var sent []claimedJob
	var items []domain.BatchItem
	var ids []domain.EventID
	for _, j := range jobs {
		if j.args.Body == "" {
			ids = append(ids, j.args.EventID)
		}
	}
	var stored map[domain.EventID][]byte
	if len(ids) > 0 {
		var err error
		if stored, err = w.bodies.read(ctx, ids); err != nil {
			return errors.Join(err, w.release(ctx, jobs, flushID))
		}
	}
	for _, j := range jobs {
		body, ok := []byte(j.args.Body), true
		if j.args.Body == "" {
			body, ok = stored[j.args.EventID]
		}
		if !ok {
			recs = append(recs, &record{job: j.riverJob(), event: domain.DeliveryCancelled{Reason: "event no longer exists", At: now.UTC()}})
			continue
		}
		sent = append(sent, j)
		items = append(items, domain.BatchItem{
			EventID: string(j.args.EventID), EventType: j.args.EventType, DeliveryID: string(j.args.DeliveryID), Body: body,
		})
	}
	if len(sent) > 0 {
		first := sent[0].args
		req := domain.AttemptRequest{
			Kind: dest.Kind, DestinationID: dest.ID, URL: dest.URL, EventID: string(first.EventID), EventType: first.EventType,
			DeliveryID: string(first.DeliveryID), Attempt: first.Attempt, Body: items[0].Body, Secrets: dest.Secrets,
			Headers: dest.Headers, Config: dest.Config, Credentials: dest.Credentials, Timeout: dest.Timeout, Now: now,
		}
		if len(items) > 1 {
			req.Batch = items
		}
		res := w.deps.Sender.Send(ctx, req)
		if ctx.Err() != nil {
			// Shutting down mid-attempt: record nothing, put the jobs back
			// (sent again later: at least once).
			return errors.Join(ctx.Err(), w.release(ctx, jobs, flushID))
		}
		if !res.Success {
			span.SetStatus(codes.Error, string(res.Category))
		}
		w.breakers.observe(dest.ID, res, now)
		// One jitter for the whole batch keeps its retries together.
		random := w.cfg.RandomFunc()
		for i, j := range sent {
			a := j.args
			outcome := domain.DecideAttempt(dest.Retry, a.Try, res, now, random)
			rec := &record{
				job: j.riverJob(), event: attemptEvent(a.Attempt, res, outcome, now),
				published: firstPublished(a.Attempt, items[i].Body),
			}
			if i == 0 {
				rec.deactivate = outcome.Deactivate
			}
			if outcome.Status == domain.DeliveryRetrying {
				next := a
				next.Attempt, next.Try, next.Reserved = a.Attempt+1, a.Try+1, time.Time{}
				rec.next = &river.InsertManyParams{Args: next, InsertOpts: &river.InsertOpts{ScheduledAt: *outcome.NextAttemptAt}}
			}
			recs = append(recs, rec)
		}
		w.logger.DebugContext(ctx, "batch attempted", "destination_id", dest.ID, "size", len(sent),
			"status_code", res.StatusCode, "success", res.Success)
	}
	return w.recordAll(ctx, recs)
}

// recordAll hands every record to the recorder at once (they usually share
// one transaction) and waits for all of them.
func (w *BatchWorker) recordAll(ctx context.Context, recs []*record) error {
	errs := make([]error, len(recs))
	var wg sync.WaitGroup
	for i, rec := range recs {
		wg.Go(func() { errs[i] = w.recorder.submit(ctx, rec) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("record a batch of %d deliveries: %w", len(recs), err)
	}
	return nil
}

// release puts claimed jobs back, on a context that outlives a shutdown.
func (w *BatchWorker) release(ctx context.Context, jobs []claimedJob, flushID int64) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.cfg.RecordTimeout)
	defer cancel()
	return releaseClaimed(ctx, w.batcher.pool, jobs, flushID)
}

// NextRetry implements river.Worker: a flush job fails only when claiming
// or recording failed, the database most likely, so it is retried soon.
func (w *BatchWorker) NextRetry(job *river.Job[BatchArgs]) time.Time {
	return infraRetry(job.Attempt)
}

// riverJob is the claimed job as the recorder takes it.
func (j claimedJob) riverJob() *river.Job[DeliverArgs] {
	return &river.Job[DeliverArgs]{
		JobRow: &rivertype.JobRow{ID: j.id, Attempt: j.attempt, Kind: DeliverArgs{}.Kind()},
		Args:   j.args,
	}
}

// eventBody returns the exact body of a delivery's event (domain.ErrNotFound
// if it is not a published event).
func eventBody(ctx context.Context, b *bodies, a DeliverArgs) ([]byte, error) {
	if a.Body != "" {
		return []byte(a.Body), nil
	}
	return b.body(ctx, a.EventID)
}
