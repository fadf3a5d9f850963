package telemetry

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel/metric"
)

// Leader elects, among the processes sharing a database schema, the one
// that gathers database-wide metrics, so that each gauge has one source
// and the database answers the queries once per scrape, not once per
// process. The leader holds a session advisory lock on a connection of
// its own; when its process or connection dies, PostgreSQL releases the
// lock and the next process that asks takes it over. Safe for concurrent
// use.
type Leader struct {
	pool   *pgxpool.Pool
	logger *slog.Logger
	mu     sync.Mutex
	conn   *pgx.Conn // nil until acquired, and after a failure
	held   bool
}

const (
	tryLeaderSQL = `SELECT pg_try_advisory_lock(hashtext('lokihooks.metrics:' || current_schema()))`
	unlockSQL    = `SELECT pg_advisory_unlock(hashtext('lokihooks.metrics:' || current_schema()))`
	pingSQL      = `SELECT 1`
)

// NewLeader returns a Leader drawing its connection from pool. Close
// releases it.
func NewLeader(pool *pgxpool.Pool, logger *slog.Logger) *Leader {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Leader{pool: pool, logger: logger}
}

// Lead reports whether this process is the leader, trying to become it
// if it is not, and checking that the leader's connection is alive.
func (l *Leader) Lead(ctx context.Context) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conn == nil {
		c, err := l.pool.Acquire(ctx)
		if err != nil {
			return false
		}
		l.conn = c.Hijack()
	}
	var err error
	if l.held {
		_, err = l.conn.Exec(ctx, pingSQL)
	} else {
		err = l.conn.QueryRow(ctx, tryLeaderSQL).Scan(&l.held)
		if err == nil && l.held {
			l.logger.InfoContext(ctx, "gathering database-wide metrics (leader)")
		}
	}
	if err != nil {
		l.drop(ctx)
		return false
	}
	return l.held
}

func (l *Leader) drop(ctx context.Context) {
	if l.held {
		l.logger.WarnContext(ctx, "lost the metrics leadership; another process takes it over")
	}
	_ = l.conn.Close(context.WithoutCancel(ctx))
	l.conn, l.held = nil, false
}

// Close gives the leadership up (at once, so another process can take it
// at its next collection) and closes the connection.
func (l *Leader) Close(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conn == nil {
		return nil
	}
	var err error
	if l.held {
		_, err = l.conn.Exec(ctx, unlockSQL)
	}
	err = errors.Join(err, l.conn.Close(ctx))
	l.conn, l.held = nil, false
	return err
}

// Defaults of GaugesConfig.
const (
	DefaultGaugeTimeout = 5 * time.Second
	DefaultGaugeMaxAge  = 5 * time.Second
)

// GaugesConfig configures RegisterGauges. Zero values mean the defaults.
type GaugesConfig struct {
	// Timeout bounds one reading of the database (default 5s).
	Timeout time.Duration
	// MaxAge is how long one reading serves further collections (default
	// 5s): two readers (Prometheus and OTLP) or frequent scrapes cost one
	// reading.
	MaxAge time.Duration
	// Logger (default: discard).
	Logger *slog.Logger
}

// gauges reads the status for the observable gauges.
type gauges struct {
	db     Querier
	leader interface{ Lead(context.Context) bool }
	cfg    GaugesConfig
	mu     sync.Mutex
	last   *Status
	lastAt time.Time
}

