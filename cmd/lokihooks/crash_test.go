package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loki-interceptor/lokihooks/domain"
	"github.com/loki-interceptor/lokihooks/eventstore"
	"github.com/loki-interceptor/lokihooks/internal/app"
	"github.com/loki-interceptor/lokihooks/internal/dbtest"
	"github.com/loki-interceptor/lokihooks/internal/secretbox"
	"github.com/loki-interceptor/lokihooks/projections"
)

// These tests run `lokihooks serve` as a separate process (the test binary
// re-executed in child mode, see TestMain) so that it can be killed with
// SIGKILL or stopped with SIGTERM like a deployed one.

// TestServe_CrashMidDeliveryLosesNothing kills a serve process in the middle
// of 5,000 deliveries and starts another on the same database: every
// (event, webhook) pair must still be delivered, duplicates (at-least-once)
// must carry the same idempotency key and delivery id as their first copy,
// and the database must end with every delivery delivered.
func TestServe_CrashMidDeliveryLosesNothing(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("runs lokihooks serve in child processes against PostgreSQL")
	}
	const (
		events   = 2500
		webhooks = 2
		total    = events * webhooks
		killAt   = 1500
		batch    = 250
	)
	start := time.Now()
	b := newServeBundle(t)
	rcv := newHookReceiver(t, nil)
	hooks := make([]domain.WebhookID, webhooks)
	for i := range hooks {
		hooks[i] = b.createWebhook(t, rcv.URL)
	}

	first := b.startServe(t, "serve-1", nil)
	killed := make(chan int, 1)
	rcv.setOnHit(func(n int) {
		if n == killAt {
			// Kill from the handler: the process dies with hundreds of
			// requests in flight and finished deliveries not yet recorded.
			_ = first.cmd.Process.Kill()
			killed <- n
		}
	})
	ids := b.publish(t, events, batch)
	select {
	case <-killed:
	case <-time.After(60 * time.Second):
		t.Fatalf("the receiver never saw %d requests (saw %d)", killAt, rcv.count())
	}
	state := first.wait(t, 10*time.Second)
	ws, ok := state.Sys().(syscall.WaitStatus)
	require.True(t, ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL, "serve-1 must have died of SIGKILL: %s", state)
	reaped := rcv.count()
	require.Less(t, len(rcv.pairs()), total, "everything was delivered before the kill: the test proves nothing")
	t.Logf("killed serve-1 after %d requests (%d requests by the time it was reaped); %s since start",
		killAt, reaped, time.Since(start).Round(time.Millisecond))
	b.logJobStates(t, "after the kill")
	b.logInFlight(t, rcv)

	second := b.startServe(t, "serve-2", nil)
	if !assert.Eventually(t, func() bool { return len(rcv.pairs()) >= total }, 90*time.Second, 20*time.Millisecond) {
		b.logJobStates(t, "when giving up")
		b.logStuck(t)
		t.Fatalf("only %d of %d (event, webhook) pairs received", len(rcv.pairs()), total)
	}
	t.Logf("all %d pairs received %s after start", total, time.Since(start).Round(time.Millisecond))

	// The database settles: every delivery delivered (the projection has
	// caught up) and no delivery job left to run. Jobs running at the kill
	// whose request had already arrived are rescued only now, and sent again.
	if !assert.Eventually(t, func() bool { return b.settled(t) == settledState{deliveries: total, delivered: total} },
		60*time.Second, 20*time.Millisecond) {
		b.logJobStates(t, "when giving up")
		b.logStuck(t)
		t.Fatalf("the database never settled: %+v", b.settled(t))
	}

	require.NoError(t, second.cmd.Process.Signal(syscall.SIGTERM))
	state = second.wait(t, 10*time.Second+5*time.Second)
	require.Equal(t, 0, state.ExitCode(), "serve-2 must exit 0 on SIGTERM: %s", state)
	b.requireSettled(t, total)
	b.logJobStates(t, "at the end")

	// Every pair received, and every copy of a pair identical to the first.
	copies, dups := requireEveryPair(t, rcv, ids, hooks)
	t.Logf("duplicates observed: %d (%d requests for %d pairs; %d pairs received more than once)",
		dups, rcv.count(), total, countDup(copies))
	t.Logf("took %s", time.Since(start).Round(time.Millisecond))
}

