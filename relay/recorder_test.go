package relay_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/loki-interceptor/lokihooks/domain"
)

// TestRecorder_HungCommitDoesNotStallOthers: one recording transaction
// that hangs (here: it must wait for another transaction holding the very
// event row it inserts) used to freeze every worker, since one goroutine
// committed all attempts with no deadline. Now it holds one committer
// until its deadline; the other deliveries are recorded meanwhile, and the
// hung attempt runs again once the way is clear.
func TestRecorder_HungCommitDoesNotStallOthers(t *testing.T) {
	t.Parallel()
	b := setup(t, &setupOpts{recordTimeout: 500 * time.Millisecond})
	ready := make(chan struct{})
	arrived := make(chan struct{}, 2)
	hold := func(n int, w http.ResponseWriter, _ *http.Request) {
		if n == 1 {
			arrived <- struct{}{}
			<-ready // answer only once the test holds A's event row
		}
		w.WriteHeader(http.StatusOK)
	}
	stuck, fine := newReceiver(t, hold), newReceiver(t, hold)
	hookA := b.createWebhook(t, stuck.URL, func(s *domain.WebhookSpec) { s.EventTypes = []string{domain.EventTypeSystemError} })
	hookB := b.createWebhook(t, fine.URL, func(s *domain.WebhookSpec) { s.EventTypes = []string{domain.EventTypeReportGenerated} })
	evA := b.publish(t, domain.EventTypeSystemError, `{"error_code":"E"}`)
	evB := b.publish(t, domain.EventTypeReportGenerated, `{"report_id":"r1"}`)
	dlvA, dlvB := domain.DeliveryIDFor(evA, hookA.ID), domain.DeliveryIDFor(evB, hookB.ID)
	<-arrived
	<-arrived // both attempts are in flight

	// Take the row the recording of A's attempt inserts (version 2 of its
	// stream): that recording must wait for this transaction. (It holds a
	// transaction id, so the log's readers see nothing newer meanwhile:
	// the test watches the event table and the jobs instead.)
	ctx := context.WithoutCancel(t.Context())
	tx, err := b.pool.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(ctx) }()
	_, err = tx.Exec(ctx, `INSERT INTO events (stream_id, stream_type, version, type, data)
		VALUES ($1, 'delivery', 2, 'delivery.redriven.v1', '{}')`, string(dlvA))
	require.NoError(t, err)
	close(ready)

	require.Eventually(t, func() bool {
		var recorded bool
		err := b.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM events WHERE stream_id = $1 AND type = $2)
			AND NOT EXISTS (SELECT 1 FROM river_job WHERE args->>'delivery_id' = $1)`,
			string(dlvB), domain.TypeDeliveryAttempted).Scan(&recorded)
		return err == nil && recorded
	}, 20*time.Second, 5*time.Millisecond, "B is recorded (and its job finished) while A's recording hangs")
	require.Eventually(t, func() bool {
		var failed bool
		err := b.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM river_job WHERE args->>'delivery_id' = $1
			AND errors IS NOT NULL)`, string(dlvA)).Scan(&failed)
		return err == nil && failed
	}, 20*time.Second, 5*time.Millisecond, "A's recording gives up at its deadline and its job is retried")

	require.NoError(t, tx.Rollback(ctx))
	d := b.waitDelivery(t, evA, hookA.ID, domain.DeliveryDelivered)
	reqs := stuck.requests()
	require.GreaterOrEqual(t, len(reqs), 2, "the attempt whose recording failed was made again")
	require.Equal(t, 1, d.Attempts, "an attempt that was never recorded is made again under its own number")
	for _, r := range reqs {
		require.Equal(t, string(evA), r.Header.Get("webhook-id"), "the receiver can deduplicate")
		require.Equal(t, "1", r.Header.Get("X-Webhook-Attempt"))
	}
}
