package relay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/loki-interceptor/lokihooks/domain"
)

// Circuit breakers (domain.Breaker): one per destination, webhook or
// integration alike, in the delivery path every destination shares.
//
// Counting. Each worker process counts the attempts and failures of every
// destination in memory and, every FlushInterval, adds them to its own
// rows of breaker_counts (one per destination and 10-second bucket), so
// that processes never wait on each other. The window is the sum over
// processes of the buckets of the last Policy.Window. A process that added
// failures then reads the window of those destinations and, if one trips
// the policy, appends breaker.opened to its breaker stream. The stream's
// expected version makes one process win when several decide at once.
//
// Holding. A delivery of a destination whose breaker is open parks: its
// job snoozes for ParkFor, as for a paused destination, and nothing polls
// it. The breaker's own job (BreakerArgs, one per destination) waits for
// the end of the cool-down, appends breaker.half_opened and wakes one
// parked delivery, marked as the probe (riverjobs.go). Deliveries that
// arrive meanwhile park too. The probe's outcome closes the breaker (and
// releases every parked delivery, in chunks of DefaultWakeChunk) or opens
// it again for a longer cool-down. A probe that never reports (its process
// died, its event was deleted) is replaced after probeTimeout. Resuming the
// destination (Relay.Wake) closes its breaker.
//
// Deactivation. breaker_health keeps, per destination, since when it has
// failed without a success in between. When that exceeds DeactivateAfter,
// the process that notices deactivates the destination with the reason.
// Its parked deliveries stay parked: resuming it releases them (after
// ParkFor they are cancelled, like every delivery of an inactive
// destination).

// Defaults of BreakerConfig.
const (
	DefaultDeactivateAfter    = 5 * 24 * time.Hour
	DefaultBreakerFlush       = time.Second
	breakerBucket             = 10 * time.Second
	breakerPruneEvery         = time.Minute
	probeMetadataKey          = "breaker_probe"
	probeMargin               = 5 * time.Second
	breakerRecheck            = time.Second
	maxObservedDestinations   = 10000
	healthyRefresh            = time.Minute
	deactivateReasonTimestamp = time.RFC3339
)

// BreakerConfig configures the circuit breakers. Zero values mean the
// defaults stated.
type BreakerConfig struct {
	// Disabled turns the breakers off: every delivery is sent, and nothing
	// is deactivated for failing.
	Disabled bool
	// Policy says when a breaker opens and for how long (defaults: 70% of
	// at least 10 attempts failed over 5 minutes; a 30s cool-down doubling
	// up to 10m).
	Policy domain.BreakerPolicy
	// DeactivateAfter deactivates a destination that has failed for this
	// long without a single success (default 120h, five days; negative:
	// never).
	DeactivateAfter time.Duration
	// FlushInterval is how often a worker process adds its counts to the
	// shared window and decides on them (default 1s).
	FlushInterval time.Duration
}

func (c BreakerConfig) withDefaults() BreakerConfig {
	c.Policy = c.Policy.WithDefaults()
	if c.DeactivateAfter == 0 {
		c.DeactivateAfter = DefaultDeactivateAfter
	}
	if c.FlushInterval == 0 {
		c.FlushInterval = DefaultBreakerFlush
	}
	return c
}

func (c BreakerConfig) validate() error {
	if c.Disabled {
		return nil
	}
	if c.FlushInterval < time.Millisecond {
		return errors.New("Breaker.FlushInterval must be at least 1ms")
	}
	return c.Policy.Validate()
}

// BreakerArgs is the River job that half-opens one destination's breaker
// when its cool-down ends and wakes its probes. There is at most one per
// destination in a state that will run.
type BreakerArgs struct {
	DestinationID domain.DestinationID `json:"destination_id" river:"unique"`
}

// Kind implements river.JobArgs.
func (BreakerArgs) Kind() string { return "breaker" }

// InsertOpts implements river.JobArgsWithInsertOpts.
func (BreakerArgs) InsertOpts() river.InsertOpts { return onePerDestination() }