// RegisterGauges registers the database-wide gauges of Catalog on mp,
// read from db by the process that leader elects (others report only
// lokihooks.telemetry.leader = 0). leader may be nil: this process then
// always reports them (tests, a single process).
func RegisterGauges(mp metric.MeterProvider, db Querier, leader *Leader, cfg GaugesConfig) (metric.Registration, error) {
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultGaugeTimeout
	}
	if cfg.MaxAge == 0 {
		cfg.MaxAge = DefaultGaugeMaxAge
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	g := &gauges{db: db, cfg: cfg}
	if leader != nil {
		g.leader = leader
	}
	m := mp.Meter(ScopeName)
	var errs []error
	gauge := func(name, unit, desc string) metric.Float64ObservableGauge {
		opts := []metric.Float64ObservableGaugeOption{metric.WithDescription(desc)}
		if unit != "" {
			opts = append(opts, metric.WithUnit(unit))
		}
		o, err := m.Float64ObservableGauge(name, opts...)
		errs = append(errs, err)
		return o
	}
	var (
		outboxLag  = gauge(MetricOutboxLag, "{event}", "Outbox events the fan-out has not consumed yet.")
		outboxAge  = gauge(MetricOutboxAge, "s", "Age of the oldest outbox event the fan-out has not consumed.")
		projLag    = gauge(MetricProjectionLag, "{event}", "Events of the log a projection has not applied yet.")
		projAge    = gauge(MetricProjectionAge, "s", "Age of the oldest event a projection has not applied.")
		jobs       = gauge(MetricJobs, "{job}", "River jobs by kind and state.")
		breakers   = gauge(MetricBreakersOpen, "{breaker}", "Circuit breakers that hold deliveries.")
		dests      = gauge(MetricDestinations, "{destination}", "Webhooks and integrations that are not deleted.")
		failing    = gauge(MetricFailing, "{destination}", "Destinations whose latest attempt failed.")
		xmin       = gauge(MetricXminHolderAge, "s", "Age of the oldest transaction holding a transaction id (it pauses the outbox).")
		leaderFlag = gauge(MetricLeader, "", "1 in the process that gathers the database-wide gauges.")
	)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return m.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		s, lead := g.read(ctx)
		o.ObserveFloat64(leaderFlag, boolFloat(lead))
		if s == nil {
			return nil
		}
		o.ObserveFloat64(outboxLag, float64(s.Outbox.Events))
		o.ObserveFloat64(outboxAge, s.Outbox.OldestAge.Seconds())
		for _, p := range s.Projections {
			a := metric.WithAttributes(AttrProjection.String(p.Name))
			o.ObserveFloat64(projLag, float64(p.Events), a)
			o.ObserveFloat64(projAge, p.OldestAge.Seconds(), a)
		}
		for _, j := range s.Jobs {
			o.ObserveFloat64(jobs, float64(j.Count), metric.WithAttributes(AttrJobKind.String(j.Kind), AttrJobState.String(j.State)))
		}
		for _, b := range s.Breakers {
			o.ObserveFloat64(breakers, float64(b.Count), metric.WithAttributes(AttrDestinationKind.String(b.Kind), AttrBreakerState.String(b.State)))
		}
		for _, d := range s.Destinations {
			o.ObserveFloat64(dests, float64(d.Count), metric.WithAttributes(AttrDestinationKind.String(d.Kind), AttrDestinationStatus.String(d.Status)))
		}
		for kind, n := range s.FailingCount {
			o.ObserveFloat64(failing, float64(n), metric.WithAttributes(AttrDestinationKind.String(kind)))
		}
		if h := s.XminHolder; h != nil {
			o.ObserveFloat64(xmin, h.Age.Seconds(), metric.WithAttributes(AttrApplicationName.String(h.ApplicationName)))
		} else {
			o.ObserveFloat64(xmin, 0, metric.WithAttributes(AttrApplicationName.String("")))
		}
		return nil
	}, outboxLag, outboxAge, projLag, projAge, jobs, breakers, dests, failing, xmin, leaderFlag)
}

// read returns the status for this collection (nil when this process is
// not the leader or the reading failed) and whether it leads.
func (g *gauges) read(ctx context.Context) (*Status, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.last != nil && time.Since(g.lastAt) < g.cfg.MaxAge {
		return g.last, true
	}
	ctx, cancel := context.WithTimeout(ctx, g.cfg.Timeout)
	defer cancel()
	if g.leader != nil && !g.leader.Lead(ctx) {
		g.last = nil
		return nil, false
	}
	s, err := ReadStatus(ctx, g.db)
	if err != nil {
		g.cfg.Logger.WarnContext(ctx, "reading the database-wide metrics failed", "error", err)
		return nil, true
	}
	g.last, g.lastAt = s, time.Now()
	return s, true
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
