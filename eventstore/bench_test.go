package eventstore_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/loki-interceptor/lokihooks/domain"
	"github.com/loki-interceptor/lokihooks/eventstore"
	"github.com/loki-interceptor/lokihooks/internal/dbtest"
)

func BenchmarkStore_Append(b *testing.B) {
	pool := dbtest.Pool(b, nil)
	store := eventstore.New(pool, eventstore.Config{})
	at := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		_, err := store.Append(b.Context(), domain.Append{
			StreamID: fmt.Sprintf("s-%d", i), StreamType: "t", Events: []domain.Event{domain.WebhookPaused{At: at}},
		})
		require.NoError(b, err)
	}
}

func BenchmarkReadLog(b *testing.B) {
	pool := dbtest.Pool(b, nil)
	at := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	_, err := pool.Exec(b.Context(), `INSERT INTO events (stream_id, stream_type, version, type, data)
		SELECT 's-' || g, 't', 1, $1, $2::jsonb FROM generate_series(1, 20000) g`,
		domain.TypeWebhookPaused, fmt.Sprintf(`{"at":%q}`, at.Format(time.RFC3339)))
	require.NoError(b, err)
	b.ReportAllocs()
	for b.Loop() {
		recs, err := eventstore.ReadLog(b.Context(), pool, domain.LogPosition{}, 500)
		require.NoError(b, err)
		require.Len(b, recs, 500)
	}
	b.ReportMetric(float64(500*b.N)/b.Elapsed().Seconds(), "events/s")
}
