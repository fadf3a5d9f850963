package migrations_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
	"golang.org/x/sync/errgroup"

	"github.com/loki-interceptor/lokihooks/domain"
	"github.com/loki-interceptor/lokihooks/internal/dbtest"
	"github.com/loki-interceptor/lokihooks/migrations"
)

func TestAll_NumberedWithoutGaps(t *testing.T) {
	t.Parallel()
	all := migrations.All()
	require.NotEmpty(t, all)
	for i, m := range all {
		require.Equal(t, i+1, m.Version)
		require.NotEmpty(t, m.SQL)
	}
	require.Equal(t, len(all), migrations.Latest())
}

// emptySchemaPool returns a pool on a new schema without any migration.
func emptySchemaPool(t *testing.T) *pgxpool.Pool {
	t.Helper()
	pool, schema := dbtest.PoolSchema(t, nil)
	ctx := t.Context()
	_, err := pool.Exec(ctx, "DROP SCHEMA "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
	require.NoError(t, err)
	_, err = pool.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize())
	require.NoError(t, err)
	return pool
}

func TestUp_ConcurrentProcessesApplyOnce(t *testing.T) {
	t.Parallel()
	pool := emptySchemaPool(t)
	require.ErrorIs(t, migrations.Check(t.Context(), pool), migrations.ErrPending)

	var g errgroup.Group
	applied := make([][]int, 4)
	for i := range applied {
		g.Go(func() error {
			res, err := migrations.Up(t.Context(), pool)
			if err == nil {
				applied[i] = res.Applied
			}
			return err
		})
	}
	require.NoError(t, g.Wait())
	total := 0
	for _, a := range applied {
		total += len(a)
	}
	require.Equal(t, migrations.Latest(), total, "each migration applied exactly once")
	require.NoError(t, migrations.Check(t.Context(), pool))

	res, err := migrations.Up(t.Context(), pool)
	require.NoError(t, err)
	require.Empty(t, res.Applied, "a current schema applies nothing")
}

func TestEventTypes_MatchCatalog(t *testing.T) {
	t.Parallel()
	pool := dbtest.Pool(t, nil)
	rows, err := pool.Query(t.Context(), "SELECT name FROM event_types ORDER BY name")
	require.NoError(t, err)
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	require.Equal(t, domain.EventTypeNames(), names)
}

func sqlstate(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	return ""
}

