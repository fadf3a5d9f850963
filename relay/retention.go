package relay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/loki-interceptor/lokihooks/domain"
)

// Retention deletes what lokihooks no longer needs, in small batches, each
// its own short transaction (DESIGN §3.14):
//
//   - outbox rows the fan-out consumed (below its acknowledged offset),
//     once older than RetentionConfig.Outbox;
//   - idempotency keys older than IdempotencyKeys;
//   - rate-limit windows that ended more than RateWindows ago;
//   - attempt excerpts (payload rows) older than AttemptExcerpts: each
//     batch appends an attempt_excerpts.redacted.v1 event saying up to
//     which payload id they are gone, then deletes them, in one
//     transaction. Event rows are never edited; a replay meets the
//     redaction where the live projection did.
//
// River deletes its own finished jobs (CompletedJobs, DiscardedJobs), on
// River's elected leader. Every process that runs the relay or workers
// runs the loop; a batch runs only in the process that holds the
// retention's advisory lock for its transaction, so one process at a time
// deletes.

// Retention defaults and bounds.
const (
	DefaultRetentionInterval = time.Minute
	DefaultRetentionBatch    = 1000
	DefaultOutboxRetention   = 7 * 24 * time.Hour
	DefaultCompletedJobs     = time.Hour
	DefaultDiscardedJobs     = 7 * 24 * time.Hour
	DefaultIdempotencyKeys   = 24 * time.Hour
	DefaultRateWindows       = time.Hour
	DefaultAttemptExcerpts   = 30 * 24 * time.Hour
	// maxRetentionBatches bounds the batches of one kind per pass, so that
	// a large backlog is worked off over several passes, never starving
	// the other kinds.
	maxRetentionBatches = 100
)

// RetentionConfig says how long lokihooks keeps what it deletes. A zero
// duration means its default; a negative one keeps that kind forever.
type RetentionConfig struct {
	// Interval is the pause between passes (default 1m).
	Interval time.Duration
	// BatchSize is the most rows one transaction deletes (default 1000).
	BatchSize int
	// Outbox keeps consumed outbox rows this long (default 7 days).
	Outbox time.Duration
	// CompletedJobs keeps completed River jobs this long (default 1h).
	// Delivery jobs are deleted as their attempt is recorded; this is for
	// the others (batch flushes, breaker probes).
	CompletedJobs time.Duration
	// DiscardedJobs keeps discarded and cancelled River jobs this long
	// (default 7 days).
	DiscardedJobs time.Duration
	// IdempotencyKeys keeps the Idempotency-Key of each POST /events this
	// long (default 24h): a repeat within it is answered as the first.
	IdempotencyKeys time.Duration
	// RateWindows keeps a rate-limit window this long after it ended
	// (default 1h).
	RateWindows time.Duration
	// AttemptExcerpts keeps attempts' request and response headers and
	// response bodies this long (default 30 days).
	AttemptExcerpts time.Duration
}

func (c RetentionConfig) withDefaults() RetentionConfig {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.Interval, DefaultRetentionInterval)
	def(&c.Outbox, DefaultOutboxRetention)
	def(&c.CompletedJobs, DefaultCompletedJobs)
	def(&c.DiscardedJobs, DefaultDiscardedJobs)
	def(&c.IdempotencyKeys, DefaultIdempotencyKeys)
	def(&c.RateWindows, DefaultRateWindows)
	def(&c.AttemptExcerpts, DefaultAttemptExcerpts)
	if c.BatchSize == 0 {
		c.BatchSize = DefaultRetentionBatch
	}
	return c
}

func (c RetentionConfig) validate() error {
	if c.Interval < time.Second {
		return errors.New("Retention.Interval must be at least 1s")
	}
	if c.BatchSize < 1 {
		return errors.New("Retention.BatchSize must be positive")
	}
	return nil
}

// riverRetention is River's setting for a retention: River keeps jobs
// forever when it is -1.
func riverRetention(d time.Duration) time.Duration {
	if d < 0 {
		return -1
	}
	return d
}

// RetentionResult counts the rows one pass deleted.
type RetentionResult struct {
	Outbox          int
	IdempotencyKeys int
	RateWindows     int
	AttemptPayloads int
	// Redactions is how many attempt_excerpts.redacted.v1 events the pass
	// appended.
	Redactions int
	// Skipped reports that another process held the retention lock.
	Skipped bool
}

type retention struct {
	pool   *pgxpool.Pool
	log    EventLog
	cfg    RetentionConfig
	logger *slog.Logger
}

