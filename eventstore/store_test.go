package eventstore_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/stretchr/testify/require"
	"golang.org/x/sync/errgroup"

	"github.com/loki-interceptor/lokihooks/domain"
	"github.com/loki-interceptor/lokihooks/eventstore"
	"github.com/loki-interceptor/lokihooks/internal/dbtest"
)

type testBundle struct {
	pool *pgxpool.Pool
	now  time.Time
}

func setup(t *testing.T) (*eventstore.Store, *testBundle) {
	t.Helper()
	pool := dbtest.Pool(t, nil)
	return eventstore.New(pool, eventstore.Config{}), &testBundle{
		pool: pool,
		now:  time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC),
	}
}

func paused(at time.Time) domain.Event { return domain.WebhookPaused{At: at} }

func TestStore_Append(t *testing.T) {
	t.Parallel()

	t.Run("NewStreamThenLoad", func(t *testing.T) {
		t.Parallel()
		store, b := setup(t)
		recs, err := store.Append(t.Context(), domain.Append{
			StreamID: "wh_1", StreamType: "webhook", Expect: 0,
			Events:   []domain.Event{paused(b.now), domain.WebhookResumed{At: b.now}},
			Metadata: map[string]string{"correlation_id": "c1"},
		})
		require.NoError(t, err)
		require.Len(t, recs, 2)
		require.Equal(t, []int64{1, 2}, []int64{recs[0].Version, recs[1].Version})

		loaded, err := store.Load(t.Context(), "wh_1")
		require.NoError(t, err)
		require.Len(t, loaded, 2)
		require.Equal(t, domain.TypeWebhookPaused, loaded[0].Type)
		require.Equal(t, domain.TypeWebhookResumed, loaded[1].Type)
		require.Equal(t, "c1", loaded[1].Metadata["correlation_id"])
		e, err := domain.DecodeEvent(loaded[0].Type, loaded[0].Data)
		require.NoError(t, err)
		require.Equal(t, paused(b.now), e)
	})

	t.Run("VersionConflict", func(t *testing.T) {
		t.Parallel()
		store, b := setup(t)
		_, err := store.Append(t.Context(), domain.Append{
			StreamID: "wh_2", StreamType: "webhook", Expect: 0, Events: []domain.Event{paused(b.now)},
		})
		require.NoError(t, err)
		_, err = store.Append(t.Context(), domain.Append{
			StreamID: "wh_2", StreamType: "webhook", Expect: 0, Events: []domain.Event{paused(b.now)},
		})
		require.ErrorIs(t, err, domain.ErrVersionConflict)
		var ce *domain.ConflictError
		require.ErrorAs(t, err, &ce)
		require.Equal(t, int64(0), ce.Expected)
		require.Equal(t, int64(1), ce.Actual)

		loaded, err := store.Load(t.Context(), "wh_2")
		require.NoError(t, err)
		require.Len(t, loaded, 1, "the conflicting append must leave nothing behind")
	})

	t.Run("UnstorableTextIsInvalidInput", func(t *testing.T) {
		t.Parallel()
		store, b := setup(t)
		_, err := store.Append(t.Context(), domain.Append{
			StreamID: "wh_nul", StreamType: "webhook", Events: []domain.Event{domain.WebhookDeactivated{Reason: "a\x00b", At: b.now}},
		})
		require.ErrorIs(t, err, domain.ErrInvalid, "a NUL character is the caller's mistake, not a 500")
	})

	t.Run("ExpectAnyNumbersVersions", func(t *testing.T) {
		t.Parallel()
		store, b := setup(t)
		for range 3 {
			_, err := store.Append(t.Context(), domain.Append{
				StreamID: "wh_3", StreamType: "webhook", Expect: domain.ExpectAny, Events: []domain.Event{paused(b.now)},
			})
			require.NoError(t, err)
		}
		loaded, err := store.Load(t.Context(), "wh_3")
		require.NoError(t, err)
		require.Equal(t, int64(3), loaded[2].Version)
	})

	t.Run("CallerTransactionRolledBack", func(t *testing.T) {
		t.Parallel()
		store, b := setup(t)
		tx, err := b.pool.Begin(t.Context())
		require.NoError(t, err)
		_, err = store.AppendTx(t.Context(), tx, domain.Append{
			StreamID: "wh_4", StreamType: "webhook", Expect: 0, Events: []domain.Event{paused(b.now)},
		})
		require.NoError(t, err)
		require.NoError(t, tx.Rollback(t.Context()))
		_, err = store.Load(t.Context(), "wh_4")
		require.ErrorIs(t, err, domain.ErrNotFound)
	})
}