// onePerDestination are the insert options of a job kind of which at most
// one per destination (its args) may be waiting or running: a second
// insert while one is is a no-op.
func onePerDestination() river.InsertOpts {
	return river.InsertOpts{
		Queue: DeliveryQueue, MaxAttempts: deliverMaxAttempts,
		UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: []rivertype.JobState{
			rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRetryable,
			rivertype.JobStateRunning, rivertype.JobStateScheduled,
		}},
	}
}

// observed is what one process saw of a destination since its last flush.
type observed struct {
	attempts, failures int
	// lastSuccess is the latest success; firstFailure the first failure
	// after it (zero if none).
	lastSuccess, firstFailure time.Time
	lastFailure               string
}

// breakers counts attempts, decides transitions and holds deliveries.
type breakers struct {
	cfg    BreakerConfig
	pool   *pgxpool.Pool
	log    EventLog
	dests  Destinations
	client *river.Client[pgx.Tx] // inserts breaker jobs
	now    func() time.Time
	logger *slog.Logger
	// observer is told of the transitions appended.
	observer Observer
	// workerID names this process's rows of breaker_counts; set before
	// the workers start.
	workerID string
	// cache is the workers' destination cache, told about transitions
	// this process makes (others see them within its TTL); nil without
	// workers.
	cache *destinationCache

	mu      sync.Mutex
	pending map[domain.DestinationID]*observed
	// healthy holds, for destinations whose failing_since this process
	// last read as NULL, when it did: their successes are written again
	// only after healthyRefresh, which bounds how long a run of failures
	// that another process started can outlive a success seen here.
	healthy   map[domain.DestinationID]time.Time
	lastPrune time.Time
}

func newBreakers(pool *pgxpool.Pool, deps Deps, client *river.Client[pgx.Tx], cfg Config) *breakers {
	return &breakers{
		cfg: cfg.Breaker, pool: pool, log: deps.Log, dests: deps.Destinations, client: client, now: cfg.NowFunc,
		logger: cfg.Logger.With("component", "breaker"), observer: observerOrNop(deps.Observer),
		pending: map[domain.DestinationID]*observed{}, healthy: map[domain.DestinationID]time.Time{},
	}
}

// enabled reports whether deliveries to dest are guarded.
func (b *breakers) enabled(dest *domain.Destination) bool {
	return b != nil && !b.cfg.Disabled && dest.Breaker != nil
}

// observe counts the result of one attempt (one request, for a batch).
func (b *breakers) observe(id domain.DestinationID, res domain.AttemptResult, at time.Time) {
	if b == nil || b.cfg.Disabled {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	o := b.pending[id]
	if o == nil {
		if len(b.pending) >= maxObservedDestinations {
			return // the next flush empties it; the window misses a few attempts
		}
		o = &observed{}
		b.pending[id] = o
	}
	o.attempts++
	if res.Success {
		o.lastSuccess, o.firstFailure = at, time.Time{}
		return
	}
	o.failures++
	if o.firstFailure.IsZero() {
		o.firstFailure = at
	}
	o.lastFailure = describeFailure(res)
}

// describeFailure is a short text of a failed attempt, for reasons.
func describeFailure(res domain.AttemptResult) string {
	if res.Detail == "" {
		return string(res.Category)
	}
	return string(res.Category) + ": " + res.Detail
}

// run flushes every FlushInterval until ctx ends, then once more.
func (b *breakers) run(ctx context.Context) {
	t := time.NewTicker(b.cfg.FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), b.cfg.FlushInterval+time.Second)
			b.flush(fctx)
			cancel()
			return
		case <-t.C:
			b.flush(ctx)
		}
	}
}