// TestServe_GracefulShutdownFinishesInFlight stops a serve process with
// SIGTERM while deliveries are held by the receiver: the held deliveries
// must finish and be recorded, the others stay pending for the next process,
// which delivers them.
func TestServe_GracefulShutdownFinishesInFlight(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("runs lokihooks serve in child processes against PostgreSQL")
	}
	const (
		events  = 20
		workers = 5
	)
	start := time.Now()
	b := newServeBundle(t)
	hold := make(chan struct{})
	var releaseOnce sync.Once
	release := func() { releaseOnce.Do(func() { close(hold) }) }
	rcv := newHookReceiver(t, hold)
	t.Cleanup(release) // before the server closes (cleanups run last first)
	hook := b.createWebhook(t, rcv.URL)

	env := map[string]string{envWorkers: fmt.Sprint(workers)}
	first := b.startServe(t, "serve-1", env)
	ids := b.publish(t, events, events)
	require.Eventually(t, func() bool { return rcv.count() >= workers }, 30*time.Second, 5*time.Millisecond,
		"the workers never held %d requests", workers)
	heldAtTerm := rcv.count()

	require.NoError(t, first.cmd.Process.Signal(syscall.SIGTERM))
	// Release only once the process has begun shutting down (its projector
	// stops at once, on the same signal as the fetching of jobs), so that
	// the held requests are really in flight during shutdown.
	first.waitLine(t, `msg="projection runner stopped"`)
	release()
	state := first.wait(t, 10*time.Second+5*time.Second)
	require.Equal(t, 0, state.ExitCode(), "serve-1 must exit 0 on SIGTERM: %s", state)
	t.Logf("serve-1 exited 0 %s after start; %d requests held at SIGTERM, %d seen, %d abandoned by the client",
		time.Since(start).Round(time.Millisecond), heldAtTerm, rcv.count(), rcv.abandonedCount())

	// Every request that reached the receiver is recorded as delivered, in
	// the event log, and its job is gone (deleted with the recording); none
	// is left running; the others wait for the next process.
	reached := map[domain.DeliveryID]bool{}
	for _, h := range rcv.hits() {
		reached[domain.DeliveryID(h.delivery)] = true
	}
	attempted := b.attemptStatuses(t)
	jobs := b.jobStates(t)
	require.Len(t, jobs, events-len(reached), "one delivery job per event not yet delivered")
	for _, ev := range ids {
		id := domain.DeliveryIDFor(ev, hook)
		if reached[id] {
			require.Equal(t, []string{string(domain.DeliveryDelivered)}, attempted[id],
				"delivery %s reached the receiver: its attempt must be recorded as delivered (jobs: %v)", id, jobs[id])
			require.Empty(t, jobs[id], "job of delivered %s", id)
			continue
		}
		require.Empty(t, attempted[id], "delivery %s never reached the receiver yet has attempts", id)
		require.Len(t, jobs[id], 1, "delivery %s", id)
		require.Contains(t, []string{"available", "scheduled", "retryable"}, jobs[id][0], "job of pending %s", id)
	}
	t.Logf("%d deliveries recorded as delivered, %d left for the next process", len(reached), events-len(reached))

	// The next process delivers the rest.
	second := b.startServe(t, "serve-2", env)
	b.waitSettled(t, events, 30*time.Second)
	require.NoError(t, second.cmd.Process.Signal(syscall.SIGTERM))
	state = second.wait(t, 10*time.Second+5*time.Second)
	require.Equal(t, 0, state.ExitCode(), "serve-2 must exit 0 on SIGTERM: %s", state)
	b.requireSettled(t, events)
	received := rcv.deliveries()
	for _, ev := range ids {
		id := domain.DeliveryIDFor(ev, hook)
		require.True(t, received[string(id)], "delivery %s never received", id)
	}
	t.Logf("took %s", time.Since(start).Round(time.Millisecond))
}

// serveBundle is an isolated schema, the stores to set it up, and the
// environment of serve processes on it.
type serveBundle struct {
	pool     *pgxpool.Pool
	webhooks *app.Webhooks
	dbURL    string
	schema   string
}

