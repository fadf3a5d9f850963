package relay_test

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/stretchr/testify/require"

	"github.com/loki-interceptor/lokihooks/connectors"
	"github.com/loki-interceptor/lokihooks/domain"
	"github.com/loki-interceptor/lokihooks/eventstore"
	"github.com/loki-interceptor/lokihooks/internal/app"
	"github.com/loki-interceptor/lokihooks/internal/dbtest"
	"github.com/loki-interceptor/lokihooks/internal/secretbox"
	"github.com/loki-interceptor/lokihooks/projections"
	"github.com/loki-interceptor/lokihooks/relay"
)

// storagePrefill, when set, adds a run on a database that already holds
// that many deliveries (made through the same pipeline), to see whether the
// cost per delivery stays flat as the database grows.
var storagePrefill = flag.Int("storage.prefill", 0, "BenchmarkStoragePerDelivery: also run on a database grown by this many deliveries")

// storageRate paces the publisher: events per second, 0 for as fast as
// one connection publishes (a backlog builds up on 2 cores then, and
// deliveries wait longer than the projection's settle time).
var storageRate = flag.Int("storage.rate", 200, "BenchmarkStoragePerDelivery: events published per second (0: unpaced)")

// BenchmarkStoragePerDelivery measures what one delivered event writes:
// each op publishes one event (one producer transaction, through
// lokihooks_publish) to one webhook that answers 200 at once, and the whole
// pipeline runs as `lokihooks serve` runs it (fan-out, workers, the
// deliveries and analytics projections), at -storage.rate events per
// second (default 200). After the loop it waits until every
// delivery is delivered and both projections have applied the whole log,
// stops the pipeline and closes its connections (so every backend has
// flushed its statistics), and reports per op:
//
//   - rows/op: n_tup_ins + n_tup_upd + n_tup_del of the schema's tables
//     (pg_stat_user_tables), and ins/op, upd/op, del/op;
//   - wal-B/op: the pg_current_wal_lsn() delta. The server is shared, so
//     this includes whatever other connections wrote meanwhile;
//   - schema-wal-B/op and fpi-B/op: the WAL records that touch the schema's
//     relations, read back with pg_walinspect when it is installable (the
//     figure other connections cannot disturb), and the full-page images among
//     them. A CHECKPOINT starts the measured phase, so every page is
//     written whole once: the worst case, which a database larger than what
//     one checkpoint interval touches meets all the time.
//
// b.Log prints the per-table breakdown (rows and WAL per op, indexes and
// TOAST counted with their table).
//
//	go test -run '^$' -bench StoragePerDelivery -benchtime 2000x -count 3 -v ./relay
//	go test -run '^$' -bench StoragePerDelivery -benchtime 2000x -v ./relay -args -storage.prefill=50000 -storage.rate=0
func BenchmarkStoragePerDelivery(b *testing.B) {
	sizes := []int{200}
	if *storagePrefill > 0 {
		sizes = append(sizes, *storagePrefill)
	}
	for _, prefill := range sizes {
		b.Run(fmt.Sprintf("prefill=%d", prefill), func(b *testing.B) { benchStorage(b, prefill) })
	}
}

// storageSettle is the deliveries projection's settle time, as
// LOKIHOOKS_PROJECTION_SETTLE's default.
const storageSettle = time.Second

// storageData is the data of each published event: a typical
// validation.completed.
const storageData = `{"source_id":"val_123","document_id":"doc_456","validation_status":"pass","gates_passed":8,` +
	`"gates_failed":0,"issues":[],"processing_time_ms":523.45}`

func benchStorage(b *testing.B, prefill int) {
	setupPool, schema := dbtest.PoolSchema(b, nil)
	ctx := b.Context()
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte("ok"))
	}))
	b.Cleanup(sink.Close)
	app := fmt.Sprintf("storagebench_%s", schema)

	p := startPipeline(b, setupPool, schema, app)
	spec := domain.DefaultWebhookSpec()
	spec.Name, spec.URL, spec.EventTypes = "sink", sink.URL+"/hook", []string{"*"}
	_, err := p.webhooks.CreateWebhook(ctx, spec, "")
	require.NoError(b, err)
	publishBulk(b, setupPool, prefill)
	waitSettled(b, setupPool, prefill)
	p.stop(b)

	walinspect := installWalinspect(b, setupPool, schema)
	_, err = setupPool.Exec(ctx, `CHECKPOINT`)
	require.NoError(b, err)
	before := readStorage(b, setupPool, schema)

	p = startPipeline(b, setupPool, schema, app)
	n := 0
	var pace <-chan time.Time
	if *storageRate > 0 {
		tick := time.NewTicker(time.Second / time.Duration(*storageRate))
		defer tick.Stop()
		pace = tick.C
	}
	for b.Loop() {
		if pace != nil {
			<-pace
		}
		var id string
		require.NoError(b, setupPool.QueryRow(ctx, `SELECT lokihooks_publish('validation.completed', $1::jsonb)`, storageData).Scan(&id))
		n++
	}
	b.StopTimer()
	waitSettled(b, setupPool, prefill+n)
	p.stop(b)
	after := readStorage(b, setupPool, schema)
	var p50, p90 float64
	require.NoError(b, setupPool.QueryRow(ctx, `SELECT
			coalesce(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms), 0), coalesce(percentile_cont(0.9) WITHIN GROUP (ORDER BY ms), 0)
		FROM (SELECT extract(epoch FROM a.recorded_at - s.recorded_at) * 1000 AS ms
			FROM events s JOIN events a ON a.stream_id = s.stream_id AND a.version = 2
			WHERE s.version = 1 AND s.stream_type = 'delivery' AND s.recorded_at > now() - interval '10 minutes') x`).Scan(&p50, &p90))
	b.Logf("scheduled -> attempt recorded: p50 %.0f ms, p90 %.0f ms (deliveries whose attempt is recorded within %s are written once)",
		p50, p90, storageSettle)
	reportStorage(b, setupPool, schema, walinspect, before, after, n)
}

