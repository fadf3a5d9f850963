package relay_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/stretchr/testify/require"

	"github.com/loki-interceptor/lokihooks/domain"
	"github.com/loki-interceptor/lokihooks/internal/dbtest"
	"github.com/loki-interceptor/lokihooks/relay"
)

// insertNotices listens to River's insert notifications on the schema of
// a pool, as River's workers do.
type insertNotices struct {
	conn    *pgx.Conn
	pool    *pgxpool.Pool
	channel string
}

func listenInserts(t *testing.T, pool *pgxpool.Pool) *insertNotices {
	t.Helper()
	conn, err := pgx.ConnectConfig(t.Context(), pool.Config().ConnConfig.Copy())
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close(context.WithoutCancel(t.Context())) })
	var schema string
	require.NoError(t, conn.QueryRow(t.Context(), `SELECT current_schema()`).Scan(&schema))
	n := &insertNotices{conn: conn, pool: pool, channel: schema + ".river_insert"}
	_, err = conn.Exec(t.Context(), "LISTEN "+pgx.Identifier{n.channel}.Sanitize())
	require.NoError(t, err)
	return n
}

// sent returns the payloads of the insert notifications committed since
// the last call. It notifies a marker and reads up to it: notifications
// of different transactions arrive in the order the transactions
// committed, so nothing committed before the marker arrives after it.
func (n *insertNotices) sent(t *testing.T) []string {
	t.Helper()
	const marker = "marker"
	_, err := n.pool.Exec(t.Context(), `SELECT pg_notify($1, $2)`, n.channel, marker)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	var payloads []string
	for {
		note, err := n.conn.WaitForNotification(ctx)
		require.NoError(t, err)
		require.Equal(t, n.channel, note.Channel)
		if note.Payload == marker {
			return payloads
		}
		payloads = append(payloads, note.Payload)
	}
}

// requireWoke checks that exactly one insert notification for the
// delivery queue was sent since the last look, in River's format.
func (n *insertNotices) requireWoke(t *testing.T) {
	t.Helper()
	got := n.sent(t)
	require.Len(t, got, 1, "one insert notification")
	require.JSONEq(t, `{"queue": "`+relay.DeliveryQueue+`"}`, got[0])
}

// requireQuiet checks that no insert notification was sent since the last
// look.
func (n *insertNotices) requireQuiet(t *testing.T) {
	t.Helper()
	require.Empty(t, n.sent(t), "no insert notification")
}