func newServeBundle(t *testing.T) *serveBundle {
	t.Helper()
	pool, schema := dbtest.PoolSchema(t, nil)
	u, err := url.Parse(dbtest.URL())
	require.NoError(t, err)
	q := u.Query()
	q.Set("search_path", schema)  // pgx sends unknown parameters as runtime parameters
	q.Set("pool_max_conns", "16") // the database is shared with other tests
	u.RawQuery = q.Encode()
	events := eventstore.New(pool, eventstore.Config{Inline: []eventstore.InlineProjector{{
		StreamTypes: []string{domain.WebhookStreamType}, Project: projections.Webhooks{}.Project,
	}}})
	box, err := secretbox.Parse(testSecretsKey)
	require.NoError(t, err)
	hooks := app.NewWebhooks(pool, events, nil, nil, app.Config{Secrets: box, Validation: domain.ValidationOpts{AllowHTTP: true}})
	return &serveBundle{pool: pool, webhooks: hooks, dbURL: u.String(), schema: schema}
}

// createWebhook registers a webhook for every event type at base/hook/<id>.
func (b *serveBundle) createWebhook(t *testing.T, base string) domain.WebhookID {
	t.Helper()
	spec := domain.DefaultWebhookSpec()
	spec.Name, spec.URL, spec.EventTypes = "crash "+base, base+"/hook/pending", []string{"*"}
	w, err := b.webhooks.CreateWebhook(t.Context(), spec, "")
	require.NoError(t, err)
	// The receiver tells webhooks apart by the path, which names the id.
	_, err = b.webhooks.UpdateWebhook(t.Context(), w.ID, domain.ExpectAny, func(s domain.WebhookSpec) domain.WebhookSpec {
		s.Name, s.URL = "crash "+string(w.ID), base+"/hook/"+string(w.ID)
		return s
	})
	require.NoError(t, err)
	return w.ID
}

// publish publishes n events through lokihooks_publish, perTx per
// transaction, and returns their ids.
func (b *serveBundle) publish(t *testing.T, n, perTx int) []domain.EventID {
	t.Helper()
	ids := make([]domain.EventID, 0, n)
	for len(ids) < n {
		k := min(perTx, n-len(ids))
		err := pgx.BeginFunc(t.Context(), b.pool, func(tx pgx.Tx) error {
			rows, err := tx.Query(t.Context(), `SELECT lokihooks_publish('validation.completed', $1::jsonb) FROM generate_series(1, $2)`,
				benchData, k)
			if err != nil {
				return err
			}
			got, err := pgx.CollectRows(rows, pgx.RowTo[domain.EventID])
			ids = append(ids, got...)
			return err
		})
		require.NoError(t, err)
	}
	return ids
}

// testSecretsKey encrypts signing secrets in the children and the test alike.
const testSecretsKey = "KioqKioqKioqKioqKioqKioqKioqKioqKioqKioqKio="

// startServe runs `lokihooks serve -roles relay,worker,projector` in a child
// process on the bundle's schema. Its output goes to the test log, prefixed
// with name; the process is killed at cleanup if still running.
func (b *serveBundle) startServe(t *testing.T, name string, extra map[string]string) *serveChild {
	t.Helper()
	return b.startServeRoles(t, name, "relay,worker,projector", extra)
}

// startServeRoles is startServe with the given roles.
func (b *serveBundle) startServeRoles(t *testing.T, name, roles string, extra map[string]string) *serveChild {
	t.Helper()
	env := map[string]string{
		runMainEnv:         "1",
		envDatabaseURL:     b.dbURL,
		envAllowHTTP:       "true",
		envAllowedNetworks: "127.0.0.0/8",
		// Long enough never to cancel a slow attempt of a loaded machine:
		// the jobs of a killed process come back through heartbeats.
		envRescueAfter:     "2m",
		envPollInterval:    "10ms",
		envShutdownTimeout: "10s",
		envSecretsKey:      testSecretsKey,
		envLogFormat:       "text", // the tests search the log for text lines
	}
	for k, v := range extra {
		env[k] = v
	}
	cmd := exec.Command(os.Args[0], "serve", "-roles", roles)
	cmd.Env = os.Environ()
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v) // later entries win
	}
	out := &lineLog{t: t, prefix: name}
	cmd.Stdout, cmd.Stderr = out, out
	require.NoError(t, cmd.Start())
	c := &serveChild{name: name, cmd: cmd, out: out, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		c.err = cmd.Wait()
		out.flush()
	}()
	t.Cleanup(func() {
		select {
		case <-c.done:
		default:
			t.Logf("%s still running at cleanup; killing it", name)
			_ = cmd.Process.Kill()
			<-c.done
		}
	})
	return c
}

