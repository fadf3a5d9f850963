package projections_test

import (
	"context"
	"flag"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/loki-interceptor/lokihooks/domain"
	"github.com/loki-interceptor/lokihooks/eventstore"
	"github.com/loki-interceptor/lokihooks/internal/app"
	"github.com/loki-interceptor/lokihooks/internal/dbtest"
	"github.com/loki-interceptor/lokihooks/projections"
)

// replayAttempts sizes the generated log of BenchmarkRebuild; the docs'
// figures use -replay-attempts 1000000.
var replayAttempts = flag.Int("replay-attempts", 20000, "attempt events in BenchmarkRebuild's generated log")

// generateLog fills the event log with deliveries to 50 webhooks over 30
// days: each has its scheduled event and two attempts (a 503 then a 200,
// with the headers the relay records), in transactions of 1,000
// deliveries, as the relay appends them. It returns the number of events.
func generateLog(b *testing.B, pool *pgxpool.Pool, attempts int) int {
	b.Helper()
	ctx := b.Context()
	deliveries := attempts / 2
	const chunk = 1000
	for start := 0; start < deliveries; start += chunk {
		n := min(chunk, deliveries-start)
		_, err := pool.Exec(ctx, `
			WITH d AS (
				SELECT i, 'dlv_bench' || lpad(i::text, 10, '0') AS id, 'wh_bench' || (i % 50) AS hook,
					timestamptz '2026-10-01 00:00:00+00' + (i * interval '2.6 seconds') AS at,
					round((5 + random() * random() * 400)::numeric, 3) AS ms
				FROM generate_series($1::int, $1::int + $2::int - 1) i
			)
			INSERT INTO events (stream_id, stream_type, version, type, data, metadata)
			SELECT id, 'delivery', v, t, data, '{"traceparent":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}'
			FROM d, LATERAL (VALUES
				(1, 'delivery.scheduled.v1', jsonb_build_object('delivery_id', id, 'destination_id', hook, 'kind', 'webhook',
					'event_id', 'evt_bench' || i, 'event_type', 'validation.completed', 'at', at)),
				(2, 'delivery.attempted.v1', jsonb_build_object('attempt', 1, 'status_code', 503, 'duration_ms', ms * 3,
					'error_category', 'http_5xx', 'error_detail', 'HTTP 503 Service Unavailable', 'status', 'retrying',
					'next_attempt_at', at + interval '1 minute', 'at', at + interval '1 second', 'response_body', 'busy',
					'request_headers', jsonb_build_object('Content-Type', 'application/json', 'User-Agent', 'lokihooks/dev',
						'webhook-id', 'evt_bench' || i, 'webhook-timestamp', '1790000000', 'webhook-signature', '[redacted]',
						'X-Webhook-Signature', '[redacted]', 'X-Webhook-Event', 'validation.completed',
						'X-Webhook-Delivery', id, 'X-Webhook-Attempt', '1'),
					'response_headers', jsonb_build_object('Content-Type', 'text/plain', 'Retry-After', '60'))),
				(3, 'delivery.attempted.v1', jsonb_build_object('attempt', 2, 'status_code', 200, 'duration_ms', ms,
					'status', 'delivered', 'at', at + interval '61 seconds', 'response_body', 'ok',
					'request_headers', jsonb_build_object('Content-Type', 'application/json', 'User-Agent', 'lokihooks/dev',
						'webhook-id', 'evt_bench' || i, 'webhook-timestamp', '1790000060', 'webhook-signature', '[redacted]',
						'X-Webhook-Signature', '[redacted]', 'X-Webhook-Event', 'validation.completed',
						'X-Webhook-Delivery', id, 'X-Webhook-Attempt', '2'),
					'response_headers', jsonb_build_object('Content-Type', 'text/plain')))
			) AS e(v, t, data)
			ORDER BY i, v`, start, n)
		require.NoError(b, err)
	}
	_, err := pool.Exec(ctx, `ANALYZE events`)
	require.NoError(b, err)
	return deliveries * 3
}

// BenchmarkRebuild replays a generated log into each projection's shadow
// tables and reports events/s (every event read, whether the projection
// uses it or not).
func BenchmarkRebuild(b *testing.B) {
	pool := dbtest.Pool(b, nil)
	events := generateLog(b, pool, *replayAttempts)
	defs := []projections.Definition{
		{
			Name: "analytics", Version: projections.AnalyticsVersion, Tables: projections.AnalyticsTables,
			Read: func(ctx context.Context, q projections.DB, after domain.LogPosition, limit int) ([]domain.Recorded, error) {
				return eventstore.ReadLogLean(ctx, q, after, limit)
			},
			Projector: projections.Analytics{First: readFirst, Cache: projections.NewDestinationCache(0)},
		},
		{
			Name: "deliveries", Version: projections.DeliveriesVersion, Tables: projections.DeliveriesTables,
			Borrowed: []string{"webhooks"}, AfterSwap: projections.Deliveries{}.RefreshLastTriggered, Projector: projections.Deliveries{},
		},
	}
	for _, def := range defs {
		b.Run(fmt.Sprintf("%s/events=%d", def.Name, events), func(b *testing.B) {
			var n int64
			var elapsed time.Duration
			for b.Loop() {
				start := time.Now()
				var err error
				n, err = projections.Rebuild(b.Context(), pool, def, projections.RebuildConfig{Read: readLog})
				require.NoError(b, err)
				elapsed += time.Since(start)
				require.Equal(b, int64(events), n)
			}
			b.ReportMetric(float64(n)*float64(b.N)/elapsed.Seconds(), "events/s")
		})
	}
	b.Run("webhooks/events=5000", func(b *testing.B) {
		benchWebhooks(b, pool)
		var elapsed time.Duration
		for b.Loop() {
			start := time.Now()
			n, err := app.RebuildWebhooks(b.Context(), pool)
			require.NoError(b, err)
			require.Equal(b, 5000, n)
			elapsed += time.Since(start)
		}
		b.ReportMetric(5000*float64(b.N)/elapsed.Seconds(), "events/s")
	})
}

// benchWebhooks creates 1,000 webhooks with four more events each.
func benchWebhooks(b *testing.B, pool *pgxpool.Pool) {
	b.Helper()
	_, err := pool.Exec(b.Context(), `INSERT INTO events (stream_id, stream_type, version, type, data)
		SELECT 'wh_bench' || i, 'webhook', v, CASE WHEN v = 1 THEN 'webhook.created.v1'
				WHEN v % 2 = 0 THEN 'webhook.paused.v1' ELSE 'webhook.resumed.v1' END,
			CASE WHEN v = 1 THEN jsonb_build_object('id', 'wh_bench' || i, 'secret', 'whsec_x', 'at', now(),
				'spec', jsonb_build_object('name', 'bench ' || i, 'url', 'https://example.com/' || i,
					'event_types', jsonb_build_array('*'), 'retry_strategy', 'exponential_backoff', 'max_retries', 5,
					'retry_delay_seconds', 60, 'max_delay_seconds', 7200, 'backoff_multiplier', 2,
					'jitter_enabled', true, 'timeout_seconds', 15))
				ELSE jsonb_build_object('at', now()) END
		FROM generate_series(1, 1000) i, generate_series(1, 5) v
		ON CONFLICT DO NOTHING`)
	require.NoError(b, err)
}