// pipeline is one `lokihooks serve` worth of components on its own pool.
type pipeline struct {
	pool     *pgxpool.Pool
	webhooks *app.Webhooks
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	appName  string
}

func startPipeline(b *testing.B, setup *pgxpool.Pool, schema, appName string) *pipeline {
	b.Helper()
	cfg := setup.Config().Copy()
	cfg.ConnConfig.RuntimeParams["search_path"] = schema
	cfg.ConnConfig.RuntimeParams["application_name"] = appName
	cfg.MaxConns = 20
	pool, err := pgxpool.NewWithConfig(b.Context(), cfg)
	require.NoError(b, err)
	events := eventstore.New(pool, eventstore.Config{Inline: []eventstore.InlineProjector{
		{StreamTypes: []string{domain.WebhookStreamType}, Project: projections.Webhooks{}.Project},
		{StreamTypes: []string{domain.BreakerStreamType}, Project: projections.Breakers{}.Project},
	}})
	db := stdlib.OpenDBFromPool(pool)
	sender := connectors.NewWebhook(connectors.NewClient(connectors.ClientConfig{
		AllowHTTP: true, AllowedNetworks: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
	}), connectors.WebhookConfig{})
	box, err := secretbox.New(bytes.Repeat([]byte{42}, secretbox.KeySize))
	require.NoError(b, err)
	appCfg := app.Config{Secrets: box, Validation: domain.ValidationOpts{AllowHTTP: true}}
	logger := slog.New(slog.NewTextHandler(b.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	rl, err := relay.New(pool, db, relay.Deps{
		Log: events, Subscribers: projections.Subscribers{}, Destinations: app.NewDestinations(pool, events, appCfg),
		Sender: sender,
	}, relay.Config{Fanout: true, Work: true, Workers: 100, Logger: logger, WorkerID: "bench"})
	require.NoError(b, err)
	read := func(ctx context.Context, q projections.DB, after domain.LogPosition, limit int) ([]domain.Recorded, error) {
		return eventstore.ReadLog(ctx, q, after, limit)
	}
	deliveries, err := projections.NewRunner(pool, projections.RunnerConfig{
		Name: "deliveries", Projector: projections.Deliveries{}, Read: read, Settle: storageSettle,
		PollInterval: 250 * time.Millisecond,
	})
	require.NoError(b, err)
	analytics, err := projections.NewRunner(pool, projections.RunnerConfig{
		Name: "analytics", BatchSize: 5000, PollInterval: time.Second,
		Projector: projections.Analytics{First: func(ctx context.Context, tx pgx.Tx, ids []string) ([]domain.Recorded, error) {
			return eventstore.ReadFirst(ctx, tx, ids)
		}, Cache: projections.NewDestinationCache(0)},
		Read: func(ctx context.Context, q projections.DB, after domain.LogPosition, limit int) ([]domain.Recorded, error) {
			return eventstore.ReadLogLean(ctx, q, after, limit)
		},
	})
	require.NoError(b, err)
	runCtx, cancel := context.WithCancel(context.WithoutCancel(b.Context()))
	p := &pipeline{pool: pool, cancel: cancel, appName: appName, webhooks: app.NewWebhooks(pool, events, rl, sender, appCfg)}
	for _, run := range []func(context.Context) error{rl.Run, deliveries.Run, analytics.Run} {
		p.wg.Go(func() { require.NoError(b, run(runCtx)) })
	}
	b.Cleanup(func() { p.stop(b) })
	select {
	case <-rl.FanoutRunning():
	case <-time.After(20 * time.Second):
		b.Fatal("fan-out did not start")
	}
	return p
}

// stop stops the pipeline and waits until all of its backends are gone:
// a backend flushes its table statistics when it exits.
func (p *pipeline) stop(b *testing.B) {
	b.Helper()
	if p.cancel == nil {
		return
	}
	p.cancel()
	p.wg.Wait()
	p.pool.Close()
	p.cancel = nil
	admin, err := pgx.Connect(context.WithoutCancel(b.Context()), dbtest.URL())
	require.NoError(b, err)
	defer admin.Close(context.WithoutCancel(b.Context()))
	require.Eventually(b, func() bool {
		var n int
		err := admin.QueryRow(b.Context(), `SELECT count(*) FROM pg_stat_activity WHERE application_name = $1`, p.appName).Scan(&n)
		return err == nil && n == 0
	}, 30*time.Second, 10*time.Millisecond, "pipeline backends did not exit")
}

// publishBulk publishes n events in transactions of 500.
func publishBulk(b *testing.B, pool *pgxpool.Pool, n int) {
	b.Helper()
	for done := 0; done < n; done += 500 {
		_, err := pool.Exec(b.Context(), `SELECT lokihooks_publish('validation.completed', $1::jsonb) FROM generate_series(1, $2)`,
			storageData, min(500, n-done))
		require.NoError(b, err)
	}
}

// waitSettled waits until n deliveries are delivered and both projections
// have applied every event of the log.
func waitSettled(b *testing.B, pool *pgxpool.Pool, n int) {
	b.Helper()
	const q = `SELECT (SELECT count(*) FROM deliveries WHERE status = 'delivered') >= $1
		AND NOT EXISTS (SELECT 1 FROM events e JOIN projection_checkpoints c ON c.name IN ('deliveries', 'analytics')
			WHERE (e.transaction_id, e.position) > (c.transaction_id, c.position))`
	require.Eventually(b, func() bool {
		var ok bool
		err := pool.QueryRow(b.Context(), q, n).Scan(&ok)
		return err == nil && ok
	}, 5*time.Minute, 20*time.Millisecond, "deliveries did not settle")
}

// installWalinspect makes pg_walinspect usable and returns the schema it is
// in ("" if it cannot be installed: the WAL is then not broken down).
func installWalinspect(b *testing.B, pool *pgxpool.Pool, schema string) string {
	b.Helper()
	var where string
	err := pool.QueryRow(b.Context(), `SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
		WHERE e.extname = 'pg_walinspect'`).Scan(&where)
	if err == nil {
		return where
	}
	if _, err := pool.Exec(b.Context(), `CREATE EXTENSION IF NOT EXISTS pg_walinspect WITH SCHEMA `+pgx.Identifier{schema}.Sanitize()); err != nil {
		b.Logf("pg_walinspect unavailable (%v): WAL is not broken down by table", err)
		return ""
	}
	return schema
}

// tableStat is one table's write counters.
type tableStat struct{ ins, upd, hot, del int64 }

type storageSnapshot struct {
	lsn    string
	tables map[string]tableStat
}

func readStorage(b *testing.B, pool *pgxpool.Pool, schema string) storageSnapshot {
	b.Helper()
	ctx := b.Context()
	s := storageSnapshot{tables: map[string]tableStat{}}
	require.NoError(b, pool.QueryRow(ctx, `SELECT pg_current_wal_lsn()::text`).Scan(&s.lsn))
	tx, err := pool.Begin(ctx)
	require.NoError(b, err)
	defer func() { _ = tx.Rollback(ctx) }()
	_, err = tx.Exec(ctx, `SELECT pg_stat_clear_snapshot()`)
	require.NoError(b, err)
	rows, err := tx.Query(ctx, `SELECT relname, n_tup_ins, n_tup_upd, n_tup_hot_upd, n_tup_del
		FROM pg_stat_user_tables WHERE schemaname = $1`, schema)
	require.NoError(b, err)
	var name string
	var t tableStat
	_, err = pgx.ForEachRow(rows, []any{&name, &t.ins, &t.upd, &t.hot, &t.del}, func() error { s.tables[name] = t; return nil })
	require.NoError(b, err)
	return s
}

var relfilenode = regexp.MustCompile(`rel \d+/\d+/(\d+)`)

func reportStorage(b *testing.B, pool *pgxpool.Pool, schema, walinspect string, before, after storageSnapshot, n int) {
	b.Helper()
	ctx := b.Context()
	per := func(v int64) float64 { return float64(v) / float64(n) }
	type line struct {
		name     string
		rows     tableStat
		wal, fpi int64
	}
	lines := map[string]*line{}
	var byRelation map[string]int64
	get := func(name string) *line {
		if lines[name] == nil {
			lines[name] = &line{name: name}
		}
		return lines[name]
	}
	var total tableStat
	for name, a := range after.tables {
		z := before.tables[name]
		d := tableStat{a.ins - z.ins, a.upd - z.upd, a.hot - z.hot, a.del - z.del}
		if d != (tableStat{}) {
			get(name).rows = d
		}
		total.ins, total.upd, total.hot, total.del = total.ins+d.ins, total.upd+d.upd, total.hot+d.hot, total.del+d.del
	}
	var walBytes int64
	require.NoError(b, pool.QueryRow(ctx, `SELECT pg_wal_lsn_diff($1::pg_lsn, $2::pg_lsn)::bigint`, after.lsn, before.lsn).Scan(&walBytes))
	rowsPerOp := per(total.ins + total.upd + total.del)
	b.ReportMetric(rowsPerOp, "rows/op")
	b.ReportMetric(per(total.ins), "ins/op")
	b.ReportMetric(per(total.upd), "upd/op")
	b.ReportMetric(per(total.del), "del/op")
	b.ReportMetric(per(walBytes), "wal-B/op")

	if walinspect != "" {
		// Each relation of the schema (tables, their indexes and TOAST)
		// counts for its table.
		owner, relname := map[string]string{}, map[string]string{}
		rows, err := pool.Query(ctx, `SELECT c.relfilenode::text, coalesce(t.relname, i.relname, c.relname), c.relname
			FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
			LEFT JOIN pg_index x ON x.indexrelid = c.oid LEFT JOIN pg_class i ON i.oid = x.indrelid
			LEFT JOIN pg_class t ON t.reltoastrelid = coalesce(i.oid, c.oid)
			WHERE n.nspname IN ($1, 'pg_toast') AND c.relfilenode <> 0`, schema)
		require.NoError(b, err)
		var node, name, rel string
		_, err = pgx.ForEachRow(rows, []any{&node, &name, &rel}, func() error { owner[node], relname[node] = name, rel; return nil })
		require.NoError(b, err)
		rows, err = pool.Query(ctx, `SELECT coalesce(block_ref, ''), record_length::bigint, fpi_length::bigint
			FROM `+pgx.Identifier{walinspect, "pg_get_wal_records_info"}.Sanitize()+`($1::pg_lsn, $2::pg_lsn)`, before.lsn, after.lsn)
		require.NoError(b, err)
		var ref string
		var length, fpi int64
		var schemaWAL, schemaFPI int64
		byRelation = map[string]int64{}
		_, err = pgx.ForEachRow(rows, []any{&ref, &length, &fpi}, func() error {
			m := relfilenode.FindStringSubmatch(ref)
			if m == nil {
				return nil
			}
			name, ok := owner[m[1]]
			if !ok || strings.HasPrefix(name, "pg_") {
				return nil
			}
			byRelation[relname[m[1]]] += length
			l := get(name)
			l.wal += length
			l.fpi += fpi
			schemaWAL += length
			schemaFPI += fpi
			return nil
		})
		require.NoError(b, err)
		b.ReportMetric(per(schemaWAL), "schema-wal-B/op")
		b.ReportMetric(per(schemaFPI), "fpi-B/op")
	}

	names := make([]string, 0, len(lines))
	for name := range lines {
		names = append(names, name)
	}
	sort.Slice(names, func(i, j int) bool {
		a, c := lines[names[i]], lines[names[j]]
		if a.wal != c.wal {
			return a.wal > c.wal
		}
		return a.name < c.name
	})
	var out strings.Builder
	fmt.Fprintf(&out, "%d deliveries; per delivery:\n%-28s %7s %7s %7s %7s %9s %9s\n", n, "table", "ins", "upd", "(hot)", "del", "wal B", "fpi B")
	for _, name := range names {
		l := lines[name]
		fmt.Fprintf(&out, "%-28s %7.3f %7.3f %7.3f %7.3f %9.0f %9.0f\n", name, per(l.rows.ins), per(l.rows.upd), per(l.rows.hot),
			per(l.rows.del), per(l.wal), per(l.fpi))
	}
	fmt.Fprintf(&out, "%-28s %7.3f %7.3f %7.3f %7.3f   rows/op %.2f, wal-B/op (whole server) %s", "total", per(total.ins), per(total.upd),
		per(total.hot), per(total.del), rowsPerOp, strconv.FormatFloat(per(walBytes), 'f', 0, 64))
	rels := make([]string, 0, len(byRelation))
	for r, v := range byRelation {
		if per(v) >= 20 {
			rels = append(rels, r)
		}
	}
	sort.Slice(rels, func(i, j int) bool { return byRelation[rels[i]] > byRelation[rels[j]] })
	fmt.Fprintf(&out, "\nrelations writing at least 20 B of WAL per delivery:")
	for _, r := range rels {
		fmt.Fprintf(&out, "\n  %-44s %6.0f", r, per(byRelation[r]))
	}
	b.Log(out.String())
}
