package relay

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
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
	DefaultWebhookCacheTTL = time.Second
	// defaultFetchCooldown spaces a worker process's job fetches: longer
	// means fewer, larger fetches (3.0k → 3.5k deliveries/s from 10ms to
	// 50ms in lokihooks bench) for a few ms more latency at low rates.
	defaultFetchCooldown = 50 * time.Millisecond
	defaultFetchPoll     = 50 * time.Millisecond
)

// Config configures a Relay.
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
	// FetchPollInterval is how often idle workers look for jobs besides
	// insert notifications (default 50ms). Fetches are at least
	// min(50ms, FetchPollInterval) apart.
	FetchPollInterval time.Duration
	// RescueAfter is how long a job may run before it is cancelled and,
	// if its process died, run again by another (default 3m; keep it above
	// the longest webhook timeout, 120s at most).
	RescueAfter time.Duration
	// ShutdownTimeout is how long in-flight deliveries may finish after
	// shutdown starts before they are cancelled (default 30s).
	ShutdownTimeout time.Duration
	// WebhookCacheTTL is how long a worker reuses a webhook it read: the
	// delay before a change (pause, secret rotation, deletion) reaches
	// deliveries (default 1s; negative disables the cache).
	WebhookCacheTTL time.Duration
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
	if c.NowFunc == nil {
		c.NowFunc = time.Now
	}
	if c.WebhookCacheTTL == 0 {
		c.WebhookCacheTTL = DefaultWebhookCacheTTL
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

// Relay runs the fan-out and the delivery workers, and offers redrive and
// wake-up to the API. It is safe for concurrent use.
type Relay struct {
	cfg      Config
	pool     *pgxpool.Pool
	store    Store
	workers  *river.Client[pgx.Tx]
	fanout   *Fanout
	recorder *recorder
}

// New builds a Relay. db is a database/sql handle on the same database and
// schema as pool (stdlib.OpenDBFromPool); it serves the watermill consumer.
func New(pool *pgxpool.Pool, db *sql.DB, store Store, sender Sender, cfg Config) (*Relay, error) {
	cfg = cfg.withDefaults()
	if cfg.Workers < 1 {
		return nil, errors.New("Workers must be at least 1")
	}
	r := &Relay{cfg: cfg, pool: pool, store: store}
	rcfg := &river.Config{
		Logger:            cfg.Logger.With("component", "river"),
		FetchCooldown:     min(defaultFetchCooldown, cfg.FetchPollInterval),
		FetchPollInterval: cfg.FetchPollInterval,
		// River only rescues jobs that have a timeout: a job running longer
		// than RescueAfter is cancelled here and, if its process died,
		// rescued by another. Attempts have their webhook's own, shorter
		// timeout.
		JobTimeout:                  cfg.RescueAfter,
		RescueStuckJobsAfter:        cfg.RescueAfter + time.Second,
		MaxAttempts:                 deliverMaxAttempts,
		CompletedJobRetentionPeriod: time.Hour,
	}
	if cfg.Work {
		workers := river.NewWorkers()
		r.recorder = newRecorder(pool, store, cfg.NowFunc, cfg.Logger.With("component", "recorder"))
		worker := &Worker{
			store: store, sender: sender, now: cfg.NowFunc, random: cfg.RandomFunc,
			logger: cfg.Logger.With("component", "worker"), tracer: cfg.TracerProvider.Tracer("lokihooks/relay"),
			limiter: &rateLimiter{pool: pool}, recorder: r.recorder,
			webhooks: &webhookCache{store: store, ttl: cfg.WebhookCacheTTL, items: map[domain.WebhookID]cachedWebhook{}},
		}
		river.AddWorker(workers, worker)
		rcfg.Workers = workers
		rcfg.Queues = map[string]river.QueueConfig{DeliveryQueue: {MaxWorkers: cfg.Workers}}
	}
	client, err := river.NewClient(riverpgxv5.New(pool), rcfg)
	if err != nil {
		return nil, fmt.Errorf("create river client: %w", err)
	}
	r.workers = client
	if r.recorder != nil {
		r.recorder.client = client
	}
	if cfg.Fanout {
		inserter, err := river.NewClient(riverdatabasesql.New(db), &river.Config{
			Logger: cfg.Logger.With("component", "river"), MaxAttempts: deliverMaxAttempts,
		})
		if err != nil {
			return nil, fmt.Errorf("create river inserter: %w", err)
		}
		fcfg := cfg.FanoutConfig
		if fcfg.Logger == nil {
			fcfg.Logger = cfg.Logger
		}
		if r.fanout, err = NewFanout(db, store, inserter, fcfg); err != nil {
			return nil, err
		}
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
		// The recorder outlives the workers: in-flight jobs finishing during
		// shutdown still need it.
		recCtx, stopRecorder := context.WithCancel(context.WithoutCancel(ctx))
		recDone := make(chan struct{})
		go func() { defer close(recDone); r.recorder.run(recCtx) }()
		defer func() { stopRecorder(); <-recDone }()
		// Started on a context that is not cancelled with ctx: cancelling
		// River's start context would cancel in-flight jobs at once
		// (StopAndCancel). Shutdown goes through Stop, then StopAndCancel
		// after ShutdownTimeout, below.
		if err := r.workers.Start(context.WithoutCancel(gctx)); err != nil {
			return fmt.Errorf("start workers: %w", err)
		}
		g.Go(func() error {
			<-gctx.Done()
			stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.cfg.ShutdownTimeout)
			defer cancel()
			if err := r.workers.Stop(stopCtx); err != nil {
				r.cfg.Logger.Warn("deliveries still running at shutdown timeout; cancelling them")
				cancelCtx, cancel2 := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
				defer cancel2()
				return r.workers.StopAndCancel(cancelCtx)
			}
			return nil
		})
	}
	if r.fanout != nil {
		g.Go(func() error { return r.fanout.Run(gctx) })
	}
	return g.Wait()
}