// serveChild is a running serve process.
type serveChild struct {
	name string
	cmd  *exec.Cmd
	out  *lineLog
	done chan struct{}
	err  error // of Wait, once done is closed
}

// wait waits for the process to exit and returns its state.
func (c *serveChild) wait(t *testing.T, timeout time.Duration) *os.ProcessState {
	t.Helper()
	select {
	case <-c.done:
	case <-time.After(timeout):
		t.Fatalf("%s did not exit within %s", c.name, timeout)
	}
	require.NotNil(t, c.cmd.ProcessState, "%s: %v", c.name, c.err)
	return c.cmd.ProcessState
}

// waitLine waits until the process logs a line containing one of subs,
// or exits.
func (c *serveChild) waitLine(t *testing.T, subs ...string) {
	t.Helper()
	require.Eventually(t, func() bool {
		select {
		case <-c.done:
			return true
		default:
		}
		return c.out.contains(subs...)
	}, 10*time.Second, 5*time.Millisecond, "%s never logged any of %q", c.name, subs)
}

// lineLog writes a child's output to the test log line by line and keeps
// it for searching.
type lineLog struct {
	t      *testing.T
	prefix string
	mu     sync.Mutex
	buf    []byte
	lines  []string
}

func (w *lineLog) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		w.emit(string(w.buf[:i]))
		w.buf = w.buf[i+1:]
	}
}

func (w *lineLog) emit(line string) {
	w.lines = append(w.lines, line)
	w.t.Logf("%s: %s", w.prefix, line)
}

func (w *lineLog) flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) > 0 {
		w.emit(string(w.buf))
		w.buf = nil
	}
}

func (w *lineLog) contains(subs ...string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, l := range w.lines {
		for _, s := range subs {
			if strings.Contains(l, s) {
				return true
			}
		}
	}
	return false
}

// hit is one request seen by a hookReceiver.
type hit struct {
	webhookID string // Webhook-Id header: the receiver's idempotency key
	delivery  string // X-Webhook-Delivery header
	attempt   string // X-Webhook-Attempt header
	path      string // /hook/<webhook id>
	eventID   string // the body's "id"
	at        time.Time
}

// pairKey identifies a delivery by what was published and registered, not
// by the headers under test.
type pairKey struct {
	event   domain.EventID
	webhook domain.WebhookID
}

// hookReceiver records every request; with hold set, it answers only once
// hold is closed (or the client gives up); with delay set, after delay()
// (a slow receiver).
type hookReceiver struct {
	*httptest.Server
	hold      chan struct{}
	delay     func() time.Duration
	mu        sync.Mutex
	got       []hit
	abandoned int
	onHit     func(n int)
}

func newHookReceiver(t *testing.T, hold chan struct{}) *hookReceiver {
	t.Helper()
	return startHookReceiver(t, &hookReceiver{hold: hold})
}

// newSlowReceiver answers every request after delay().
func newSlowReceiver(t *testing.T, delay func() time.Duration) *hookReceiver {
	t.Helper()
	return startHookReceiver(t, &hookReceiver{delay: delay})
}

func startHookReceiver(t *testing.T, rc *hookReceiver) *hookReceiver {
	t.Helper()
	rc.Server = httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *hookReceiver) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var ev struct {
		ID string `json:"id"`
	}
	_ = json.Unmarshal(body, &ev)
	h := hit{
		webhookID: r.Header.Get("webhook-id"), delivery: r.Header.Get("X-Webhook-Delivery"),
		attempt: r.Header.Get("X-Webhook-Attempt"), path: r.URL.Path, eventID: ev.ID, at: time.Now(),
	}
	rc.mu.Lock()
	rc.got = append(rc.got, h)
	n, onHit := len(rc.got), rc.onHit
	rc.mu.Unlock()
	if onHit != nil {
		onHit(n)
	}
	if rc.hold != nil {
		select {
		case <-rc.hold:
		case <-r.Context().Done():
			rc.mu.Lock()
			rc.abandoned++
			rc.mu.Unlock()
			return
		}
	}
	if rc.delay != nil {
		t := time.NewTimer(rc.delay())
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			return
		}
	}
	w.WriteHeader(http.StatusOK)
}

