package relay

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"github.com/loki-interceptor/lokihooks/domain"
)

// maxRecordBatch bounds how many finished jobs one recording transaction
// holds (DESIGN §3.14: no transaction lokihooks opens is long).
const maxRecordBatch = 256

// record is one finished job waiting to be recorded.
type record struct {
	job *river.Job[DeliverArgs]
	// event is appended to the delivery's stream.
	event domain.Event
	// deactivate, when set, deactivates the destination with this reason.
	deactivate string
	// next, when set, is the job that follows (a retry or a postponed
	// attempt).
	next *river.InsertManyParams
	// published is when the delivery's event was published, for the
	// Observer (zero when unknown).
	published time.Time
	done      chan error
}

type recorderConfig struct {
	committers int
	timeout    time.Duration
	logger     *slog.Logger
}

// recorder records finished jobs in batches: one transaction appends every
// delivery event, deactivates destinations that answered 410, inserts the
// follow-up jobs and finishes (deletes) every job. Each outcome is still atomic with
// its job's completion, while the database sees one commit for many
// deliveries instead of one each.
//
// Several committers work at once, each transaction has a deadline, and a
// failed batch is split in halves and retried, so neither a hung commit nor
// a bad record stops the others: a hung one holds a single committer until
// its deadline, and its jobs run again later.
type recorder struct {
	pool         *pgxpool.Pool
	log          EventLog
	destinations Destinations
	client       *river.Client[pgx.Tx]
	cfg          recorderConfig
	queue        chan *record
	observer     Observer
}

func newRecorder(pool *pgxpool.Pool, log EventLog, destinations Destinations, cfg recorderConfig) *recorder {
	return &recorder{
		pool: pool, log: log, destinations: destinations, cfg: cfg, observer: nopObserver{},
		queue: make(chan *record, maxRecordBatch*cfg.committers),
	}
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

// run records batches with cfg.committers goroutines until ctx is
// cancelled. It must be stopped only after the workers that submit to it.
func (r *recorder) run(ctx context.Context) {
	var wg sync.WaitGroup
	for range r.cfg.committers {
		wg.Go(func() { r.commitLoop(ctx) })
	}
	wg.Wait()
}

func (r *recorder) commitLoop(ctx context.Context) {
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

// commit records a batch. If the batch fails as a whole, it is split in
// halves and each half is tried again, so a record that cannot be written
// fails alone after at most log2(maxRecordBatch) more transactions.
func (r *recorder) commit(ctx context.Context, batch []*record) {
	err := r.commitTx(ctx, batch)
	if err == nil || len(batch) == 1 {
		if err != nil {
			r.cfg.logger.WarnContext(ctx, "recording failed; the job runs again",
				"delivery_id", batch[0].job.Args.DeliveryID, "error", err)
		} else {
			observeRecorded(ctx, r.observer, batch)
		}
		for _, rec := range batch {
			rec.done <- err
		}
		return
	}
	r.cfg.logger.DebugContext(ctx, "recording batch failed; splitting", "size", len(batch), "error", err)
	half := len(batch) / 2
	r.commit(ctx, batch[:half])
	r.commit(ctx, batch[half:])
}

func (r *recorder) commitTx(ctx context.Context, batch []*record) error {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.timeout)
	defer cancel()
	return pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
		events, payloads, err := splitExcerpts(ctx, tx, batch)
		if err != nil {
			return err
		}
		streams := make([]domain.Append, 0, len(batch))
		var next []river.InsertManyParams
		ids := make([]int64, len(batch))
		for i, rec := range batch {
			a := rec.job.Args
			streams = append(streams, domain.Append{
				StreamID: string(a.DeliveryID), StreamType: domain.DeliveryStreamType, Expect: domain.ExpectAny,
				Events: []domain.Event{events[i]}, Metadata: a.Trace,
			})
			if rec.next != nil {
				next = append(next, *rec.next)
			}
			ids[i] = rec.job.ID
		}
		// The delivery events go first (taking ids from a sequence writes
		// nothing), so that the transaction takes its id here: the event
		// store refuses to append after a head written by a younger
		// transaction, and a transaction that wrote something else first (a
		// deactivation) would be older than it needs to be.
		if _, err := r.log.AppendTx(ctx, tx, streams...); err != nil {
			return err
		}
		if err := payloads.insert(ctx, tx); err != nil {
			return err
		}
		for _, rec := range batch {
			if rec.deactivate == "" {
				continue
			}
			if err := r.destinations.DeactivateTx(ctx, tx, rec.job.Args.DestinationID, rec.deactivate); err != nil {
				return fmt.Errorf("deactivate %s: %w", rec.job.Args.DestinationID, err)
			}
		}
		if len(next) > 0 {
			if _, err := r.client.InsertManyTx(ctx, tx, next); err != nil {
				return fmt.Errorf("schedule %d follow-up jobs: %w", len(next), err)
			}
		}
		return deleteRunning(ctx, tx, ids)
	})
}

