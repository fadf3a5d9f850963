package projections_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loki-interceptor/lokihooks/domain"
	"github.com/loki-interceptor/lokihooks/internal/dbtest"
	"github.com/loki-interceptor/lokihooks/projections"
)

// readLogSQL is eventstore's readLog query (projections may not import
// eventstore): only transactions older than every running one are read, so
// a transaction that commits late is never skipped.
const readLogSQL = `SELECT position, transaction_id::text, stream_id, version, type, data, metadata, recorded_at
	FROM events
	WHERE (transaction_id, position) > ($1::text::xid8, $2::bigint)
	  AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())
	ORDER BY events.transaction_id, events.position
	LIMIT $3`

// readLog is the ReadFunc cmd builds from eventstore.ReadLog.
func readLog(ctx context.Context, q projections.DB, after domain.LogPosition, limit int) ([]domain.Recorded, error) {
	rows, err := q.Query(ctx, readLogSQL, strconv.FormatUint(after.TransactionID, 10), after.Position, limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (domain.Recorded, error) {
		var r domain.Recorded
		var txid string
		err := row.Scan(&r.Position, &txid, &r.StreamID, &r.Version, &r.Type, &r.Data, &r.Metadata, &r.RecordedAt)
		if err != nil {
			return r, err
		}
		r.TransactionID, err = strconv.ParseUint(txid, 10, 64)
		return r, err
	})
}

// failingProjector applies events with Deliveries and then fails while
// fail is set, so the batch's rows must roll back with its checkpoint.
type failingProjector struct {
	fail  atomic.Bool
	calls atomic.Int64
}

var errProjector = errors.New("projector failed")

func (p *failingProjector) Project(ctx context.Context, tx pgx.Tx, events []domain.Recorded) error {
	p.calls.Add(1)
	if err := (projections.Deliveries{}).Project(ctx, tx, events); err != nil {
		return err
	}
	if p.fail.Load() {
		return errProjector
	}
	return nil
}

type runnerBundle struct {
	pool *pgxpool.Pool
	now  time.Time
}

func setupRunner(t *testing.T) *runnerBundle {
	t.Helper()
	return &runnerBundle{
		pool: dbtest.Pool(t, nil),
		now:  time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC),
	}
}

// runner returns a "deliveries" runner; cfg fields left zero get test
// defaults.
func (b *runnerBundle) runner(t *testing.T, cfg projections.RunnerConfig) *projections.Runner {
	t.Helper()
	if cfg.Name == "" {
		cfg.Name = "deliveries"
	}
	if cfg.Projector == nil {
		cfg.Projector = projections.Deliveries{}
	}
	if cfg.Read == nil {
		cfg.Read = readLog
	}
	if cfg.Reset == nil {
		cfg.Reset = projections.Deliveries{}.Reset
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = 2 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(t.Output(), nil))
	}
	r, err := projections.NewRunner(b.pool, cfg)
	require.NoError(t, err)
	return r
}

// appendEvent inserts one event into the log in its own transaction, as the
// event store would, and returns its log position.
func appendEvent(t *testing.T, db projections.DB, streamID string, version int64, e domain.Event) domain.LogPosition {
	t.Helper()
	data, err := json.Marshal(e)
	require.NoError(t, err)
	var p domain.LogPosition
	var txid string
	err = db.QueryRow(t.Context(), `INSERT INTO events (stream_id, stream_type, version, type, data)
		VALUES ($1, $2, $3, $4, $5) RETURNING position, transaction_id::text`,
		streamID, domain.DeliveryStreamType, version, e.EventType(), data).Scan(&p.Position, &txid)
	require.NoError(t, err)
	p.TransactionID, err = strconv.ParseUint(txid, 10, 64)
	require.NoError(t, err)
	return p
}

// logWait bounds every wait for the log to become readable. Any
// transaction holding an xid on the same PostgreSQL (other tests, other
// packages' tests) holds back the xmin rule until it ends, so it is long.
const logWait = 60 * time.Second