// TestNotify_JobsMadeAvailableWakeTheWorkers checks that every statement
// that makes deliver jobs available with lokihooks' own SQL sends River's
// insert notification for the delivery queue (the workers fetch on it),
// and sends none when it made no job available.
func TestNotify_JobsMadeAvailableWakeTheWorkers(t *testing.T) {
	t.Parallel()
	pool := dbtest.Pool(t, nil)
	client, err := river.NewClient(riverpgxv5.New(pool), &river.Config{})
	require.NoError(t, err)
	// insert adds a deliver job of destination dest and sets it as set
	// says (SQL assignments of river_job; $2 is by).
	insert := func(t *testing.T, dest, set, by string) int64 {
		t.Helper()
		res, err := client.Insert(t.Context(), relay.DeliverArgs{DeliveryID: "dlv_" + domain.DeliveryID(dest), DestinationID: domain.DestinationID(dest)}, nil)
		require.NoError(t, err)
		_, err = pool.Exec(t.Context(), `UPDATE river_job SET `+set+` WHERE id = $1`, res.Job.ID, by)
		require.NoError(t, err)
		return res.Job.ID
	}
	const (
		parked   = `state = 'scheduled', scheduled_at = now() + interval '1 day', metadata = '{"snoozes": 1}', attempted_by = ARRAY[$2]`
		running  = `state = 'running', attempt = 1, attempted_at = now() - interval '1 minute', attempted_by = ARRAY[$2]`
		claimed  = running + `, metadata = '{"batch": 99}'`
		later    = `state = 'scheduled', scheduled_at = now() + interval '1 hour', attempted_by = ARRAY[$2]`
		runOut   = `state = 'running', attempt = max_attempts, attempted_at = now() - interval '1 minute', attempted_by = ARRAY[$2]`
		notOurs  = "someone"
		destPark = "wh_park"
	)
	state := func(t *testing.T, id int64) string {
		t.Helper()
		var s string
		require.NoError(t, pool.QueryRow(t.Context(), `SELECT state FROM river_job WHERE id = $1`, id).Scan(&s))
		return s
	}
	n := listenInserts(t, pool)

	t.Run("WakeParked", func(t *testing.T) {
		insert(t, destPark, parked, notOurs)
		n.sent(t) // the insert's own notification
		woken, err := relay.WakeParked(t.Context(), pool, destPark, 10)
		require.NoError(t, err)
		require.Equal(t, 1, woken)
		n.requireWoke(t)
		woken, err = relay.WakeParked(t.Context(), pool, destPark, 10)
		require.NoError(t, err)
		require.Zero(t, woken)
		n.requireQuiet(t)
	})

	t.Run("WakeProbe", func(t *testing.T) {
		id := insert(t, "wh_probe", parked, notOurs)
		n.sent(t)
		woke, err := relay.WakeProbe(t.Context(), pool, "wh_probe")
		require.NoError(t, err)
		require.True(t, woke)
		require.Equal(t, "available", state(t, id))
		n.requireWoke(t)
		woke, err = relay.WakeProbe(t.Context(), pool, "wh_probe")
		require.NoError(t, err)
		require.False(t, woke)
		n.requireQuiet(t)
	})

	t.Run("ReleaseClaimed", func(t *testing.T) {
		id := insert(t, "wh_batch", claimed, notOurs)
		n.sent(t)
		require.NoError(t, relay.ReleaseClaimed(t.Context(), pool, 99, map[int64]int{id: 1}))
		require.Equal(t, "available", state(t, id))
		n.requireWoke(t)
		require.NoError(t, relay.ReleaseClaimed(t.Context(), pool, 99, map[int64]int{id: 1}))
		n.requireQuiet(t)
	})

	t.Run("HastenFlush", func(t *testing.T) {
		id := insert(t, "wh_flush", later, notOurs)
		n.sent(t)
		// Brought forward but still scheduled: nothing to fetch yet.
		require.NoError(t, relay.HastenFlush(t.Context(), pool, id, time.Now().Add(30*time.Minute), false))
		require.Equal(t, "scheduled", state(t, id))
		n.requireQuiet(t)
		require.NoError(t, relay.HastenFlush(t.Context(), pool, id, time.Now(), true))
		require.Equal(t, "available", state(t, id))
		n.requireWoke(t)
		require.NoError(t, relay.HastenFlush(t.Context(), pool, id, time.Now(), true))
		n.requireQuiet(t)
	})

	t.Run("ReclaimOrphans", func(t *testing.T) {
		id := insert(t, "wh_orphan", running, "orphaned")
		n.sent(t)
		got, err := relay.ReclaimOrphans(t.Context(), pool, "orphaned", time.Now())
		require.NoError(t, err)
		require.Equal(t, []int64{id}, got)
		n.requireWoke(t)
		got, err = relay.ReclaimOrphans(t.Context(), pool, "orphaned", time.Now())
		require.NoError(t, err)
		require.Empty(t, got)
		n.requireQuiet(t)
	})

	t.Run("ReclaimOwn", func(t *testing.T) {
		// A job that used its attempts is discarded: nothing to fetch.
		spent := insert(t, "wh_own", runOut, "restarted")
		n.sent(t)
		got, err := relay.ReclaimOwn(t.Context(), pool, "restarted")
		require.NoError(t, err)
		require.Equal(t, []int64{spent}, got)
		require.Equal(t, "discarded", state(t, spent))
		n.requireQuiet(t)

		id := insert(t, "wh_own", running, "restarted")
		n.sent(t)
		got, err = relay.ReclaimOwn(t.Context(), pool, "restarted")
		require.NoError(t, err)
		require.Equal(t, []int64{id}, got)
		n.requireWoke(t)
	})

	t.Run("ReclaimLapsed", func(t *testing.T) {
		id := insert(t, "wh_lapsed", running, "lapsed")
		_, err := pool.Exec(t.Context(), `INSERT INTO worker_heartbeats (worker_id, host, pid, started_at, beat_at)
			VALUES ('lapsed', 'elsewhere', 1, now(), '-infinity')`)
		require.NoError(t, err)
		n.sent(t)
		got, err := relay.ReclaimLapsed(t.Context(), pool, time.Minute)
		require.NoError(t, err)
		require.Equal(t, []int64{id}, got)
		n.requireWoke(t)
		got, err = relay.ReclaimLapsed(t.Context(), pool, time.Minute)
		require.NoError(t, err)
		require.Empty(t, got)
		n.requireQuiet(t)
	})
}

// The tests below run workers whose fallback poll is an hour: a job that
// some path makes available runs within promptly only if that path
// notified them.
const (
	noFetchPoll = time.Hour
	promptly    = 10 * time.Second
)

