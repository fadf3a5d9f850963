package relay_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/loki-interceptor/lokihooks/domain"
	"github.com/loki-interceptor/lokihooks/internal/dbtest"
	"github.com/loki-interceptor/lokihooks/relay"
)

// TestFanout_FoldsTransactionsWithoutPassingLateCommits publishes many
// one-event transactions (which the fan-out handles together) while an
// older transaction is still open, and checks that nothing is scheduled
// ahead of that transaction's commit visibility, and that every event,
// the late one included, is delivered exactly once.
func TestFanout_FoldsTransactionsWithoutPassingLateCommits(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	rc := newReceiver(t, status(http.StatusOK))
	hook := b.createWebhook(t, rc.URL, nil)
	ctx := t.Context()
	const data = `{"error_code":"E1"}`
	xid := func(tx pgx.Tx) {
		t.Helper()
		var x string
		require.NoError(t, tx.QueryRow(ctx, `SELECT pg_current_xact_id()::text`).Scan(&x))
	}
	publishIn := func(tx pgx.Tx, n int) []domain.EventID {
		t.Helper()
		rows, err := tx.Query(ctx, `SELECT lokihooks_publish($1, $2::jsonb) FROM generate_series(1, $3)`, domain.EventTypeSystemError, data, n)
		require.NoError(t, err)
		ids, err := pgx.CollectRows(rows, pgx.RowTo[domain.EventID])
		require.NoError(t, err)
		return ids
	}

	// early gets the oldest xid, late the next; both stay open. Neither
	// test's cleanup may leave them open: an open xid pauses every outbox
	// consumer of the cluster.
	early, err := b.pool.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = early.Rollback(ctx) }()
	xid(early)
	late, err := b.pool.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = late.Rollback(ctx) }()
	xid(late)

	// Committed after late began: visible to the fan-out only once late
	// has ended.
	var after []domain.EventID
	for range 40 {
		after = append(after, b.publish(t, domain.EventTypeSystemError, data))
	}
	multi, err := b.pool.Begin(ctx)
	require.NoError(t, err)
	after = append(after, publishIn(multi, 5)...)
	require.NoError(t, multi.Commit(ctx))

	// early publishes and commits now: its event is below the horizon, so
	// a poll that starts after this commit (and so after every event of
	// after) delivers it. Had that poll passed the horizon, it would have
	// scheduled the events of after in the same transaction.
	earlyIDs := publishIn(early, 1)
	require.NoError(t, early.Commit(ctx))
	// The receiver, not the read model: the projection too waits for late.
	require.Eventually(t, func() bool {
		for _, r := range rc.requests() {
			if r.Header.Get("webhook-id") == string(earlyIDs[0]) {
				return true
			}
		}
		return false
	}, 20*time.Second, 5*time.Millisecond)
	var scheduled int
	require.NoError(t, b.pool.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE kind = 'deliver' AND args->>'event_id' = ANY($1)`,
		after).Scan(&scheduled))
	require.Zero(t, scheduled, "events of transactions younger than an open one were scheduled before it ended")

	lateIDs := publishIn(late, 2)
	require.NoError(t, late.Commit(ctx))

	want := append(append(append([]domain.EventID{}, earlyIDs...), lateIDs...), after...)
	for _, id := range want {
		b.waitDelivery(t, id, hook.ID, domain.DeliveryDelivered)
	}
	seen := map[string]int{}
	for _, r := range rc.requests() {
		seen[r.Header.Get("webhook-id")]++
	}
	for _, id := range want {
		require.Equal(t, 1, seen[string(id)], "event %s delivered %d times", id, seen[string(id)])
	}
	require.Len(t, seen, len(want), "unexpected deliveries: %v", seen)
}

// TestRelay_WakesOnNotifications runs the fan-out and the workers with
// fallback polls of an hour: an event is delivered only if
// lokihooks_publish's notification wakes the fan-out and the job insert's
// notification wakes the workers.
func TestRelay_WakesOnNotifications(t *testing.T) {
	t.Parallel()
	b := setup(t, &setupOpts{pollFallback: time.Hour, fetchPoll: time.Hour})
	rc := newReceiver(t, status(http.StatusOK))
	hook := b.createWebhook(t, rc.URL, nil)
	for range 3 {
		ev := b.publish(t, domain.EventTypeSystemError, `{"error_code":"E1"}`)
		b.waitDelivery(t, ev, hook.ID, domain.DeliveryDelivered)
	}
}

// TestPublish_NotifiesTheOutboxChannel checks the notification's channel
// and payload (the outbox's schema), and that a rolled-back publish sends
// none.
func TestPublish_NotifiesTheOutboxChannel(t *testing.T) {
	t.Parallel()
	pool := dbtest.Pool(t, nil)
	ctx := t.Context()
	conn, err := pool.Acquire(ctx)
	require.NoError(t, err)
	defer conn.Release()
	var schema string
	require.NoError(t, conn.QueryRow(ctx, `SELECT current_schema()`).Scan(&schema))
	_, err = conn.Exec(ctx, "LISTEN "+relay.OutboxChannel)
	require.NoError(t, err)
	defer func() { _, _ = conn.Exec(context.WithoutCancel(ctx), "UNLISTEN *") }()

	publish := func(commit bool) {
		tx, err := pool.Begin(ctx)
		require.NoError(t, err)
		_, err = tx.Exec(ctx, `SELECT lokihooks_publish($1, '{"error_code":"E1"}'::jsonb) FROM generate_series(1, 3)`, domain.EventTypeSystemError)
		require.NoError(t, err)
		if commit {
			require.NoError(t, tx.Commit(ctx))
		} else {
			require.NoError(t, tx.Rollback(ctx))
		}
	}
	publish(false)
	publish(true)
	// Other tests' schemas publish on the same channel: count ours.
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	n, err := conn.Conn().WaitForNotification(wctx)
	for err == nil && n.Payload != schema {
		n, err = conn.Conn().WaitForNotification(wctx)
	}
	require.NoError(t, err)
	require.Equal(t, relay.OutboxChannel, n.Channel)
	// One transaction of three events, one notification; the rolled-back
	// one sent nothing.
	_, err = conn.Exec(ctx, `SELECT pg_notify($1, 'end:' || current_schema())`, relay.OutboxChannel)
	require.NoError(t, err)
	for {
		n, err = conn.Conn().WaitForNotification(wctx)
		require.NoError(t, err)
		require.NotEqual(t, schema, n.Payload, "a second notification for one transaction, or one for a rolled-back transaction")
		if n.Payload == "end:"+schema {
			return
		}
	}
}
