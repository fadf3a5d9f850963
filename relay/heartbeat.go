package relay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// Worker processes keep a heartbeat, so that the jobs of one that died run
// again within seconds instead of after RescueAfter (DESIGN §3.13).
//
// Identity. A worker process runs under a worker id (Config.WorkerID),
// which is also its River client id, so River writes it into the
// attempted_by of every job the process fetches. The id is stable across
// restarts. For as long as it runs, the process holds a session advisory
// lock on its id, on a connection of its own. A second live process
// configured with the same id finds the lock taken and runs as "<id>-2"
// (then -3, … up to maxWorkerSlots). A process that gets an id's lock
// knows that no live process holds the id, so the jobs still running
// under it were left by a process that died: it reclaims them at once,
// before it runs anything (a restart recovers in the time it takes to
// start).
//
// Heartbeat. Every HeartbeatInterval the process writes beat_at = now()
// for its id, on its own connection (a pool busy with deliveries cannot
// starve it).
//
// Reaper. Each beat also tells whether another worker's heartbeat is
// older than HeartbeatLapse (one statement: an idle process costs one
// round trip per interval). If one is, the process tries a transaction
// advisory lock; the one that gets it (one at a time) deletes the lapsed
// heartbeats and makes their running jobs available again. The restart reclaim takes the same lock, so the two
// never interleave. After a restart of the PostgreSQL server, every
// heartbeat is counted from the server's start: all processes lost their
// connection at once and get the lapse again to come back.
//
// Orphans. While the database is away, River cannot write the outcome of
// the jobs that finish (it gives up after a few seconds), and those jobs
// stay running in the database although their process is alive. Once its
// heartbeat goes through again, the process waits orphanSweepDelay, then
// reclaims its own jobs that were running before the database came back
// and that it is no longer working on.
//
// A process that cannot reach the database for longer than HeartbeatLapse
// while the database is up is taken for dead: its running deliveries are
// sent again (at least once holds; receivers deduplicate on webhook-id).
// A slow delivery of a live process is never taken from it.

// Heartbeat defaults and bounds.
const (
	DefaultHeartbeatInterval = 2 * time.Second
	// defaultLapseBeats is how many intervals a heartbeat may miss.
	defaultLapseBeats    = 3
	minHeartbeatInterval = 10 * time.Millisecond
	// maxWorkerSlots bounds the ids tried after the configured one.
	maxWorkerSlots = 16
	// maxWorkerIDLength leaves room in River's 100-character client id
	// for a slot suffix.
	maxWorkerIDLength = 90
	// maxWorkerSuffix leaves room for a suffix callers add to the default.
	maxWorkerSuffix = 10
	// orphanSweepDelay is how long after the database came back a process
	// looks for its orphaned jobs: River's completer retries for about 7 s
	// before it gives up on a job's outcome.
	orphanSweepDelay = 10 * time.Second
	// predecessorWait is how long a process waits for the configured id's
	// lock when the id last beat from this host: a predecessor killed a
	// moment ago may not have lost its session yet.
	predecessorWait = time.Second
	claimRetry      = 20 * time.Millisecond
)