// drainTo runs CatchUp until the checkpoint reaches want and returns the
// events applied. It polls because transactions of other tests running on
// the same PostgreSQL can hold the log back (xmin rule).
func drainTo(t *testing.T, r *projections.Runner, want domain.LogPosition) int {
	t.Helper()
	total := 0
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		n, err := r.CatchUp(t.Context())
		total += n
		require.NoError(c, err)
		got, err := r.Checkpoint(t.Context())
		require.NoError(c, err)
		require.Equal(c, want, got)
	}, logWait, 5*time.Millisecond)
	return total
}

// snapshot renders the deliveries and delivery_attempts tables as JSON.
func snapshot(t *testing.T, db projections.DB) string {
	t.Helper()
	var s string
	err := db.QueryRow(t.Context(), `SELECT jsonb_build_object(
		'deliveries', (SELECT coalesce(jsonb_agg(to_jsonb(d) ORDER BY d.id), '[]') FROM deliveries d),
		'attempts', (SELECT coalesce(jsonb_agg(to_jsonb(a) ORDER BY a.delivery_id, a.attempt), '[]')
			FROM delivery_attempts a))::text`).Scan(&s)
	require.NoError(t, err)
	return s
}

// deliveryLife appends scheduled → attempted(retrying) → attempted
// (delivered) for one delivery and returns the last position.
func (b *runnerBundle) deliveryLife(t *testing.T, id domain.DeliveryID, webhook domain.WebhookID) domain.LogPosition {
	t.Helper()
	appendEvent(t, b.pool, string(id), 1, scheduled(id, webhook, domain.EventID("evt_"+string(id)), "validation.completed", b.now))
	appendEvent(t, b.pool, string(id), 2, retrying(1, b.now.Add(time.Second), b.now.Add(time.Minute)))
	return appendEvent(t, b.pool, string(id), 3, delivered(2, b.now.Add(time.Minute)))
}

func TestNewRunner(t *testing.T) {
	t.Parallel()

	valid := projections.RunnerConfig{Name: "deliveries", Projector: projections.Deliveries{}, Read: readLog}
	_, err := projections.NewRunner(nil, valid)
	require.NoError(t, err)

	for name, mutate := range map[string]func(*projections.RunnerConfig){
		"NoName":        func(c *projections.RunnerConfig) { c.Name = "" },
		"NoProjector":   func(c *projections.RunnerConfig) { c.Projector = nil },
		"NoRead":        func(c *projections.RunnerConfig) { c.Read = nil },
		"NegativeBatch": func(c *projections.RunnerConfig) { c.BatchSize = -1 },
		"PollTooShort":  func(c *projections.RunnerConfig) { c.PollInterval = time.Microsecond },
		"NegativePoll":  func(c *projections.RunnerConfig) { c.PollInterval = -time.Second },
		"NegativeIdle":  func(c *projections.RunnerConfig) { c.IdleCeiling = -time.Second },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			cfg := valid
			mutate(&cfg)
			_, err := projections.NewRunner(nil, cfg)
			require.Error(t, err)
		})
	}
}

