package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"runtime/pprof"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/sync/errgroup"

	"github.com/loki-interceptor/lokihooks/domain"
	"github.com/loki-interceptor/lokihooks/internal/app"
	"github.com/loki-interceptor/lokihooks/internal/secretbox"
	"github.com/loki-interceptor/lokihooks/migrations"
)

// Ingest paths of `lokihooks bench`.
const (
	ingestSQL  = "sql"  // lokihooks_publish in the producer's transactions
	ingestHTTP = "http" // POST /api/v1/events, one event per request
)

// benchEventType is the event type bench publishes.
const benchEventType = "validation.completed"

// benchOpts are the flags of `lokihooks bench`.
type benchOpts struct {
	events      int
	webhooks    int
	batch       int // events per transaction (-tx-size)
	rate        int
	clients     int
	ingest      string
	idle        time.Duration
	workers     int
	backlog     bool
	keep        bool
	noProjector bool
	noAnalytics bool
	timeout     time.Duration
	poll        time.Duration
	cpuProfile  string // write a CPU profile of the run here
	telemetry   bool   // trace at 100 % and keep metrics, as production does
	// scrapeInterval is how often --telemetry scrapes /metrics.
	scrapeInterval time.Duration
}

func (o benchOpts) validate() error {
	switch {
	case o.events < 1 || o.webhooks < 1 || o.batch < 1 || o.workers < 1 || o.clients < 1:
		return errors.New("--events, --webhooks, --tx-size, --clients and --workers must be positive")
	case o.ingest != ingestSQL && o.ingest != ingestHTTP:
		return fmt.Errorf("--ingest must be %s or %s", ingestSQL, ingestHTTP)
	case o.telemetry && o.scrapeInterval <= 0:
		return errors.New("--scrape-interval must be positive")
	case o.backlog && (o.rate > 0 || o.idle > 0):
		return errors.New("--backlog does not go with --rate or --idle")
	}
	return nil
}

// benchRun is one bench run's shared state.
type benchRun struct {
	o      benchOpts
	stdout io.Writer
	schema string
	url    string
	admin  *pgx.Conn
	pool   *pgxpool.Pool // lokihooks's own
	load   *pgxpool.Pool // the SQL producers'
	api    string        // base URL of the API (HTTP ingest)
	apiKey string

	mu      sync.Mutex
	commits map[string]time.Time // event id → commit (or 202 response) time
}