const (
	lockWorkerSQL = `SELECT pg_try_advisory_lock(hashtext('lokihooks.worker:' || current_schema()), hashtext($1))`
	// The reaper's lock; the restart reclaim waits for it.
	tryReaperLockSQL = `SELECT pg_try_advisory_xact_lock(hashtext('lokihooks.reaper:' || current_schema()))`
	reaperLockSQL    = `SELECT pg_advisory_xact_lock(hashtext('lokihooks.reaper:' || current_schema()))`
	// upsertBeat records a beat for worker $1.
	upsertBeat = `INSERT INTO worker_heartbeats (worker_id, host, pid, started_at, beat_at)
		VALUES ($1, $2, $3, $4, now())
		ON CONFLICT (worker_id) DO UPDATE SET host = excluded.host, pid = excluded.pid,
			started_at = excluded.started_at, beat_at = now()`
	beatSQL = upsertBeat + ` RETURNING beat_at`
	// beatLookSQL is beatSQL that also tells whether another worker's
	// heartbeat lapsed ($5 seconds, counted from the server's start as
	// reclaimLapsedSQL does).
	beatLookSQL = upsertBeat + ` RETURNING beat_at, EXISTS (SELECT 1 FROM worker_heartbeats w
		WHERE w.worker_id <> $1
		  AND greatest(w.beat_at, pg_postmaster_start_time()) < now() - make_interval(secs => $5))`
	heartbeatHostSQL = `SELECT host FROM worker_heartbeats WHERE worker_id = $1`
	// stopBeatSQL marks a process that stopped cleanly as lapsed, so that
	// a job it could not finish is reclaimed at once.
	stopBeatSQL = `UPDATE worker_heartbeats SET beat_at = '-infinity' WHERE worker_id = $1`
)

// DefaultWorkerID returns the host name, the default of Config.WorkerID.
func DefaultWorkerID() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		return "worker"
	}
	return host[:min(len(host), maxWorkerIDLength-maxWorkerSuffix)]
}

type heartbeatConfig struct {
	base     string
	interval time.Duration
	lapse    time.Duration
	logger   *slog.Logger
}

// heartbeat claims a worker id, beats for it, reaps lapsed workers and
// sweeps orphans. claim runs first; run owns the connection afterwards.
type heartbeat struct {
	pool    *pgxpool.Pool
	cfg     heartbeatConfig
	working *workingSet
	host    string
	pid     int
	started time.Time

	id   string
	conn *pgx.Conn
	// locked reports that conn holds the id's lock; unlockedSince is when
	// it was last lost, warned whether that was reported.
	locked        bool
	unlockedSince time.Time
	warned        bool
	// down is set while beats fail; sweepAt and recoveredAt (database
	// time) plan the orphan sweep after the database came back.
	down        bool
	sweepAt     time.Time
	recoveredAt time.Time
}

func newHeartbeat(pool *pgxpool.Pool, working *workingSet, cfg heartbeatConfig) *heartbeat {
	host, _ := os.Hostname()
	return &heartbeat{pool: pool, cfg: cfg, working: working, host: host, pid: os.Getpid(), started: time.Now()}
}

// slotID is the id of slot n (1 is the configured id).
func slotID(base string, n int) string {
	if n == 1 {
		return base
	}
	return base + "-" + strconv.Itoa(n)
}

// claim takes the first free worker id, reclaims the jobs an earlier run
// under it left running, and records the first beat. It returns the id.
func (h *heartbeat) claim(ctx context.Context) (string, error) {
	conn, err := h.connect(ctx)
	if err != nil {
		return "", err
	}
	for n := 1; n <= maxWorkerSlots && h.id == ""; n++ {
		id := slotID(h.cfg.base, n)
		ok, err := h.lock(ctx, conn, id)
		if err == nil && !ok && n == 1 {
			ok, err = h.waitPredecessor(ctx, conn, id)
		}
		if err != nil {
			return "", errors.Join(err, conn.Close(context.WithoutCancel(ctx)))
		}
		if ok {
			h.id = id
		}
	}
	if h.id == "" {
		return "", errors.Join(fmt.Errorf("worker ids %s to %s are all held by running processes: give each worker process its own id",
			slotID(h.cfg.base, 1), slotID(h.cfg.base, maxWorkerSlots)), conn.Close(context.WithoutCancel(ctx)))
	}
	h.conn, h.locked = conn, true
	var reclaimed []int64
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, reaperLockSQL); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, beatSQL, h.id, h.host, h.pid, h.started); err != nil {
			return err
		}
		reclaimed, err = reclaimOwn(ctx, tx, h.id)
		return err
	})
	if err != nil {
		return "", errors.Join(fmt.Errorf("start worker %s: %w", h.id, err), conn.Close(context.WithoutCancel(ctx)))
	}
	h.cfg.logger.InfoContext(ctx, "worker started", "worker_id", h.id, "reclaimed_jobs", len(reclaimed))
	return h.id, nil
}