func (rc *hookReceiver) setOnHit(f func(n int)) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.onHit = f
}

func (rc *hookReceiver) count() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.got)
}

func (rc *hookReceiver) abandonedCount() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.abandoned
}

func (rc *hookReceiver) hits() []hit {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]hit(nil), rc.got...)
}

// pairs returns the distinct pairs received.
func (rc *hookReceiver) pairs() map[pairKey]struct{} {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	out := make(map[pairKey]struct{}, len(rc.got))
	for _, h := range rc.got {
		out[h.key()] = struct{}{}
	}
	return out
}

// byPair returns every copy of every pair, in arrival order.
func (rc *hookReceiver) byPair() map[pairKey][]hit {
	out := map[pairKey][]hit{}
	for _, h := range rc.hits() {
		out[h.key()] = append(out[h.key()], h)
	}
	return out
}

// deliveries returns the distinct X-Webhook-Delivery values received.
func (rc *hookReceiver) deliveries() map[string]bool {
	out := map[string]bool{}
	for _, h := range rc.hits() {
		out[h.delivery] = true
	}
	return out
}

func (h hit) key() pairKey {
	return pairKey{event: domain.EventID(h.eventID), webhook: domain.WebhookID(strings.TrimPrefix(h.path, "/hook/"))}
}

// requireEveryPair checks that the receiver got every (event, webhook)
// pair and no other, and that every copy of a pair carries the event id as
// webhook-id and the pair's delivery id, like the first copy. It returns
// the copies by pair and how many copies were duplicates.
func requireEveryPair(t *testing.T, rcv *hookReceiver, ids []domain.EventID, hooks []domain.WebhookID) (map[pairKey][]hit, int) {
	t.Helper()
	copies := rcv.byPair()
	for _, ev := range ids {
		for _, h := range hooks {
			_, ok := copies[pairKey{event: ev, webhook: h}]
			require.True(t, ok, "pair (%s, %s) never received", ev, h)
		}
	}
	require.Len(t, copies, len(ids)*len(hooks), "the receiver saw pairs nobody published")
	dups := 0
	for k, hs := range copies {
		wantDelivery := string(domain.DeliveryIDFor(k.event, k.webhook))
		for i, h := range hs {
			require.Equal(t, string(k.event), h.webhookID, "copy %d of %v: webhook-id is the event id", i, k)
			require.Equal(t, wantDelivery, h.delivery, "copy %d of %v: delivery id", i, k)
		}
		dups += len(hs) - 1
	}
	return copies, dups
}

func countDup(m map[pairKey][]hit) int {
	n := 0
	for _, hs := range m {
		if len(hs) > 1 {
			n++
		}
	}
	return n
}

// settledState summarizes deliveries and delivery jobs.
type settledState struct {
	deliveries, delivered, pendingJobs, runningJobs int
}

func (b *serveBundle) settled(t *testing.T) settledState {
	t.Helper()
	var s settledState
	err := b.pool.QueryRow(t.Context(), `SELECT
		(SELECT count(*) FROM deliveries),
		(SELECT count(*) FROM deliveries WHERE status = 'delivered'),
		(SELECT count(*) FROM river_job WHERE kind = 'deliver' AND state IN ('available', 'scheduled', 'retryable', 'pending')),
		(SELECT count(*) FROM river_job WHERE kind = 'deliver' AND state = 'running')`).
		Scan(&s.deliveries, &s.delivered, &s.pendingJobs, &s.runningJobs)
	require.NoError(t, err)
	return s
}

// waitSettled waits until n deliveries exist, all delivered, and no delivery
// job is left to run.
func (b *serveBundle) waitSettled(t *testing.T, n int, timeout time.Duration) {
	t.Helper()
	var last settledState
	want := settledState{deliveries: n, delivered: n}
	require.Eventually(t, func() bool {
		last = b.settled(t)
		return last == want
	}, timeout, 20*time.Millisecond, "database never settled: %+v", &last)
}