func TestStore_Execute(t *testing.T) {
	t.Parallel()

	t.Run("ExpectedVersionMismatch", func(t *testing.T) {
		t.Parallel()
		store, b := setup(t)
		decide := func([]domain.Recorded) ([]domain.Event, error) { return []domain.Event{paused(b.now)}, nil }
		res, err := store.Execute(t.Context(), eventstore.ExecuteParams{StreamID: "wh_5", StreamType: "webhook", ExpectedVersion: 0, Decide: decide})
		require.NoError(t, err)
		require.Equal(t, int64(1), res.Version)

		called := false
		_, err = store.Execute(t.Context(), eventstore.ExecuteParams{
			StreamID: "wh_5", StreamType: "webhook", ExpectedVersion: 0,
			Decide: func([]domain.Recorded) ([]domain.Event, error) { called = true; return nil, nil },
		})
		require.ErrorIs(t, err, domain.ErrVersionConflict)
		require.False(t, called, "decide must not run on a stale version")
	})

	t.Run("ConcurrentCommandsOneWins", func(t *testing.T) {
		t.Parallel()
		store, b := setup(t)
		var g errgroup.Group
		var mu sync.Mutex
		conflicts := 0
		for range 8 {
			g.Go(func() error {
				_, err := store.Execute(t.Context(), eventstore.ExecuteParams{
					StreamID: "wh_6", StreamType: "webhook", ExpectedVersion: 0,
					Decide: func(h []domain.Recorded) ([]domain.Event, error) { return []domain.Event{paused(b.now)}, nil },
				})
				if err != nil {
					if !errors.Is(err, domain.ErrVersionConflict) {
						return err
					}
					mu.Lock()
					conflicts++
					mu.Unlock()
				}
				return nil
			})
		}
		require.NoError(t, g.Wait())
		require.Equal(t, 7, conflicts)
		loaded, err := store.Load(t.Context(), "wh_6")
		require.NoError(t, err)
		require.Len(t, loaded, 1)
	})
}

// readAll polls the log until want events arrived or the deadline passes.
func readAll(t *testing.T, q eventstore.Querier, want int) []domain.Recorded {
	t.Helper()
	got, err := readLogUntil(t.Context(), q, want)
	require.NoError(t, err)
	return got
}

// readLogUntil reads the log from the start until it has want records;
// it is safe to call from any goroutine.
func readLogUntil(ctx context.Context, q eventstore.Querier, want int) ([]domain.Recorded, error) {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	var got []domain.Recorded
	after := domain.LogPosition{}
	for len(got) < want {
		recs, err := eventstore.ReadLog(ctx, q, after, 100)
		if err != nil {
			return got, fmt.Errorf("read log (got %d of %d): %w", len(got), want, err)
		}
		if len(recs) > 0 {
			after = domain.PositionOf(recs[len(recs)-1])
			got = append(got, recs...)
		}
	}
	return got, nil
}