const (
	addCountsSQL = `INSERT INTO breaker_counts AS c (destination_id, bucket_start, worker_id, attempts, failures)
		SELECT d, $4, $5, a, f FROM unnest($1::text[], $2::int[], $3::int[]) AS u(d, a, f)
		ON CONFLICT (destination_id, bucket_start, worker_id) DO UPDATE
		SET attempts = c.attempts + excluded.attempts, failures = c.failures + excluded.failures`
	// addHealthSQL folds what a process saw into each destination's run
	// of failures: $2 is the first failure after the process's last
	// success $3 (either may be NULL). A success ends the stored run
	// unless that run started after it (another process saw a later
	// failure); a failure starts a run unless a later success is known.
	addHealthSQL = `INSERT INTO breaker_health AS h (destination_id, failing_since, last_success_at)
		SELECT d, f, s FROM unnest($1::text[], $2::timestamptz[], $3::timestamptz[]) AS u(d, f, s)
		ON CONFLICT (destination_id) DO UPDATE SET
			last_success_at = greatest(h.last_success_at, excluded.last_success_at),
			failing_since = least(
				CASE WHEN h.failing_since > coalesce(excluded.last_success_at, '-infinity') THEN h.failing_since END,
				CASE WHEN excluded.failing_since > coalesce(h.last_success_at, '-infinity') THEN excluded.failing_since END)
		RETURNING destination_id, failing_since`
	windowSQL = `SELECT destination_id, sum(attempts)::int, sum(failures)::int FROM breaker_counts
		WHERE destination_id = ANY($1::text[]) AND bucket_start > $2
		GROUP BY destination_id`
	pruneCountsSQL = `DELETE FROM breaker_counts WHERE bucket_start <= $1`
	// resetBreakerSQL starts a destination afresh: an empty window and no
	// run of failures.
	resetCountsSQL = `DELETE FROM breaker_counts WHERE destination_id = $1`
	resetHealthSQL = `DELETE FROM breaker_health WHERE destination_id = $1`
)

// flush adds what this process saw to the shared window, opens the
// breakers it trips and deactivates destinations failing for too long.
func (b *breakers) flush(ctx context.Context) {
	b.mu.Lock()
	seen := b.pending
	b.pending = map[domain.DestinationID]*observed{}
	b.mu.Unlock()
	now := b.now().UTC()
	if len(seen) > 0 {
		if err := b.record(ctx, seen, now); err != nil {
			b.logger.WarnContext(ctx, "recording breaker counts failed; they are dropped", "error", err)
		}
	}
	if now.Sub(b.lastPrune) >= breakerPruneEvery {
		b.lastPrune = now
		if _, err := b.pool.Exec(ctx, pruneCountsSQL, now.Add(-b.cfg.Policy.Window-breakerBucket)); err != nil {
			b.logger.DebugContext(ctx, "pruning breaker counts failed", "error", err)
		}
	}
}

func (b *breakers) record(ctx context.Context, seen map[domain.DestinationID]*observed, now time.Time) error {
	var ids, healthIDs []string
	var attempts, failures []int32
	var firstFailures, lastSuccesses []*time.Time
	failing := map[domain.DestinationID]*observed{}
	for id, o := range seen {
		ids = append(ids, string(id))
		attempts, failures = append(attempts, int32(o.attempts)), append(failures, int32(o.failures))
		if o.failures > 0 {
			failing[id] = o
		}
		if o.firstFailure.IsZero() && b.isHealthy(id, now) {
			continue // a success where none failed lately: nothing to change
		}
		healthIDs = append(healthIDs, string(id))
		firstFailures, lastSuccesses = append(firstFailures, timeOrNil(o.firstFailure)), append(lastSuccesses, timeOrNil(o.lastSuccess))
	}
	if _, err := b.pool.Exec(ctx, addCountsSQL, ids, attempts, failures, now.Truncate(breakerBucket), b.workerID); err != nil {
		return fmt.Errorf("add breaker counts: %w", err)
	}
	since, err := b.addHealth(ctx, healthIDs, firstFailures, lastSuccesses)
	if err != nil {
		return err
	}
	if len(failing) > 0 {
		if err := b.evaluate(ctx, failing, since, now); err != nil {
			return err
		}
	}
	for id, s := range since {
		if s != nil && b.cfg.DeactivateAfter > 0 && !s.After(now.Add(-b.cfg.DeactivateAfter)) {
			if err := b.deactivate(ctx, id, *s, now); err != nil {
				b.logger.WarnContext(ctx, "deactivating a failing destination failed", "destination_id", id, "error", err)
			}
		}
	}
	return nil
}

