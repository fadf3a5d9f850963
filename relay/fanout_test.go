package relay_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/loki-interceptor/lokihooks/domain"
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
	require.Len(t, seen, len(want), fmt.Sprintf("unexpected deliveries: %v", seen))
}
