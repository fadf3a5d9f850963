package relay

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertype"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/sync/errgroup"

	"github.com/loki-interceptor/lokihooks/domain"
)

// Defaults of Config.
const (
	DefaultWorkers         = 500
	DefaultShutdownTimeout = 30 * time.Second
	DefaultRescueAfter     = 3 * time.Minute
	DefaultCacheTTL        = time.Second
	DefaultRecordTimeout   = 10 * time.Second
	DefaultRecorders       = 4
	DefaultParkFor         = 24 * time.Hour
	DefaultRedriveChunk    = 500
	DefaultWakeChunk       = 500
	// defaultFetchCooldown is the least time between two fetches of a
	// worker process: a job inserted right after a fetch waits up to this
	// long (insert notifications wake the workers, DESIGN §3.3).
	defaultFetchCooldown = 10 * time.Millisecond
	// defaultFetchPoll is how often idle workers fetch without an insert
	// notification (see Config.FetchPollInterval).
	defaultFetchPoll = 5 * time.Second
	// inserterNotifyCooldown is the least time between two insert
	// notifications of one inserting client (River's limiter; its default,
	// 100ms, would delay the workers' wake-up by as much).
	inserterNotifyCooldown  = time.Millisecond
	minRecordTimeout        = 100 * time.Millisecond
	maxRedriveChunk         = 1000
	riverClientLoggerSuffix = "river"
)

// Config configures a Relay. Zero values mean the defaults stated.
type Config struct {
	// Fanout runs the outbox consumer (role "relay").
	Fanout bool
	// Work runs delivery workers (role "worker").
	Work bool
	// Workers is the number of concurrent deliveries per process
	// (default 500).
	Workers int
	// FanoutConfig tunes the outbox consumer.
	FanoutConfig FanoutConfig
	// FetchPollInterval is how often idle workers look for jobs without an
	// insert notification (default 5s). River's job inserts notify the
	// workers, and so do the statements of lokihooks that make jobs
	// available (parked deliveries woken, a breaker's probe, claimed batch
	// jobs released, a flush brought forward, the jobs of a worker process
	// that died or restarted reclaimed; notify.go). River sends none when a
	// job it holds for later (snoozed, retried, inserted with a
	// scheduled_at) falls due: the worker process that ran or inserted the
	// job sends one then, for jobs due within 2 minutes (duewake.go). This
	// poll runs what a lost notification leaves, and later jobs up to an
	// interval late. Fetches are at least min(10ms, FetchPollInterval)
	// apart.
	FetchPollInterval time.Duration
	// RescueAfter is how long a job may run before it is cancelled and,
	// if its process died, run again by another (default 3m; keep it above
	// the longest destination timeout, 120s at most).
	RescueAfter time.Duration
	// ShutdownTimeout is how long in-flight deliveries may finish after
	// shutdown starts before they are cancelled (default 30s).
	ShutdownTimeout time.Duration
	// CacheTTL is how long a worker reuses an active destination it read:
	// the delay before a change (pause, secret rotation, deletion) reaches
	// deliveries (default 1s; negative disables the cache). Destinations
	// that are not active are always read again.
	CacheTTL time.Duration
	// Recorders is how many transactions record finished attempts at once
	// (default 4). A recording that hangs holds one of them.
	Recorders int
	// RecordTimeout bounds one recording transaction (default 10s, at
	// least 100ms). Attempts whose recording failed run again.
	RecordTimeout time.Duration
	// ParkFor is how long a delivery of a paused destination, or of one
	// whose circuit breaker is open, waits before it looks again (default
	// 24h); resuming, or the breaker closing, releases it at once.
	ParkFor time.Duration
	// WorkerID is this worker process's identity, and its River client
	// id: keep it stable across restarts, so that a restarted process
	// reclaims at once the jobs its previous run left running (default
	// DefaultWorkerID, the host name; at most 90 characters). If a live
	// process already holds it, the process runs as "<id>-2", "-3", … (up
	// to 16).
	WorkerID string
	// HeartbeatInterval is how often a worker process records that it is
	// alive (default 2s).
	HeartbeatInterval time.Duration
	// HeartbeatLapse is how long a worker process may go without a
	// heartbeat before its running jobs are run by others (default 3 ×
	// HeartbeatInterval; at least 2 × HeartbeatInterval). The jobs of a
	// process that died run again within about HeartbeatLapse +
	// HeartbeatInterval.
	HeartbeatLapse time.Duration
	// Breaker configures the circuit breakers of destinations.
	Breaker BreakerConfig
	// Retention says how long what lokihooks deletes by itself is kept
	// (retention.go).
	Retention RetentionConfig
	// NowFunc is the clock of attempts (default time.Now).
	NowFunc func() time.Time
	// RandomFunc returns jitter in [0, 1) (default math/rand).
	RandomFunc func() float64
	// Logger (default: discard).
	Logger *slog.Logger
	// TracerProvider (default: the otel global).
	TracerProvider trace.TracerProvider
}