// attemptPayloads are the excerpt rows of a batch's attempts, as column
// arrays.
type attemptPayloads struct {
	id                                    []int64
	requestHeaders, responseHeaders, body []*string
}

const (
	nextPayloadIDs = `SELECT nextval('attempt_payloads_id_seq') FROM generate_series(1, $1)`
	insertPayloads = `INSERT INTO attempt_payloads (id, request_headers, response_headers, response_body)
		SELECT * FROM unnest($1::bigint[], $2::jsonb[], $3::jsonb[], $4::text[])`
)

// splitExcerpts returns the event to append for each record: attempts
// without their excerpts, which go into payload rows the events name
// (domain.AttemptExcerptsRedacted says why). Records are left as they
// are, so that a failed batch can be tried again.
func splitExcerpts(ctx context.Context, tx pgx.Tx, batch []*record) ([]domain.Event, *attemptPayloads, error) {
	events := make([]domain.Event, len(batch))
	n := 0
	for i, rec := range batch {
		events[i] = rec.event
		if ev, ok := rec.event.(domain.DeliveryAttempted); ok && ev.HasExcerpts() {
			n++
		}
	}
	p := &attemptPayloads{}
	if n == 0 {
		return events, p, nil
	}
	rows, err := tx.Query(ctx, nextPayloadIDs, n)
	if err != nil {
		return nil, nil, fmt.Errorf("take %d payload ids: %w", n, err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil || len(ids) != n {
		return nil, nil, fmt.Errorf("take %d payload ids (got %d): %w", n, len(ids), err)
	}
	for i, e := range events {
		ev, ok := e.(domain.DeliveryAttempted)
		if !ok || !ev.HasExcerpts() {
			continue
		}
		rq, err := jsonObject(ev.RequestHeaders)
		if err != nil {
			return nil, nil, err
		}
		rs, err := jsonObject(ev.ResponseHeaders)
		if err != nil {
			return nil, nil, err
		}
		id := ids[len(p.id)]
		p.id = append(p.id, id)
		p.requestHeaders, p.responseHeaders = append(p.requestHeaders, rq), append(p.responseHeaders, rs)
		body := ev.ResponseBody
		p.body = append(p.body, &body)
		ev.PayloadID, ev.RequestHeaders, ev.ResponseHeaders, ev.ResponseBody = id, nil, nil, ""
		events[i] = ev
	}
	return events, p, nil
}

func (p *attemptPayloads) insert(ctx context.Context, tx pgx.Tx) error {
	if len(p.id) == 0 {
		return nil
	}
	if _, err := tx.Exec(ctx, insertPayloads, p.id, p.requestHeaders, p.responseHeaders, p.body); err != nil {
		return fmt.Errorf("insert %d attempt payloads: %w", len(p.id), err)
	}
	return nil
}

// jsonObject encodes headers as a JSON object, nil when there are none.
func jsonObject(h map[string]string) (*string, error) {
	if len(h) == 0 {
		return nil, nil
	}
	b, err := json.Marshal(h)
	if err != nil {
		return nil, fmt.Errorf("encode headers: %w", err)
	}
	s := string(b)
	return &s, nil
}