// crashedDelivery schedules a delivery to a receiver of its own and leaves
// its job running under worker id by since a minute, as a process that
// died mid-delivery does. b runs the fan-out only.
func crashedDelivery(t *testing.T, b *testBundle, by string) *receiver {
	t.Helper()
	rc := newReceiver(t, status(http.StatusOK))
	b.createWebhook(t, rc.URL, func(s *domain.WebhookSpec) { s.EventTypes = []string{domain.EventTypeSystemError} })
	b.publish(t, domain.EventTypeSystemError, `{"error_code":"E"}`)
	require.Eventually(t, func() bool {
		tag, err := b.pool.Exec(t.Context(), `UPDATE river_job SET state = 'running', attempt = 1,
			attempted_at = now() - interval '1 minute', attempted_by = ARRAY[$1] WHERE kind = 'deliver' AND state = 'available'`, by)
		return err == nil && tag.RowsAffected() == 1
	}, 20*time.Second, 5*time.Millisecond)
	return rc
}

// idleWorkers runs a worker process with the given config and waits until
// it has delivered an event of another type to another receiver: its
// workers then fetched after everything the test set up, and are idle.
func idleWorkers(t *testing.T, b *testBundle, cfg relay.Config) {
	t.Helper()
	cfg.Work = true
	run(t, b.newRelay(t, cfg))
	rc := newReceiver(t, status(http.StatusOK))
	hook := b.createWebhook(t, rc.URL, func(s *domain.WebhookSpec) { s.EventTypes = []string{domain.EventTypeValidationFailed} })
	ev := b.publish(t, domain.EventTypeValidationFailed, `{"error_code":"V1"}`)
	b.waitDelivery(t, ev, hook.ID, domain.DeliveryDelivered)
}

// TestReclaimOrphans_RunAtOnce checks that a job reclaimed after the
// database came back is sent again at once, not at the workers' next poll.
func TestReclaimOrphans_RunAtOnce(t *testing.T) {
	t.Parallel()
	b := setup(t, &setupOpts{noWork: true, fetchPoll: noFetchPoll})
	rc := crashedDelivery(t, b, "away")
	idleWorkers(t, b, relay.Config{WorkerID: "live"})
	require.Empty(t, rc.requests())

	got, err := relay.ReclaimOrphans(t.Context(), b.pool, "away", time.Now())
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.Eventually(t, func() bool { return len(rc.requests()) == 1 }, promptly, 5*time.Millisecond,
		"the reclaimed job waits for the workers' poll")
}

// TestReclaimLapsed_RunsAtOnce checks that the running job of a worker
// process that stopped heartbeating is sent again as soon as a live
// process reclaims it, not at the workers' next poll.
func TestReclaimLapsed_RunsAtOnce(t *testing.T) {
	t.Parallel()
	b := setup(t, &setupOpts{noWork: true, fetchPoll: noFetchPoll})
	rc := crashedDelivery(t, b, "dead")
	idleWorkers(t, b, relay.Config{WorkerID: "live", HeartbeatInterval: 50 * time.Millisecond})
	require.Empty(t, rc.requests())

	// dead's heartbeat lapsed long ago: the live process reaps it at its
	// next beat.
	_, err := b.pool.Exec(t.Context(), `INSERT INTO worker_heartbeats (worker_id, host, pid, started_at, beat_at)
		VALUES ('dead', 'elsewhere', 1, now(), now() - interval '1 hour')`)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return len(rc.requests()) == 1 }, promptly, 5*time.Millisecond,
		"the reclaimed job waits for the workers' poll")
}

// TestParkedDelivery_ResumeRunsItAtOnce checks that resuming a paused
// destination sends its parked delivery at once, not at the workers' next
// poll.
func TestParkedDelivery_ResumeRunsItAtOnce(t *testing.T) {
	t.Parallel()
	b := setup(t, &setupOpts{fetchPoll: noFetchPoll})
	rc := newReceiver(t, status(http.StatusOK))
	hook := b.createWebhook(t, rc.URL, nil)
	_, err := b.webhooks.PauseWebhook(t.Context(), hook.ID, domain.ExpectAny)
	require.NoError(t, err)
	b.publish(t, domain.EventTypeSystemError, `{"error_code":"E"}`)
	require.Eventually(t, func() bool {
		var parked int
		err := b.pool.QueryRow(t.Context(), `SELECT count(*) FROM river_job WHERE kind = 'deliver' AND state = 'scheduled'
			AND metadata ? 'snoozes'`).Scan(&parked)
		return err == nil && parked == 1
	}, 20*time.Second, 5*time.Millisecond)

	_, err = b.webhooks.ResumeWebhook(t.Context(), hook.ID, domain.ExpectAny)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return len(rc.requests()) == 1 }, promptly, 5*time.Millisecond,
		"the woken delivery waits for the workers' poll")
}