func (c Config) withDefaults() Config {
	if c.Workers == 0 {
		c.Workers = DefaultWorkers
	}
	if c.FetchPollInterval == 0 {
		c.FetchPollInterval = defaultFetchPoll
	}
	if c.RescueAfter == 0 {
		c.RescueAfter = DefaultRescueAfter
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = DefaultShutdownTimeout
	}
	if c.CacheTTL == 0 {
		c.CacheTTL = DefaultCacheTTL
	}
	if c.Recorders == 0 {
		c.Recorders = DefaultRecorders
	}
	if c.RecordTimeout == 0 {
		c.RecordTimeout = DefaultRecordTimeout
	}
	if c.ParkFor == 0 {
		c.ParkFor = DefaultParkFor
	}
	if c.WorkerID == "" {
		c.WorkerID = DefaultWorkerID()
	}
	if c.HeartbeatInterval == 0 {
		c.HeartbeatInterval = DefaultHeartbeatInterval
	}
	if c.HeartbeatLapse == 0 {
		c.HeartbeatLapse = defaultLapseBeats * c.HeartbeatInterval
	}
	c.Breaker = c.Breaker.withDefaults()
	c.Retention = c.Retention.withDefaults()
	if c.NowFunc == nil {
		c.NowFunc = time.Now
	}
	if c.RandomFunc == nil {
		c.RandomFunc = defaultRandom
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.TracerProvider == nil {
		c.TracerProvider = otel.GetTracerProvider()
	}
	return c
}

func (c Config) validate(deps Deps) error {
	var errs []error
	if c.Workers < 1 {
		errs = append(errs, errors.New("Workers must be at least 1"))
	}
	if c.Recorders < 1 {
		errs = append(errs, errors.New("Recorders must be at least 1"))
	}
	if c.RecordTimeout < minRecordTimeout {
		errs = append(errs, fmt.Errorf("RecordTimeout must be at least %s", minRecordTimeout))
	}
	if len(c.WorkerID) > maxWorkerIDLength {
		errs = append(errs, fmt.Errorf("WorkerID must be at most %d characters", maxWorkerIDLength))
	}
	if c.HeartbeatInterval < minHeartbeatInterval {
		errs = append(errs, fmt.Errorf("HeartbeatInterval must be at least %s", minHeartbeatInterval))
	}
	if c.HeartbeatLapse < 2*c.HeartbeatInterval {
		errs = append(errs, errors.New("HeartbeatLapse must be at least twice HeartbeatInterval"))
	}
	if err := c.Breaker.validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Retention.validate(); err != nil {
		errs = append(errs, err)
	}
	if deps.Log == nil {
		errs = append(errs, errors.New("Deps.Log is required"))
	}
	if c.Fanout && deps.Subscribers == nil {
		errs = append(errs, errors.New("Deps.Subscribers is required for the fan-out"))
	}
	if c.Work && (deps.Destinations == nil || deps.Sender == nil) {
		errs = append(errs, errors.New("Deps.Destinations and Sender are required for workers"))
	}
	return errors.Join(errs...)
}

// Relay runs the fan-out and the delivery workers, and offers redrive and
// wake-up to the application. It is safe for concurrent use.
type Relay struct {
	cfg  Config
	pool *pgxpool.Pool
	deps Deps
	// client inserts jobs and reaches River's driver; workers run jobs
	// (Run creates it once the worker id is claimed).
	client    *river.Client[pgx.Tx]
	workerCfg *river.Config
	fanout    *Fanout
	recorder  *recorder
	bodies    *bodies
	batcher   *batcher
	breakers  *breakers
	heartbeat *heartbeat
	dueWake   *dueWake
	retention *retention
}

// New builds a Relay. db is a database/sql handle on the same database and
// schema as pool (stdlib.OpenDBFromPool); it serves the watermill consumer.
func New(pool *pgxpool.Pool, db *sql.DB, deps Deps, cfg Config) (*Relay, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(deps); err != nil {
		return nil, fmt.Errorf("relay config: %w", err)
	}
	r := &Relay{cfg: cfg, pool: pool, deps: deps}
	r.retention = &retention{pool: pool, log: deps.Log, cfg: cfg.Retention, logger: cfg.Logger.With("component", "retention")}
	// client inserts the jobs a worker process schedules for later (next
	// attempts, flushes, breaker jobs): the process's dueWake learns when
	// they are due.
	var insertMiddleware []rivertype.Middleware
	if cfg.Work {
		r.dueWake = newDueWake(pool, cfg.Logger.With("component", "duewake"))
		insertMiddleware = []rivertype.Middleware{r.dueWake.insertMiddleware()}
	}
	client, err := river.NewClient(riverpgxv5.New(pool), &river.Config{
		Logger: cfg.Logger.With("component", riverClientLoggerSuffix), MaxAttempts: deliverMaxAttempts,
		FetchCooldown: inserterNotifyCooldown, Middleware: insertMiddleware,
	})
	if err != nil {
		return nil, fmt.Errorf("create river client: %w", err)
	}
	r.client = client
	if deps.Destinations != nil && deps.Log != nil {
		r.breakers = newBreakers(pool, deps, client, cfg)
	}
	if cfg.Work {
		working := newWorkingSet()
		rcfg := &river.Config{
			Logger:            cfg.Logger.With("component", riverClientLoggerSuffix),
			FetchCooldown:     min(defaultFetchCooldown, cfg.FetchPollInterval),
			FetchPollInterval: cfg.FetchPollInterval,
			// River only rescues jobs that have a timeout: a job running
			// longer than RescueAfter is cancelled here and, if its process
			// died, rescued by another. Attempts have their destination's
			// own, shorter timeout. The jobs of a process that died are
			// normally run again much sooner, when its heartbeat lapses.
			JobTimeout:                  cfg.RescueAfter,
			RescueStuckJobsAfter:        cfg.RescueAfter + time.Second,
			MaxAttempts:                 deliverMaxAttempts,
			ReindexerIndexNames:         riverIndexNames,
			CompletedJobRetentionPeriod: riverRetention(cfg.Retention.CompletedJobs),
			DiscardedJobRetentionPeriod: riverRetention(cfg.Retention.DiscardedJobs),
			CancelledJobRetentionPeriod: riverRetention(cfg.Retention.DiscardedJobs),
			Middleware:                  []rivertype.Middleware{working},
		}
		workers := river.NewWorkers()
		r.recorder = newRecorder(pool, deps.Log, deps.Destinations, recorderConfig{
			committers: cfg.Recorders, timeout: cfg.RecordTimeout,
			logger: cfg.Logger.With("component", "recorder"),
		})
		r.recorder.client = client
		r.recorder.observer = observerOrNop(deps.Observer)
		cache := newDestinationCache(deps.Destinations, cfg.CacheTTL)
		if r.breakers != nil {
			r.breakers.cache = cache
		}
		r.batcher = &batcher{pool: pool, now: cfg.NowFunc, client: client}
		r.bodies = newBodies(pool)
		tracer := cfg.TracerProvider.Tracer("lokihooks/relay")
		river.AddWorker(workers, &Worker{
			deps: deps, cfg: cfg, limiter: &rateLimiter{pool: pool}, recorder: r.recorder,
			logger: cfg.Logger.With("component", "worker"), tracer: tracer, cache: cache, batcher: r.batcher,
			breakers: r.breakers, bodies: r.bodies,
		})
		river.AddWorker(workers, &BatchWorker{
			deps: deps, cfg: cfg, recorder: r.recorder, logger: cfg.Logger.With("component", "batch"), tracer: tracer,
			cache: cache, batcher: r.batcher, breakers: r.breakers, bodies: r.bodies,
		})
		river.AddWorker(workers, &BreakerWorker{deps: deps, cfg: cfg, breakers: r.breakers})
		rcfg.Workers = workers
		rcfg.Queues = map[string]river.QueueConfig{DeliveryQueue: {MaxWorkers: cfg.Workers}}
		r.workerCfg = rcfg
		r.heartbeat = newHeartbeat(pool, working, heartbeatConfig{
			base: cfg.WorkerID, interval: cfg.HeartbeatInterval, lapse: cfg.HeartbeatLapse,
			logger: cfg.Logger.With("component", "heartbeat"),
		})
	}
	if cfg.Fanout {
		inserter, err := river.NewClient(riverdatabasesql.New(db), &river.Config{
			Logger: cfg.Logger.With("component", riverClientLoggerSuffix), MaxAttempts: deliverMaxAttempts,
			FetchCooldown: inserterNotifyCooldown,
		})
		if err != nil {
			return nil, fmt.Errorf("create river inserter: %w", err)
		}
		fcfg := cfg.FanoutConfig
		if fcfg.Logger == nil {
			fcfg.Logger = cfg.Logger
		}
		if r.fanout, err = NewFanout(db, deps, inserter, fcfg); err != nil {
			return nil, err
		}
		if r.bodies != nil {
			r.fanout.shareBodies(r.bodies)
		}
		connCfg := pool.Config().ConnConfig
		r.fanout.listenWith(func(ctx context.Context) (*pgx.Conn, error) {
			return pgx.ConnectConfig(ctx, connCfg.Copy())
		})
	}
	return r, nil
}

// Run runs the configured parts until ctx is cancelled, then shuts down in
// two phases: stop fetching, let in-flight deliveries finish for up to
// ShutdownTimeout, then cancel them (a cancelled attempt records nothing and
// its job runs again later). It returns nil on a clean shutdown.
func (r *Relay) Run(ctx context.Context) error {
	g, gctx := errgroup.WithContext(ctx)
	if r.cfg.Work {
		workers, err := r.startWorkers(ctx)
		if err != nil {
			return err
		}
		// The recorder, the body reads, the breakers' counts and the
		// heartbeat outlive the workers: in-flight jobs finishing during
		// shutdown still need them, and the heartbeat must not lapse while
		// they run. The due-job wake-ups take River's events until River
		// closes them, so that jobs interrupted at shutdown are announced
		// to the other processes.
		bgCtx, stopBackground := context.WithCancel(context.WithoutCancel(ctx))
		var bg sync.WaitGroup
		bg.Go(func() { r.recorder.run(bgCtx) })
		bg.Go(func() { r.bodies.run(bgCtx) })
		bg.Go(func() { r.breakers.run(bgCtx) })
		bg.Go(func() { r.heartbeat.run(bgCtx) })
		events := subscribeDue(workers)
		bg.Go(func() { r.dueWake.run(bgCtx, events) })
		defer func() { stopBackground(); bg.Wait() }()
		// Started on a context that is not cancelled with ctx: cancelling
		// River's start context would cancel in-flight jobs at once
		// (StopAndCancel). Shutdown goes through Stop, then StopAndCancel
		// after ShutdownTimeout, below.
		if err := workers.Start(context.WithoutCancel(gctx)); err != nil {
			return fmt.Errorf("start workers: %w", err)
		}
		g.Go(func() error {
			<-gctx.Done()
			stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.cfg.ShutdownTimeout)
			defer cancel()
			if err := workers.Stop(stopCtx); err != nil {
				r.cfg.Logger.Warn("deliveries still running at shutdown timeout; cancelling them")
				cancelCtx, cancel2 := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
				defer cancel2()
				return workers.StopAndCancel(cancelCtx)
			}
			return nil
		})
	}
	if r.fanout != nil {
		g.Go(func() error { return r.fanout.Run(gctx) })
	}
	if r.cfg.Fanout || r.cfg.Work {
		g.Go(func() error { return r.retention.run(gctx) })
	}
	return g.Wait()
}

