package main

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loki-interceptor/lokihooks/domain"
)

// faultRecovery is what one kill cost.
type faultRecovery struct {
	// inFlight is how many jobs the killed process left running.
	inFlight int
	// resent is when the last of them reached the receiver again, and
	// rateBack when the delivery rate was back to half what it was before
	// the kill; both counted from the kill.
	resent, rateBack time.Duration
}

// TestServe_KilledRepeatedlyRecoversInSeconds delivers 10,000 deliveries
// (5,000 events to 2 webhooks; 3,000 under the race detector, which slows
// the child processes several times) to a receiver that answers in
// 100-300 ms, SIGKILLs serve at five random moments and restarts it at
// once. After
// each kill, the jobs the dead process left running reach the receiver
// again and the delivery rate is back within 10 s (River's own rescue,
// LOKIHOOKS_RESCUE_AFTER, is set to 2 minutes: it plays no part). At the
// end every (event, webhook) pair was answered at least once, and every
// copy of a pair carries the same webhook-id.
func TestServe_KilledRepeatedlyRecoversInSeconds(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("runs lokihooks serve in child processes against PostgreSQL")
	}
	const (
		webhooks = 2
		kills    = 5
		limit    = 10 * time.Second
	)
	events, workers := 5000, 200
	if raceEnabled {
		events, workers = 1500, 100
	}
	total := events * webhooks
	seed := time.Now().UnixNano()
	rnd := rand.New(rand.NewPCG(uint64(seed), 0)) //nolint:gosec // test randomness
	t.Logf("seed %d", seed)
	start := time.Now()
	b := newServeBundle(t)
	rcv := newSlowReceiver(t, func() time.Duration { return 100*time.Millisecond + rand.N(200*time.Millisecond) }) //nolint:gosec // test randomness
	hooks := make([]domain.WebhookID, webhooks)
	for i := range hooks {
		hooks[i] = b.createWebhook(t, rcv.URL)
	}
	// Kill points: one in each sixth of the run but the first, at a random
	// request count within it.
	points := make([]int, kills)
	for k := range points {
		sixth := total / (kills + 1)
		points[k] = (k+1)*sixth + rnd.IntN(sixth/2)
	}
	env := map[string]string{envWorkers: fmt.Sprint(workers), envWorkerID: "fault-worker", envRescueAfter: "2m"}
	child := b.startServe(t, "serve-0", env)
	ids := b.publish(t, events, 500)

	var recoveries []faultRecovery
	for k, point := range points {
		killedAt := make(chan time.Time, 1)
		var once sync.Once
		victim := child
		rcv.setOnHit(func(n int) {
			if n >= point {
				once.Do(func() {
					_ = victim.cmd.Process.Kill()
					killedAt <- time.Now()
				})
			}
		})
		var tk time.Time
		select {
		case tk = <-killedAt:
		case <-time.After(2 * time.Minute):
			t.Fatalf("the receiver never saw %d requests (saw %d)", point, rcv.count())
		}
		state := victim.wait(t, 10*time.Second)
		ws, ok := state.Sys().(syscall.WaitStatus)
		require.True(t, ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL, "%s must have died of SIGKILL: %s", victim.name, state)
		running := len(b.runningDeliveries(t))
		restarted := time.Now()
		child = b.startServe(t, fmt.Sprintf("serve-%d", k+1), env)
		// What the dead process left running is what the restart reclaims
		// (a few of the jobs running when it died may still have their
		// outcome committed: it had sent the commit).
		child.waitLine(t, `msg="worker started"`)
		inFlight := b.reclaimedSince(t, tk)
		rec := faultRecovery{inFlight: len(inFlight)}
		if !assert.Eventually(t, func() bool {
			var ok bool
			rec.resent, ok = resentAfter(rcv.hits(), inFlight, tk)
			return ok
		}, 60*time.Second, 20*time.Millisecond) {
			b.logJobStates(t, "when giving up")
			b.logStuck(t)
			b.logMissing(t, rcv, inFlight, tk)
			t.Fatalf("kill %d: the jobs left running were not all sent again", k+1)
		}
		require.Eventually(t, func() bool {
			var ok bool
			rec.rateBack, ok = rateBackAfter(rcv.hits(), tk)
			return ok
		}, 60*time.Second, 20*time.Millisecond, "kill %d: the delivery rate never came back", k+1)
		t.Logf("kill %d at request %d: %d jobs running, %d left running; all sent again %s after the kill (restart began %s after it); rate back after %s",
			k+1, point, running, rec.inFlight, rec.resent.Round(time.Millisecond), restarted.Sub(tk).Round(time.Millisecond),
			rec.rateBack.Round(time.Millisecond))
		require.LessOrEqual(t, rec.resent, limit, "kill %d: in-flight deliveries sent again too late", k+1)
		require.LessOrEqual(t, rec.rateBack, limit, "kill %d: delivery rate back too late", k+1)
		recoveries = append(recoveries, rec)
	}
	rcv.setOnHit(nil)

	if !assert.Eventually(t, func() bool { return len(rcv.pairs()) >= total }, 2*time.Minute, 20*time.Millisecond) {
		b.logJobStates(t, "when giving up")
		b.logStuck(t)
		t.Fatalf("only %d of %d (event, webhook) pairs received", len(rcv.pairs()), total)
	}
	b.waitSettled(t, total, time.Minute)
	require.NoError(t, child.cmd.Process.Signal(syscall.SIGTERM))
	require.Equal(t, 0, child.wait(t, 15*time.Second).ExitCode())

	_, dups := requireEveryPair(t, rcv, ids, hooks)
	resent, rateBack := make([]time.Duration, len(recoveries)), make([]time.Duration, len(recoveries))
	for i, r := range recoveries {
		resent[i], rateBack[i] = r.resent, r.rateBack
	}
	t.Logf("%d kills: in-flight sent again after %s (median), rate back after %s (median); %d duplicates in %d requests; took %s",
		kills, median(resent).Round(time.Millisecond), median(rateBack).Round(time.Millisecond), dups, rcv.count(),
		time.Since(start).Round(time.Millisecond))
}

