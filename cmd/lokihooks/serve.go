package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"golang.org/x/sync/errgroup"

	"github.com/loki-interceptor/lokihooks/connectors"
	"github.com/loki-interceptor/lokihooks/domain"
	"github.com/loki-interceptor/lokihooks/eventstore"
	"github.com/loki-interceptor/lokihooks/httpapi"
	"github.com/loki-interceptor/lokihooks/internal/app"
	"github.com/loki-interceptor/lokihooks/internal/telemetry"
	"github.com/loki-interceptor/lokihooks/migrations"
	"github.com/loki-interceptor/lokihooks/projections"
	"github.com/loki-interceptor/lokihooks/relay"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// Roles a serve process can take.
const (
	roleAPI       = "api"
	roleRelay     = "relay"
	roleWorker    = "worker"
	roleProjector = "projector"
)

var allRoles = []string{roleAPI, roleRelay, roleWorker, roleProjector}

func parseRoles(s string) ([]string, error) {
	var out []string
	for _, r := range strings.Split(s, ",") {
		r = strings.TrimSpace(r)
		if r == "" {
			continue
		}
		if !slices.Contains(allRoles, r) {
			return nil, fmt.Errorf("unknown role %q (roles: %s)", r, strings.Join(allRoles, ","))
		}
		if !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("--roles must name at least one role (api, relay, worker, projector)")
	}
	return out, nil
}

// serveOpts are the flags of `lokihooks serve`.
type serveOpts struct {
	roles string // comma-separated roles
}

func serve(ctx context.Context, o serveOpts, getenv func(string) string, stdout, stderr io.Writer) error {
	roles, err := parseRoles(o.roles)
	if err != nil {
		return err
	}
	cfg, err := loadConfigFor(getenv, slices.Contains(roles, roleAPI),
		slices.Contains(roles, roleAPI) || slices.Contains(roles, roleWorker))
	if err != nil {
		return configError(err)
	}
	logger := newLogger(stderr, cfg)
	tel, err := setupTelemetry(ctx, getenv)
	if err != nil {
		return err
	}
	defer func() {
		if err := tel.shutdown(context.WithoutCancel(ctx)); err != nil {
			logger.Warn("flush telemetry", "error", err)
		}
	}()

	pool, err := openPool(ctx, cfg.DatabaseURL, cfg.Workers)
	if err != nil {
		return err
	}
	defer pool.Close()
	if _, err := migrations.Up(ctx, pool); err != nil {
		return err
	}
	sys, err := build(pool, cfg, roles, logger, tel)
	if err != nil {
		return err
	}
	defer sys.db.Close()
	leader := telemetry.NewLeader(pool, logger.With("component", "telemetry"))
	defer func() { _ = leader.Close(context.WithoutCancel(ctx)) }()
	if _, err := telemetry.RegisterGauges(tel.meters, pool, leader, telemetry.GaugesConfig{Logger: logger.With("component", "telemetry")}); err != nil {
		return err
	}

	var ln net.Listener
	_, serverCfg := cfg.apiLimits()
	if slices.Contains(roles, roleAPI) {
		if ln, err = net.Listen("tcp", cfg.Addr); err != nil {
			return listenError(cfg.Addr, err)
		}
		ln = httpapi.LimitListener(ln, serverCfg)
	}
	var metricsLn net.Listener
	if cfg.MetricsAddr != "" && tel.handler != nil {
		if metricsLn, err = net.Listen("tcp", cfg.MetricsAddr); err != nil {
			return listenErrorFor(envMetricsAddr, cfg.MetricsAddr, err)
		}
	}
	if cfg.AllowHTTP || len(cfg.AllowedNetworks) > 0 {
		logger.Warn("development settings in effect: never use them in production",
			"allow_http", cfg.AllowHTTP, "allowed_networks", cfg.AllowedNetworks)
	}

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return sys.relay.Run(gctx) })
	for _, p := range sys.projections() {
		g.Go(func() error { return runProjection(gctx, pool, p, logger) })
	}
	if ln != nil {
		handler := otelhttp.NewHandler(sys.api, "lokihooks-api", otelhttp.WithMeterProvider(tel.meters),
			otelhttp.WithFilter(func(r *http.Request) bool {
				return r.URL.Path != "/healthz" && r.URL.Path != "/readyz"
			}))
		if tel.handler != nil && metricsLn == nil {
			handler = withMetrics(handler, tel.handler)
		}
		srv := httpapi.NewServer(handler, serverCfg)
		base := "http://" + ln.Addr().String()
		fmt.Fprintf(stdout, "lokihooks %s serving (roles %s)\n  API:       %s/api/v1\n  dashboard: %s/ui/\n  docs:      %s/docs\n  spec:      %s/openapi.json\n  API key:   one of the %d keys in %s (send Authorization: Bearer <key>)\n",
			version, strings.Join(roles, ","), base, base, base, base, len(cfg.APIKeys), envAPIKeys)
		if tel.handler != nil && metricsLn == nil {
			fmt.Fprintf(stdout, "  metrics:   %s/metrics\n", base)
		}
		serveHTTP(ctx, gctx, g, srv, ln, cfg.ShutdownTimeout)
	} else {
		fmt.Fprintf(stdout, "lokihooks %s running (roles %s)\n", version, strings.Join(roles, ","))
	}
	if metricsLn != nil {
		// The probes too, so that a process without the api role can be
		// probed where it is scraped.
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", tel.handler)
		mux.Handle("GET /healthz", sys.api)
		mux.Handle("GET /readyz", sys.api)
		fmt.Fprintf(stdout, "  metrics:   http://%s/metrics\n", metricsLn.Addr())
		serveHTTP(ctx, gctx, g, httpapi.NewServer(mux, serverCfg), metricsLn, cfg.ShutdownTimeout)
	}
	logger.Info("started", "roles", roles, "config", cfg.String())
	err = g.Wait()
	logger.Info("stopped")
	return err
}

