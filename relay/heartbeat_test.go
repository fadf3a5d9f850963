package relay_test

import (
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loki-interceptor/lokihooks/domain"
	"github.com/loki-interceptor/lokihooks/relay"
)

// TestHeartbeat checks that the running jobs of a worker process that died
// run again within its heartbeat's lapse, at once when a process with its
// worker id starts, and never while it is alive.
func TestHeartbeat(t *testing.T) {
	t.Parallel()

	// setupDead schedules one delivery and leaves its job running under
	// the worker id dead, as a process killed mid-delivery does; beat
	// records a heartbeat of dead now.
	// respond, if set, answers the deliveries (200 at once otherwise).
	setupDead := func(t *testing.T, respond func(n int, w http.ResponseWriter, r *http.Request)) (b *testBundle, rc *receiver, id domain.DeliveryID, beat func()) {
		t.Helper()
		b = setup(t, &setupOpts{noWork: true})
		if respond == nil {
			respond = status(http.StatusOK)
		}
		rc = newReceiver(t, respond)
		hook := b.createWebhook(t, rc.URL, nil)
		ev := b.publish(t, domain.EventTypeSystemError, `{"error_code":"E"}`)
		id = domain.DeliveryIDFor(ev, hook.ID)
		require.Eventually(t, func() bool {
			tag, err := b.pool.Exec(t.Context(), `UPDATE river_job SET state = 'running', attempt = 1,
				attempted_at = now(), attempted_by = '{dead}' WHERE kind = 'deliver' AND state = 'available'`)
			return err == nil && tag.RowsAffected() == 1
		}, 20*time.Second, 5*time.Millisecond)
		beat = func() {
			_, err := b.pool.Exec(t.Context(), `INSERT INTO worker_heartbeats (worker_id, host, pid, started_at, beat_at)
				VALUES ('dead', 'elsewhere', 1, now(), now()) ON CONFLICT (worker_id) DO UPDATE SET beat_at = now()`)
			assert.NoError(t, err)
		}
		beat()
		return b, rc, id, beat
	}

	t.Run("RestartReclaimsAtOnce", func(t *testing.T) {
		t.Parallel()
		// The receiver holds the attempt until the test has read the job's
		// errors: a delivered job is deleted.
		release := make(chan struct{})
		b, rc, id, _ := setupDead(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
			<-release
			w.WriteHeader(http.StatusOK)
		})
		var once sync.Once
		unblock := func() { once.Do(func() { close(release) }) }
		t.Cleanup(unblock)
		dest := destinationOf(t, b, id)
		start := time.Now()
		// The default lapse is 6 s: a delivery within 3 s can only be the
		// restart's own reclaim.
		run(t, b.newRelay(t, relay.Config{Work: true, WorkerID: "dead"}))
		require.Eventually(t, func() bool { return len(rc.requests()) == 1 }, 3*time.Second, 5*time.Millisecond)
		t.Logf("sent again %s after the restart", time.Since(start).Round(time.Millisecond))
		var errs []string
		require.NoError(t, b.pool.QueryRow(t.Context(), `SELECT array(SELECT e->>'error' FROM unnest(errors) e)
			FROM river_job WHERE kind = 'deliver'`).Scan(&errs))
		require.Equal(t, []string{"worker process restarted"}, errs)
		unblock()
		b.waitDelivery(t, domain.EventID(rc.requests()[0].Header.Get("webhook-id")), domain.WebhookID(dest), domain.DeliveryDelivered)
	})

	t.Run("LapsedWorkerReclaimedByAnother", func(t *testing.T) {
		t.Parallel()
		b, rc, _, beat := setupDead(t, nil)
		run(t, b.newRelay(t, relay.Config{Work: true, WorkerID: "live", HeartbeatInterval: 50 * time.Millisecond}))
		// While dead keeps beating it is alive: its slow delivery is not
		// taken from it, though it runs far longer than the lapse (150 ms).
		stopBeating, beaten := make(chan struct{}), make(chan struct{})
		go func() {
			defer close(beaten)
			tick := time.NewTicker(20 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-stopBeating:
					return
				case <-tick.C:
					beat()
				}
			}
		}()
		require.Never(t, func() bool { return len(rc.requests()) > 0 }, time.Second, 10*time.Millisecond,
			"a live worker's delivery was sent again")
		close(stopBeating)
		<-beaten
		stopped := time.Now()
		require.Eventually(t, func() bool { return len(rc.requests()) == 1 }, 5*time.Second, 5*time.Millisecond)
		t.Logf("sent again %s after the last heartbeat", time.Since(stopped).Round(time.Millisecond))
		var n int
		require.NoError(t, b.pool.QueryRow(t.Context(), `SELECT count(*) FROM worker_heartbeats WHERE worker_id = 'dead'`).Scan(&n))
		require.Zero(t, n, "a reaped worker is forgotten")
	})

	t.Run("LiveProcessesGetDistinctIDs", func(t *testing.T) {
		t.Parallel()
		b := setup(t, &setupOpts{workerID: "same"})
		run(t, b.newRelay(t, relay.Config{Work: true, WorkerID: "same"}))
		require.Eventually(t, func() bool {
			rows, err := b.pool.Query(t.Context(), `SELECT worker_id FROM worker_heartbeats ORDER BY worker_id`)
			if err != nil {
				return false
			}
			ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
			return err == nil && len(ids) == 2 && ids[0] == "same" && ids[1] == "same-2"
		}, 10*time.Second, 5*time.Millisecond)
	})
}