func (b *serveBundle) requireSettled(t *testing.T, n int) {
	t.Helper()
	require.Equal(t, settledState{deliveries: n, delivered: n}, b.settled(t))
	var attempts int
	require.NoError(t, b.pool.QueryRow(t.Context(), `SELECT count(*) FROM delivery_attempts`).Scan(&attempts))
	require.Equal(t, n, attempts, "one recorded attempt per delivery")
}

func (b *serveBundle) logJobStates(t *testing.T, when string) {
	t.Helper()
	rows, err := b.pool.Query(t.Context(), `SELECT state::text, count(*) FROM river_job WHERE kind = 'deliver' GROUP BY 1 ORDER BY 1`)
	require.NoError(t, err)
	type row struct {
		State string
		N     int
	}
	got, err := pgx.CollectRows(rows, pgx.RowToStructByPos[row])
	require.NoError(t, err)
	t.Logf("delivery jobs %s: %v", when, got)
}

// attemptStatuses returns the status of each recorded attempt per delivery,
// from the event log (the projection may lag behind a stopped process).
func (b *serveBundle) attemptStatuses(t *testing.T) map[domain.DeliveryID][]string {
	t.Helper()
	rows, err := b.pool.Query(t.Context(), `SELECT stream_id, data->>'status' FROM events
		WHERE stream_type = $1 AND type = $2 ORDER BY position`, domain.DeliveryStreamType, domain.TypeDeliveryAttempted)
	require.NoError(t, err)
	out := map[domain.DeliveryID][]string{}
	var id, status string
	_, err = pgx.ForEachRow(rows, []any{&id, &status}, func() error {
		out[domain.DeliveryID(id)] = append(out[domain.DeliveryID(id)], status)
		return nil
	})
	require.NoError(t, err)
	return out
}

// jobStates returns the states of the delivery jobs per delivery.
func (b *serveBundle) jobStates(t *testing.T) map[domain.DeliveryID][]string {
	t.Helper()
	rows, err := b.pool.Query(t.Context(), `SELECT args->>'delivery_id', state::text FROM river_job
		WHERE kind = 'deliver' ORDER BY id`)
	require.NoError(t, err)
	out := map[domain.DeliveryID][]string{}
	var id, state string
	_, err = pgx.ForEachRow(rows, []any{&id, &state}, func() error {
		out[domain.DeliveryID(id)] = append(out[domain.DeliveryID(id)], state)
		return nil
	})
	require.NoError(t, err)
	return out
}

// logStuck logs the running delivery jobs and River's leader, to tell a
// job nobody rescues from a rescue that has not run yet.
func (b *serveBundle) logStuck(t *testing.T) {
	t.Helper()
	var n int
	var oldest, newest *time.Time
	var now time.Time
	err := b.pool.QueryRow(t.Context(), `SELECT count(*), min(attempted_at), max(attempted_at), now()
		FROM river_job WHERE kind = 'deliver' AND state = 'running'`).Scan(&n, &oldest, &newest, &now)
	require.NoError(t, err)
	if n > 0 {
		t.Logf("%d delivery jobs running, attempted between %s and %s ago", n, now.Sub(*newest).Round(time.Millisecond), now.Sub(*oldest).Round(time.Millisecond))
	}
	var leader string
	var elected, expires time.Time
	err = b.pool.QueryRow(t.Context(), `SELECT leader_id, elected_at, expires_at FROM river_leader`).Scan(&leader, &elected, &expires)
	if err == nil {
		t.Logf("River leader %s, elected %s ago, expires in %s", leader, now.Sub(elected).Round(time.Millisecond), expires.Sub(now).Round(time.Millisecond))
	} else {
		t.Logf("River leader: %v", err)
	}
}

// logInFlight logs the delivery jobs a killed process left running, and how
// many of them had reached the receiver (to be sent again) or not (lost
// unless rescued).
func (b *serveBundle) logInFlight(t *testing.T, rcv *hookReceiver) {
	t.Helper()
	rows, err := b.pool.Query(t.Context(), `SELECT args->>'delivery_id' FROM river_job WHERE kind = 'deliver' AND state = 'running'`)
	require.NoError(t, err)
	running, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	seen := rcv.deliveries()
	reached := 0
	for _, id := range running {
		if seen[id] {
			reached++
		}
	}
	t.Logf("left running by the killed process: %d jobs, %d of which had reached the receiver", len(running), reached)
}
