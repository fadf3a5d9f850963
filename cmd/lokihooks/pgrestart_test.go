package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/loki-interceptor/lokihooks/domain"
	"github.com/loki-interceptor/lokihooks/eventstore"
	"github.com/loki-interceptor/lokihooks/internal/app"
	"github.com/loki-interceptor/lokihooks/internal/secretbox"
	"github.com/loki-interceptor/lokihooks/migrations"
	"github.com/loki-interceptor/lokihooks/projections"
)

// reconnectLimit is how soon every role must work again once the database
// is back.
const reconnectLimit = 10 * time.Second

// apiKey authenticates the tests' API calls to children with the api role.
const apiKey = "db-fault-test-key-0123456789"

// TestServe_SurvivesTerminatedBackends terminates every backend of a
// running serve process (all four roles), twice, while events are
// published: the process neither exits nor loses anything, and each role
// works again within 10 s (an event published right after is delivered
// and in the deliveries read model, /readyz answers 200).
func TestServe_SurvivesTerminatedBackends(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("runs lokihooks serve in a child process against PostgreSQL")
	}
	b := newServeBundle(t)
	rcv := newHookReceiver(t, nil)
	hook := b.createWebhook(t, rcv.URL)
	appName := "lokihooks-" + randomHex(t)
	u, err := url.Parse(b.dbURL)
	require.NoError(t, err)
	q := u.Query()
	q.Set("application_name", appName)
	u.RawQuery = q.Encode()
	child := b.startServeRoles(t, "serve", "api,relay,worker,projector", serveAPIEnv(map[string]string{envDatabaseURL: u.String()}))
	api := apiBase(t, child)
	pub := startPublisher(t, b.pool)
	require.Eventually(t, func() bool { return rcv.count() >= 20 }, 30*time.Second, 10*time.Millisecond)

	for round := 1; round <= 2; round++ {
		var killed int
		require.NoError(t, b.pool.QueryRow(t.Context(), `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
			WHERE application_name = $1`, appName).Scan(&killed))
		require.Positive(t, killed)
		back := time.Now()
		r := measureRecovery(t, b, rcv, api, appName, hook, back)
		t.Logf("round %d: terminated %d backends; delivering again after %s, read model after %s, ready after %s (held by other transactions: %s, %s)",
			round, killed, r.delivered.Round(time.Millisecond), r.projected.Round(time.Millisecond), r.ready.Round(time.Millisecond),
			r.heldOutbox.Round(time.Millisecond), r.heldLog.Round(time.Millisecond))
		require.Eventually(t, func() bool { return rcv.count() >= r.seen+20 }, 30*time.Second, 10*time.Millisecond)
	}
	ids := pub.stop()
	requireAllDelivered(t, b, rcv, ids)
	require.NoError(t, child.cmd.Process.Signal(syscall.SIGTERM))
	require.Equal(t, 0, child.wait(t, 15*time.Second).ExitCode(), "serve must exit 0 on SIGTERM")
}