func TestRunner_CatchUp(t *testing.T) {
	t.Parallel()

	t.Run("AppliesLifeAndAdvancesCheckpoint", func(t *testing.T) {
		t.Parallel()
		b := setupRunner(t)
		r := b.runner(t, projections.RunnerConfig{BatchSize: 2})
		insertWebhook(t, b.pool, "wh_1")
		last := b.deliveryLife(t, "dlv_1", "wh_1")

		require.Equal(t, 3, drainTo(t, r, last))
		d, err := projections.GetDelivery(t.Context(), b.pool, "dlv_1")
		require.NoError(t, err)
		require.Equal(t, domain.DeliveryDelivered, d.Status)
		require.Equal(t, int64(3), d.Version)
		attempts, err := projections.ListAttempts(t.Context(), b.pool, "dlv_1")
		require.NoError(t, err)
		require.Len(t, attempts, 2)
		require.Equal(t, b.now.Add(time.Minute), lastTriggered(t, b.pool, "wh_1"))
	})

	t.Run("ReplayedLogChangesNothing", func(t *testing.T) {
		t.Parallel()
		b := setupRunner(t)
		r := b.runner(t, projections.RunnerConfig{})
		b.deliveryLife(t, "dlv_1", "wh_1")
		b.deliveryLife(t, "dlv_2", "wh_1")
		last := appendEvent(t, b.pool, "dlv_3", 1, scheduled("dlv_3", "wh_1", "evt_3", "report.generated", b.now))
		drainTo(t, r, last)
		before := snapshot(t, b.pool)

		// Move the checkpoint back without a reset: every event comes again.
		_, err := b.pool.Exec(t.Context(),
			`UPDATE projection_checkpoints SET transaction_id = '0', position = 0 WHERE name = 'deliveries'`)
		require.NoError(t, err)
		require.Equal(t, 7, drainTo(t, r, last))
		require.JSONEq(t, before, snapshot(t, b.pool))
	})

	t.Run("ProjectorErrorRollsBackRowsAndCheckpoint", func(t *testing.T) {
		t.Parallel()
		b := setupRunner(t)
		p := &failingProjector{}
		p.fail.Store(true)
		r := b.runner(t, projections.RunnerConfig{Projector: p})
		last := b.deliveryLife(t, "dlv_1", "wh_1")
		empty := snapshot(t, b.pool)

		require.EventuallyWithT(t, func(c *assert.CollectT) {
			_, err := r.CatchUp(t.Context())
			require.ErrorIs(c, err, errProjector)
		}, logWait, 5*time.Millisecond)
		require.JSONEq(t, empty, snapshot(t, b.pool))
		cp, err := r.Checkpoint(t.Context())
		require.NoError(t, err)
		require.Equal(t, domain.LogPosition{}, cp)

		p.fail.Store(false)
		require.Equal(t, 3, drainTo(t, r, last))
		d, err := projections.GetDelivery(t.Context(), b.pool, "dlv_1")
		require.NoError(t, err)
		require.Equal(t, domain.DeliveryDelivered, d.Status)
	})

	t.Run("LateCommitIsNotSkipped", func(t *testing.T) {
		t.Parallel()
		b := setupRunner(t)
		r := b.runner(t, projections.RunnerConfig{})

		// early gets its transaction id first but commits after late.
		early, err := b.pool.Begin(t.Context())
		require.NoError(t, err)
		t.Cleanup(func() { _ = early.Rollback(context.WithoutCancel(t.Context())) })
		first := appendEvent(t, early, "dlv_early", 1, scheduled("dlv_early", "wh_1", "evt_1", "system.error", b.now))
		second := appendEvent(t, b.pool, "dlv_late", 1, scheduled("dlv_late", "wh_1", "evt_2", "system.error", b.now))
		require.Less(t, first.TransactionID, second.TransactionID)

		n, err := r.CatchUp(t.Context())
		require.NoError(t, err)
		require.Zero(t, n, "nothing is readable while an older transaction runs")
		require.NoError(t, early.Commit(t.Context()))

		require.Equal(t, 2, drainTo(t, r, second))
		for _, id := range []domain.DeliveryID{"dlv_early", "dlv_late"} {
			_, err := projections.GetDelivery(t.Context(), b.pool, id)
			require.NoError(t, err)
		}
	})

	t.Run("RunnersOfOneNameTakeTurns", func(t *testing.T) {
		t.Parallel()
		b := setupRunner(t)
		const n = 300
		_, err := b.pool.Exec(t.Context(), `INSERT INTO events (stream_id, stream_type, version, type, data)
			SELECT 'dlv_' || i, 'delivery', 1, $1,
				jsonb_build_object('webhook_id', 'wh_1', 'event_id', 'evt_' || i, 'event_type', 'system.error',
					'at', '2026-11-29T10:00:00Z')
			FROM generate_series(1, $2) AS i`, domain.TypeDeliveryScheduled, n)
		require.NoError(t, err)
		var last domain.LogPosition
		var txid string
		require.NoError(t, b.pool.QueryRow(t.Context(),
			`SELECT transaction_id::text, max(position) FROM events GROUP BY 1`).Scan(&txid, &last.Position))
		last.TransactionID, err = strconv.ParseUint(txid, 10, 64)
		require.NoError(t, err)

		counter := &countingProjector{}
		runners := []*projections.Runner{
			b.runner(t, projections.RunnerConfig{BatchSize: 7, Projector: counter}),
			b.runner(t, projections.RunnerConfig{BatchSize: 11, Projector: counter}),
		}
		var wg sync.WaitGroup
		applied := make([]int, len(runners))
		errs := make([]error, len(runners))
		for i, r := range runners {
			wg.Go(func() { applied[i], errs[i] = r.CatchUp(t.Context()) })
		}
		wg.Wait()
		require.NoError(t, errors.Join(errs...))
		total := applied[0] + applied[1] + drainTo(t, runners[0], last)
		require.Equal(t, n, total, "every event is applied exactly once")
		require.Equal(t, int64(n), counter.events.Load())
		var rows int
		require.NoError(t, b.pool.QueryRow(t.Context(), `SELECT count(*) FROM deliveries`).Scan(&rows))
		require.Equal(t, n, rows)
	})
}

