package eventstore_test

import (
	"context"
	"testing"

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

	// Every writer, pgx and database/sql, must behave alike.
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
		// Publish: on the pool when committing (a transaction of its own),
		// in a transaction that rolls back otherwise.
		"Pool": func(t *testing.T, b *testBundle, commit bool, p eventstore.PublishParams) (domain.EventID, error) {
			if commit {
				return eventstore.Publish(t.Context(), b.pool, p)
			}
			tx, err := b.pool.Begin(t.Context())
			require.NoError(t, err)
			defer func() { _ = tx.Rollback(context.WithoutCancel(t.Context())) }()
			return eventstore.Publish(t.Context(), tx, p)
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
