package projections

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/loki-interceptor/lokihooks/domain"
)

// ReadFunc returns up to limit events after `after`, in log order, on q (a
// transaction, or the pool for a runner's idle look). It must never skip
// an event of a transaction that commits late: it reads only transactions
// older than every transaction still running (the xid8 < pg_snapshot_xmin
// rule of eventstore.ReadLog, which cmd wires in).
type ReadFunc func(ctx context.Context, q DB, after domain.LogPosition, limit int) ([]domain.Recorded, error)

// ResetFunc empties a projection's tables on tx, before a rebuild.
type ResetFunc func(ctx context.Context, tx pgx.Tx) error

// Projector applies a batch of events, in log order, to a read model on tx.
// It must ignore event types it does not know and be idempotent: a batch
// may be applied again after a failure.
type Projector interface {
	Project(ctx context.Context, tx pgx.Tx, events []domain.Recorded) error
}

// LookaheadProjector is a Projector that can use events the runner read
// but does not apply yet (RunnerConfig.Settle). ProjectAhead must apply
// events as Project does and may apply events of ahead early, if applying
// them again later changes nothing.
type LookaheadProjector interface {
	Projector
	ProjectAhead(ctx context.Context, tx pgx.Tx, events, ahead []domain.Recorded) error
}

// Runner defaults and bounds.
const (
	DefaultBatchSize    = 2000
	DefaultPollInterval = 50 * time.Millisecond
	MinPollInterval     = time.Millisecond
	DefaultIdleCeiling  = time.Second
)

// RunnerConfig configures a Runner.
type RunnerConfig struct {
	// Name is the projection's checkpoint row in projection_checkpoints,
	// such as "deliveries". Required.
	Name string
	// Projector applies events. Required.
	Projector Projector
	// Read reads the event log. Required.
	Read ReadFunc
	// BatchSize is the most events applied per transaction (default
	// DefaultBatchSize, 2000).
	BatchSize int
	// PollInterval is how long Run waits when the log has nothing new, and
	// before retrying a failed batch (default DefaultPollInterval, 50ms;
	// at least MinPollInterval, 1ms). While the log stays idle, Run looks
	// less often: the waits double up to a second.
	PollInterval time.Duration
	// Logger receives lifecycle and failure logs (default: discard).
	Logger *slog.Logger
	// Reset empties the projection's tables; Rebuild needs it.
	Reset ResetFunc
	// Settle, if positive, is how old (by the database's clock) an event
	// must be before it is applied: each batch stops before the first
	// younger event, and a LookaheadProjector sees the younger ones too.
	// The read model lags by Settle more.
	Settle time.Duration
	// Wake, if set, tells the runner that the log has likely grown (this
	// process appended to it): an idle runner looks at once instead of at
	// its next look.
	Wake <-chan struct{}
	// IdleCeiling is the longest wait between two looks of an idle runner
	// (default DefaultIdleCeiling, 1s; at least PollInterval). A runner
	// woken by Wake for the events that matter to it can look less often.
	IdleCeiling time.Duration
}

func (c RunnerConfig) withDefaults() RunnerConfig {
	if c.BatchSize == 0 {
		c.BatchSize = DefaultBatchSize
	}
	if c.PollInterval == 0 {
		c.PollInterval = DefaultPollInterval
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.IdleCeiling == 0 {
		c.IdleCeiling = DefaultIdleCeiling
	}
	return c
}

func (c RunnerConfig) validate() error {
	var errs []error
	if c.Name == "" {
		errs = append(errs, errors.New("Name is required"))
	}
	if c.Projector == nil {
		errs = append(errs, errors.New("Projector is required"))
	}
	if c.Read == nil {
		errs = append(errs, errors.New("Read is required"))
	}
	if c.BatchSize < 1 {
		errs = append(errs, fmt.Errorf("BatchSize must be at least 1, got %d", c.BatchSize))
	}
	if c.PollInterval < MinPollInterval {
		errs = append(errs, fmt.Errorf("PollInterval must be at least %s, got %s", MinPollInterval, c.PollInterval))
	}
	if c.IdleCeiling < 0 {
		errs = append(errs, fmt.Errorf("IdleCeiling must not be negative, got %s", c.IdleCeiling))
	}
	return errors.Join(errs...)
}

// Runner feeds the event log to one projection. Each batch is one
// transaction that locks the projection's checkpoint row, reads the events
// after it, projects them and moves the checkpoint: rows and checkpoint
// commit together, and runners of the same name in any number of processes
// take turns (only one makes progress at a time). Its methods are safe for
// concurrent use.
type Runner struct {
	pool   *pgxpool.Pool
	cfg    RunnerConfig
	logger *slog.Logger

	// seen is the checkpoint as this runner last read or wrote it: the
	// idle look starts there. Another process's runner may have moved the
	// checkpoint since, which makes a look find events already applied:
	// the batch that follows reads the real checkpoint and applies none.
	seen atomic.Pointer[domain.LogPosition] // nil: not read yet
}

// NewRunner returns a Runner for cfg.Name. It reports every invalid field
// of cfg at once.
func NewRunner(pool *pgxpool.Pool, cfg RunnerConfig) (*Runner, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("projection runner config: %w", err)
	}
	logger := cfg.Logger.With("component", "projections", "projection", cfg.Name)
	return &Runner{pool: pool, cfg: cfg, logger: logger}, nil
}