// TestBreakerProbe_RunsAtOnce checks that the probe a half-open breaker
// wakes is sent at once, not at the workers' next poll.
func TestBreakerProbe_RunsAtOnce(t *testing.T) {
	t.Parallel()
	b := setupBreakerWith(t, &setupOpts{fetchPoll: noFetchPoll})
	b.openBreaker(t, 10)
	b.waitBreaker(t, domain.BreakerStateOpen, 1)
	b.publish(t, domain.EventTypeSystemError, `{"error_code":"E"}`)
	b.waitParked(t, 1)
	require.Len(t, b.rc.requests(), 10)

	// The breaker's job runs (the test wakes the workers for it as River's
	// scheduler would); it makes the parked delivery available as the
	// probe.
	b.clock.Advance(domain.DefaultBreakerCoolDown + time.Second)
	b.runBreakerJob(t)
	require.NoError(t, relay.NotifyWorkers(t.Context(), b.pool))
	b.waitBreaker(t, domain.BreakerStateHalfOpen, 2)
	require.Eventually(t, func() bool { return len(b.rc.requests()) == 11 }, promptly, 5*time.Millisecond,
		"the probe waits for the workers' poll")
}

// TestDueWake_SnoozedJobRunsWhenDue checks that a job River leaves
// available for later runs when it is due, not at the workers' next poll:
// the breaker's job, run a second before its breaker may half-open,
// snoozes for that second (River makes it available at once with a later
// scheduled_at, and notifies nobody); once due, it runs again, half-opens
// the breaker and wakes the probe.
func TestDueWake_SnoozedJobRunsWhenDue(t *testing.T) {
	t.Parallel()
	b := setupBreakerWith(t, &setupOpts{fetchPoll: noFetchPoll})
	b.openBreaker(t, 10)
	br := b.waitBreaker(t, domain.BreakerStateOpen, 1)
	require.NotNil(t, br.ReopenAt)
	b.publish(t, domain.EventTypeSystemError, `{"error_code":"E"}`)
	b.waitParked(t, 1)
	require.Len(t, b.rc.requests(), 10)

	b.clock.Advance(br.ReopenAt.Add(-time.Second).Sub(b.clock.Now()))
	b.runBreakerJob(t)
	require.NoError(t, relay.NotifyWorkers(t.Context(), b.pool))
	require.Eventually(t, func() bool {
		var snoozed bool
		err := b.pool.QueryRow(t.Context(), `SELECT EXISTS (SELECT FROM river_job WHERE kind = 'breaker'
			AND metadata ? 'snoozes')`).Scan(&snoozed)
		return err == nil && snoozed
	}, promptly, 5*time.Millisecond, "the breaker's job did not snooze")
	// Its time comes while it waits (the relay's clock runs ahead of
	// River's): when it runs again, it half-opens the breaker.
	b.clock.Advance(time.Second)
	require.Eventually(t, func() bool { return len(b.rc.requests()) == 11 }, promptly, 5*time.Millisecond,
		"the snoozed job waits for the workers' poll")
	require.Contains(t, b.breakerEvents(t), domain.TypeBreakerHalfOpened)
}

// TestDueWake_RetryRunsWhenDue checks that a job inserted for later runs
// when it is due, not at the workers' next poll: a delivery's retry, due
// 6 s after its first attempt. River's scheduler makes it available up to
// 5 s early and notifies nobody (only for jobs due within 5 ms); the
// worker process that inserted it notifies the workers when it is due.
func TestDueWake_RetryRunsWhenDue(t *testing.T) {
	t.Parallel()
	const delay = 6 * time.Second
	b := setup(t, &setupOpts{fetchPoll: noFetchPoll})
	// The relay's clock (which times the retry) is River's, and stands still.
	b.clock.Advance(time.Since(b.clock.Now()))
	start := b.clock.Now()
	arrived := make(chan time.Time, 2)
	rc := newReceiver(t, func(n int, w http.ResponseWriter, _ *http.Request) {
		arrived <- time.Now()
		if n == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	})
	hook := b.createWebhook(t, rc.URL, func(s *domain.WebhookSpec) { s.RetryDelaySeconds = int(delay.Seconds()) })
	ev := b.publish(t, domain.EventTypeSystemError, `{"error_code":"E"}`)
	select {
	case <-arrived:
	case <-time.After(promptly):
		t.Fatal("the first attempt was not sent")
	}

	select {
	case at := <-arrived:
		require.False(t, at.Before(start.Add(delay)), "the retry ran before it was due")
	case <-time.After(time.Until(start.Add(delay + promptly))):
		t.Fatal("the retry waits for the workers' poll")
	}
	b.waitDelivery(t, ev, hook.ID, domain.DeliveryDelivered)
	require.Len(t, rc.requests(), 2)
}