// TestServe_SurvivesDatabaseRestart runs serve (all four roles) against a
// throwaway PostgreSQL cluster of its own, and restarts that cluster while
// events are published: /readyz reports not-ready while the database is
// away, the process does not exit, every role works again within 10 s of
// the database coming back, and every event published is delivered.
func TestServe_SurvivesDatabaseRestart(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("runs a PostgreSQL cluster and lokihooks serve in child processes")
	}
	pg := startCluster(t)
	ctx := t.Context()
	pool, err := pgxpool.New(ctx, pg.url)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	_, err = migrations.Up(ctx, pool)
	require.NoError(t, err)
	box, err := secretbox.Parse(testSecretsKey)
	require.NoError(t, err)
	events := eventstore.New(pool, eventstore.Config{Inline: []eventstore.InlineProjector{{
		StreamTypes: []string{domain.WebhookStreamType}, Project: projections.Webhooks{}.Project,
	}}})
	b := &serveBundle{
		pool: pool, dbURL: pg.url, schema: "public",
		webhooks: app.NewWebhooks(pool, events, nil, nil, app.Config{Secrets: box, Validation: domain.ValidationOpts{AllowHTTP: true}}),
	}
	rcv := newHookReceiver(t, nil)
	hook := b.createWebhook(t, rcv.URL)
	appName := "lokihooks-" + randomHex(t)
	child := b.startServeRoles(t, "serve", "api,relay,worker,projector", serveAPIEnv(map[string]string{
		envDatabaseURL: pg.url + "&application_name=" + appName,
	}))
	api := apiBase(t, child)
	pub := startPublisher(t, pool)
	require.Eventually(t, func() bool { return rcv.count() >= 20 }, 30*time.Second, 10*time.Millisecond)

	pg.ctl(t, "stop", "-m", "fast")
	require.Eventually(t, func() bool { return readyz(api) == http.StatusServiceUnavailable }, 10*time.Second, 20*time.Millisecond,
		"/readyz must report the database away")
	pg.ctl(t, "start", "-w", "-l", filepath.Join(pg.dir, "log"), "-o", pg.opts)
	back := time.Now()
	r := measureRecovery(t, b, rcv, api, appName, hook, back)
	t.Logf("database restarted; delivering again after %s, read model after %s, ready after %s (held by other transactions: %s, %s)",
		r.delivered.Round(time.Millisecond), r.projected.Round(time.Millisecond), r.ready.Round(time.Millisecond),
		r.heldOutbox.Round(time.Millisecond), r.heldLog.Round(time.Millisecond))
	require.Eventually(t, func() bool { return rcv.count() >= r.seen+20 }, 30*time.Second, 10*time.Millisecond)
	select {
	case <-child.done:
		t.Fatalf("serve exited while the database was away: %v", child.err)
	default:
	}
	ids := pub.stop()
	requireAllDelivered(t, b, rcv, ids)
	require.NoError(t, child.cmd.Process.Signal(syscall.SIGTERM))
	require.Equal(t, 0, child.wait(t, 15*time.Second).ExitCode(), "serve must exit 0 on SIGTERM")
}

// recovery is how long after the database came back each role worked.
type recovery struct {
	delivered, projected, ready time.Duration
	// heldOutbox is how long after back the probe's outbox row, and
	// heldLog how long after its commit the probe's attempt, were not
	// readable because an older transaction was open in the cluster (the
	// outbox and the log are read only below the oldest one; other tests
	// share the cluster): lokihooks cannot be faster, so these do not
	// count against reconnectLimit.
	heldOutbox, heldLog time.Duration
	// seen is how many requests the receiver had seen then.
	seen int
}

// measureRecovery publishes an event once the database answers the test
// and measures, from back, when it reaches the receiver and the read
// model, and when /readyz answers 200. Each must come within
// reconnectLimit, not counting the time the probe's events were held back
// by a transaction older than them anywhere in the cluster.
func measureRecovery(t *testing.T, b *serveBundle, rcv *hookReceiver, api, appName string, hook domain.WebhookID, back time.Time) recovery {
	t.Helper()
	var id domain.EventID
	require.Eventually(t, func() bool {
		err := b.pool.QueryRow(t.Context(), `SELECT lokihooks_publish('validation.completed', '{"document_id":"doc_probe","validation_status":"pass"}')`).Scan(&id)
		return err == nil
	}, reconnectLimit, 10*time.Millisecond, "the test cannot publish")
	published := time.Now()
	var outboxTx, attemptTx uint64
	require.NoError(t, b.pool.QueryRow(t.Context(), `SELECT transaction_id::text::bigint FROM watermill_outbox WHERE uuid = $1`, string(id)).Scan(&outboxTx))
	var r recovery
	var outboxVisible, attemptSeen, logVisible time.Time
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for ; r.delivered == 0 || r.projected == 0 || r.ready == 0; <-tick.C {
		now := time.Now()
		// The oldest transaction of anyone but serve (appName) and this
		// query: the horizon serve's readers would have without their own.
		var horizon uint64
		_ = b.pool.QueryRow(t.Context(), `SELECT coalesce(min(backend_xid::text::bigint), 9223372036854775807)
			FROM pg_stat_activity WHERE backend_xid IS NOT NULL AND application_name IS DISTINCT FROM $1
			AND pid <> pg_backend_pid()`, appName).Scan(&horizon)
		if outboxVisible.IsZero() && horizon > outboxTx {
			outboxVisible = now
		}
		if attemptTx == 0 {
			_ = b.pool.QueryRow(t.Context(), `SELECT transaction_id::text::bigint FROM events WHERE type = $1 AND stream_id = $2`,
				domain.TypeDeliveryAttempted, string(domain.DeliveryIDFor(id, hook))).Scan(&attemptTx)
			if attemptTx != 0 {
				attemptSeen = now
			}
		}
		if attemptTx != 0 && logVisible.IsZero() && horizon > attemptTx {
			logVisible = now
		}
		if r.delivered == 0 && slices.ContainsFunc(rcv.hits(), func(h hit) bool { return h.eventID == string(id) }) {
			r.delivered, r.seen = now.Sub(back), rcv.count()
			r.heldOutbox = max(0, outboxVisible.Sub(published))
		}
		if r.projected == 0 {
			var n int
			if b.pool.QueryRow(t.Context(), `SELECT count(*) FROM deliveries WHERE event_id = $1 AND status = 'delivered'`, string(id)).Scan(&n) == nil && n == 1 {
				r.projected = now.Sub(back)
				r.heldLog = max(0, logVisible.Sub(attemptSeen))
			}
		}
		if r.ready == 0 && readyz(api) == http.StatusOK {
			r.ready = now.Sub(back)
		}
		elapsed := now.Sub(back)
		heldOut, heldLog := now.Sub(published), time.Duration(0)
		if !outboxVisible.IsZero() {
			heldOut = max(0, outboxVisible.Sub(published))
		}
		if attemptTx != 0 {
			heldLog = now.Sub(attemptSeen)
			if !logVisible.IsZero() {
				heldLog = max(0, logVisible.Sub(attemptSeen))
			}
		}
		if elapsed > reconnectLimit+heldOut+heldLog || elapsed > time.Minute {
			b.logJobStates(t, "when giving up")
			var holders string
			_ = b.pool.QueryRow(t.Context(), `SELECT coalesce(jsonb_agg(to_jsonb(x))::text, '[]') FROM (SELECT pid, application_name,
				state, backend_xid::text, now() - xact_start AS open_for, left(query, 100) AS query FROM pg_stat_activity
				WHERE backend_xid IS NOT NULL ORDER BY xact_start) x`).Scan(&holders)
			t.Fatalf("not every role works again %s after the database came back: %+v (probe %s; transactions: %s)",
				reconnectLimit, r, id, holders)
		}
	}
	require.LessOrEqual(t, r.delivered-r.heldOutbox, reconnectLimit, "delivering: %+v", r)
	require.LessOrEqual(t, r.projected-r.heldOutbox-r.heldLog, reconnectLimit, "projecting: %+v", r)
	require.LessOrEqual(t, r.ready, reconnectLimit, "ready: %+v", r)
	return r
}

