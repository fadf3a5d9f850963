package relay

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/loki-interceptor/lokihooks/domain"
	"github.com/loki-interceptor/lokihooks/internal/dbtest"
)

// bodyQueries counts the reads of bodies a pool runs.
type bodyQueries struct{ n atomic.Int64 }

func (q *bodyQueries) TraceQueryStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	if data.SQL == selectBodies {
		q.n.Add(1)
	}
	return ctx
}

func (*bodyQueries) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func TestBodies(t *testing.T) {
	t.Parallel()

	type testBundle struct {
		pool    *pgxpool.Pool
		queries *bodyQueries
	}
	setup := func(t *testing.T) (*bodies, *testBundle) {
		t.Helper()
		q := &bodyQueries{}
		pool := dbtest.Pool(t, &dbtest.Opts{Tracer: q})
		return newBodies(pool), &testBundle{pool: pool, queries: q}
	}
	// serve runs fn readers until the test ends.
	serve := func(t *testing.T, fn func(context.Context)) {
		t.Helper()
		ctx, cancel := context.WithCancel(context.WithoutCancel(t.Context()))
		var wg sync.WaitGroup
		wg.Go(func() { fn(ctx) })
		t.Cleanup(func() { cancel(); wg.Wait() })
	}
	stored := func(t *testing.T, b *testBundle, data string) (domain.EventID, []byte) {
		t.Helper()
		var id string
		require.NoError(t, b.pool.QueryRow(t.Context(), `SELECT lokihooks_publish('system.error', $1::jsonb)`, data).Scan(&id))
		var body []byte
		require.NoError(t, b.pool.QueryRow(t.Context(), `SELECT body FROM published_events WHERE id = $1`, id).Scan(&body))
		return domain.EventID(id), body
	}

	t.Run("ReadsPublishedBodies", func(t *testing.T) {
		t.Parallel()
		bs, b := setup(t)
		serve(t, bs.run)
		id1, body1 := stored(t, b, `{"n":1}`)
		id2, body2 := stored(t, b, `{"n":2,"s":"é \"x\""}`)

		got, err := bs.read(t.Context(), []domain.EventID{id1, "evt_missing", id2, id1})
		require.NoError(t, err)
		require.Equal(t, map[domain.EventID][]byte{id1: body1, id2: body2}, got, "an unknown id is absent")
		body, err := bs.body(t.Context(), id2)
		require.NoError(t, err)
		require.Equal(t, body2, body)
		_, err = bs.body(t.Context(), "evt_missing")
		require.ErrorIs(t, err, domain.ErrNotFound)
	})

	t.Run("WaitingRequestsShareOneQuery", func(t *testing.T) {
		t.Parallel()
		bs, b := setup(t)
		const n = 20
		ids := make([]domain.EventID, n)
		want := make([][]byte, n)
		for i := range ids {
			ids[i], want[i] = stored(t, b, `{"n":1}`)
		}
		// Every request waits in the queue before a reader starts.
		got := make([][]byte, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range ids {
			wg.Go(func() { got[i], errs[i] = bs.body(t.Context(), ids[i]) })
		}
		require.Eventually(t, func() bool { return len(bs.queue) == n }, 10*time.Second, time.Millisecond)
		serve(t, bs.readLoop)
		wg.Wait()
		for i := range ids {
			require.NoError(t, errs[i])
			require.Equal(t, want[i], got[i])
		}
		require.Equal(t, int64(1), b.queries.n.Load(), "one query for every request waiting")
	})

	t.Run("RememberedBodiesNeedNoQuery", func(t *testing.T) {
		t.Parallel()
		bs, b := setup(t)
		serve(t, bs.run)
		id1, body1 := stored(t, b, `{"n":1}`)
		id2, body2 := stored(t, b, `{"n":2}`)
		bs.remember(id1, body1)

		got, err := bs.read(t.Context(), []domain.EventID{id1})
		require.NoError(t, err)
		require.Equal(t, map[domain.EventID][]byte{id1: body1}, got)
		require.Zero(t, b.queries.n.Load(), "a remembered body is not read")

		got, err = bs.read(t.Context(), []domain.EventID{id1, id2, "evt_missing"})
		require.NoError(t, err)
		require.Equal(t, map[domain.EventID][]byte{id1: body1, id2: body2}, got)
		require.Equal(t, int64(1), b.queries.n.Load(), "only the bodies not remembered are read")
	})

	t.Run("ForgetsTheOldestBeyondTheBound", func(t *testing.T) {
		t.Parallel()
		bs := newBodies(nil)
		body := make([]byte, maxRememberedBytes/4)
		for i := range 5 {
			bs.remember(domain.EventID(fmt.Sprint("evt_", i)), body)
		}
		got, missing := bs.recall([]domain.EventID{"evt_0", "evt_1", "evt_2", "evt_3", "evt_4"})
		require.Equal(t, []domain.EventID{"evt_0"}, missing, "the oldest is forgotten")
		require.Len(t, got, 4)
		require.LessOrEqual(t, bs.size, maxRememberedBytes)
		bs.remember("evt_big", make([]byte, maxRememberedBytes+1))
		_, missing = bs.recall([]domain.EventID{"evt_big"})
		require.Equal(t, []domain.EventID{"evt_big"}, missing, "a body larger than the bound is not kept")
	})

	t.Run("CancelledWhileWaiting", func(t *testing.T) {
		t.Parallel()
		bs, _ := setup(t)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		_, err := bs.read(ctx, []domain.EventID{"evt_1"})
		require.ErrorIs(t, err, context.Canceled)
	})
}