func TestStore_ReadLog(t *testing.T) {
	t.Parallel()

	t.Run("LateCommitIsNotSkipped", func(t *testing.T) {
		t.Parallel()
		store, b := setup(t)
		ctx := t.Context()
		// Transaction A takes the lower transaction id and stays open while
		// B (higher id, higher position) commits.
		txA, err := b.pool.Begin(ctx)
		require.NoError(t, err)
		_, err = store.AppendTx(ctx, txA, domain.Append{StreamID: "a", StreamType: "t", Events: []domain.Event{paused(b.now)}})
		require.NoError(t, err)
		_, err = store.Append(ctx, domain.Append{StreamID: "b", StreamType: "t", Events: []domain.Event{paused(b.now)}})
		require.NoError(t, err)

		held, err := eventstore.ReadLog(ctx, b.pool, domain.LogPosition{}, 100)
		require.NoError(t, err)
		require.Empty(t, held, "B must be held back while the older transaction A is open")

		require.NoError(t, txA.Commit(ctx))
		got := readAll(t, b.pool, 2)
		require.Equal(t, []string{"a", "b"}, []string{got[0].StreamID, got[1].StreamID})
	})

	t.Run("ConcurrentWritersNothingSkipped", func(t *testing.T) {
		t.Parallel()
		store, b := setup(t)
		const writers, perWriter = 8, 40
		var g errgroup.Group
		var seen []domain.Recorded
		var readErr error
		done := make(chan struct{})
		go func() {
			defer close(done)
			seen, readErr = readLogUntil(t.Context(), b.pool, writers*perWriter)
		}()
		for w := range writers {
			g.Go(func() error {
				for i := range perWriter {
					err := pgx.BeginFunc(t.Context(), b.pool, func(tx pgx.Tx) error {
						_, err := store.AppendTx(t.Context(), tx, domain.Append{
							StreamID: fmt.Sprintf("s-%d-%d", w, i), StreamType: "t", Events: []domain.Event{paused(b.now)},
						})
						return err
					})
					if err != nil {
						return err
					}
				}
				return nil
			})
		}
		require.NoError(t, g.Wait())
		<-done
		require.NoError(t, readErr)
		require.Len(t, seen, writers*perWriter)
		ids := map[string]bool{}
		for i, r := range seen {
			require.False(t, ids[r.StreamID], "duplicate %s", r.StreamID)
			ids[r.StreamID] = true
			if i > 0 {
				prev := seen[i-1]
				require.True(t, prev.TransactionID < r.TransactionID ||
					(prev.TransactionID == r.TransactionID && prev.Position < r.Position), "log order: %+v then %+v", domain.PositionOf(prev), domain.PositionOf(r))
			}
		}
	})
}

func TestStore_AppendMany(t *testing.T) {
	t.Parallel()

	t.Run("SeveralStreamsInOneStatement", func(t *testing.T) {
		t.Parallel()
		store, b := setup(t)
		_, err := store.Append(t.Context(), domain.Append{StreamID: "x", StreamType: "t", Events: []domain.Event{paused(b.now)}})
		require.NoError(t, err)
		recs, err := store.Append(t.Context(),
			domain.Append{StreamID: "x", StreamType: "t", Expect: domain.ExpectAny, Events: []domain.Event{paused(b.now), paused(b.now)}},
			domain.Append{StreamID: "y", StreamType: "t", Expect: 0, Events: []domain.Event{paused(b.now)}},
		)
		require.NoError(t, err)
		var got []string
		for _, r := range recs {
			got = append(got, fmt.Sprintf("%s@%d", r.StreamID, r.Version))
		}
		require.Equal(t, []string{"x@2", "x@3", "y@1"}, got, "log order follows the input order")
	})

	t.Run("ExpectNewStartsOnceAndSkipsExisting", func(t *testing.T) {
		t.Parallel()
		store, b := setup(t)
		start := func(ids ...string) []string {
			t.Helper()
			var streams []domain.Append
			for _, id := range ids {
				streams = append(streams, domain.Append{
					StreamID: id, StreamType: "delivery", Expect: domain.ExpectNew,
					Events: []domain.Event{domain.DeliveryRedriven{At: b.now}},
				})
			}
			recs, err := store.Append(t.Context(), streams...)
			require.NoError(t, err)
			var started []string
			for _, r := range recs {
				started = append(started, r.StreamID)
			}
			return started
		}
		require.Equal(t, []string{"d1", "d2"}, start("d1", "d2"))
		require.Equal(t, []string{"d3"}, start("d1", "d3"), "existing streams are skipped, not an error")
	})

	t.Run("OnDatabaseSQLTransaction", func(t *testing.T) {
		t.Parallel()
		store, b := setup(t)
		db := stdlib.OpenDBFromPool(b.pool)
		t.Cleanup(func() { _ = db.Close() })
		tx, err := db.BeginTx(t.Context(), nil)
		require.NoError(t, err)
		recs, err := store.AppendSQLTx(t.Context(), tx, domain.Append{
			StreamID: "d9", StreamType: "delivery", Expect: domain.ExpectNew,
			Events: []domain.Event{domain.DeliveryRedriven{At: b.now}},
		})
		require.NoError(t, err)
		require.Len(t, recs, 1)
		require.NoError(t, tx.Commit())
		loaded, err := store.Load(t.Context(), "d9")
		require.NoError(t, err)
		require.Equal(t, recs[0].Position, loaded[0].Position)
	})

	t.Run("ConflictIsReadOnTheSameConnection", func(t *testing.T) {
		t.Parallel()
		// One connection only: reading the actual version on a second
		// connection while the append's transaction holds the first would
		// wait forever.
		pool := dbtest.Pool(t, &dbtest.Opts{MaxConns: 1})
		store := eventstore.New(pool, eventstore.Config{})
		now := time.Now()
		_, err := store.Append(t.Context(), domain.Append{StreamID: "c", StreamType: "t", Events: []domain.Event{paused(now), paused(now)}})
		require.NoError(t, err)
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		_, err = store.Append(ctx, domain.Append{StreamID: "c", StreamType: "t", Expect: 1, Events: []domain.Event{paused(now)}})
		var ce *domain.ConflictError
		require.ErrorAs(t, err, &ce)
		require.Equal(t, int64(2), ce.Actual, "the actual version, not a placeholder")
	})

	t.Run("InlineProjectorSeesOnlyItsStreamTypes", func(t *testing.T) {
		t.Parallel()
		pool := dbtest.Pool(t, nil)
		var seen []string
		store := eventstore.New(pool, eventstore.Config{Inline: []eventstore.InlineProjector{{
			StreamTypes: []string{"webhook"},
			Project: func(_ context.Context, _ pgx.Tx, recs []domain.Recorded) error {
				for _, r := range recs {
					seen = append(seen, r.StreamID)
				}
				return nil
			},
		}}})
		now := time.Now()
		_, err := store.Append(t.Context(),
			domain.Append{StreamID: "wh_a", StreamType: "webhook", Events: []domain.Event{paused(now)}},
			domain.Append{StreamID: "dlv_a", StreamType: "delivery", Events: []domain.Event{domain.DeliveryRedriven{At: now}}},
		)
		require.NoError(t, err)
		require.Equal(t, []string{"wh_a"}, seen)

		db := stdlib.OpenDBFromPool(pool)
		t.Cleanup(func() { _ = db.Close() })
		tx, err := db.BeginTx(t.Context(), nil)
		require.NoError(t, err)
		defer func() { _ = tx.Rollback() }()
		_, err = store.AppendSQLTx(t.Context(), tx, domain.Append{StreamID: "wh_b", StreamType: "webhook", Events: []domain.Event{paused(now)}})
		require.Error(t, err, "a stream with an inline read model needs the pgx path, which projects it")
	})
}

