package projections_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/loki-interceptor/lokihooks/domain"
	"github.com/loki-interceptor/lokihooks/internal/dbtest"
	"github.com/loki-interceptor/lokihooks/projections"
)

// publish writes an event the way a LOKI service does and returns its id.
func publish(t *testing.T, pool *pgxpool.Pool, typ, data string) domain.EventID {
	t.Helper()
	var id string
	require.NoError(t, pool.QueryRow(t.Context(),
		`SELECT lokihooks_publish($1, $2::jsonb, metadata => '{"source":"test"}')`, typ, data).Scan(&id))
	return domain.EventID(id)
}

func publishedIDs(es []domain.PublishedEvent) []domain.EventID {
	out := make([]domain.EventID, len(es))
	for i, e := range es {
		out[i] = e.ID
	}
	return out
}

func TestPublishedEvents(t *testing.T) {
	t.Parallel()

	t.Run("GetAndBody", func(t *testing.T) {
		t.Parallel()
		pool := dbtest.Pool(t, nil)
		id := publish(t, pool, "validation.completed", `{"document_id":"d1"}`)

		e, err := projections.GetPublishedEvent(t.Context(), pool, id)
		require.NoError(t, err)
		require.Equal(t, id, e.ID)
		require.Equal(t, "validation.completed", e.Type)
		require.JSONEq(t, `{"document_id":"d1"}`, string(e.Data))
		require.Equal(t, map[string]any{"source": "test"}, e.Metadata)
		require.Positive(t, e.Seq)
		require.WithinDuration(t, time.Now(), e.PublishedAt, time.Minute)

		body, err := projections.PublishedBody(t.Context(), pool, id)
		require.NoError(t, err)
		var stored string
		require.NoError(t, pool.QueryRow(t.Context(), `SELECT body FROM published_events WHERE id = $1`, string(id)).Scan(&stored))
		require.Equal(t, []byte(stored), body)

		var fields map[string]json.RawMessage
		require.NoError(t, json.Unmarshal(body, &fields))
		require.Len(t, fields, 4)
		var parsed struct {
			ID        string          `json:"id"`
			Type      string          `json:"type"`
			Timestamp time.Time       `json:"timestamp"`
			Data      json.RawMessage `json:"data"`
		}
		require.NoError(t, json.Unmarshal(body, &parsed))
		require.Equal(t, string(id), parsed.ID)
		require.Equal(t, "validation.completed", parsed.Type)
		require.Equal(t, e.PublishedAt.Truncate(time.Microsecond), parsed.Timestamp.UTC())
		require.JSONEq(t, `{"document_id":"d1"}`, string(parsed.Data))
	})

	t.Run("DataAsPublished", func(t *testing.T) {
		t.Parallel()
		pool := dbtest.Pool(t, nil)
		// The data is read back from the body: the same bytes as jsonb
		// gives them, whatever the data holds (the body's own member names
		// inside strings, escapes, non-ASCII text, big and decimal numbers).
		data := `{"s":"a ,\"data\":{\"x\":1}} \"\\ \u0001","u":"é ✓","n":[12345678901234567890,1.50,-0.0,1e3],"o":{"data":{}}}`
		id := publish(t, pool, "system.error", data)
		var want string
		require.NoError(t, pool.QueryRow(t.Context(), `SELECT $1::jsonb::text`, data).Scan(&want))

		e, err := projections.GetPublishedEvent(t.Context(), pool, id)
		require.NoError(t, err)
		require.Equal(t, want, string(e.Data))
		require.JSONEq(t, data, string(e.Data))
		list, err := projections.ListPublishedEvents(t.Context(), pool, domain.PublishedEventFilter{})
		require.NoError(t, err)
		require.Len(t, list, 1)
		require.Equal(t, want, string(list[0].Data))
	})

	t.Run("NotFound", func(t *testing.T) {
		t.Parallel()
		pool := dbtest.Pool(t, nil)
		_, err := projections.GetPublishedEvent(t.Context(), pool, "evt_missing")
		require.ErrorIs(t, err, domain.ErrNotFound)
		_, err = projections.PublishedBody(t.Context(), pool, "evt_missing")
		require.ErrorIs(t, err, domain.ErrNotFound)
	})

	t.Run("ListByTypeAndPage", func(t *testing.T) {
		t.Parallel()
		pool := dbtest.Pool(t, nil)
		v1 := publish(t, pool, "validation.completed", `{"n":1}`)
		r1 := publish(t, pool, "report.generated", `{"n":2}`)
		v2 := publish(t, pool, "validation.completed", `{"n":3}`)
		v3 := publish(t, pool, "validation.completed", `{"n":4}`)

		all, err := projections.ListPublishedEvents(t.Context(), pool, domain.PublishedEventFilter{Ascending: true})
		require.NoError(t, err)
		require.Equal(t, []domain.EventID{v1, r1, v2, v3}, publishedIDs(all))
		newest, err := projections.ListPublishedEvents(t.Context(), pool, domain.PublishedEventFilter{Limit: 3})
		require.NoError(t, err)
		require.Equal(t, []domain.EventID{v3, v2, r1}, publishedIDs(newest), "newest first by default")
		older, err := projections.ListPublishedEvents(t.Context(), pool, domain.PublishedEventFilter{AfterSeq: newest[2].Seq})
		require.NoError(t, err)
		require.Equal(t, []domain.EventID{v1}, publishedIDs(older), "the cursor continues towards older events")

		f := domain.PublishedEventFilter{Type: "validation.completed", Limit: 2, Ascending: true}
		page, err := projections.ListPublishedEvents(t.Context(), pool, f)
		require.NoError(t, err)
		require.Equal(t, []domain.EventID{v1, v2}, publishedIDs(page))
		f.AfterSeq = page[len(page)-1].Seq
		page, err = projections.ListPublishedEvents(t.Context(), pool, f)
		require.NoError(t, err)
		require.Equal(t, []domain.EventID{v3}, publishedIDs(page))

		page, err = projections.ListPublishedEvents(t.Context(), pool, domain.PublishedEventFilter{AfterSeq: all[1].Seq, Ascending: true})
		require.NoError(t, err)
		require.Equal(t, []domain.EventID{v2, v3}, publishedIDs(page))
	})
}