// countingProjector counts the events of the batches it applies; with the
// checkpoint lock, no batch is applied twice.
type countingProjector struct{ events atomic.Int64 }

func (p *countingProjector) Project(ctx context.Context, tx pgx.Tx, events []domain.Recorded) error {
	p.events.Add(int64(len(events)))
	return projections.Deliveries{}.Project(ctx, tx, events)
}

func TestRunner_Rebuild(t *testing.T) {
	t.Parallel()

	t.Run("IdenticalTables", func(t *testing.T) {
		t.Parallel()
		b := setupRunner(t)
		r := b.runner(t, projections.RunnerConfig{BatchSize: 4})
		insertWebhook(t, b.pool, "wh_1")
		for i := range 5 {
			b.deliveryLife(t, domain.DeliveryID(fmt.Sprintf("dlv_%d", i)), "wh_1")
		}
		appendEvent(t, b.pool, "dlv_x", 1, scheduled("dlv_x", "wh_1", "evt_x", "system.error", b.now))
		appendEvent(t, b.pool, "dlv_x", 2, domain.DeliveryCancelled{Reason: "webhook is inactive", At: b.now.Add(time.Hour)})
		last := appendEvent(t, b.pool, "dlv_x", 3, domain.DeliveryRedriven{At: b.now.Add(2 * time.Hour)})
		require.Equal(t, 18, drainTo(t, r, last))
		before := snapshot(t, b.pool)
		triggered := lastTriggered(t, b.pool, "wh_1")

		_, err := r.Rebuild(t.Context())
		require.NoError(t, err)
		drainTo(t, r, last)
		require.JSONEq(t, before, snapshot(t, b.pool))
		require.Equal(t, triggered, lastTriggered(t, b.pool, "wh_1"))
	})

	t.Run("NeedsReset", func(t *testing.T) {
		t.Parallel()
		r, err := projections.NewRunner(nil, projections.RunnerConfig{
			Name: "deliveries", Projector: projections.Deliveries{}, Read: readLog,
		})
		require.NoError(t, err)
		_, err = r.Rebuild(t.Context())
		require.Error(t, err)
	})
}