// requireAllDelivered waits until every event of ids reached the receiver
// and every delivery is delivered.
func requireAllDelivered(t *testing.T, b *serveBundle, rcv *hookReceiver, ids []domain.EventID) {
	t.Helper()
	require.Eventually(t, func() bool {
		got := map[string]bool{}
		for _, h := range rcv.hits() {
			got[h.eventID] = true
		}
		for _, id := range ids {
			if !got[string(id)] {
				return false
			}
		}
		return true
	}, time.Minute, 20*time.Millisecond, "an event published was never delivered")
	var pending int
	require.Eventually(t, func() bool {
		return b.pool.QueryRow(t.Context(), `SELECT count(*) FROM deliveries WHERE status <> 'delivered'`).Scan(&pending) == nil && pending == 0
	}, time.Minute, 20*time.Millisecond, "%d deliveries not delivered", pending)
	t.Logf("%d events published and delivered; %d requests", len(ids), rcv.count())
}

// publisher publishes an event every 20 ms, retrying while the database is
// away, and keeps the ids of those that committed.
type publisher struct {
	mu   sync.Mutex
	ids  []domain.EventID
	stop func() []domain.EventID
}

func startPublisher(t *testing.T, pool *pgxpool.Pool) *publisher {
	t.Helper()
	p := &publisher{}
	ctx, cancel := context.WithCancel(context.WithoutCancel(t.Context()))
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			var id domain.EventID
			err := pool.QueryRow(ctx, `SELECT lokihooks_publish('validation.completed', '{"document_id":"doc_1","validation_status":"pass"}')`).Scan(&id)
			if err == nil {
				p.mu.Lock()
				p.ids = append(p.ids, id)
				p.mu.Unlock()
			}
		}
	}()
	var once sync.Once
	p.stop = func() []domain.EventID {
		once.Do(func() { cancel(); <-done })
		p.mu.Lock()
		defer p.mu.Unlock()
		return slices.Clone(p.ids)
	}
	t.Cleanup(func() { p.stop() })
	return p
}

// serveAPIEnv is the environment of a child with the api role.
func serveAPIEnv(extra map[string]string) map[string]string {
	env := map[string]string{envAPIKeys: apiKey, envAddr: "127.0.0.1:0", envRescueAfter: "2m"}
	for k, v := range extra {
		env[k] = v
	}
	return env
}