// waitPredecessor waits up to predecessorWait for the lock of id when id
// last beat from this host.
func (h *heartbeat) waitPredecessor(ctx context.Context, conn *pgx.Conn, id string) (bool, error) {
	var host string
	err := conn.QueryRow(ctx, heartbeatHostSQL, id).Scan(&host)
	if errors.Is(err, pgx.ErrNoRows) || err == nil && host != h.host {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read heartbeat of %s: %w", id, err)
	}
	deadline := time.Now().Add(predecessorWait)
	for time.Now().Before(deadline) {
		if !wait(ctx, claimRetry) {
			return false, ctx.Err()
		}
		if ok, err := h.lock(ctx, conn, id); ok || err != nil {
			return ok, err
		}
	}
	return false, nil
}

func (h *heartbeat) connect(ctx context.Context) (*pgx.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, h.opTimeout())
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, h.pool.Config().ConnConfig.Copy())
	if err != nil {
		return nil, fmt.Errorf("connect for the heartbeat: %w", err)
	}
	return conn, nil
}

func (h *heartbeat) lock(ctx context.Context, conn *pgx.Conn, id string) (bool, error) {
	var ok bool
	if err := conn.QueryRow(ctx, lockWorkerSQL, id).Scan(&ok); err != nil {
		return false, fmt.Errorf("lock worker id %s: %w", id, err)
	}
	return ok, nil
}

// run beats, reaps and sweeps until ctx ends, then marks the process as
// stopped. It must be stopped only after River's client.
func (h *heartbeat) run(ctx context.Context) {
	beat := time.NewTicker(h.cfg.interval)
	defer beat.Stop()
	for {
		select {
		case <-ctx.Done():
			h.stop(context.WithoutCancel(ctx))
			return
		case <-beat.C:
			if h.beat(ctx) {
				h.reap(ctx)
			}
			h.sweep(ctx)
		}
	}
}

// ready makes sure the connection is open, and tries to take the id's
// lock again after a reconnection.
func (h *heartbeat) ready(ctx context.Context) bool {
	if h.conn == nil || h.conn.IsClosed() {
		conn, err := h.connect(ctx)
		if err != nil {
			return false
		}
		h.conn, h.locked, h.unlockedSince = conn, false, time.Now()
	}
	if !h.locked {
		ok, err := h.lock(ctx, h.conn, h.id)
		if err != nil {
			h.drop(ctx)
			return false
		}
		h.locked = ok
		// The previous connection's session may take a moment to end; past
		// the lapse, only a process started while this one was
		// reconnecting can hold the id: both now run under one id.
		if !ok && time.Since(h.unlockedSince) > h.cfg.lapse && !h.warned {
			h.warned = true
			h.cfg.logger.ErrorContext(ctx, "another process holds this worker id; give each worker process its own",
				"worker_id", h.id)
		}
	}
	return true
}

// drop closes a connection that failed, to open a new one next time.
func (h *heartbeat) drop(ctx context.Context) {
	if h.conn != nil {
		_ = h.conn.Close(context.WithoutCancel(ctx))
		h.conn = nil
	}
}

// opTimeout bounds one statement of the heartbeat.
func (h *heartbeat) opTimeout() time.Duration { return max(h.cfg.interval, time.Second) }