// startWorkers claims a worker id (reclaiming what an earlier run under it
// left running) and creates the River client that runs the jobs under it.
func (r *Relay) startWorkers(ctx context.Context) (*river.Client[pgx.Tx], error) {
	id, err := r.heartbeat.claim(ctx)
	if err != nil {
		return nil, err
	}
	r.workerCfg.ID = id
	r.batcher.workerID = id
	if r.breakers != nil {
		r.breakers.workerID = id
	}
	workers, err := river.NewClient(riverpgxv5.New(r.pool), r.workerCfg)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("create river workers: %w", err), r.heartbeat.conn.Close(context.WithoutCancel(ctx)))
	}
	return workers, nil
}

// FanoutRunning is closed once the fan-out consumes (nil without fan-out).
func (r *Relay) FanoutRunning() chan struct{} {
	if r.fanout == nil {
		return nil
	}
	return r.fanout.Running()
}

// Redrive schedules a fresh attempt for each given delivery that is failed
// or permanent_failure, with the retry budget starting over. Each call is
// one transaction that appends every delivery.redriven event in one
// statement and inserts every job; pass at most maxRedriveChunk (1000)
// deliveries (callers page through larger selections, DESIGN §3.14). It
// returns how many it redrove; a delivery that changed since it was read
// fails the whole call with domain.ErrVersionConflict.
func (r *Relay) Redrive(ctx context.Context, deliveries []domain.DeliveryView) (int, error) {
	if len(deliveries) > maxRedriveChunk {
		return 0, fmt.Errorf("redrive %d deliveries at once: at most %d per transaction: %w", len(deliveries), maxRedriveChunk, domain.ErrInvalid)
	}
	now := r.cfg.NowFunc().UTC()
	var streams []domain.Append
	var jobs []river.InsertManyParams
	for _, d := range deliveries {
		if !d.Status.Redrivable() {
			continue
		}
		streams = append(streams, domain.Append{
			StreamID: string(d.ID), StreamType: domain.DeliveryStreamType, Expect: d.Version,
			Events: []domain.Event{domain.DeliveryRedriven{At: now}},
		})
		jobs = append(jobs, river.InsertManyParams{Args: DeliverArgs{
			DeliveryID: d.ID, DestinationID: d.DestinationID, DestinationKind: d.Kind, EventID: d.EventID,
			EventType: d.EventType, Attempt: d.Attempts + 1, Try: 1,
		}})
	}
	if len(streams) == 0 {
		return 0, nil
	}
	err := pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
		if _, err := r.deps.Log.AppendTx(ctx, tx, streams...); err != nil {
			return fmt.Errorf("redrive: %w", err)
		}
		if _, err := r.client.InsertManyTx(ctx, tx, jobs); err != nil {
			return fmt.Errorf("insert redrive jobs: %w", err)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return len(streams), nil
}

// Wake closes the circuit breaker of a destination that was resumed (it
// starts afresh) and releases its parked deliveries, in transactions of at
// most DefaultWakeChunk jobs. It returns how many it released.
func (r *Relay) Wake(ctx context.Context, id domain.DestinationID) (int, error) {
	if r.breakers != nil && !r.cfg.Breaker.Disabled {
		dest, err := r.deps.Destinations.Destination(ctx, id)
		if err != nil {
			return 0, fmt.Errorf("wake deliveries of %s: %w", id, err)
		}
		if err := r.breakers.reset(ctx, id); err != nil {
			return 0, err
		}
		if dest.Breaker != nil {
			if err := r.breakers.append(ctx, dest.Breaker, dest.Breaker.Close("destination resumed", r.cfg.NowFunc())); err != nil &&
				!errors.Is(err, errBreakerMoved) {
				return 0, fmt.Errorf("close the breaker of %s: %w", id, err)
			}
		}
	}
	return wakeAll(ctx, r.pool, id)
}

// wakeAll releases the parked deliveries of a destination in transactions
// of at most DefaultWakeChunk jobs and returns how many it released.
func wakeAll(ctx context.Context, pool *pgxpool.Pool, id domain.DestinationID) (int, error) {
	total := 0
	for {
		n, err := wakeParked(ctx, pool, id, DefaultWakeChunk)
		total += n
		if err != nil {
			return total, fmt.Errorf("wake deliveries of %s: %w", id, err)
		}
		if n < DefaultWakeChunk {
			return total, nil
		}
	}
}