const (
	selectCheckpoint = `SELECT transaction_id::text, position FROM projection_checkpoints
		WHERE name = $1 FOR UPDATE`
	insertCheckpoint = `INSERT INTO projection_checkpoints (name) VALUES ($1) ON CONFLICT (name) DO NOTHING`
	updateCheckpoint = `UPDATE projection_checkpoints
		SET transaction_id = $2::text::xid8, position = $3, updated_at = now()
		WHERE name = $1`
	readCheckpoint = `SELECT transaction_id::text, position FROM projection_checkpoints WHERE name = $1`
)

// Run applies batches until ctx is cancelled, then returns nil. It waits
// PollInterval when the log has nothing new. A failing batch is rolled
// back (rows and checkpoint untouched), logged at Warn and retried after
// PollInterval, indefinitely: the projection cannot move past an event it
// cannot apply.
func (r *Runner) Run(ctx context.Context) error {
	r.logger.InfoContext(ctx, "projection runner started")
	defer r.logger.InfoContext(context.WithoutCancel(ctx), "projection runner stopped")
	for {
		n, unsettled, err := r.step(ctx)
		if ctx.Err() != nil {
			return nil
		}
		switch {
		case errors.Is(err, ErrGap):
			// The read model cannot move past this batch without losing an
			// event: an operator must look (the log is not in version order).
			r.logger.ErrorContext(ctx, "projection stopped at a version gap", "error", err)
		case err != nil:
			r.logger.WarnContext(ctx, "projection batch failed", "error", err)
		}
		// A full batch means more is waiting. A partial one means the runner
		// caught up: it waits PollInterval, so that the next batch holds the
		// later events of the same streams too (the deliveries projection
		// folds a delivery's history into one row write).
		if err == nil && n >= r.cfg.BatchSize {
			continue
		}
		if !r.waitForEvents(ctx, err == nil && n == 0 && !unsettled) {
			return nil
		}
	}
}

// waitForEvents waits PollInterval, then again for as long as a look at the
// log finds nothing to apply, each wait twice the last, up to
// IdleCeiling. While the runner is idle (its last batch applied nothing
// and left nothing to settle, or a look since found nothing), a wake-up
// (Wake) makes it look at once and start again from PollInterval. Looking
// is one read-only statement, outside any transaction: no lock, no
// transaction id (a batch locks the checkpoint row, which costs both, and
// WAL). An idle runner writes nothing, and looks once per IdleCeiling. It
// reports false if ctx ends.
func (r *Runner) waitForEvents(ctx context.Context, idle bool) bool {
	d := r.cfg.PollInterval
	for {
		woken, ok := r.wait(ctx, d, idle)
		if !ok {
			return false
		}
		if found, err := r.pending(ctx); err != nil || found {
			return true // a failed look is reported by the batch
		}
		idle = true
		if woken {
			// What woke it may not be visible yet: the next looks follow
			// at PollInterval, doubling.
			d = r.cfg.PollInterval
			continue
		}
		d = max(r.cfg.PollInterval, min(2*d, r.cfg.IdleCeiling))
	}
}

// wait waits d or, if the runner is idle (its last batch or look found
// nothing), until a wake-up, and reports which; ok is false if ctx ends
// first. A busy runner keeps its PollInterval pace: a wake-up for every
// delivery recorded would otherwise make it run a batch for each.
func (r *Runner) wait(ctx context.Context, d time.Duration, idle bool) (woken, ok bool) {
	wake := r.cfg.Wake // nil: never
	if !idle {
		wake = nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false, false
	case <-wake:
		return true, true
	case <-t.C:
		return false, true
	}
}

// pending reports whether a batch would read anything: one read of the log
// after the checkpoint this runner saw last, on the pool (one round trip;
// a read-only statement takes no transaction id).
func (r *Runner) pending(ctx context.Context) (bool, error) {
	after := r.seen.Load()
	if after == nil {
		return true, nil // the batch reads (or creates) the checkpoint
	}
	events, err := r.cfg.Read(ctx, r.pool, *after, 1)
	return len(events) > 0, err
}

// CatchUp applies batches until a read returns nothing, and returns the
// number of events applied. Events of transactions that are still running,
// or younger than the oldest running transaction in the cluster, are not
// readable yet: CatchUp stops before them. On error, the events of earlier
// batches stay applied.
func (r *Runner) CatchUp(ctx context.Context) (int, error) {
	total := 0
	for {
		n, _, err := r.step(ctx)
		total += n
		if err != nil || n == 0 {
			return total, err
		}
	}
}