// run runs a pass every Interval until ctx ends.
func (r *retention) run(ctx context.Context) error {
	t := time.NewTicker(r.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		res, err := r.pass(ctx)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			r.logger.WarnContext(ctx, "retention pass failed; trying again next interval", "error", err)
		case res != (RetentionResult{}) && !res.Skipped:
			r.logger.InfoContext(ctx, "retention deleted old rows", "outbox", res.Outbox,
				"idempotency_keys", res.IdempotencyKeys, "rate_windows", res.RateWindows,
				"attempt_payloads", res.AttemptPayloads)
		}
	}
}

const (
	tryRetentionLockSQL = `SELECT pg_try_advisory_xact_lock(hashtext('lokihooks.retention:' || current_schema()))`

	// Outbox rows at or below the fan-out's acknowledged position, oldest
	// first; created_at is the writer's local time, as LOCALTIMESTAMP.
	outboxHeadSQL = `SELECT o.transaction_id::text, o."offset", o.created_at < LOCALTIMESTAMP - make_interval(secs => $1)
		FROM watermill_outbox o, watermill_offsets_outbox f
		WHERE f.consumer_group = '` + FanoutGroup + `'
		  AND (o.transaction_id, o."offset") <= (f.last_processed_transaction_id, f.offset_acked)
		ORDER BY o.transaction_id, o."offset"
		LIMIT $2`
	deleteOutboxSQL = `DELETE FROM watermill_outbox
		WHERE (transaction_id, "offset") <= ($1::text::xid8, $2::bigint)`

	deleteIdempotencyKeysSQL = `DELETE FROM idempotency_keys WHERE key IN (
		SELECT key FROM idempotency_keys WHERE created_at < now() - make_interval(secs => $1)
		ORDER BY created_at LIMIT $2)`

	deleteRateWindowsSQL = `DELETE FROM rate_windows WHERE ctid IN (
		SELECT ctid FROM rate_windows
		WHERE window_start + CASE window_kind WHEN 'minute' THEN interval '1 minute' ELSE interval '1 hour' END
			< now() - make_interval(secs => $1)
		LIMIT $2)`

	payloadHeadSQL    = `SELECT id, recorded_at < $1 FROM attempt_payloads ORDER BY id LIMIT $2`
	deletePayloadsSQL = `DELETE FROM attempt_payloads WHERE id <= $1`
	// inlineExcerptsSQL finds attempts recorded before payload rows
	// existed that still hold excerpts (delivery_attempts_inline_excerpts_idx).
	inlineExcerptsSQL = `SELECT EXISTS (SELECT 1 FROM delivery_attempts
		WHERE payload_id IS NULL AND attempted_at < $1
		  AND (response_body <> '' OR request_headers <> '{}' OR response_headers <> '{}'))`
)

// pass deletes one pass worth of each kind, in batches.
func (r *retention) pass(ctx context.Context) (RetentionResult, error) {
	var res RetentionResult
	kinds := []struct {
		keep  time.Duration
		count *int
		batch func(ctx context.Context, tx pgx.Tx, keep time.Duration) (int, error)
	}{
		{r.cfg.Outbox, &res.Outbox, r.outboxBatch},
		{r.cfg.IdempotencyKeys, &res.IdempotencyKeys, r.idempotencyBatch},
		{r.cfg.RateWindows, &res.RateWindows, r.rateWindowsBatch},
	}
	for _, k := range kinds {
		if k.keep < 0 {
			continue
		}
		for range maxRetentionBatches {
			n, skipped, err := r.inLock(ctx, func(tx pgx.Tx) (int, error) { return k.batch(ctx, tx, k.keep) })
			if err != nil || skipped {
				res.Skipped = skipped
				return res, err
			}
			*k.count += n
			if n < r.cfg.BatchSize {
				break
			}
		}
	}
	if r.cfg.AttemptExcerpts < 0 {
		return res, nil
	}
	var cutoff time.Time
	if err := r.pool.QueryRow(ctx, `SELECT now() - make_interval(secs => $1)`, r.cfg.AttemptExcerpts.Seconds()).Scan(&cutoff); err != nil {
		return res, fmt.Errorf("retention: %w", err)
	}
	for i := range maxRetentionBatches {
		var n int
		_, skipped, err := r.inLock(ctx, func(tx pgx.Tx) (int, error) {
			var err error
			n, err = r.excerptsBatch(ctx, tx, cutoff, i == 0)
			return n, err
		})
		if err != nil || skipped {
			res.Skipped = skipped
			return res, err
		}
		if n >= 0 {
			res.Redactions++
			res.AttemptPayloads += n
		}
		if n < r.cfg.BatchSize {
			break
		}
	}
	return res, nil
}

