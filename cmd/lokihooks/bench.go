package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
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
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/sync/errgroup"

	"github.com/loki-interceptor/lokihooks/domain"
	"github.com/loki-interceptor/lokihooks/internal/app"
	"github.com/loki-interceptor/lokihooks/internal/secretbox"
	"github.com/loki-interceptor/lokihooks/migrations"
)

// benchOpts are the flags of `lokihooks bench`.
type benchOpts struct {
	events      int
	webhooks    int
	batch       int
	rate        int
	workers     int
	backlog     bool
	keep        bool
	noProjector bool
	noAnalytics bool
	timeout     time.Duration
	poll        time.Duration
	cpuProfile  string // write a CPU profile of the run here
	telemetry   bool   // trace at 100 % and keep metrics, as production does
}

// bench measures the whole pipeline on this machine: a local receiver
// answering 200 at once, K webhooks, N events published through
// lokihooks_publish in batched transactions, and the relay, workers and
// deliveries projection running in this process against a fresh schema.
func bench(ctx context.Context, o benchOpts, getenv func(string) string, stdout, stderr io.Writer) error {
	if o.events < 1 || o.webhooks < 1 || o.batch < 1 || o.workers < 1 {
		return errors.New("--events, --webhooks, --batch and --workers must be positive")
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
	if cfg.Secrets == nil { // encrypt as production does
		var key [secretbox.KeySize]byte
		_, _ = rand.Read(key[:])
		if cfg.Secrets, err = secretbox.New(key[:]); err != nil {
			return err
		}
	}

	schema, pool, cleanup, err := benchSchema(ctx, cfg.DatabaseURL, o)
	if err != nil {
		return err
	}
	defer cleanup()
	fmt.Fprintf(stdout, "bench: schema %s, N=%d events, K=%d webhooks, batch=%d, rate=%d/s, workers=%d, backlog=%t\n",
		schema, o.events, o.webhooks, o.batch, o.rate, o.workers, o.backlog)

	rcv, err := startReceiver(o.events * o.webhooks)
	if err != nil {
		return err
	}
	defer rcv.close()
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	var tel *telemetrySetup
	if o.telemetry {
		var stopTelemetry func()
		if tel, stopTelemetry, err = benchTelemetry(ctx, pool, stdout); err != nil {
			return err
		}
		defer stopTelemetry()
	}
	sys, err := build(pool, cfg, []string{roleRelay, roleWorker, roleProjector}, logger, tel)
	if err != nil {
		return err
	}
	defer sys.db.Close()
	if err := registerBenchWebhooks(ctx, sys.webhooks, rcv.url, o.webhooks); err != nil {
		return err
	}

	commits := make(map[string]time.Time, o.events)
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	g, gctx := errgroup.WithContext(runCtx)
	startRelay := func() {
		g.Go(func() error { return sys.relay.Run(gctx) })
		if !o.noProjector {
			g.Go(func() error { return sys.projector.Run(gctx) })
		}
		if !o.noAnalytics {
			g.Go(func() error { return sys.analytics.Run(gctx) })
		}
	}
	if !o.backlog {
		startRelay()
	}
	pubStart := time.Now()
	if err := publishBench(ctx, pool, o, commits); err != nil {
		return err
	}
	pubDur := time.Since(pubStart)
	fmt.Fprintf(stdout, "published %d events in %s (%.0f events/s)\n", o.events, pubDur.Round(time.Millisecond), float64(o.events)/pubDur.Seconds())
	drainStart := time.Now()
	var fanoutFifths []time.Duration
	if o.backlog {
		startRelay()
		g.Go(func() error {
			var err error
			fanoutFifths, err = watchFanout(gctx, pool, o.events)
			return err
		})
	}
	select {
	case <-rcv.done:
	case <-ctx.Done():
		stop()
		_ = g.Wait()
		return fmt.Errorf("timed out with %d of %d deliveries received (a longer --timeout, or fewer --events)", rcv.count(), o.events*o.webhooks)
	}
	stop()
	if err := g.Wait(); err != nil {
		return err
	}
	report(stdout, o, rcv, commits, pubStart, drainStart)
	if len(fanoutFifths) == 5 {
		fmt.Fprint(stdout, "outbox fan-out rate per fifth of the backlog (events/s):")
		for _, d := range fanoutFifths {
			fmt.Fprintf(stdout, " %.0f", float64(o.events/5)/d.Seconds())
		}
		fmt.Fprintln(stdout)
	}
	return nil
}

// watchFanout samples the fan-out consumer's offset (outbox rows are
// numbered from 1 in a fresh schema) and returns how long each fifth of
// the backlog took to fan out.
func watchFanout(ctx context.Context, pool *pgxpool.Pool, events int) ([]time.Duration, error) {
	var out []time.Duration
	start := time.Now()
	prev := start
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for len(out) < 5 {
		select {
		case <-ctx.Done():
			return out, nil
		case <-tick.C:
		}
		var acked int64
		err := pool.QueryRow(ctx, `SELECT coalesce(max(offset_acked), 0) FROM watermill_offsets_outbox WHERE consumer_group = 'fanout'`).Scan(&acked)
		if err != nil {
			if ctx.Err() != nil {
				return out, nil
			}
			return nil, err
		}
		for len(out) < 5 && acked >= int64(events*(len(out)+1)/5) {
			now := time.Now()
			out = append(out, now.Sub(prev))
			prev = now
		}
	}
	return out, nil
}

func benchSchema(ctx context.Context, url string, o benchOpts) (string, *pgxpool.Pool, func(), error) {
	var b [4]byte
	_, _ = rand.Read(b[:])
	schema := "bench_" + hex.EncodeToString(b[:])
	admin, err := pgx.Connect(ctx, url)
	if err != nil {
		return "", nil, nil, fmt.Errorf("connect to database (%s; make db-up starts one): %w", envDatabaseURL, err)
	}
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		_ = admin.Close(ctx)
		return "", nil, nil, fmt.Errorf("create schema: %w", err)
	}
	pcfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return "", nil, nil, err
	}
	pcfg.ConnConfig.RuntimeParams["search_path"] = schema
	pcfg.MaxConns = poolSize(o.workers)
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err == nil {
		_, err = migrations.Up(ctx, pool)
	}
	cleanup := func() {
		if pool != nil {
			pool.Close()
		}
		if !o.keep {
			_, _ = admin.Exec(context.WithoutCancel(ctx), "DROP SCHEMA "+schema+" CASCADE")
		}
		_ = admin.Close(context.WithoutCancel(ctx))
	}
	if err != nil {
		cleanup()
		return "", nil, nil, err
	}
	return schema, pool, cleanup, nil
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