// Rebuild throws the projection away and replays the log: one transaction
// runs RunnerConfig.Reset and moves the checkpoint back to the start, then
// CatchUp applies the log. Readers see the read model fill up again while
// it runs. It returns the number of events applied.
func (r *Runner) Rebuild(ctx context.Context) (int, error) {
	if r.cfg.Reset == nil {
		return 0, fmt.Errorf("rebuild %s: RunnerConfig.Reset is nil", r.cfg.Name)
	}
	err := pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
		if _, err := r.lockCheckpoint(ctx, tx); err != nil {
			return err
		}
		if err := r.cfg.Reset(ctx, tx); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, updateCheckpoint, r.cfg.Name, "0", 0)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("rebuild %s: %w", r.cfg.Name, err)
	}
	r.logger.InfoContext(ctx, "projection reset for rebuild")
	return r.CatchUp(ctx)
}

// Checkpoint returns the position of the last event applied (the zero
// Position if none has been).
func (r *Runner) Checkpoint(ctx context.Context) (domain.LogPosition, error) {
	var txid string
	var p domain.LogPosition
	err := r.pool.QueryRow(ctx, readCheckpoint, r.cfg.Name).Scan(&txid, &p.Position)
	if errors.Is(err, pgx.ErrNoRows) {
		return domain.LogPosition{}, nil
	}
	if err != nil {
		return domain.LogPosition{}, fmt.Errorf("read checkpoint %s: %w", r.cfg.Name, err)
	}
	if p.TransactionID, err = strconv.ParseUint(txid, 10, 64); err != nil {
		return domain.LogPosition{}, fmt.Errorf("parse checkpoint %s transaction id %q: %w", r.cfg.Name, txid, err)
	}
	return p, nil
}

// step applies one batch in one transaction and returns its size, and
// whether it read events it left for later (not settled yet).
func (r *Runner) step(ctx context.Context) (n int, unsettled bool, err error) {
	var seen domain.LogPosition
	err = pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
		after, err := r.lockCheckpoint(ctx, tx)
		if err != nil {
			return err
		}
		seen = after
		events, err := r.cfg.Read(ctx, tx, after, r.cfg.BatchSize)
		if err != nil || len(events) == 0 {
			return err
		}
		var ahead []domain.Recorded
		if r.cfg.Settle > 0 {
			if events, ahead, err = settled(ctx, tx, events, r.cfg.Settle); err != nil || len(events) == 0 {
				unsettled = len(ahead) > 0
				return err
			}
		}
		if la, ok := r.cfg.Projector.(LookaheadProjector); ok && len(ahead) > 0 {
			err = la.ProjectAhead(ctx, tx, events, ahead)
		} else {
			err = r.cfg.Projector.Project(ctx, tx, events)
		}
		if err != nil {
			return err
		}
		last := events[len(events)-1]
		txid := strconv.FormatUint(last.TransactionID, 10)
		if _, err := tx.Exec(ctx, updateCheckpoint, r.cfg.Name, txid, last.Position); err != nil {
			return fmt.Errorf("update checkpoint: %w", err)
		}
		n, seen, unsettled = len(events), domain.LogPosition{TransactionID: last.TransactionID, Position: last.Position}, len(ahead) > 0
		return nil
	})
	if err != nil {
		return 0, false, fmt.Errorf("projection %s batch: %w", r.cfg.Name, err)
	}
	r.seen.Store(&seen)
	if n > 0 {
		r.logger.DebugContext(ctx, "projection batch applied", "events", n)
	}
	return n, unsettled, nil
}

// settled splits events at the first one younger than settle.
func settled(ctx context.Context, tx pgx.Tx, events []domain.Recorded, settle time.Duration) (old, young []domain.Recorded, err error) {
	var now time.Time
	if err := tx.QueryRow(ctx, `SELECT statement_timestamp()`).Scan(&now); err != nil {
		return nil, nil, fmt.Errorf("read the clock: %w", err)
	}
	cutoff := now.Add(-settle)
	for i, r := range events {
		if r.RecordedAt.After(cutoff) {
			return events[:i], events[i:], nil
		}
	}
	return events, nil, nil
}

// lockCheckpoint locks the projection's checkpoint row, creating it at the
// start of the log if it is missing, and returns its position.
func (r *Runner) lockCheckpoint(ctx context.Context, tx pgx.Tx) (domain.LogPosition, error) {
	var txid string
	var p domain.LogPosition
	err := tx.QueryRow(ctx, selectCheckpoint, r.cfg.Name).Scan(&txid, &p.Position)
	if errors.Is(err, pgx.ErrNoRows) {
		if _, err := tx.Exec(ctx, insertCheckpoint, r.cfg.Name); err != nil {
			return domain.LogPosition{}, fmt.Errorf("create checkpoint: %w", err)
		}
		err = tx.QueryRow(ctx, selectCheckpoint, r.cfg.Name).Scan(&txid, &p.Position)
	}
	if err != nil {
		return domain.LogPosition{}, fmt.Errorf("lock checkpoint: %w", err)
	}
	if p.TransactionID, err = strconv.ParseUint(txid, 10, 64); err != nil {
		return domain.LogPosition{}, fmt.Errorf("parse checkpoint transaction id %q: %w", txid, err)
	}
	return p, nil
}