// bench measures the whole pipeline on this machine: a local receiver
// answering 200 at once, K webhooks, N events published through
// lokihooks_publish (in the given transactions, or through the API), and the
// relay, workers, API and projections running in this process against a
// fresh schema. With --idle it measures what the running roles cost when
// there is nothing to do.
func bench(ctx context.Context, o benchOpts, getenv func(string) string, stdout, stderr io.Writer) error {
	if err := o.validate(); err != nil {
		return err
	}
	if o.ingest == ingestHTTP || o.rate > 0 {
		o.batch = 1 // one event per request, or per paced transaction
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	cfg, err := loadConfig(getenv, false)
	if err != nil {
		return configError(err)
	}
	cfg.AllowHTTP, cfg.AllowedNetworks = true, []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	cfg.Workers, cfg.PollInterval = o.workers, o.poll
	cfg.APIRateLimit = 0
	var key [24]byte
	_, _ = rand.Read(key[:])
	cfg.APIKeys = []string{hex.EncodeToString(key[:])}
	if cfg.Secrets == nil { // encrypt as production does
		var key [secretbox.KeySize]byte
		_, _ = rand.Read(key[:])
		if cfg.Secrets, err = secretbox.New(key[:]); err != nil {
			return err
		}
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	r := &benchRun{o: o, stdout: stdout, apiKey: cfg.APIKeys[0], commits: make(map[string]time.Time, o.events)}

	rcv, err := startReceiver(o.events * o.webhooks)
	if err != nil {
		return err
	}
	defer rcv.close()
	cleanup, err := r.setup(ctx, cfg, rcv.url, logger)
	defer cleanup()
	if err != nil {
		return err
	}
	if o.idle > 0 {
		fmt.Fprintf(stdout, "bench: schema %s, idle for %s with every role running, workers=%d, telemetry=%t\n", r.schema, o.idle, o.workers, o.telemetry)
	} else {
		fmt.Fprintf(stdout, "bench: schema %s, ingest=%s, N=%d events, K=%d webhooks, tx-size=%d, clients=%d, rate=%d/s, workers=%d, backlog=%t, telemetry=%t\n",
			r.schema, o.ingest, o.events, o.webhooks, o.batch, o.clients, o.rate, o.workers, o.backlog, o.telemetry)
	}

	var tel *telemetrySetup
	if o.telemetry {
		var stopTelemetry func()
		if tel, stopTelemetry, err = benchTelemetry(ctx, r.pool, o.scrapeInterval, stdout); err != nil {
			return err
		}
		defer stopTelemetry()
	}
	sys, err := build(r.pool, cfg, []string{roleAPI, roleRelay, roleWorker, roleProjector}, logger, tel)
	if err != nil {
		return err
	}
	defer sys.db.Close()
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	g, gctx := errgroup.WithContext(runCtx)
	if o.ingest == ingestHTTP {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		srv := &http.Server{Handler: sys.api, ReadHeaderTimeout: 5 * time.Second}
		r.api = "http://" + ln.Addr().String()
		g.Go(func() error {
			if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		})
		g.Go(func() error { <-gctx.Done(); return srv.Close() })
	}
	startRelay := func() {
		g.Go(func() error { return sys.relay.Run(gctx) })
		if !o.noProjector {
			g.Go(func() error { return sys.projector.Run(gctx) })
		}
		if !o.noAnalytics {
			g.Go(func() error { return sys.analytics.Run(gctx) })
		}
	}
	finish := func() error {
		stop()
		err := g.Wait()
		r.pool.Close() // backends report their statistics as they exit
		if r.load != nil {
			r.load.Close()
		}
		r.waitBackendsGone(ctx)
		return err
	}

	if o.idle > 0 {
		startRelay()
		return r.measureIdle(ctx, finish)
	}

	if !o.backlog {
		startRelay()
		select {
		case <-sys.relay.FanoutRunning():
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	before, err := readCounters(ctx, r.admin, r.schema)
	if err != nil {
		return err
	}
	cpu, err := newCPUMeter(ctx, r.url)
	if err != nil {
		return err
	}
	defer cpu.close(ctx)
	cpuCtx, stopCPU := context.WithCancel(ctx)
	var cpuWG sync.WaitGroup
	cpuWG.Go(func() { cpu.run(cpuCtx) })
	defer func() { stopCPU(); cpuWG.Wait() }()

	pubStart := time.Now()
	if err := r.publish(ctx); err != nil {
		return err
	}
	pubDur := time.Since(pubStart)
	fmt.Fprintf(stdout, "published %d events in %s (%.0f events/s)\n", o.events, pubDur.Round(time.Millisecond), float64(o.events)/pubDur.Seconds())
	drainStart := time.Now()
	if o.backlog {
		startRelay()
	}
	select {
	case <-rcv.done:
	case <-ctx.Done():
		_ = finish()
		return fmt.Errorf("timed out with %d of %d deliveries received (a longer --timeout, or fewer --events)", rcv.count(), o.events*o.webhooks)
	}
	// Writes per event include recording the attempts and projecting them:
	// wait for the read model to show every delivery delivered.
	if !o.noProjector {
		r.waitProjected(ctx, o.events*o.webhooks)
	}
	self, backends := cpu.used(ctx)
	if err := finish(); err != nil {
		return err
	}
	after, err := readCounters(ctx, r.admin, r.schema)
	if err != nil {
		return err
	}
	start := pubStart
	if o.backlog {
		start = drainStart
	}
	r.report(rcv, start, pubStart.Add(pubDur))
	delivered := float64(o.events * o.webhooks)
	fmt.Fprintf(stdout, "CPU per delivered event: %.3f ms (this process %.3f ms, its database backends %.3f ms; the process includes the load generator and receiver)\n",
		msPer(self+backends, delivered), msPer(self, delivered), msPer(backends, delivered))
	fmt.Fprintf(stdout, "database connections of lokihooks: at most %d at once (sampled every second)\n", cpu.peakConns())
	return r.reportStorage(ctx, before, after, delivered)
}

func msPer(d time.Duration, n float64) float64 { return float64(d) / float64(time.Millisecond) / n }

// setup creates the schema, migrates it and registers the webhooks on a
// pool it then closes (so that setup's row writes are reported before the
// run), then opens the pools of the run.
func (r *benchRun) setup(ctx context.Context, cfg config, rcvURL string, logger *slog.Logger) (func(), error) {
	var b [4]byte
	_, _ = rand.Read(b[:])
	r.schema = "bench_" + hex.EncodeToString(b[:])
	r.url = cfg.DatabaseURL
	admin, err := pgx.Connect(ctx, cfg.DatabaseURL)
	if err != nil {
		return func() {}, fmt.Errorf("connect to database (%s; make db-up starts one): %w", envDatabaseURL, err)
	}
	r.admin = admin
	cleanup := func() {
		if r.pool != nil {
			r.pool.Close()
		}
		if r.load != nil {
			r.load.Close()
		}
		if !r.o.keep {
			_, _ = admin.Exec(context.WithoutCancel(ctx), "DROP SCHEMA "+r.schema+" CASCADE")
		}
		_ = admin.Close(context.WithoutCancel(ctx))
	}
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+r.schema); err != nil {
		return cleanup, fmt.Errorf("create schema: %w", err)
	}
	setupPool, err := r.newPool(ctx, cfg.DatabaseURL, "lokihooks-bench-setup", 4)
	if err != nil {
		return cleanup, err
	}
	defer setupPool.Close()
	if _, err := migrations.Up(ctx, setupPool); err != nil {
		return cleanup, err
	}
	sys, err := build(setupPool, cfg, []string{roleAPI}, logger, nil)
	if err != nil {
		return cleanup, err
	}
	defer sys.db.Close()
	if err := registerBenchWebhooks(ctx, sys.webhooks, rcvURL, r.o.webhooks); err != nil {
		return cleanup, err
	}
	if r.pool, err = r.newPool(ctx, cfg.DatabaseURL, benchAppName, benchPoolSize(cfg.DatabaseURL, r.o.workers)); err != nil {
		return cleanup, err
	}
	if r.o.ingest == ingestSQL {
		if r.load, err = r.newPool(ctx, cfg.DatabaseURL, "lokihooks-bench-load", int32(r.o.clients+1)); err != nil {
			return cleanup, err
		}
	}
	return cleanup, nil
}

// benchPoolSize is the size serve's pool would have.
func benchPoolSize(url string, workers int) int32 {
	if cfg, err := pgxpool.ParseConfig(url); err == nil && strings.Contains(url, "pool_max_conns") {
		return cfg.MaxConns
	}
	return poolSize(workers)
}

func (r *benchRun) newPool(ctx context.Context, url, app string, size int32) (*pgxpool.Pool, error) {
	pcfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, err
	}
	pcfg.ConnConfig.RuntimeParams["search_path"] = r.schema
	pcfg.ConnConfig.RuntimeParams["application_name"] = app
	pcfg.MaxConns = size
	return pgxpool.NewWithConfig(ctx, pcfg)
}

// waitBackendsGone waits (up to 10s) until the backends of the closed
// pools have exited, and so reported their statistics.
func (r *benchRun) waitBackendsGone(ctx context.Context) {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		var n int
		err := r.admin.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'lokihooks-bench%' AND datname = current_database()`).Scan(&n)
		if err != nil || n == 0 {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// waitProjected waits (up to 30s) until the deliveries read model shows n
// deliveries delivered.
func (r *benchRun) waitProjected(ctx context.Context, n int) {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		var got int
		err := r.admin.QueryRow(ctx, `SELECT count(*) FROM `+r.schema+`.deliveries WHERE status = 'delivered'`).Scan(&got)
		if err != nil || got >= n {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// idleSampleEvery is how often measureIdle lists the backends and reads
// their CPU time (a backend that exits between two looks loses what it
// used since the last).
const idleSampleEvery = 5 * time.Second

// measureIdle lets every role run for a warm-up, then measures CPU, WAL
// and row writes over o.idle.
func (r *benchRun) measureIdle(ctx context.Context, finish func() error) error {
	warmUp := min(5*time.Second, r.o.idle) // the roles' start-up work settles
	select {
	case <-time.After(warmUp):
	case <-ctx.Done():
		return ctx.Err()
	}
	before, err := readCounters(ctx, r.admin, r.schema)
	if err != nil {
		return err
	}
	var xmax0, xmax1 int64
	_ = r.admin.QueryRow(ctx, `SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint`).Scan(&xmax0)
	cpu, err := newCPUMeter(ctx, r.url)
	if err != nil {
		return err
	}
	defer cpu.close(ctx)
	start := time.Now()
	// An idle process's backends rarely come or go: a look every
	// idleSampleEvery keeps the meter's own work, which counts as this
	// process's CPU, small beside what it measures.
	tick := time.NewTicker(idleSampleEvery)
	defer tick.Stop()
	end := time.NewTimer(r.o.idle)
	defer end.Stop()
	for done := false; !done; {
		select {
		case <-tick.C:
			cpu.sample(ctx)
		case <-end.C:
			done = true
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	self, backends := cpu.used(ctx)
	walAfter, err := readCounters(ctx, r.admin, r.schema)
	if err != nil {
		return err
	}
	_ = r.admin.QueryRow(ctx, `SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint`).Scan(&xmax1)
	elapsed := time.Since(start)
	if err := finish(); err != nil {
		return err
	}
	after, err := readCounters(ctx, r.admin, r.schema)
	if err != nil {
		return err
	}
	after.lsn = walAfter.lsn // the WAL of the measured span only, not of the shutdown
	wal, rows, tables, err := diffCounters(ctx, r.admin, before, after)
	if err != nil {
		return err
	}
	sec := elapsed.Seconds()
	fmt.Fprintf(r.stdout, "idle %s: %.4f cores (this process %.4f, its database backends %.4f)\n",
		elapsed.Round(time.Millisecond), (self+backends).Seconds()/sec, self.Seconds()/sec, backends.Seconds()/sec)
	fmt.Fprintf(r.stdout, "idle WAL: %.0f B/s (whole cluster: anything else writing counts too; pg_waldump -s %s -e %s shows it); xids: %.1f/s (whole cluster)\n",
		float64(wal)/sec, before.lsn, after.lsn, float64(xmax1-xmax0)/sec)
	fmt.Fprintf(r.stdout, "idle row writes: %.2f/s [%s]\n", float64(rows)/sec, formatTables(tables, 0))
	return nil
}

// reportStorage prints row writes and WAL per delivered event.
func (r *benchRun) reportStorage(ctx context.Context, before, after dbCounters, delivered float64) error {
	wal, rows, tables, err := diffCounters(ctx, r.admin, before, after)
	if err != nil {
		return err
	}
	fmt.Fprintf(r.stdout, "row writes per event: %.2f [%s]\n", float64(rows)/delivered, formatTables(tables, delivered))
	fmt.Fprintf(r.stdout, "WAL per event: %.0f B (whole cluster)\n", float64(wal)/delivered)
	return nil
}

func registerBenchWebhooks(ctx context.Context, hooks *app.Webhooks, url string, k int) error {
	for i := range k {
		spec := domain.DefaultWebhookSpec()
		spec.Name, spec.URL, spec.EventTypes = fmt.Sprintf("bench-%d", i), fmt.Sprintf("%s/hook/%d", url, i), []string{"*"}
		if _, err := hooks.CreateWebhook(ctx, spec, ""); err != nil {
			return fmt.Errorf("register webhook: %w", err)
		}
	}
	return nil
}

// benchData is event data of the shape LOKI services send (tests publish
// it too).
const benchData = `{"source_id":"val_123","document_id":"doc_456","validation_status":"pass","gates_passed":8,"gates_failed":0,"issues":[],"processing_time_ms":523.45}`

// benchExample is the data of every event bench publishes: the event
// type's catalog example, which its schema check accepts.
func benchExample() (json.RawMessage, error) {
	info, err := domain.LookupEventType(benchEventType)
	if err != nil {
		return nil, err
	}
	return info.Example, nil
}

// publish publishes the events: paced (one per transaction) with --rate,
// else as fast as --clients publishers can.
func (r *benchRun) publish(ctx context.Context) error {
	data, err := benchExample()
	if err != nil {
		return err
	}
	one := r.publishSQL
	if r.o.ingest == ingestHTTP {
		client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: r.o.clients}}
		defer client.CloseIdleConnections()
		one = func(ctx context.Context, data json.RawMessage, _ int) (int, error) {
			return 1, r.publishHTTP(ctx, client, data)
		}
	}
	if r.o.rate > 0 {
		tick := time.NewTicker(time.Second / time.Duration(r.o.rate))
		defer tick.Stop()
		for published := 0; published < r.o.events; published++ {
			select {
			case <-tick.C:
			case <-ctx.Done():
				return ctx.Err()
			}
			if _, err := one(ctx, data, 1); err != nil {
				return err
			}
		}
		return nil
	}
	var next atomic.Int64
	g, gctx := errgroup.WithContext(ctx)
	for range r.o.clients {
		g.Go(func() error {
			for {
				n := int(min(int64(r.o.batch), int64(r.o.events)-next.Add(int64(r.o.batch))+int64(r.o.batch)))
				if n <= 0 {
					return nil
				}
				if _, err := one(gctx, data, n); err != nil {
					return err
				}
			}
		})
	}
	return g.Wait()
}

// publishSQL publishes n events in one transaction.
func (r *benchRun) publishSQL(ctx context.Context, data json.RawMessage, n int) (int, error) {
	var ids []string
	err := pgx.BeginFunc(ctx, r.load, func(tx pgx.Tx) error {
		var err error
		if n == 1 {
			var id string
			err = tx.QueryRow(ctx, `SELECT lokihooks_publish($1, $2::jsonb)`, benchEventType, data).Scan(&id)
			ids = []string{id}
			return err
		}
		rows, err := tx.Query(ctx, `SELECT lokihooks_publish($1, $2::jsonb) FROM generate_series(1, $3)`, benchEventType, data, n)
		if err != nil {
			return err
		}
		ids, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("publish: %w", err)
	}
	r.committed(ids...)
	return n, nil
}

// publishHTTP publishes one event through the API.
func (r *benchRun) publishHTTP(ctx context.Context, client *http.Client, data json.RawMessage) error {
	body, _ := json.Marshal(map[string]any{"type": benchEventType, "data": data})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.api+"/api/v1/events", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+r.apiKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	defer resp.Body.Close()
	var out struct {
		ID string `json:"id"`
	}
	if resp.StatusCode != http.StatusAccepted {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
		return fmt.Errorf("publish: %s: %s", resp.Status, b)
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return fmt.Errorf("publish: decode response: %w", err)
	}
	r.committed(out.ID)
	return nil
}

func (r *benchRun) committed(ids ...string) {
	at := time.Now()
	r.mu.Lock()
	for _, id := range ids {
		r.commits[id] = at
	}
	r.mu.Unlock()
}

type benchKey struct{ eventID, path string }

// receiver counts first receipts per (event, webhook).
type receiver struct {
	url   string
	srv   *http.Server
	mu    sync.Mutex
	seen  map[benchKey]time.Time // first receipt of each (event, webhook)
	dups  int
	want  int
	done  chan struct{}
	first time.Time
}

func startReceiver(want int) (*receiver, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r := &receiver{url: "http://" + ln.Addr().String(), seen: make(map[benchKey]time.Time, want), want: want, done: make(chan struct{})}
	r.srv = &http.Server{Handler: http.HandlerFunc(r.serve), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = r.srv.Serve(ln) }()
	return r, nil
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	_, _ = io.Copy(io.Discard, req.Body)
	now := time.Now()
	key := benchKey{eventID: req.Header.Get("webhook-id"), path: req.URL.Path}
	r.mu.Lock()
	if _, ok := r.seen[key]; ok {
		r.dups++
	} else {
		if len(r.seen) == 0 {
			r.first = now
		}
		r.seen[key] = now
		if len(r.seen) == r.want {
			close(r.done)
		}
	}
	r.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

func (r *receiver) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.seen)
}

func (r *receiver) close() { _ = r.srv.Close() }

// report prints throughput (over the whole span and steady: between the
// 10th and 90th percentile receipts), the per-second delivered vs ingested
// series and the latency from commit (or the API's 202) to first receipt.
func (r *benchRun) report(rcv *receiver, start, ingestEnd time.Time) {
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	r.mu.Lock()
	defer r.mu.Unlock()
	w, o := r.stdout, r.o
	lat := make([]time.Duration, 0, len(rcv.seen))
	times := make([]time.Time, 0, len(rcv.seen))
	for key, at := range rcv.seen {
		times = append(times, at)
		if c, ok := r.commits[key.eventID]; ok {
			lat = append(lat, at.Sub(c))
		}
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	sort.Slice(times, func(i, j int) bool { return times[i].Before(times[j]) })
	n := len(times)
	last := times[n-1]
	elapsed := last.Sub(start)
	fmt.Fprintf(w, "delivered %d (duplicates %d) in %s: %.0f deliveries/s over the whole span\n",
		n, rcv.dups, elapsed.Round(time.Millisecond), float64(n)/elapsed.Seconds())
	if i10, i90 := n/10, n*9/10; i90 > i10 {
		fmt.Fprintf(w, "steady (10th to 90th percentile receipt): %.0f deliveries/s\n",
			float64(i90-i10)/times[i90].Sub(times[i10]).Seconds())
	}
	if o.backlog {
		// Drain rate per fifth of the backlog: flat when a poll costs the
		// same whatever the backlog left.
		fmt.Fprint(w, "drain rate per fifth of the backlog (deliveries/s):")
		prev := start
		for i := 1; i <= 5; i++ {
			end := times[n*i/5-1]
			fmt.Fprintf(w, " %.0f", float64(n/5)/end.Sub(prev).Seconds())
			prev = end
		}
		fmt.Fprintln(w)
		return
	}
	r.reportSeries(times, start, ingestEnd)
	if len(lat) > 0 {
		fmt.Fprintf(w, "publish→receipt latency: p50 %s  p95 %s  p99 %s  max %s\n",
			pct(lat, 50), pct(lat, 95), pct(lat, 99), lat[len(lat)-1].Round(100*time.Microsecond))
	}
}

// reportSeries prints per second of the run the events ingested and the
// deliveries received, and the smallest delivered/ingested ratio over the
// whole seconds of ingest.
func (r *benchRun) reportSeries(receipts []time.Time, start, ingestEnd time.Time) {
	secs := int(receipts[len(receipts)-1].Sub(start)/time.Second) + 1
	ingested, delivered := make([]int, secs), make([]int, secs)
	for _, c := range r.commits {
		if s := int(c.Sub(start) / time.Second); s >= 0 && s < secs {
			ingested[s]++
		}
	}
	for _, at := range receipts {
		delivered[int(at.Sub(start)/time.Second)]++
	}
	full := int(ingestEnd.Sub(start) / time.Second) // whole seconds of ingest
	minRatio, at := -1.0, -1
	for s := range min(full, secs) {
		if ingested[s] == 0 {
			continue
		}
		if ratio := float64(delivered[s]) / float64(ingested[s]*r.o.webhooks); minRatio < 0 || ratio < minRatio {
			minRatio, at = ratio, s
		}
	}
	parts := make([]string, 0, secs)
	for s := range secs {
		parts = append(parts, fmt.Sprintf("%d/%d", ingested[s], delivered[s]))
	}
	fmt.Fprintf(r.stdout, "per second, ingested/delivered: %s\n", strings.Join(parts, " "))
	if minRatio >= 0 {
		fmt.Fprintf(r.stdout, "min delivered/ingested over the %d whole seconds of ingest: %.2f (second %d)\n", full, minRatio, at)
	} else {
		fmt.Fprintln(r.stdout, "min delivered/ingested: n/a (ingest took less than a second)")
	}
}

func pct(sorted []time.Duration, p int) time.Duration {
	i := min(len(sorted)-1, len(sorted)*p/100)
	return sorted[i].Round(100 * time.Microsecond)
}