// TestStore_VersionOrderIsLogOrder reproduces the deliveries projection's
// lost attempt (issue: out-of-version-order events): a transaction that
// took its id early appends version n+1 after a younger transaction
// committed version n. Read in log (transaction id) order, n+1 would come
// first. The store must refuse that append, so that a retry in a new
// transaction puts n+1 after n.
func TestStore_VersionOrderIsLogOrder(t *testing.T) {
	t.Parallel()
	store, b := setup(t)
	ctx := t.Context()
	_, err := store.Append(ctx, domain.Append{StreamID: "dlv_o", StreamType: "delivery", Events: []domain.Event{domain.DeliveryRedriven{At: b.now}}})
	require.NoError(t, err)

	old, err := b.pool.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = old.Rollback(ctx) }()
	var oldXID string
	require.NoError(t, old.QueryRow(ctx, `SELECT pg_current_xact_id()::text`).Scan(&oldXID)) // the id is taken now

	_, err = store.Append(ctx, domain.Append{
		StreamID: "dlv_o", StreamType: "delivery", Expect: domain.ExpectAny,
		Events: []domain.Event{domain.DeliveryRedriven{At: b.now}},
	})
	require.NoError(t, err, "a younger transaction appends version 2")

	_, err = store.AppendTx(ctx, old, domain.Append{
		StreamID: "dlv_o", StreamType: "delivery", Expect: domain.ExpectAny,
		Events: []domain.Event{domain.DeliveryRedriven{At: b.now}},
	})
	require.ErrorIs(t, err, domain.ErrVersionConflict, "version 3 from an older transaction would precede version 2 in the log")
	require.NoError(t, old.Rollback(ctx))

	_, err = store.Append(ctx, domain.Append{
		StreamID: "dlv_o", StreamType: "delivery", Expect: domain.ExpectAny,
		Events: []domain.Event{domain.DeliveryRedriven{At: b.now}},
	})
	require.NoError(t, err, "the retry in a new transaction succeeds")
	got := readAll(t, b.pool, 3)
	require.Equal(t, []int64{1, 2, 3}, []int64{got[0].Version, got[1].Version, got[2].Version})
}
