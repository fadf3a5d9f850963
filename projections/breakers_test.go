package projections_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/loki-interceptor/lokihooks/domain"
	"github.com/loki-interceptor/lokihooks/eventstore"
	"github.com/loki-interceptor/lokihooks/internal/dbtest"
	"github.com/loki-interceptor/lokihooks/projections"
)

// TestBreakers follows a breaker stream into its read model, and rebuilds
// the read model from the streams to the same rows.
func TestBreakers(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	pool := dbtest.Pool(t, nil)
	events := eventstore.New(pool, eventstore.Config{Inline: []eventstore.InlineProjector{
		{StreamTypes: []string{domain.BreakerStreamType}, Project: projections.Breakers{}.Project},
	}})
	p := domain.BreakerPolicy{}.WithDefaults()
	now := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	decide := func(id domain.DestinationID, d func(b *domain.Breaker) []domain.Event) {
		t.Helper()
		b, err := projections.BreakerOf(ctx, pool, id)
		require.NoError(t, err)
		_, err = events.Append(ctx, domain.Append{
			StreamID: domain.BreakerStreamID(id), StreamType: domain.BreakerStreamType, Expect: b.Version, Events: d(b),
		})
		require.NoError(t, err)
	}

	never, err := projections.BreakerOf(ctx, pool, "wh_never")
	require.NoError(t, err)
	require.Equal(t, domain.NewBreaker("wh_never"), never, "a breaker that never opened is closed at version 0")

	stats := domain.BreakerStats{Attempts: 10, Failures: 10, Window: p.Window, LastFailure: "timeout"}
	decide("wh_a", func(b *domain.Breaker) []domain.Event { return b.Open(p, stats, now) })
	decide("wh_b", func(b *domain.Breaker) []domain.Event { return b.Open(p, stats, now) })
	decide("wh_b", func(b *domain.Breaker) []domain.Event { return b.HalfOpen(now.Add(time.Minute)) })
	decide("wh_b", func(b *domain.Breaker) []domain.Event { return b.Close("probe succeeded", now.Add(2*time.Minute)) })

	a, err := projections.BreakerOf(ctx, pool, "wh_a")
	require.NoError(t, err)
	reopen := now.Add(p.CoolDown)
	require.Equal(t, &domain.Breaker{
		DestinationID: "wh_a", State: domain.BreakerStateOpen, Reason: "100% of 10 attempts failed in the last 5m0s (last: timeout)",
		Since: now, Attempts: 10, Failures: 10, FailureRate: 1, WindowSeconds: 300, Opens: 1, ReopenAt: &reopen, Version: 1,
	}, a)
	b, err := projections.BreakerOf(ctx, pool, "wh_b")
	require.NoError(t, err)
	require.Equal(t, domain.BreakerStateClosed, b.State)
	require.Equal(t, "probe succeeded", b.Reason)
	require.Equal(t, int64(3), b.Version)

	before := breakerRows(t, pool)
	var n int
	require.NoError(t, pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		var err error
		n, err = projections.RebuildBreakers(ctx, tx, func(ctx context.Context, q projections.DB, streamType, afterStream string, afterVersion int64, limit int) ([]domain.Recorded, error) {
			return eventstore.ReadStreams(ctx, q, streamType, afterStream, afterVersion, limit)
		})
		return err
	}))
	require.Equal(t, 4, n)
	require.Equal(t, before, breakerRows(t, pool))
}

func breakerRows(t *testing.T, db projections.DB) string {
	t.Helper()
	var out string
	require.NoError(t, db.QueryRow(t.Context(), `SELECT jsonb_agg(to_jsonb(b) ORDER BY destination_id)::text FROM breakers b`).Scan(&out))
	return out
}