// inLock runs batch in a transaction holding the retention lock; skipped
// reports that another process holds it.
func (r *retention) inLock(ctx context.Context, batch func(tx pgx.Tx) (int, error)) (n int, skipped bool, err error) {
	err = pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
		var leader bool
		if err := tx.QueryRow(ctx, tryRetentionLockSQL).Scan(&leader); err != nil {
			return err
		}
		if !leader {
			skipped = true
			return nil
		}
		n, err = batch(tx)
		return err
	})
	if err != nil {
		return 0, false, fmt.Errorf("retention: %w", err)
	}
	return n, skipped, nil
}

func (r *retention) outboxBatch(ctx context.Context, tx pgx.Tx, keep time.Duration) (int, error) {
	rows, err := tx.Query(ctx, outboxHeadSQL, keep.Seconds(), r.cfg.BatchSize)
	if err != nil {
		return 0, fmt.Errorf("read consumed outbox rows: %w", err)
	}
	// The oldest rows, up to the first one too young to go: rows are
	// ordered by position, which grows with time.
	var lastTx string
	var lastOffset int64
	n := 0
	var txid string
	var offset int64
	var old bool
	stop := false
	_, err = pgx.ForEachRow(rows, []any{&txid, &offset, &old}, func() error {
		if stop || !old {
			stop = true
			return nil
		}
		lastTx, lastOffset = txid, offset
		n++
		return nil
	})
	if err != nil || n == 0 {
		return 0, err
	}
	tag, err := tx.Exec(ctx, deleteOutboxSQL, lastTx, lastOffset)
	if err != nil {
		return 0, fmt.Errorf("delete consumed outbox rows: %w", err)
	}
	return int(tag.RowsAffected()), nil
}

func (r *retention) idempotencyBatch(ctx context.Context, tx pgx.Tx, keep time.Duration) (int, error) {
	tag, err := tx.Exec(ctx, deleteIdempotencyKeysSQL, keep.Seconds(), r.cfg.BatchSize)
	if err != nil {
		return 0, fmt.Errorf("delete idempotency keys: %w", err)
	}
	return int(tag.RowsAffected()), nil
}

func (r *retention) rateWindowsBatch(ctx context.Context, tx pgx.Tx, keep time.Duration) (int, error) {
	tag, err := tx.Exec(ctx, deleteRateWindowsSQL, keep.Seconds(), r.cfg.BatchSize)
	if err != nil {
		return 0, fmt.Errorf("delete rate-limit windows: %w", err)
	}
	return int(tag.RowsAffected()), nil
}

// excerptsBatch deletes the oldest payload rows recorded before cutoff, up
// to a batch, after appending the redaction that says so. It returns how
// many rows it deleted, or -1 if it appended nothing. The first batch of a
// pass also redacts when no payload row is old but attempts recorded
// before payload rows existed still hold excerpts older than cutoff.
func (r *retention) excerptsBatch(ctx context.Context, tx pgx.Tx, cutoff time.Time, first bool) (int, error) {
	rows, err := tx.Query(ctx, payloadHeadSQL, cutoff, r.cfg.BatchSize)
	if err != nil {
		return 0, fmt.Errorf("read attempt payloads: %w", err)
	}
	var through int64
	n := 0
	var id int64
	var old bool
	stop := false
	_, err = pgx.ForEachRow(rows, []any{&id, &old}, func() error {
		if stop || !old {
			stop = true
			return nil
		}
		through = id
		n++
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("read attempt payloads: %w", err)
	}
	if n == 0 {
		if !first {
			return -1, nil
		}
		var inline bool
		if err := tx.QueryRow(ctx, inlineExcerptsSQL, cutoff).Scan(&inline); err != nil || !inline {
			return -1, err
		}
	}
	ev := domain.AttemptExcerptsRedacted{Through: through, Before: cutoff.UTC(), Count: n, At: time.Now().UTC()}
	if _, err := r.log.AppendTx(ctx, tx, domain.Append{
		StreamID: domain.AttemptExcerptsStream, StreamType: domain.RetentionStreamType, Expect: domain.ExpectAny,
		Events: []domain.Event{ev},
	}); err != nil {
		return 0, fmt.Errorf("record the redaction of attempt excerpts: %w", err)
	}
	if n == 0 {
		return 0, nil
	}
	if _, err := tx.Exec(ctx, deletePayloadsSQL, through); err != nil {
		return 0, fmt.Errorf("delete attempt payloads: %w", err)
	}
	return n, nil
}

// RunRetention makes one retention pass now and returns what it deleted
// (lokihooks runs one every RetentionConfig.Interval by itself). It
// returns a result with Skipped set if another process is making one.
func (r *Relay) RunRetention(ctx context.Context) (RetentionResult, error) {
	return r.retention.pass(ctx)
}
