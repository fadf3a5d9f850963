package relay_test

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/stretchr/testify/require"

	"github.com/loki-interceptor/lokihooks/domain"
	"github.com/loki-interceptor/lokihooks/relay"
)

// queryCounter counts the queries a pool sends.
type queryCounter struct{ n atomic.Int64 }

func (c *queryCounter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	c.n.Add(1)
	return ctx
}

func (c *queryCounter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// heldWindow is how long each run watches the relay idle with its held
// deliveries.
const heldWindow = 5 * time.Second

// BenchmarkHeldDeliveries measures what held deliveries cost while they
// wait: the queries per second of a process running the fan-out, the
// workers and the deliveries projection, with no deliveries held and with
// 100,000 held — half parked behind a paused webhook, half holding a
// rate-limit token of a later window. Nothing polls them, so the two rates
// should be the same: the relay's idle work, independent of the backlog.
//
//	go test -run '^$' -bench HeldDeliveries -benchtime 1x ./relay
func BenchmarkHeldDeliveries(b *testing.B) {
	for _, held := range []int{0, 100_000} {
		b.Run(fmt.Sprintf("held=%d", held), func(b *testing.B) {
			counter := &queryCounter{}
			tb := setup(b, &setupOpts{queries: counter})
			paused := tb.createWebhook(b, "https://paused.example.com/hook", nil)
			_, err := tb.webhooks.PauseWebhook(b.Context(), paused.ID, domain.ExpectAny)
			require.NoError(b, err)
			limited := tb.createWebhook(b, "https://limited.example.com/hook", func(s *domain.WebhookSpec) { s.RateLimitPerHour = 1 })
			holdDeliveries(b, tb, held, paused.ID, limited.ID)
			for b.Loop() {
				start, before := time.Now(), counter.n.Load()
				time.Sleep(heldWindow) //nolint:forbidigo // a measurement window, not a wait for a condition
				b.ReportMetric(float64(counter.n.Load()-before)/time.Since(start).Seconds(), "queries/s")
			}
		})
	}
}

// holdDeliveries inserts n delivery jobs that wait: parked ones (snoozed
// for a day, as the worker parks a paused webhook's) and postponed ones
// (holding a token of a window a day ahead).
func holdDeliveries(b *testing.B, tb *testBundle, n int, paused, limited domain.WebhookID) {
	b.Helper()
	if n == 0 {
		return
	}
	client, err := river.NewClient(riverpgxv5.New(tb.pool), &river.Config{})
	require.NoError(b, err)
	later := time.Now().Add(24 * time.Hour)
	params := make([]river.InsertManyParams, 0, n)
	for i := range n {
		args := relay.DeliverArgs{
			DeliveryID: domain.DeliveryID(fmt.Sprintf("dlv_held_%06d", i)), DestinationKind: domain.KindWebhook,
			EventID: domain.EventID(fmt.Sprintf("evt_held_%06d", i)), EventType: domain.EventTypeSystemError, Attempt: 1, Try: 1,
		}
		opts := &river.InsertOpts{ScheduledAt: later}
		if i%2 == 0 {
			args.DestinationID = domain.DestinationID(paused)
			opts.Metadata = []byte(`{"snoozes":1}`)
		} else {
			args.DestinationID, args.Reserved = domain.DestinationID(limited), later
		}
		params = append(params, river.InsertManyParams{Args: args, InsertOpts: opts})
	}
	for chunk := range slices.Chunk(params, 5000) {
		_, err := client.InsertManyFast(b.Context(), chunk)
		require.NoError(b, err)
	}
}
