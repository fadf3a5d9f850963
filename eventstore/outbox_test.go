package eventstore_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/stretchr/testify/require"

	"github.com/loki-interceptor/lokihooks/domain"
	"github.com/loki-interceptor/lokihooks/eventstore"
)

// outboxRows counts the outbox rows of an event.
func outboxRows(t *testing.T, b *testBundle, id domain.EventID) int {
	t.Helper()
	var n int
	require.NoError(t, b.pool.QueryRow(t.Context(), `SELECT count(*) FROM watermill_outbox WHERE uuid = $1`, string(id)).Scan(&n))
	return n
}

func TestPublish(t *testing.T) {
	t.Parallel()
	data := map[string]any{"error_code": "E1"}

	// Both writers, pgx and database/sql, must behave alike.
	writers := map[string]func(t *testing.T, b *testBundle, commit bool, p eventstore.PublishParams) (domain.EventID, error){
		"PgxTx": func(t *testing.T, b *testBundle, commit bool, p eventstore.PublishParams) (domain.EventID, error) {
			tx, err := b.pool.Begin(t.Context())
			require.NoError(t, err)
			defer func() { _ = tx.Rollback(context.WithoutCancel(t.Context())) }()
			id, err := eventstore.PublishTx(t.Context(), tx, p)
			if err == nil && commit {
				require.NoError(t, tx.Commit(t.Context()))
			}
			return id, err
		},
		"SQLTx": func(t *testing.T, b *testBundle, commit bool, p eventstore.PublishParams) (domain.EventID, error) {
			db := stdlib.OpenDBFromPool(b.pool)
			defer db.Close()
			tx, err := db.BeginTx(t.Context(), nil)
			require.NoError(t, err)
			defer func() { _ = tx.Rollback() }()
			id, err := eventstore.PublishSQLTx(t.Context(), tx, p)
			if err == nil && commit {
				require.NoError(t, tx.Commit())
			}
			return id, err
		},
	}
	for name, publish := range writers {
		t.Run(name, func(t *testing.T) {
			t.Parallel()

			t.Run("CommittedIsInTheOutbox", func(t *testing.T) {
				t.Parallel()
				_, b := setup(t)
				id, err := publish(t, b, true, eventstore.PublishParams{
					Type: domain.EventTypeSystemError, Data: data, Metadata: map[string]string{"source": "test"},
				})
				require.NoError(t, err)
				require.Equal(t, 1, outboxRows(t, b, id))
				var meta string
				require.NoError(t, b.pool.QueryRow(t.Context(), `SELECT metadata::text FROM watermill_outbox WHERE uuid = $1`, string(id)).Scan(&meta))
				require.JSONEq(t, `{"source":"test","event_type":"system.error"}`, meta)
			})

			t.Run("RolledBackIsNot", func(t *testing.T) {
				t.Parallel()
				_, b := setup(t)
				id, err := publish(t, b, false, eventstore.PublishParams{Type: domain.EventTypeSystemError, Data: data, ID: "evt_rb"})
				require.NoError(t, err)
				require.Zero(t, outboxRows(t, b, id))
			})

			t.Run("Errors", func(t *testing.T) {
				t.Parallel()
				_, b := setup(t)
				_, err := publish(t, b, true, eventstore.PublishParams{Type: "invoice.paid", Data: data})
				require.ErrorIs(t, err, domain.ErrUnknownEventType)
				_, err = publish(t, b, true, eventstore.PublishParams{Type: domain.EventTypeSystemError, Data: []byte(`[1]`)})
				require.ErrorIs(t, err, domain.ErrInvalid)
				_, err = publish(t, b, true, eventstore.PublishParams{Type: domain.EventTypeSystemError, Data: []byte(`{`)})
				require.ErrorIs(t, err, domain.ErrInvalid)
				_, err = publish(t, b, true, eventstore.PublishParams{Type: domain.EventTypeSystemError, Data: map[string]any{"m": "a\x00b"}})
				require.ErrorIs(t, err, domain.ErrInvalid, "text PostgreSQL cannot store is invalid input")
				_, err = publish(t, b, true, eventstore.PublishParams{Type: domain.EventTypeSystemError, Data: data, ID: "evt_same"})
				require.NoError(t, err)
				_, err = publish(t, b, true, eventstore.PublishParams{Type: domain.EventTypeSystemError, Data: map[string]any{"x": 1}, ID: "evt_same"})
				require.ErrorIs(t, err, domain.ErrConflict)
			})
		})
	}
}

func TestPublishIdempotent(t *testing.T) {
	t.Parallel()
	_, b := setup(t)
	p := eventstore.PublishParams{Type: domain.EventTypeSystemError, Data: json.RawMessage(`{"a":1}`)}
	first, replayed, err := eventstore.PublishIdempotent(t.Context(), b.pool, "key-1", p)
	require.NoError(t, err)
	require.False(t, replayed)
	again, replayed, err := eventstore.PublishIdempotent(t.Context(), b.pool, "key-1", p)
	require.NoError(t, err)
	require.True(t, replayed)
	require.Equal(t, first, again)
	require.Equal(t, 1, outboxRows(t, b, first))

	p.Data = json.RawMessage(`{"a":2}`)
	_, _, err = eventstore.PublishIdempotent(t.Context(), b.pool, "key-1", p)
	require.ErrorIs(t, err, domain.ErrConflict)
}

func TestStore_StartStreamsSQLTx(t *testing.T) {
	t.Parallel()
	store, b := setup(t)
	db := stdlib.OpenDBFromPool(b.pool)
	t.Cleanup(func() { _ = db.Close() })
	start := func(ids ...string) []string {
		t.Helper()
		streams := make([]domain.NewStream, len(ids))
		for i, id := range ids {
			streams[i] = domain.NewStream{ID: id, Event: domain.DeliveryRedriven{At: b.now}}
		}
		var started []string
		err := func() error {
			tx, err := db.BeginTx(t.Context(), &sql.TxOptions{})
			if err != nil {
				return err
			}
			defer func() { _ = tx.Rollback() }()
			if started, err = store.StartStreamsSQLTx(t.Context(), tx, domain.DeliveryStreamType, streams); err != nil {
				return err
			}
			return tx.Commit()
		}()
		require.NoError(t, err)
		return started
	}
	require.ElementsMatch(t, []string{"d1", "d2"}, start("d1", "d2"))
	require.Equal(t, []string{"d3"}, start("d1", "d3"), "existing streams are skipped")

	// AppendNextTx continues each stream at its next version.
	require.NoError(t, pgx.BeginFunc(t.Context(), b.pool, func(tx pgx.Tx) error {
		return store.AppendNextTx(t.Context(), tx, []domain.NewStream{
			{ID: "d1", Event: domain.DeliveryRedriven{At: b.now}},
			{ID: "d3", Event: domain.DeliveryRedriven{At: b.now}},
		}, domain.DeliveryStreamType)
	}))
	for id, want := range map[string]int64{"d1": 2, "d2": 1, "d3": 2} {
		recs, err := store.Load(t.Context(), id)
		require.NoError(t, err)
		require.Equal(t, want, recs[len(recs)-1].Version, id)
	}
}