func destinationOf(t *testing.T, b *testBundle, id domain.DeliveryID) domain.DestinationID {
	t.Helper()
	var dest string
	require.NoError(t, b.pool.QueryRow(t.Context(), `SELECT args->>'destination_id' FROM river_job
		WHERE args->>'delivery_id' = $1 LIMIT 1`, string(id)).Scan(&dest))
	return domain.DestinationID(dest)
}

// TestReclaimOrphans checks which running jobs a process takes back after
// the database came back: its own, running since before, that it is not
// working on, directly or through the flush job that claimed them.
func TestReclaimOrphans(t *testing.T) {
	t.Parallel()
	pool := setup(t, &setupOpts{noWork: true}).pool
	client, err := river.NewClient(riverpgxv5.New(pool), &river.Config{})
	require.NoError(t, err)
	insert := func() int64 {
		res, err := client.Insert(t.Context(), relay.DeliverArgs{DeliveryID: "dlv_x", DestinationID: "wh_x"}, nil)
		require.NoError(t, err)
		return res.Job.ID
	}
	orphan, working, claimed, other, recent := insert(), insert(), insert(), insert(), insert()
	running := func(id int64, by string, ago time.Duration, batch int64) {
		_, err := pool.Exec(t.Context(), `UPDATE river_job SET state = 'running', attempt = 1,
			attempted_at = now() - make_interval(secs => $3), attempted_by = ARRAY[$2],
			metadata = CASE WHEN $4 > 0 THEN jsonb_build_object('batch', $4) ELSE '{}' END WHERE id = $1`,
			id, by, ago.Seconds(), batch)
		require.NoError(t, err)
	}
	running(orphan, "me", time.Minute, 0)
	running(working, "me", time.Minute, 0)
	running(claimed, "me", time.Minute, working)
	running(other, "someone-else", time.Minute, 0)
	running(recent, "me", 0, 0)
	var before time.Time
	require.NoError(t, pool.QueryRow(t.Context(), `SELECT now() - interval '1 second'`).Scan(&before))

	got, err := relay.ReclaimOrphans(t.Context(), pool, "me", before, working)
	require.NoError(t, err)
	require.Equal(t, []int64{orphan}, got)
	var state string
	require.NoError(t, pool.QueryRow(t.Context(), `SELECT state FROM river_job WHERE id = $1`, orphan).Scan(&state))
	require.Equal(t, "available", state)
}