// TestServe_DeadWorkersJobsRunElsewhere runs two worker processes against a
// receiver that takes 7 s per request, longer than a heartbeat's lapse
// (6 s), and SIGKILLs one of them while both have requests in flight. The
// survivor sends the dead one's deliveries again within 10 s, and never
// sends again a delivery of its own, slow as they are.
func TestServe_DeadWorkersJobsRunElsewhere(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("runs lokihooks serve in child processes against PostgreSQL")
	}
	const (
		events = 60
		slow   = 7 * time.Second
	)
	b := newServeBundle(t)
	rcv := newSlowReceiver(t, func() time.Duration { return slow })
	b.createWebhook(t, rcv.URL)
	doomed := b.startServe(t, "doomed", map[string]string{envWorkers: "20", envWorkerID: "doomed", envRescueAfter: "2m"})
	b.publish(t, events, events)
	require.Eventually(t, func() bool { return rcv.count() == 20 }, 30*time.Second, 5*time.Millisecond)
	survivor := b.startServe(t, "survivor", map[string]string{envWorkers: "100", envWorkerID: "survivor", envRescueAfter: "2m"})
	require.Eventually(t, func() bool { return rcv.count() == events }, 30*time.Second, 5*time.Millisecond)

	require.NoError(t, doomed.cmd.Process.Kill())
	tk := time.Now()
	doomed.wait(t, 10*time.Second)
	byWorker := b.runningDeliveriesBy(t)
	require.Len(t, byWorker["doomed"], 20)
	require.Len(t, byWorker["survivor"], events-20)

	var resent time.Duration
	require.Eventually(t, func() bool {
		var ok bool
		resent, ok = resentAfter(rcv.hits(), byWorker["doomed"], tk)
		return ok
	}, 30*time.Second, 10*time.Millisecond, "the dead worker's deliveries were not sent again")
	t.Logf("the dead worker's %d deliveries sent again %s after the kill", len(byWorker["doomed"]), resent.Round(time.Millisecond))
	require.LessOrEqual(t, resent, 10*time.Second)

	b.waitSettled(t, events, 30*time.Second)
	counts := map[string]int{}
	for _, h := range rcv.hits() {
		counts[h.delivery]++
	}
	for _, id := range byWorker["survivor"] {
		require.Equal(t, 1, counts[string(id)], "delivery %s of the live worker was sent twice", id)
	}
	require.NoError(t, survivor.cmd.Process.Signal(syscall.SIGTERM))
	require.Equal(t, 0, survivor.wait(t, 15*time.Second).ExitCode())
}