const benchData = `{"source_id":"val_123","document_id":"doc_456","validation_status":"pass","gates_passed":8,"gates_failed":0,"issues":[],"processing_time_ms":523.45}`

// publishBench publishes the events and records each one's commit time.
func publishBench(ctx context.Context, pool *pgxpool.Pool, o benchOpts, commits map[string]time.Time) error {
	perTx := o.batch
	var tick *time.Ticker
	if o.rate > 0 {
		perTx = 1
		tick = time.NewTicker(time.Second / time.Duration(o.rate))
		defer tick.Stop()
	}
	for published := 0; published < o.events; {
		if tick != nil {
			select {
			case <-tick.C:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		n := min(perTx, o.events-published)
		ids := make([]string, 0, n)
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			rows, err := tx.Query(ctx, `SELECT lokihooks_publish('validation.completed', $1::jsonb) FROM generate_series(1, $2)`, benchData, n)
			if err != nil {
				return err
			}
			ids, err = pgx.CollectRows(rows, pgx.RowTo[string])
			return err
		})
		if err != nil {
			return fmt.Errorf("publish: %w", err)
		}
		at := time.Now()
		for _, id := range ids {
			commits[id] = at
		}
		published += n
	}
	return nil
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

func report(w io.Writer, o benchOpts, r *receiver, commits map[string]time.Time, pubStart, drainStart time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	lat := make([]time.Duration, 0, len(r.seen))
	var last time.Time
	for key, at := range r.seen {
		if at.After(last) {
			last = at
		}
		if c, ok := commits[key.eventID]; ok {
			lat = append(lat, at.Sub(c))
		}
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	start := pubStart
	if o.backlog {
		start = drainStart
	}
	elapsed := last.Sub(start)
	fmt.Fprintf(w, "delivered %d (duplicates %d) in %s: %.0f deliveries/s\n",
		len(r.seen), r.dups, elapsed.Round(time.Millisecond), float64(len(r.seen))/elapsed.Seconds())
	if o.backlog {
		// Drain rate per fifth of the backlog: flat when a poll costs the
		// same whatever the backlog left.
		times := make([]time.Time, 0, len(r.seen))
		for _, at := range r.seen {
			times = append(times, at)
		}
		sort.Slice(times, func(i, j int) bool { return times[i].Before(times[j]) })
		fmt.Fprint(w, "drain rate per fifth of the backlog (deliveries/s):")
		prev := start
		for i := 1; i <= 5; i++ {
			end := times[len(times)*i/5-1]
			n := len(times) / 5
			fmt.Fprintf(w, " %.0f", float64(n)/end.Sub(prev).Seconds())
			prev = end
		}
		fmt.Fprintln(w)
	}
	if !o.backlog && len(lat) > 0 {
		fmt.Fprintf(w, "commit→receipt latency: p50 %s  p95 %s  p99 %s  max %s\n",
			pct(lat, 50), pct(lat, 95), pct(lat, 99), lat[len(lat)-1].Round(100*time.Microsecond))
	}
}

func pct(sorted []time.Duration, p int) time.Duration {
	i := min(len(sorted)-1, len(sorted)*p/100)
	return sorted[i].Round(100 * time.Microsecond)
}
