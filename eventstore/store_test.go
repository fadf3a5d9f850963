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
		recs, err := store.Append(t.Context(), eventstore.AppendParams{
			StreamID: "wh_1", StreamType: "webhook", ExpectedVersion: 0,
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
		_, err := store.Append(t.Context(), eventstore.AppendParams{
			StreamID: "wh_2", StreamType: "webhook", ExpectedVersion: 0, Events: []domain.Event{paused(b.now)},
		})
		require.NoError(t, err)
		_, err = store.Append(t.Context(), eventstore.AppendParams{
			StreamID: "wh_2", StreamType: "webhook", ExpectedVersion: 0, Events: []domain.Event{paused(b.now)},
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
		_, err := store.Append(t.Context(), eventstore.AppendParams{
			StreamID: "wh_nul", StreamType: "webhook", Events: []domain.Event{domain.WebhookDeactivated{Reason: "a\x00b", At: b.now}},
		})
		require.ErrorIs(t, err, domain.ErrInvalid, "a NUL character is the caller's mistake, not a 500")
	})

	t.Run("ExpectAnyNumbersVersions", func(t *testing.T) {
		t.Parallel()
		store, b := setup(t)
		for range 3 {
			_, err := store.Append(t.Context(), eventstore.AppendParams{
				StreamID: "wh_3", StreamType: "webhook", ExpectedVersion: eventstore.ExpectAny, Events: []domain.Event{paused(b.now)},
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
		_, err = store.AppendTx(t.Context(), tx, eventstore.AppendParams{
			StreamID: "wh_4", StreamType: "webhook", ExpectedVersion: 0, Events: []domain.Event{paused(b.now)},
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
func readAll(t *testing.T, store *eventstore.Store, want int) []domain.Recorded {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	var got []domain.Recorded
	after := eventstore.LogPosition{}
	for len(got) < want {
		recs, err := store.ReadLog(ctx, after, 100)
		require.NoError(t, err, "read log (got %d of %d)", len(got), want)
		if len(recs) > 0 {
			after = eventstore.Of(recs[len(recs)-1])
			got = append(got, recs...)
		}
	}
	return got
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
		_, err = store.AppendTx(ctx, txA, eventstore.AppendParams{StreamID: "a", StreamType: "t", Events: []domain.Event{paused(b.now)}})
		require.NoError(t, err)
		_, err = store.Append(ctx, eventstore.AppendParams{StreamID: "b", StreamType: "t", Events: []domain.Event{paused(b.now)}})
		require.NoError(t, err)

		held, err := store.ReadLog(ctx, eventstore.LogPosition{}, 100)
		require.NoError(t, err)
		require.Empty(t, held, "B must be held back while the older transaction A is open")

		require.NoError(t, txA.Commit(ctx))
		got := readAll(t, store, 2)
		require.Equal(t, []string{"a", "b"}, []string{got[0].StreamID, got[1].StreamID})
	})

	t.Run("ConcurrentWritersNothingSkipped", func(t *testing.T) {
		t.Parallel()
		store, b := setup(t)
		const writers, perWriter = 8, 40
		var g errgroup.Group
		var seen []domain.Recorded
		done := make(chan struct{})
		go func() {
			defer close(done)
			seen = readAll(t, store, writers*perWriter)
		}()
		for w := range writers {
			g.Go(func() error {
				for i := range perWriter {
					err := pgx.BeginFunc(t.Context(), b.pool, func(tx pgx.Tx) error {
						_, err := store.AppendTx(t.Context(), tx, eventstore.AppendParams{
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
		require.Len(t, seen, writers*perWriter)
		ids := map[string]bool{}
		for i, r := range seen {
			require.False(t, ids[r.StreamID], "duplicate %s", r.StreamID)
			ids[r.StreamID] = true
			if i > 0 {
				prev := seen[i-1]
				require.True(t, prev.TransactionID < r.TransactionID ||
					(prev.TransactionID == r.TransactionID && prev.Position < r.Position), "log order: %+v then %+v", eventstore.Of(prev), eventstore.Of(r))
			}
		}
	})
}