func TestRunner_Run(t *testing.T) {
	t.Parallel()

	t.Run("AppliesThenStopsOnCancel", func(t *testing.T) {
		t.Parallel()
		b := setupRunner(t)
		r := b.runner(t, projections.RunnerConfig{})
		stop := runInBackground(t, r)

		b.deliveryLife(t, "dlv_1", "wh_1")
		require.EventuallyWithT(t, func(c *assert.CollectT) {
			d, err := projections.GetDelivery(t.Context(), b.pool, "dlv_1")
			require.NoError(c, err)
			require.Equal(c, domain.DeliveryDelivered, d.Status)
		}, logWait, 5*time.Millisecond)

		stop()
	})

	t.Run("RetriesFailedBatch", func(t *testing.T) {
		t.Parallel()
		b := setupRunner(t)
		p := &failingProjector{}
		p.fail.Store(true)
		warns := &levelCounter{level: slog.LevelWarn}
		r := b.runner(t, projections.RunnerConfig{Projector: p, Logger: slog.New(warns)})
		stop := runInBackground(t, r)

		last := b.deliveryLife(t, "dlv_1", "wh_1")
		require.Eventually(t, func() bool { return warns.n.Load() >= 2 }, logWait, 5*time.Millisecond)
		_, err := projections.GetDelivery(t.Context(), b.pool, "dlv_1")
		require.ErrorIs(t, err, domain.ErrNotFound)

		p.fail.Store(false)
		require.EventuallyWithT(t, func(c *assert.CollectT) {
			cp, err := r.Checkpoint(t.Context())
			require.NoError(c, err)
			require.Equal(c, last, cp)
		}, logWait, 5*time.Millisecond)
		stop()
	})
	t.Run("IdleLooksWriteNothing", func(t *testing.T) {
		t.Parallel()
		b := setupRunner(t)
		last := b.deliveryLife(t, "dlv_1", "wh_1")
		reads := &countingRead{}
		r := b.runner(t, projections.RunnerConfig{Read: reads.read})
		drainTo(t, r, last)
		batches := reads.inTx.Load()
		var xmin string
		require.NoError(t, b.pool.QueryRow(t.Context(),
			`SELECT xmin::text FROM projection_checkpoints WHERE name = 'deliveries'`).Scan(&xmin))

		stop := runInBackground(t, r)
		// With nothing new, Run looks (PollInterval 2 ms, doubling): the
		// first batch after Run starts, then looks only.
		require.Eventually(t, func() bool { return reads.outside.Load() >= 6 }, logWait, time.Millisecond)
		stop()

		require.LessOrEqual(t, reads.inTx.Load()-batches, int64(1), "idle looks run outside a transaction; only Run's first batch reads in one")
		var after string
		require.NoError(t, b.pool.QueryRow(t.Context(),
			`SELECT xmin::text FROM projection_checkpoints WHERE name = 'deliveries'`).Scan(&after))
		require.Equal(t, xmin, after, "an idle runner neither locks nor writes its checkpoint row")
	})

	t.Run("WakeMakesAnIdleRunnerLook", func(t *testing.T) {
		t.Parallel()
		b := setupRunner(t)
		wake := make(chan struct{}, 1)
		reads := &countingRead{}
		// Without a wake-up this runner would not look for an hour.
		r := b.runner(t, projections.RunnerConfig{PollInterval: time.Hour, IdleCeiling: time.Hour, Wake: wake, Read: reads.read})
		stop := runInBackground(t, r)
		// Run's first batch has read the (empty) log; then the runner waits.
		require.Eventually(t, func() bool { return reads.inTx.Load() == 1 }, logWait, time.Millisecond)

		last := b.deliveryLife(t, "dlv_1", "wh_1")
		require.EventuallyWithT(t, func(c *assert.CollectT) {
			// Woken again while other tests' transactions hold the log back.
			select {
			case wake <- struct{}{}:
			default:
			}
			cp, err := r.Checkpoint(t.Context())
			require.NoError(c, err)
			require.Equal(c, last, cp)
		}, logWait, 5*time.Millisecond)
		stop()
	})

	t.Run("LookFromACheckpointAnotherRunnerMoved", func(t *testing.T) {
		t.Parallel()
		b := setupRunner(t)
		first := b.deliveryLife(t, "dlv_1", "wh_1")
		counter := &countingProjector{}
		idle := b.runner(t, projections.RunnerConfig{Projector: counter})
		// idle has seen the checkpoint at the start of the log; another
		// runner of the same name applies dlv_1 meanwhile.
		_, err := idle.CatchUp(t.Context())
		require.NoError(t, err)
		drainTo(t, b.runner(t, projections.RunnerConfig{}), first)
		applied := counter.events.Load()

		stop := runInBackground(t, idle)
		last := b.deliveryLife(t, "dlv_2", "wh_1")
		require.EventuallyWithT(t, func(c *assert.CollectT) {
			cp, err := idle.Checkpoint(t.Context())
			require.NoError(c, err)
			require.Equal(c, last, cp)
		}, logWait, time.Millisecond)
		stop()
		require.Equal(t, applied+3, counter.events.Load(), "dlv_2's three events, and none of dlv_1's again")
		d, err := projections.GetDelivery(t.Context(), b.pool, "dlv_2")
		require.NoError(t, err)
		require.Equal(t, domain.DeliveryDelivered, d.Status)
	})
}