func (b *breakers) isHealthy(id domain.DestinationID, now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	at, ok := b.healthy[id]
	return ok && now.Sub(at) < healthyRefresh
}

// addHealth records runs of failures and returns each destination's
// failing_since (nil while healthy).
func (b *breakers) addHealth(ctx context.Context, ids []string, firstFailures, lastSuccesses []*time.Time) (map[domain.DestinationID]*time.Time, error) {
	out := map[domain.DestinationID]*time.Time{}
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := b.pool.Query(ctx, addHealthSQL, ids, firstFailures, lastSuccesses)
	if err != nil {
		return nil, fmt.Errorf("add breaker health: %w", err)
	}
	var id string
	var since *time.Time
	_, err = pgx.ForEachRow(rows, []any{&id, &since}, func() error {
		out[domain.DestinationID(id)] = utcOrNil(since)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("add breaker health: %w", err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.healthy) >= maxObservedDestinations {
		clear(b.healthy)
	}
	for id, since := range out {
		if since == nil {
			b.healthy[id] = b.now()
		} else {
			delete(b.healthy, id)
		}
	}
	return out, nil
}

// evaluate reads the window of destinations that just failed and opens
// the breakers it trips.
func (b *breakers) evaluate(ctx context.Context, failing map[domain.DestinationID]*observed, since map[domain.DestinationID]*time.Time, now time.Time) error {
	ids := make([]string, 0, len(failing))
	for id := range failing {
		ids = append(ids, string(id))
	}
	rows, err := b.pool.Query(ctx, windowSQL, ids, now.Add(-b.cfg.Policy.Window))
	if err != nil {
		return fmt.Errorf("read breaker windows: %w", err)
	}
	type window struct {
		id                 string
		attempts, failures int
	}
	var windows []window
	var w window
	if _, err := pgx.ForEachRow(rows, []any{&w.id, &w.attempts, &w.failures}, func() error {
		windows = append(windows, w)
		return nil
	}); err != nil {
		return fmt.Errorf("read breaker windows: %w", err)
	}
	for _, w := range windows {
		id := domain.DestinationID(w.id)
		stats := domain.BreakerStats{
			Attempts: w.attempts, Failures: w.failures, Window: b.cfg.Policy.Window,
			LastFailure: failing[id].lastFailure, FailingSince: since[id],
		}
		if !b.cfg.Policy.Trips(stats) {
			continue
		}
		if err := b.open(ctx, id, stats, now); err != nil {
			b.logger.WarnContext(ctx, "opening a circuit breaker failed", "destination_id", id, "error", err)
		}
	}
	return nil
}

// open opens the breaker of destination id (if it is closed and stats
// trip it, or half-open) and schedules the end of its cool-down.
func (b *breakers) open(ctx context.Context, id domain.DestinationID, stats domain.BreakerStats, now time.Time) error {
	dest, err := b.dests.Destination(ctx, id)
	if err != nil || dest.Breaker == nil || dest.Status != domain.WebhookStatusActive {
		return err
	}
	return b.openBreaker(ctx, dest, stats, now, "circuit breaker opened")
}

// openBreaker records the opening of dest's breaker that stats call for
// (none if the breaker decides otherwise, or another process decided
// first), says so in the log and schedules the end of its cool-down.
func (b *breakers) openBreaker(ctx context.Context, dest *domain.Destination, stats domain.BreakerStats, now time.Time, msg string) error {
	events := dest.Breaker.Open(b.cfg.Policy, stats, now)
	if len(events) == 0 {
		return nil
	}
	if err := b.append(ctx, dest.Breaker, events); err != nil {
		if errors.Is(err, errBreakerMoved) {
			return nil
		}
		return err
	}
	opened, _ := events[0].(domain.BreakerOpened)
	b.logger.WarnContext(ctx, msg, "destination_id", dest.ID, "reason", opened.Reason, "reopen_at", opened.ReopenAt)
	return b.ensureJob(ctx, dest.ID, opened.ReopenAt, true)
}

// append appends breaker events at the breaker's version; a breaker that
// changed meanwhile was decided by another process, which is not an
// error.
func (b *breakers) append(ctx context.Context, br *domain.Breaker, events []domain.Event) error {
	if len(events) == 0 {
		return nil
	}
	err := pgx.BeginFunc(ctx, b.pool, func(tx pgx.Tx) error {
		_, err := b.log.AppendTx(ctx, tx, domain.Append{
			StreamID: domain.BreakerStreamID(br.DestinationID), StreamType: domain.BreakerStreamType,
			Expect: br.Version, Events: events,
		})
		return err
	})
	if b.cache != nil {
		b.cache.forget(br.DestinationID)
	}
	if err == nil {
		b.observer.BreakerChanged(ctx, events)
	}
	if errors.Is(err, domain.ErrVersionConflict) {
		return errBreakerMoved
	}
	return err
}

// errBreakerMoved reports a transition another process decided first.
var errBreakerMoved = errors.New("breaker changed concurrently")

// ensureJob makes sure the destination has a breaker job due at the latest
// at at; hasten brings an existing one forward.
func (b *breakers) ensureJob(ctx context.Context, id domain.DestinationID, at time.Time, hasten bool) error {
	res, err := b.client.Insert(ctx, BreakerArgs{DestinationID: id}, &river.InsertOpts{ScheduledAt: at})
	if err != nil {
		return fmt.Errorf("schedule the breaker job of %s: %w", id, err)
	}
	waiting := res.Job.State == rivertype.JobStateScheduled || res.Job.State == rivertype.JobStateRetryable
	if hasten && res.UniqueSkippedAsDuplicate && waiting && res.Job.ScheduledAt.After(at) {
		return hastenFlush(ctx, b.pool, res.Job.ID, at, !at.After(b.now()))
	}
	return nil
}

// hold parks a delivery of a destination whose breaker is not closed and
// makes sure its breaker job will come.
func (b *breakers) hold(ctx context.Context, dest *domain.Destination, parkFor time.Duration) error {
	br := dest.Breaker
	var err error
	if br.State == domain.BreakerStateOpen && br.ReopenAt != nil {
		err = b.ensureJob(ctx, dest.ID, *br.ReopenAt, true)
	} else {
		err = b.ensureJob(ctx, dest.ID, b.now(), false)
	}
	if err != nil {
		return err
	}
	return river.JobSnooze(parkFor)
}

// isProbe reports whether a job was woken as its breaker's probe.
func isProbe(job *rivertype.JobRow) bool {
	var md map[string]json.RawMessage
	if json.Unmarshal(job.Metadata, &md) != nil {
		return false
	}
	return string(md[probeMetadataKey]) == "true"
}

// probed decides on a probe's result: a success closes the breaker and
// releases the parked deliveries, a failure opens it again.
func (b *breakers) probed(ctx context.Context, dest *domain.Destination, res domain.AttemptResult, now time.Time) error {
	if res.Success {
		return b.close(ctx, dest, "probe succeeded", now)
	}
	stats := domain.BreakerStats{Attempts: 1, Failures: 1, Window: 0, LastFailure: describeFailure(res)}
	return b.openBreaker(ctx, dest, stats, now, "circuit breaker opened again")
}

// close closes a destination's breaker with reason, starts its window
// afresh and releases its parked deliveries.
func (b *breakers) close(ctx context.Context, dest *domain.Destination, reason string, now time.Time) error {
	if err := b.reset(ctx, dest.ID); err != nil {
		return err
	}
	if dest.Breaker != nil {
		events := dest.Breaker.Close(reason, now)
		if len(events) > 0 {
			if err := b.append(ctx, dest.Breaker, events); err != nil {
				if errors.Is(err, errBreakerMoved) {
					return nil // another process decided; it releases them
				}
				return err
			}
			b.logger.InfoContext(ctx, "circuit breaker closed", "destination_id", dest.ID, "reason", reason)
		}
	}
	_, err := wakeAll(ctx, b.pool, dest.ID)
	return err
}

// reset empties a destination's window and forgets its run of failures.
func (b *breakers) reset(ctx context.Context, id domain.DestinationID) error {
	b.mu.Lock()
	delete(b.pending, id)
	delete(b.healthy, id)
	b.mu.Unlock()
	if _, err := b.pool.Exec(ctx, resetCountsSQL, string(id)); err != nil {
		return fmt.Errorf("reset the breaker window of %s: %w", id, err)
	}
	if _, err := b.pool.Exec(ctx, resetHealthSQL, string(id)); err != nil {
		return fmt.Errorf("reset the failure run of %s: %w", id, err)
	}
	return nil
}

// deactivate switches off a destination that has failed since since.
func (b *breakers) deactivate(ctx context.Context, id domain.DestinationID, since, now time.Time) error {
	reason := fmt.Sprintf("deactivated after failing without a successful delivery since %s (longer than %s)",
		since.UTC().Format(deactivateReasonTimestamp), b.cfg.DeactivateAfter)
	err := pgx.BeginFunc(ctx, b.pool, func(tx pgx.Tx) error {
		return b.dests.DisableTx(ctx, tx, id, reason)
	})
	if err != nil {
		return err
	}
	b.logger.WarnContext(ctx, "destination deactivated", "destination_id", id, "reason", reason)
	return nil
}

// BreakerWorker runs breaker jobs.
type BreakerWorker struct {
	river.WorkerDefaults[BreakerArgs]
	deps     Deps
	cfg      Config
	breakers *breakers
}

// Work half-opens the breaker when its cool-down ended and wakes a probe;
// while half-open it wakes another probe each probeTimeout until the
// breaker closes or opens again. It ends when the breaker is closed, the
// destination is no longer active, or nothing is parked to probe with.
func (w *BreakerWorker) Work(ctx context.Context, job *river.Job[BreakerArgs]) error {
	dest, err := w.deps.Destinations.Destination(ctx, job.Args.DestinationID)
	if errors.Is(err, domain.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if dest.Status != domain.WebhookStatusActive || dest.Breaker == nil {
		// Parked deliveries meet the status when they wake (held while
		// paused, cancelled otherwise); resuming closes the breaker.
		return nil
	}
	now := w.cfg.NowFunc()
	br := dest.Breaker
	switch br.State {
	case domain.BreakerStateOpen:
		if br.ReopenAt != nil && now.Before(*br.ReopenAt) {
			return river.JobSnooze(br.ReopenAt.Sub(now))
		}
		events := br.HalfOpen(now)
		if len(events) == 0 {
			return nil
		}
		if err := w.breakers.append(ctx, br, events); err != nil {
			if errors.Is(err, errBreakerMoved) {
				return river.JobSnooze(0) // read it again
			}
			return err
		}
		w.breakers.logger.InfoContext(ctx, "circuit breaker half-open", "destination_id", dest.ID)
	case domain.BreakerStateHalfOpen:
	default:
		return nil
	}
	woke, err := wakeProbe(ctx, w.breakers.pool, dest.ID)
	if err != nil {
		return err
	}
	if woke {
		return river.JobSnooze(probeTimeout(dest, w.cfg))
	}
	running, err := runningDeliveries(ctx, w.breakers.pool, dest.ID)
	if err != nil {
		return err
	}
	if running {
		// A delivery running now is about to park, or is the probe.
		return river.JobSnooze(breakerRecheck)
	}
	return nil
}

// probeTimeout is how long a probe may take to report before another is
// woken: the attempt's timeout, its recording, and a margin.
func probeTimeout(dest *domain.Destination, cfg Config) time.Duration {
	return dest.Timeout + cfg.RecordTimeout + probeMargin
}

// timeOrNil maps the zero time to nil (SQL NULL).
func timeOrNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

func utcOrNil(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}
