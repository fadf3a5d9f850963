package projections_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/loki-interceptor/lokihooks/domain"
	"github.com/loki-interceptor/lokihooks/eventstore"
	"github.com/loki-interceptor/lokihooks/internal/dbtest"
	"github.com/loki-interceptor/lokihooks/projections"
)

// TestRunner_Settle checks that a settling runner applies only the events
// older than Settle, that the deliveries projection folds into a delivery
// it starts the attempt read ahead (one row write, already final), and
// that the result is what a runner without Settle builds.
func TestRunner_Settle(t *testing.T) {
	t.Parallel()
	pool := dbtest.Pool(t, nil)
	ctx := t.Context()
	store := eventstore.New(pool, eventstore.Config{})
	now := time.Now().UTC().Truncate(time.Microsecond)
	appendAt := func(stream string, age time.Duration, events ...domain.Event) domain.LogPosition {
		t.Helper()
		recs, err := store.Append(ctx, domain.Append{StreamID: stream, StreamType: domain.DeliveryStreamType, Expect: domain.ExpectAny, Events: events})
		require.NoError(t, err)
		for _, r := range recs {
			_, err := pool.Exec(ctx, `UPDATE events SET recorded_at = now() - make_interval(secs => $2) WHERE position = $1`, r.Position, age.Seconds())
			require.NoError(t, err)
		}
		return domain.PositionOf(recs[len(recs)-1])
	}
	first := appendAt("dlv_x", time.Minute, scheduled("dlv_x", "wh_1", "evt_x", domain.EventTypeSystemError, now))
	appendAt("dlv_x", 0, delivered(1, now))
	last := appendAt("dlv_y", 0, scheduled("dlv_y", "wh_1", "evt_y", domain.EventTypeSystemError, now))
	read := func(ctx context.Context, q projections.DB, after domain.LogPosition, limit int) ([]domain.Recorded, error) {
		return eventstore.ReadLog(ctx, q, after, limit)
	}
	runner, err := projections.NewRunner(pool, projections.RunnerConfig{
		Name: "deliveries", Projector: projections.Deliveries{}, Read: read, Settle: 10 * time.Second,
	})
	require.NoError(t, err)
	require.Equal(t, 1, drainTo(t, runner, first), "only x's scheduled event is old enough")
	x, err := projections.GetDelivery(ctx, pool, "dlv_x")
	require.NoError(t, err)
	require.Equal(t, domain.DeliveryDelivered, x.Status, "its attempt, read ahead, is folded in")
	require.Equal(t, int64(2), x.Version)
	_, err = projections.GetDelivery(ctx, pool, "dlv_y")
	require.ErrorIs(t, err, domain.ErrNotFound, "y waits until it settles")

	_, err = pool.Exec(ctx, `UPDATE events SET recorded_at = recorded_at - interval '1 hour'`)
	require.NoError(t, err)
	require.Equal(t, 2, drainTo(t, runner, last))
	settledModel := snapshot(t, pool)

	plain, err := projections.NewRunner(pool, projections.RunnerConfig{
		Name: "deliveries", Projector: projections.Deliveries{}, Read: read, Reset: projections.Deliveries{}.Reset,
	})
	require.NoError(t, err)
	_, err = plain.Rebuild(ctx)
	require.NoError(t, err)
	drainTo(t, plain, last)
	require.JSONEq(t, snapshot(t, pool), settledModel)
}