// beat records a beat and reports whether another worker's heartbeat
// lapsed.
func (h *heartbeat) beat(ctx context.Context) (lapsed bool) {
	ctx, cancel := context.WithTimeout(ctx, h.opTimeout())
	defer cancel()
	var at time.Time
	err := errors.New("no connection")
	if h.ready(ctx) {
		err = h.conn.QueryRow(ctx, beatLookSQL, h.id, h.host, h.pid, h.started, h.cfg.lapse.Seconds()).Scan(&at, &lapsed)
	}
	switch {
	case err != nil && !h.down:
		h.down = true
		h.drop(ctx)
		h.cfg.logger.WarnContext(ctx, "heartbeat failed; retrying", "worker_id", h.id, "error", err)
	case err != nil:
		h.drop(ctx)
	case h.down:
		h.down = false
		h.recoveredAt, h.sweepAt = at, time.Now().Add(orphanSweepDelay)
		h.cfg.logger.InfoContext(ctx, "heartbeat resumed", "worker_id", h.id)
	}
	return err == nil && lapsed
}

// reap reclaims the jobs of lapsed workers if this process gets the
// reaper's lock.
func (h *heartbeat) reap(ctx context.Context) {
	if h.down || !h.ready(ctx) {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, h.opTimeout())
	defer cancel()
	var reclaimed []int64
	err := pgx.BeginFunc(ctx, h.conn, func(tx pgx.Tx) error {
		var leader bool
		if err := tx.QueryRow(ctx, tryReaperLockSQL).Scan(&leader); err != nil || !leader {
			return err
		}
		var err error
		reclaimed, err = reclaimLapsed(ctx, tx, h.cfg.lapse)
		return err
	})
	if err != nil {
		h.drop(ctx)
		h.cfg.logger.DebugContext(ctx, "reaping lapsed workers failed", "error", err)
		return
	}
	if len(reclaimed) > 0 {
		h.cfg.logger.WarnContext(ctx, "reclaimed the running jobs of a worker that stopped heartbeating",
			"jobs", len(reclaimed))
	}
}

// sweep reclaims the process's orphaned jobs once, orphanSweepDelay after
// the database came back.
func (h *heartbeat) sweep(ctx context.Context) {
	if h.sweepAt.IsZero() || time.Now().Before(h.sweepAt) || h.down || !h.ready(ctx) {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, h.opTimeout())
	defer cancel()
	reclaimed, err := reclaimOrphans(ctx, h.conn, h.id, h.recoveredAt, h.working.snapshot())
	if err != nil {
		h.drop(ctx)
		h.cfg.logger.DebugContext(ctx, "sweeping orphaned jobs failed", "error", err)
		return
	}
	h.sweepAt = time.Time{}
	if len(reclaimed) > 0 {
		h.cfg.logger.WarnContext(ctx, "reclaimed jobs whose outcome was not recorded while the database was away",
			"worker_id", h.id, "jobs", len(reclaimed))
	}
}

// stop marks the process as stopped and releases its id.
func (h *heartbeat) stop(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, h.opTimeout())
	defer cancel()
	if h.ready(ctx) {
		if _, err := h.conn.Exec(ctx, stopBeatSQL, h.id); err != nil {
			h.cfg.logger.DebugContext(ctx, "marking the worker stopped failed", "error", err)
		}
	}
	h.drop(ctx)
}

// workingSet is a River middleware that knows which jobs this process is
// working on.
type workingSet struct {
	river.MiddlewareDefaults
	mu  sync.Mutex
	ids map[int64]struct{}
}

func newWorkingSet() *workingSet { return &workingSet{ids: map[int64]struct{}{}} }

// Work implements rivertype.WorkerMiddleware.
func (s *workingSet) Work(ctx context.Context, job *rivertype.JobRow, doInner func(context.Context) error) error {
	s.mu.Lock()
	s.ids[job.ID] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.ids, job.ID)
		s.mu.Unlock()
	}()
	return doInner(ctx)
}

func (s *workingSet) snapshot() map[int64]bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[int64]bool, len(s.ids))
	for id := range s.ids {
		out[id] = true
	}
	return out
}

// wait reports false if ctx ends before d passes.
func wait(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