// reclaimedSince returns the deliveries whose jobs a restarting process
// reclaimed since since.
func (b *serveBundle) reclaimedSince(t *testing.T, since time.Time) []domain.DeliveryID {
	t.Helper()
	rows, err := b.pool.Query(t.Context(), `SELECT DISTINCT args->>'delivery_id' FROM river_job, unnest(errors) e
		WHERE kind = 'deliver' AND e->>'error' = 'worker process restarted' AND (e->>'at')::timestamptz >= $1`, since)
	require.NoError(t, err)
	ids, err := pgx.CollectRows(rows, pgx.RowTo[domain.DeliveryID])
	require.NoError(t, err)
	return ids
}

// runningDeliveries returns the deliveries whose jobs are running.
func (b *serveBundle) runningDeliveries(t *testing.T) []domain.DeliveryID {
	t.Helper()
	var out []domain.DeliveryID
	for _, ids := range b.runningDeliveriesBy(t) {
		out = append(out, ids...)
	}
	return out
}

// runningDeliveriesBy returns the deliveries whose jobs are running, by
// the worker that runs them.
func (b *serveBundle) runningDeliveriesBy(t *testing.T) map[string][]domain.DeliveryID {
	t.Helper()
	rows, err := b.pool.Query(t.Context(), `SELECT attempted_by[array_upper(attempted_by, 1)], args->>'delivery_id'
		FROM river_job WHERE kind = 'deliver' AND state = 'running'`)
	require.NoError(t, err)
	out := map[string][]domain.DeliveryID{}
	var worker, id string
	_, err = pgx.ForEachRow(rows, []any{&worker, &id}, func() error {
		out[worker] = append(out[worker], domain.DeliveryID(id))
		return nil
	})
	require.NoError(t, err)
	return out
}

// resentAfter reports whether every delivery of ids reached the receiver
// after since, and when the last of them did, counted from since.
func resentAfter(hits []hit, ids []domain.DeliveryID, since time.Time) (time.Duration, bool) {
	first := map[string]time.Time{}
	for _, h := range hits {
		if h.at.After(since) {
			if _, ok := first[h.delivery]; !ok {
				first[h.delivery] = h.at
			}
		}
	}
	var last time.Duration
	for _, id := range ids {
		at, ok := first[string(id)]
		if !ok {
			return 0, false
		}
		last = max(last, at.Sub(since))
	}
	return last, true
}

// rateBackAfter reports whether, after since, a one-second window held at
// least half as many requests per second as the three seconds before
// since, and when the first such window ended, counted from since.
func rateBackAfter(hits []hit, since time.Time) (time.Duration, bool) {
	before := 0
	var after []time.Time
	for _, h := range hits {
		switch {
		case h.at.After(since):
			after = append(after, h.at)
		case h.at.After(since.Add(-3 * time.Second)):
			before++
		}
	}
	want := max(1, before/3/2)
	slices.SortFunc(after, func(a, b time.Time) int { return a.Compare(b) })
	for i := range after {
		j := i
		for j < len(after) && after[j].Sub(after[i]) < time.Second {
			j++
		}
		if j-i >= want {
			return after[j-1].Sub(since), true
		}
	}
	return 0, false
}

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// logMissing logs the deliveries of ids not received since since, with
// their jobs and events.
func (b *serveBundle) logMissing(t *testing.T, rcv *hookReceiver, ids []domain.DeliveryID, since time.Time) {
	t.Helper()
	seen := map[string]bool{}
	for _, h := range rcv.hits() {
		if h.at.After(since) {
			seen[h.delivery] = true
		}
	}
	n := 0
	for _, id := range ids {
		if seen[string(id)] || n == 5 {
			continue
		}
		n++
		var jobs, events string
		_ = b.pool.QueryRow(t.Context(), `SELECT coalesce(jsonb_agg(to_jsonb(x))::text, '[]') FROM (SELECT id, state, attempt,
			attempted_by, errors, metadata, scheduled_at, finalized_at FROM river_job WHERE args->>'delivery_id' = $1) x`, string(id)).Scan(&jobs)
		_ = b.pool.QueryRow(t.Context(), `SELECT coalesce(jsonb_agg(to_jsonb(x))::text, '[]') FROM (SELECT version, type,
			data->>'status' AS status, recorded_at FROM events WHERE stream_id = $1) x`, string(id)).Scan(&events)
		var hits []time.Time
		for _, h := range rcv.hits() {
			if h.delivery == string(id) {
				hits = append(hits, h.at)
			}
		}
		t.Logf("not sent again: %s; hits %v (kill at %s); jobs %s; events %s", id, hits, since, jobs, events)
	}
}
