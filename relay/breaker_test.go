package relay_test

import (
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/loki-interceptor/lokihooks/domain"
	"github.com/loki-interceptor/lokihooks/relay"
)

// breakerBundle is a relay whose breakers flush only when the test says,
// a receiver that fails until told otherwise, and a webhook for it whose
// retries wait an hour (so that only the test runs them).
type breakerBundle struct {
	*testBundle
	failing *atomic.Bool
	rc      *receiver
	hook    *domain.Webhook
}

func setupBreaker(t *testing.T) *breakerBundle {
	t.Helper()
	return setupBreakerWith(t, &setupOpts{})
}

// setupBreakerWith is setupBreaker with the other options of opts.
func setupBreakerWith(t *testing.T, opts *setupOpts) *breakerBundle {
	t.Helper()
	opts.breaker = relay.BreakerConfig{FlushInterval: time.Hour}
	b := setup(t, opts)
	failing := &atomic.Bool{}
	failing.Store(true)
	rc := newReceiver(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		if failing.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	hook := b.createWebhook(t, rc.URL, func(s *domain.WebhookSpec) { s.RetryDelaySeconds = 3600 })
	return &breakerBundle{testBundle: b, failing: failing, rc: rc, hook: hook}
}

// breaker reads the webhook's breaker as the API shows it.
func (b *breakerBundle) breaker(t *testing.T, id domain.WebhookID) *domain.Breaker {
	t.Helper()
	w, err := b.webhooks.GetWebhook(t.Context(), id)
	require.NoError(t, err)
	require.NotNil(t, w.Breaker)
	return w.Breaker
}

// waitBreaker waits until the webhook's breaker is in state at version.
func (b *breakerBundle) waitBreaker(t *testing.T, state domain.BreakerState, version int64) *domain.Breaker {
	t.Helper()
	var last *domain.Breaker
	require.Eventually(t, func() bool {
		last = b.breaker(t, b.hook.ID)
		return last.State == state && last.Version == version
	}, 20*time.Second, 5*time.Millisecond, "breaker never reached %s at version %d", state, version)
	return last
}

// countDeliveries counts the hook's deliveries in status.
func (b *breakerBundle) countDeliveries(t *testing.T, status domain.DeliveryStatus) int {
	t.Helper()
	var n int
	require.NoError(t, b.pool.QueryRow(t.Context(), `SELECT count(*) FROM deliveries WHERE destination_id = $1 AND status = $2`,
		string(b.hook.ID), string(status)).Scan(&n))
	return n
}

// waitParked waits until n of the hook's deliveries are parked.
func (b *breakerBundle) waitParked(t *testing.T, n int) {
	t.Helper()
	if !assertEventually(t, func() bool { return b.parked(t) == n }) {
		b.diagnose(t, "")
		var out string
		_ = b.pool.QueryRow(t.Context(), `SELECT jsonb_agg(to_jsonb(x))::text FROM (SELECT id, kind, state, attempt, scheduled_at,
			metadata, errors, args->>'destination_id' AS dest FROM river_job WHERE id > 10 ORDER BY id) x`).Scan(&out)
		t.Fatalf("%d parked, not %d; jobs: %s", b.parked(t), n, out)
	}
}

// parked counts the hook's parked deliveries (snoozed jobs).
func (b *breakerBundle) parked(t *testing.T) int {
	t.Helper()
	var n int
	require.NoError(t, b.pool.QueryRow(t.Context(), `SELECT count(*) FROM river_job WHERE kind = 'deliver'
		AND state = 'scheduled' AND metadata ? 'snoozes' AND args->>'destination_id' = $1`, string(b.hook.ID)).Scan(&n))
	return n
}

// runBreakerJob makes the breaker's job run now, as if its time had come
// (the test's clock runs ahead of River's).
func (b *breakerBundle) runBreakerJob(t *testing.T) {
	t.Helper()
	require.Eventually(t, func() bool {
		tag, err := b.pool.Exec(t.Context(), `UPDATE river_job SET state = 'available', scheduled_at = now()
			WHERE kind = 'breaker' AND state IN ('scheduled', 'retryable')`)
		return err == nil && tag.RowsAffected() == 1
	}, 20*time.Second, 5*time.Millisecond, "no breaker job waits")
}

// breakerEvents returns the types of the hook's breaker stream.
func (b *breakerBundle) breakerEvents(t *testing.T) []string {
	t.Helper()
	rows, err := b.pool.Query(t.Context(), `SELECT type FROM events WHERE stream_id = $1 ORDER BY version`,
		domain.BreakerStreamID(domain.DestinationID(b.hook.ID)))
	require.NoError(t, err)
	types, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	return types
}

// openBreaker fails n deliveries and flushes: the breaker opens.
func (b *breakerBundle) openBreaker(t *testing.T, n int) []domain.EventID {
	t.Helper()
	ids := make([]domain.EventID, n)
	for i := range ids {
		ids[i] = b.publish(t, domain.EventTypeSystemError, `{"error_code":"E"}`)
	}
	require.Eventually(t, func() bool { return b.countDeliveries(t, domain.DeliveryRetrying) == n }, 20*time.Second, 5*time.Millisecond)
	b.relay.FlushBreakers(t.Context())
	return ids
}

// TestBreaker follows one destination's breaker through every transition
// with the relay's clock: it opens on failures, parks deliveries instead of
// sending them, probes after its cool-down, opens again for twice as long
// when the probe fails, closes when one succeeds and releases what it held.
// Nothing is lost: every event ends delivered.
func TestBreaker(t *testing.T) {
	t.Parallel()
	b := setupBreaker(t)
	okRc := newReceiver(t, status(http.StatusOK))
	healthy := b.createWebhook(t, okRc.URL, nil)
	opened := b.clock.Now()

	// Open: 12 of 12 attempts failed within the window.
	ids := b.openBreaker(t, 12)
	br := b.waitBreaker(t, domain.BreakerStateOpen, 1)
	require.Contains(t, br.Reason, "100% of 12 attempts failed in the last 5m0s (last: http_5xx: ")
	require.Equal(t, 12, br.Attempts)
	require.Equal(t, 12, br.Failures)
	require.InDelta(t, 1.0, br.FailureRate, 1e-9)
	require.Equal(t, 300, br.WindowSeconds)
	require.Equal(t, 1, br.Opens)
	require.True(t, br.Since.Equal(opened), "open since the flush: %s", br.Since)
	require.True(t, br.ReopenAt.Equal(opened.Add(domain.DefaultBreakerCoolDown)), "reopen at %s", br.ReopenAt)
	require.Equal(t, domain.BreakerStateClosed, b.breaker(t, healthy.ID).State, "breakers are per destination")

	// While open, new deliveries and due retries park; nothing is sent.
	for range 3 {
		ids = append(ids, b.publish(t, domain.EventTypeSystemError, `{"error_code":"E"}`))
	}
	require.Eventually(t, func() bool { return len(okRc.requests()) == 15 && b.parked(t) == 3 }, 20*time.Second, 5*time.Millisecond)
	b.promote(t)
	b.waitParked(t, 15)
	require.Len(t, b.rc.requests(), 12, "an open breaker sends nothing")

	// The cool-down ends: half-open, one probe, which fails: open again,
	// for twice as long.
	b.clock.Advance(domain.DefaultBreakerCoolDown + time.Second)
	b.runBreakerJob(t)
	br = b.waitBreaker(t, domain.BreakerStateOpen, 3)
	require.Len(t, b.rc.requests(), 13, "one probe")
	require.Contains(t, br.Reason, "probe failed (last: http_5xx: ")
	require.Equal(t, 2, br.Opens)
	require.True(t, br.ReopenAt.Equal(b.clock.Now().Add(2*domain.DefaultBreakerCoolDown)), "reopen at %s", br.ReopenAt)
	require.Equal(t, 14, b.parked(t))

	// The receiver recovers: the next probe closes the breaker and every
	// parked delivery is released.
	b.failing.Store(false)
	b.clock.Advance(2*domain.DefaultBreakerCoolDown + time.Second)
	b.runBreakerJob(t)
	br = b.waitBreaker(t, domain.BreakerStateClosed, 5)
	require.Equal(t, "probe succeeded", br.Reason)
	require.Eventually(t, func() bool { return b.countDeliveries(t, domain.DeliveryDelivered) == 14 }, 20*time.Second, 5*time.Millisecond)
	// The failed probe's retry waits for its own time, as any retry.
	b.promote(t)
	require.Eventually(t, func() bool { return b.countDeliveries(t, domain.DeliveryDelivered) == 15 }, 20*time.Second, 5*time.Millisecond)

	seen := map[string]bool{}
	for _, r := range b.rc.requests() {
		seen[r.Header.Get("webhook-id")] = true
	}
	for _, id := range ids {
		require.True(t, seen[string(id)], "event %s never reached the receiver", id)
	}
	require.Equal(t, []string{
		domain.TypeBreakerOpened, domain.TypeBreakerHalfOpened, domain.TypeBreakerOpened,
		domain.TypeBreakerHalfOpened, domain.TypeBreakerClosed,
	}, b.breakerEvents(t))
}

// TestBreaker_Deactivates checks that a destination failing for longer than
// DeactivateAfter without a success is deactivated with the reason, and
// that resuming it closes its breaker and releases what it held.
func TestBreaker_Deactivates(t *testing.T) {
	t.Parallel()
	b := setupBreaker(t)
	firstFailure := b.clock.Now()
	b.openBreaker(t, 10)
	b.waitBreaker(t, domain.BreakerStateOpen, 1)
	held := []domain.EventID{
		b.publish(t, domain.EventTypeSystemError, `{"error_code":"E"}`),
		b.publish(t, domain.EventTypeSystemError, `{"error_code":"E"}`),
	}
	b.waitParked(t, 2)

	// Five days later a probe fails again: the run of failures is too long.
	b.clock.Advance(relay.DefaultDeactivateAfter + time.Minute)
	b.runBreakerJob(t)
	b.waitBreaker(t, domain.BreakerStateOpen, 3)
	b.relay.FlushBreakers(t.Context())
	w, err := b.webhooks.GetWebhook(t.Context(), b.hook.ID)
	require.NoError(t, err)
	require.Equal(t, domain.WebhookStatusInactive, w.Status)
	require.Equal(t, "deactivated after failing without a successful delivery since "+
		firstFailure.UTC().Format(time.RFC3339)+" (longer than 120h0m0s)", w.StatusReason)
	require.Equal(t, 1, b.parked(t), "the delivery that was not the probe is still held")

	// Resuming closes the breaker and releases the held delivery.
	b.failing.Store(false)
	_, err = b.webhooks.ResumeWebhook(t.Context(), b.hook.ID, domain.ExpectAny)
	require.NoError(t, err)
	br := b.waitBreaker(t, domain.BreakerStateClosed, 4)
	require.Equal(t, "destination resumed", br.Reason)
	require.Eventually(t, func() bool { return b.countDeliveries(t, domain.DeliveryDelivered) == 1 }, 20*time.Second, 5*time.Millisecond)
	delivered := b.rc.requests()[len(b.rc.requests())-1].Header.Get("webhook-id")
	require.Contains(t, []string{string(held[0]), string(held[1])}, delivered)
}

// TestBreaker_WindowSpansProcesses checks that the window sums what every
// worker process saw: neither of two processes that saw 6 failures each
// opens the breaker alone; together they do.
func TestBreaker_WindowSpansProcesses(t *testing.T) {
	t.Parallel()
	b := setupBreaker(t)
	other := b.newRelay(t, relay.Config{Work: true, Breaker: relay.BreakerConfig{FlushInterval: time.Hour}})
	run(t, other)
	dest := domain.DestinationID(b.hook.ID)
	require.Eventually(t, func() bool {
		var n int
		err := b.pool.QueryRow(t.Context(), `SELECT count(*) FROM worker_heartbeats`).Scan(&n)
		return err == nil && n == 2
	}, 10*time.Second, 5*time.Millisecond, "both processes run")

	b.relay.ObserveAttempts(dest, false, 6)
	b.relay.FlushBreakers(t.Context())
	require.Equal(t, domain.BreakerStateClosed, b.breaker(t, b.hook.ID).State, "6 attempts are too few")

	other.ObserveAttempts(dest, true, 1)
	other.ObserveAttempts(dest, false, 5)
	other.FlushBreakers(t.Context())
	br := b.breaker(t, b.hook.ID)
	require.Equal(t, domain.BreakerStateOpen, br.State)
	require.Equal(t, 12, br.Attempts)
	require.Equal(t, 11, br.Failures)
	require.Contains(t, br.Reason, "92% of 12 attempts failed")
}

// TestBreaker_AnySuccessEndsTheRunOfFailures checks that a success seen by
// any worker process ends a destination's run of failures, so that a
// destination failing now and then is not deactivated.
func TestBreaker_AnySuccessEndsTheRunOfFailures(t *testing.T) {
	t.Parallel()
	b := setupBreaker(t)
	other := b.newRelay(t, relay.Config{Work: true, Breaker: relay.BreakerConfig{FlushInterval: time.Hour}})
	run(t, other)
	dest := domain.DestinationID(b.hook.ID)
	failingSince := func() *time.Time {
		var at *time.Time
		require.NoError(t, b.pool.QueryRow(t.Context(), `SELECT failing_since FROM breaker_health WHERE destination_id = $1`,
			string(dest)).Scan(&at))
		return at
	}
	require.Eventually(t, func() bool {
		var n int
		err := b.pool.QueryRow(t.Context(), `SELECT count(*) FROM worker_heartbeats`).Scan(&n)
		return err == nil && n == 2
	}, 10*time.Second, 5*time.Millisecond, "both processes run")

	first := b.clock.Now()
	b.relay.ObserveAttempts(dest, false, 1)
	b.relay.FlushBreakers(t.Context())
	require.True(t, failingSince().Equal(first))

	b.clock.Advance(time.Hour)
	other.ObserveAttempts(dest, true, 1)
	other.FlushBreakers(t.Context())
	require.Nil(t, failingSince(), "the other process's success ended the run")

	b.clock.Advance(relay.DefaultDeactivateAfter)
	later := b.clock.Now()
	b.relay.ObserveAttempts(dest, false, 1)
	b.relay.FlushBreakers(t.Context())
	require.True(t, failingSince().Equal(later), "a new run starts at the next failure")
	w, err := b.webhooks.GetWebhook(t.Context(), b.hook.ID)
	require.NoError(t, err)
	require.Equal(t, domain.WebhookStatusActive, w.Status)
}