// countingRead is readLog counting its reads, once each has returned,
// inside a transaction and outside one.
type countingRead struct{ inTx, outside atomic.Int64 }

func (c *countingRead) read(ctx context.Context, q projections.DB, after domain.LogPosition, limit int) ([]domain.Recorded, error) {
	events, err := readLog(ctx, q, after, limit)
	if _, ok := q.(pgx.Tx); ok {
		c.inTx.Add(1)
	} else {
		c.outside.Add(1)
	}
	return events, err
}

// runInBackground runs r.Run until the returned stop is called; stop then
// checks that Run returns nil within logWait.
func runInBackground(t *testing.T, r *projections.Runner) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	return func() {
		t.Helper()
		cancel()
		timer := time.NewTimer(logWait)
		defer timer.Stop()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-timer.C:
			t.Fatal("timed out waiting for Run to return")
		}
	}
}

// levelCounter is a slog handler counting records at one level.
type levelCounter struct {
	level slog.Level
	n     atomic.Int64
}

func (h *levelCounter) Enabled(context.Context, slog.Level) bool { return true }

func (h *levelCounter) Handle(_ context.Context, r slog.Record) error {
	if r.Level == h.level {
		h.n.Add(1)
	}
	return nil
}

func (h *levelCounter) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *levelCounter) WithGroup(string) slog.Handler      { return h }

// BenchmarkRunner_Rebuild replays a log of 10,000 delivery events
// (scheduled + attempted pairs) through Read, Project and the checkpoint,
// in batches of DefaultBatchSize.
func BenchmarkRunner_Rebuild(b *testing.B) {
	pool := dbtest.Pool(b, nil)
	ctx := context.Background()
	now := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	sched, err := json.Marshal(scheduled("", "wh_1", "evt_1", "validation.completed", now))
	require.NoError(b, err)
	att, err := json.Marshal(delivered(1, now.Add(time.Second)))
	require.NoError(b, err)
	_, err = pool.Exec(ctx, `INSERT INTO events (stream_id, stream_type, version, type, data)
		SELECT 'dlv_' || i, 'delivery', v, CASE v WHEN 1 THEN $1 ELSE $2 END, CASE v WHEN 1 THEN $3::jsonb ELSE $4::jsonb END
		FROM generate_series(1, 5000) AS i, generate_series(1, 2) AS v
		ORDER BY i, v`, domain.TypeDeliveryScheduled, domain.TypeDeliveryAttempted, sched, att)
	require.NoError(b, err)
	r, err := projections.NewRunner(pool, projections.RunnerConfig{
		Name: "deliveries", Projector: projections.Deliveries{}, Read: readLog, Reset: projections.Deliveries{}.Reset,
	})
	require.NoError(b, err)
	// Wait until the log is readable: a transaction elsewhere on the server
	// holds the xmin rule back.
	caughtUp := 0
	require.Eventually(b, func() bool {
		n, err := r.CatchUp(ctx)
		caughtUp += n
		return err == nil && caughtUp == 10000
	}, logWait, 5*time.Millisecond)

	b.ReportAllocs()
	applied := 0
	for b.Loop() {
		n, err := r.Rebuild(ctx)
		if err != nil {
			b.Fatal(err)
		}
		applied += n
	}
	b.ReportMetric(float64(applied)/b.Elapsed().Seconds(), "events/s")
}