// FanoutRunning is closed once the fan-out consumes (nil without fan-out).
func (r *Relay) FanoutRunning() chan struct{} {
	if r.fanout == nil {
		return nil
	}
	return r.fanout.Running()
}

// Redrive schedules a fresh attempt for each given delivery (which must be
// failed or permanent_failure): it appends delivery.redriven and inserts a
// job in one transaction per call. The retry policy starts over. It returns
// how many were redriven; deliveries that changed meanwhile are skipped.
func (r *Relay) Redrive(ctx context.Context, deliveries []domain.DeliveryView) (int, error) {
	n := 0
	err := pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
		var params []river.InsertManyParams
		now := r.cfg.NowFunc().UTC()
		for _, d := range deliveries {
			if !d.Status.Redrivable() {
				continue
			}
			_, err := r.store.AppendStreamTx(ctx, tx, string(d.ID), domain.DeliveryStreamType, d.Version, nil, domain.DeliveryRedriven{At: now})
			if errors.Is(err, domain.ErrVersionConflict) {
				return fmt.Errorf("delivery %s changed during redrive, try again: %w", d.ID, err)
			}
			if err != nil {
				return err
			}
			params = append(params, river.InsertManyParams{Args: DeliverArgs{
				DeliveryID: d.ID, WebhookID: d.WebhookID, EventID: d.EventID, EventType: d.EventType,
				Attempt: d.Attempts + 1, Try: 1,
			}})
		}
		if len(params) == 0 {
			return nil
		}
		if _, err := r.workers.InsertManyTx(ctx, tx, params); err != nil {
			return fmt.Errorf("insert redrive jobs: %w", err)
		}
		n = len(params)
		return nil
	})
	return n, err
}

// wakeWebhook makes the snoozed jobs of a webhook runnable now. River has
// no API to reschedule by argument, so this updates its job table directly:
// only snoozed jobs of this webhook (never running ones, and not retries
// scheduled by the retry policy, which have never been snoozed).
const wakeWebhook = `UPDATE river_job SET scheduled_at = now()
	WHERE state = 'scheduled' AND kind = 'deliver' AND args->>'webhook_id' = $1
	  AND metadata ? 'snoozes' AND scheduled_at > now()`

// Wake runs a resumed webhook's held deliveries now instead of at their
// next recheck. It returns how many jobs it woke.
func (r *Relay) Wake(ctx context.Context, id domain.WebhookID) (int64, error) {
	tag, err := r.pool.Exec(ctx, wakeWebhook, string(id))
	if err != nil {
		return 0, fmt.Errorf("wake deliveries of %s: %w", id, err)
	}
	return tag.RowsAffected(), nil
}

func isNoRows(err error) bool { return errors.Is(err, pgx.ErrNoRows) }