var apiLine = regexp.MustCompile(`API:\s+(http://\S+)/api/v1`)

// apiBase waits for a child's "API:" line and returns its base URL.
func apiBase(t *testing.T, c *serveChild) string {
	t.Helper()
	c.waitLine(t, "API:")
	c.out.mu.Lock()
	defer c.out.mu.Unlock()
	for _, l := range c.out.lines {
		if m := apiLine.FindStringSubmatch(l); m != nil {
			return m[1]
		}
	}
	t.Fatalf("%s printed no API address", c.name)
	return ""
}

// readyz returns the status of GET /readyz, 0 if there was no answer.
func readyz(base string) int {
	client := http.Client{Timeout: 3 * time.Second}
	resp, err := client.Get(base + "/readyz")
	if err != nil {
		return 0
	}
	_ = resp.Body.Close()
	return resp.StatusCode
}

func randomHex(t *testing.T) string {
	t.Helper()
	b := make([]byte, 6)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return hex.EncodeToString(b)
}

// cluster is a throwaway PostgreSQL cluster.
type cluster struct {
	bin, dir string
	// opts are the server options of pg_ctl start -o.
	opts string
	url  string
	// owner runs the server commands (postgres refuses root), or nil.
	owner *user.User
}

// startCluster initialises and starts a PostgreSQL cluster in a temporary
// directory, stopped and removed at cleanup. It skips the test when the
// server binaries are missing, or when running as root without a postgres
// user to run them as.
func startCluster(t *testing.T) *cluster {
	t.Helper()
	bin := serverBinDir()
	if bin == "" {
		t.Skip("initdb and pg_ctl not found (neither under /usr/lib/postgresql/*/bin nor on PATH): skipping the database restart test")
	}
	c := &cluster{bin: bin}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Skip("running as root and there is no postgres user to run the cluster as: skipping the database restart test")
		}
		c.owner = u
	}
	dir, err := os.MkdirTemp("", "lokihooks-pg-")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	c.dir = filepath.Join(dir, "data")
	require.NoError(t, os.Mkdir(c.dir, 0o700))
	if c.owner != nil {
		uid, _ := strconv.Atoi(c.owner.Uid)
		gid, _ := strconv.Atoi(c.owner.Gid)
		require.NoError(t, os.Chown(dir, uid, gid))
		require.NoError(t, os.Chown(c.dir, uid, gid))
	}
	port := freePort(t)
	c.opts = fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off", port, dir)
	c.run(t, "initdb", "-D", c.dir, "-U", "postgres", "--auth=trust", "--encoding=UTF8", "--no-sync")
	c.ctl(t, "start", "-w", "-l", filepath.Join(dir, "log"), "-o", c.opts)
	t.Cleanup(func() { c.run(t, "pg_ctl", "stop", "-D", c.dir, "-m", "immediate") })
	c.url = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable&pool_max_conns=16", port)
	return c
}

// ctl runs pg_ctl on the cluster.
func (c *cluster) ctl(t *testing.T, args ...string) {
	t.Helper()
	c.run(t, "pg_ctl", append([]string{args[0], "-D", c.dir}, args[1:]...)...)
}

func (c *cluster) run(t *testing.T, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(filepath.Join(c.bin, name), args...)
	if c.owner != nil {
		uid, _ := strconv.ParseUint(c.owner.Uid, 10, 32)
		gid, _ := strconv.ParseUint(c.owner.Gid, 10, 32)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
		cmd.Dir = os.TempDir()
	}
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s %v: %s", name, args, out)
}

// serverBinDir returns the directory of initdb and pg_ctl: the newest
// Debian layout, else PATH; "" if there is none.
func serverBinDir() string {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(dirs, func(a, b string) int {
		va, _ := strconv.Atoi(filepath.Base(filepath.Dir(a)))
		vb, _ := strconv.Atoi(filepath.Base(filepath.Dir(b)))
		return vb - va
	})
	for _, d := range dirs {
		if isExecutable(filepath.Join(d, "initdb")) && isExecutable(filepath.Join(d, "pg_ctl")) {
			return d
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil && isExecutable(filepath.Join(filepath.Dir(p), "pg_ctl")) {
		return filepath.Dir(p)
	}
	return ""
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode()&0o111 != 0
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	addr, ok := ln.Addr().(*net.TCPAddr)
	require.True(t, ok)
	return addr.Port
}