// serveHTTP serves srv on ln in g until gctx ends, then shuts it down,
// giving requests shutdownTimeout to finish.
func serveHTTP(ctx, gctx context.Context, g *errgroup.Group, srv *http.Server, ln net.Listener, shutdownTimeout time.Duration) {
	g.Go(func() error {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	g.Go(func() error {
		<-gctx.Done()
		shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
		defer cancel()
		return srv.Shutdown(shutdownCtx)
	})
}

// withMetrics serves GET /metrics from metrics, without an API key, and
// everything else from api.
func withMetrics(api, metrics http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metrics)
	mux.Handle("/", api)
	return mux
}

// The analytics runner's pace: at least this long between batches once
// caught up, and at most this many events per batch.
const (
	analyticsInterval = time.Second
	analyticsBatch    = 5000
)

// system is everything serve runs, wired.
type system struct {
	db        interface{ Close() error }
	relay     *relay.Relay
	projector *projections.Runner // deliveries
	analytics *projections.Runner
	webhooks  *app.Webhooks
	api       http.Handler
}

// build wires the system; tel, when not nil, supplies the metrics.
func build(pool *pgxpool.Pool, cfg config, roles []string, logger *slog.Logger, tel *telemetrySetup) (*system, error) {
	var observer relay.Observer
	var violation app.SchemaViolationFunc
	if tel != nil {
		observer, violation = tel.metrics, tel.metrics.SchemaViolation
	}
	// With workers in this process, the projection runners are woken by
	// the deliveries they record, and otherwise look at the log only every
	// projectionIdleCeiling (a process without workers keeps the runners'
	// default of a second).
	var wakes [2]chan struct{}
	idleCeiling := time.Duration(0)
	if slices.Contains(roles, roleProjector) && slices.Contains(roles, roleWorker) {
		wakes = [2]chan struct{}{make(chan struct{}, 1), make(chan struct{}, 1)}
		observer = wakeOnRecord{next: observer, wakes: wakes[:]}
		idleCeiling = projectionIdleCeiling
	}
	events := eventstore.New(pool, eventstore.Config{Logger: logger, Inline: []eventstore.InlineProjector{
		{StreamTypes: []string{domain.WebhookStreamType}, Project: projections.Webhooks{}.Project},
		{StreamTypes: []string{domain.IntegrationStreamType}, Project: projections.Integrations{}.Project},
		{StreamTypes: []string{domain.BreakerStreamType}, Project: projections.Breakers{}.Project},
	}})
	db := stdlib.OpenDBFromPool(pool)
	sender := newSender(pool, cfg, logger)
	appCfg := app.Config{Secrets: cfg.Secrets, Validation: domain.ValidationOpts{AllowHTTP: cfg.AllowHTTP}, Logger: logger}
	rl, err := relay.New(pool, db, relay.Deps{
		Log: events, Subscribers: projections.Subscribers{}, Destinations: app.NewDestinations(pool, events, appCfg),
		Sender:       sender,
		EventChecker: app.NewSchemaCheck(app.SchemaCheckConfig{Logger: logger, ViolationFunc: violation}),
		Observer:     observer,
	}, relay.Config{
		Fanout: slices.Contains(roles, roleRelay), Work: slices.Contains(roles, roleWorker),
		Workers: cfg.Workers, FanoutConfig: relay.FanoutConfig{PollInterval: cfg.PollInterval, PollFallback: cfg.PollFallback},
		FetchPollInterval: cfg.FetchFallback,
		RescueAfter:       cfg.RescueAfter, ShutdownTimeout: cfg.ShutdownTimeout, Logger: logger,
		WorkerID: workerID(cfg), HeartbeatInterval: cfg.HeartbeatInterval,
		Breaker: relay.BreakerConfig{
			Disabled: cfg.BreakerDisabled, Policy: domain.BreakerPolicy{CoolDown: cfg.BreakerCoolDown},
			DeactivateAfter: cfg.DeactivateAfter,
		},
		Retention: cfg.Retention,
	})
	if err != nil {
		return nil, err
	}
	sys := &system{db: db, relay: rl, webhooks: app.NewWebhooks(pool, events, rl, sender, appCfg)}
	integrations := app.NewIntegrations(pool, events, rl, sender, appCfg)
	if slices.Contains(roles, roleProjector) {
		sys.projector, err = projections.NewRunner(pool, projections.RunnerConfig{
			Name: "deliveries", Projector: projections.Deliveries{}, Read: readLog, Settle: cfg.ProjectionSettle,
			Reset: projections.Deliveries{}.Reset, PollInterval: cfg.ProjectionInterval, Logger: logger,
			Wake: wakes[0], IdleCeiling: idleCeiling,
		})
		if err != nil {
			return nil, err
		}
		sys.analytics, err = projections.NewRunner(pool, projections.RunnerConfig{
			Name: "analytics", Projector: projections.Analytics{First: readFirst, Cache: projections.NewDestinationCache(0)}, Read: readLogLean,
			// Analytics may lag a second: fewer, larger batches cost the
			// pipeline less.
			Reset: projections.Analytics{}.Reset, PollInterval: max(cfg.ProjectionInterval, analyticsInterval),
			BatchSize: analyticsBatch, Logger: logger, Wake: wakes[1], IdleCeiling: idleCeiling,
		})
		if err != nil {
			return nil, err
		}
	}
	rate, _ := cfg.apiLimits()
	sys.api = httpapi.New(httpapi.Deps{
		Webhooks:     sys.webhooks,
		Events:       app.NewEvents(pool, appCfg),
		Deliveries:   app.NewDeliveries(pool, rl),
		Readiness:    readiness{pool: pool, maxOutboxLag: cfg.ReadyMaxOutboxLag},
		Integrations: integrations,
		Analytics:    app.NewAnalytics(pool),
		History:      sys.webhooks,
		Status:       apiStatus{db: pool},
	}, httpapi.Config{APIKeys: cfg.APIKeys, Version: version, Logger: logger, RateLimit: rate})
	return sys, nil
}

// projectionIdleCeiling is how often an idle projection runner looks at
// the log when the workers of its process wake it.
const projectionIdleCeiling = 5 * time.Second

// wakeOnRecord is the relay's Observer that also wakes the projection
// runners (without waiting) whenever the workers recorded a delivery event.
type wakeOnRecord struct {
	next  relay.Observer // may be nil
	wakes []chan struct{}
}

func (w wakeOnRecord) DeliveryRecorded(ctx context.Context, kind domain.DestinationKind, ev domain.Event, published time.Time) {
	if w.next != nil {
		w.next.DeliveryRecorded(ctx, kind, ev, published)
	}
	for _, c := range w.wakes {
		select {
		case c <- struct{}{}:
		default:
		}
	}
}

func (w wakeOnRecord) BreakerChanged(ctx context.Context, events []domain.Event) {
	if w.next != nil {
		w.next.BreakerChanged(ctx, events)
	}
}

// workerID is the configured worker id, or the host name followed by
// -worker.
func workerID(cfg config) string {
	if cfg.WorkerID != "" {
		return cfg.WorkerID
	}
	return relay.DefaultWorkerID() + workerIDSuffix
}

// newSender is the connector of every destination kind: the signed webhook
// sender and the four integration connectors, all through the SSRF guard
// (the SMTP dialer too), with Slack threads kept in PostgreSQL.
func newSender(pool *pgxpool.Pool, cfg config, logger *slog.Logger) *connectors.Mux {
	guard := connectors.ClientConfig{AllowHTTP: cfg.AllowHTTP, AllowedNetworks: cfg.AllowedNetworks, MaxIdleConnsPerHost: cfg.Workers}
	client := connectors.NewClient(guard)
	ua := "lokihooks/" + version
	return connectors.NewMux(map[domain.DestinationKind]connectors.Sender{
		domain.KindWebhook: connectors.NewWebhook(client, connectors.WebhookConfig{HTTPConfig: connectors.HTTPConfig{UserAgent: ua}}),
		domain.KindSlack: connectors.NewSlack(client, relay.NewSlackThreads(pool), connectors.SlackConfig{
			HTTPConfig: connectors.HTTPConfig{UserAgent: ua}, Logger: logger.With("component", "slack"),
		}),
		domain.KindTeams:  connectors.NewTeams(client, connectors.TeamsConfig{HTTPConfig: connectors.HTTPConfig{UserAgent: ua}}),
		domain.KindEmail:  connectors.NewEmail(connectors.NewSMTPDialer(guard), connectors.EmailConfig{}),
		domain.KindZapier: connectors.NewZapier(client, connectors.ZapierConfig{HTTPConfig: connectors.HTTPConfig{UserAgent: ua}}),
	})
}

// readLog feeds the event log to projections.
func readLog(ctx context.Context, q projections.DB, after domain.LogPosition, limit int) ([]domain.Recorded, error) {
	return eventstore.ReadLog(ctx, q, after, limit)
}

// readiness reports the database reachable, its schema current and, when
// maxOutboxLag is set, the oldest event the fan-out has not consumed
// younger than it.
type readiness struct {
	pool         *pgxpool.Pool
	maxOutboxLag time.Duration
}

func (r readiness) Ready(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := r.pool.Ping(ctx); err != nil {
		return errors.New("database unreachable")
	}
	if err := migrations.Check(ctx, r.pool); err != nil {
		return err
	}
	if r.maxOutboxLag <= 0 {
		return nil
	}
	lag, err := telemetry.ReadOutboxLag(ctx, r.pool)
	if err != nil {
		return errors.New("outbox lag unknown")
	}
	if lag.OldestAge > r.maxOutboxLag {
		return fmt.Errorf("outbox lag %s (%d events) exceeds %s %s", lag.OldestAge.Round(time.Second), lag.Events, envReadyMaxOutboxLag, r.maxOutboxLag)
	}
	return nil
}

// projection is a log projection serve runs: its runner and definition.
type projection struct {
	runner *projections.Runner
	def    projections.Definition
}

// projections lists the log projections of the projector role.
func (s *system) projections() []projection {
	if s.projector == nil {
		return nil
	}
	return []projection{{s.projector, definition("deliveries")}, {s.analytics, definition("analytics")}}
}

// runProjection rebuilds a projection into shadow tables when its stored
// definition version is not the binary's, then runs it.
func runProjection(ctx context.Context, pool *pgxpool.Pool, p projection, logger *slog.Logger) error {
	rebuilt, err := projections.EnsureVersion(ctx, pool, p.def, projections.RebuildConfig{Read: readLog, Logger: logger})
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	if rebuilt {
		logger.InfoContext(ctx, "projection rebuilt for its new definition", "projection", p.def.Name, "version", p.def.Version)
	}
	return p.runner.Run(ctx)
}