func TestPublish(t *testing.T) {
	t.Parallel()
	pool := dbtest.Pool(t, nil)
	publish := func(ctx context.Context, q interface {
		QueryRow(context.Context, string, ...any) pgx.Row
	}, typ, data, id string,
	) (string, error) {
		var out string
		err := q.QueryRow(ctx, "SELECT lokihooks_publish($1, $2::jsonb, NULLIF($3, ''))", typ, data, id).Scan(&out)
		return out, err
	}
	outbox := func(t *testing.T, id string) int {
		t.Helper()
		var n int
		require.NoError(t, pool.QueryRow(t.Context(), "SELECT count(*) FROM watermill_outbox WHERE uuid = $1", id).Scan(&n))
		return n
	}

	t.Run("WritesBodyAndOutboxRow", func(t *testing.T) {
		t.Parallel()
		id, err := publish(t.Context(), pool, "validation.completed", `{"document_id":"d1"}`, "")
		require.NoError(t, err)
		// The same form as ids made in Go (domain.NewID): time-sortable.
		require.Regexp(t, `^evt_[0-9A-HJKMNP-TV-Z]{26}$`, id)
		require.Equal(t, 1, outbox(t, id))
		later, err := publish(t.Context(), pool, "validation.completed", `{"document_id":"d1"}`, "")
		require.NoError(t, err)
		goID := domain.NewID(domain.EventIDPrefix, time.Now().Add(time.Hour))
		require.Less(t, id[:14], goID[:14], "the time prefix agrees with Go's")
		require.LessOrEqual(t, id[:14], later[:14], "later ids sort after earlier ones")
		var body, meta string
		var payload *string
		require.NoError(t, pool.QueryRow(t.Context(),
			"SELECT payload::text, metadata::text FROM watermill_outbox WHERE uuid = $1", id).Scan(&payload, &meta))
		require.Nil(t, payload, "the body is stored once, in published_events")
		require.JSONEq(t, `{"event_type":"validation.completed"}`, meta)
		require.NoError(t, pool.QueryRow(t.Context(), "SELECT body FROM published_events WHERE id = $1", id).Scan(&body))
		require.Regexp(t, `^\{"id":"`+id+`","type":"validation.completed","timestamp":"[0-9T:.Z-]+","data":\{"document_id": "d1"\}\}$`, body)
	})

	t.Run("MetadataBecomesStrings", func(t *testing.T) {
		t.Parallel()
		var id, meta string
		require.NoError(t, pool.QueryRow(t.Context(),
			`SELECT lokihooks_publish('system.error', '{}', 'evt_meta', '{"traceparent":"00-abc","n":1}')`).Scan(&id))
		require.NoError(t, pool.QueryRow(t.Context(), "SELECT metadata::text FROM watermill_outbox WHERE uuid = $1", id).Scan(&meta))
		require.JSONEq(t, `{"traceparent":"00-abc","n":"1","event_type":"system.error"}`, meta)
	})

	t.Run("UnknownTypeFailsTheCallersTransaction", func(t *testing.T) {
		t.Parallel()
		_, err := publish(t.Context(), pool, "invoice.paid", `{}`, "")
		require.Equal(t, "LH001", sqlstate(err))
	})

	t.Run("InvalidInput", func(t *testing.T) {
		t.Parallel()
		for _, c := range []struct{ data, id string }{{`[1]`, ""}, {`"x"`, ""}, {`{}`, "has.dot"}, {`{}`, "has space"}} {
			_, err := publish(t.Context(), pool, "system.error", c.data, c.id)
			require.Equal(t, "22023", sqlstate(err), "data %s id %q", c.data, c.id)
		}
	})

	t.Run("RolledBackPublishesNothing", func(t *testing.T) {
		t.Parallel()
		tx, err := pool.Begin(t.Context())
		require.NoError(t, err)
		id, err := publish(t.Context(), tx, "system.error", `{}`, "evt_rolled_back")
		require.NoError(t, err)
		require.NoError(t, tx.Rollback(t.Context()))
		require.Zero(t, outbox(t, id))
	})

	t.Run("SameIDSameContentDeduplicated", func(t *testing.T) {
		t.Parallel()
		// The same data as JSON values: key order, spacing and number
		// spelling do not matter, as for jsonb equality.
		for _, data := range []string{`{"a":1,"b":[1.0,"x"],"c":{}}`, `{ "c": {}, "b": [1.00, "x"], "a": 1 }`} {
			id, err := publish(t.Context(), pool, "system.error", data, "evt_dedup")
			require.NoError(t, err)
			require.Equal(t, "evt_dedup", id)
		}
		require.Equal(t, 1, outbox(t, "evt_dedup"))
		var body string
		require.NoError(t, pool.QueryRow(t.Context(), "SELECT body FROM published_events WHERE id = 'evt_dedup'").Scan(&body))
		require.Contains(t, body, `"data":{"a": 1, "b": [1.0, "x"], "c": {}}}`, "the first publication is kept")
	})

	t.Run("SameIDOtherContentRejected", func(t *testing.T) {
		t.Parallel()
		_, err := publish(t.Context(), pool, "system.error", `{"a":1}`, "evt_conflict")
		require.NoError(t, err)
		for _, c := range []struct{ typ, data string }{
			{"system.error", `{"a":2}`},
			{"system.error", `{"a":1,"b":null}`},
			{"system.error", `{"a":"1"}`},
			{"validation.completed", `{"a":1}`},
		} {
			_, err = publish(t.Context(), pool, c.typ, c.data, "evt_conflict")
			var pgErr *pgconn.PgError
			require.ErrorAs(t, err, &pgErr, "%s %s", c.typ, c.data)
			require.Equal(t, "23505", pgErr.Code)
			require.Equal(t, "published_events_pkey", pgErr.ConstraintName)
		}
		require.Equal(t, 1, outbox(t, "evt_conflict"))
	})
}

// TestUp_RiverIndexes checks that River's GIN indexes on args and metadata
// and its index on kind give way to the destination index, also after a second Up.
func TestUp_RiverIndexes(t *testing.T) {
	t.Parallel()
	pool := dbtest.Pool(t, nil)
	_, err := migrations.Up(t.Context(), pool)
	require.NoError(t, err)
	rows, err := pool.Query(t.Context(), `SELECT indexname FROM pg_indexes
		WHERE schemaname = current_schema() AND tablename = 'river_job' ORDER BY indexname`)
	require.NoError(t, err)
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	require.Contains(t, names, "river_job_deliver_destination_idx")
	require.NotContains(t, names, "river_job_args_index")
	require.NotContains(t, names, "river_job_metadata_index")
	require.NotContains(t, names, "river_job_kind")
}
