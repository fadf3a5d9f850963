package telemetry_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/loki-interceptor/lokihooks/internal/dbtest"
	"github.com/loki-interceptor/lokihooks/internal/telemetry"
)

func TestReadStatus_OutboxLag(t *testing.T) {
	t.Parallel()
	pool := dbtest.Pool(t, nil)
	ctx := t.Context()

	lag, err := telemetry.ReadOutboxLag(ctx, pool)
	require.NoError(t, err)
	require.Equal(t, telemetry.OutboxLag{}, lag)

	for range 3 {
		_, err := pool.Exec(ctx, `SELECT lokihooks_publish('report.generated', '{"report_id":"r1"}')`)
		require.NoError(t, err)
	}
	// Nothing consumes this schema's outbox: every event is behind.
	lag, err = telemetry.ReadOutboxLag(ctx, pool)
	require.NoError(t, err)
	require.Equal(t, int64(3), lag.Events)
	require.Positive(t, lag.OldestAge)

	s, err := telemetry.ReadStatus(ctx, pool)
	require.NoError(t, err)
	require.Equal(t, int64(3), s.Outbox.Events)
	require.Len(t, s.Jobs, len(telemetry.JobStates), "delivery jobs, each state at zero")
	require.Empty(t, s.Breakers)
}

func TestLeader_OneAtATime(t *testing.T) {
	t.Parallel()
	pool := dbtest.Pool(t, nil)
	ctx := t.Context()
	a, b := telemetry.NewLeader(pool, nil), telemetry.NewLeader(pool, nil)
	t.Cleanup(func() {
		_ = a.Close(context.WithoutCancel(ctx))
		_ = b.Close(context.WithoutCancel(ctx))
	})

	require.True(t, a.Lead(ctx))
	require.False(t, b.Lead(ctx))
	require.True(t, a.Lead(ctx), "the leader keeps leading")

	// The leader's process goes away: the other takes over.
	require.NoError(t, a.Close(ctx))
	require.True(t, b.Lead(ctx))
	require.False(t, a.Lead(ctx))
}

func TestRegisterGauges_OnlyTheLeaderReports(t *testing.T) {
	t.Parallel()
	pool := dbtest.Pool(t, nil)
	ctx := t.Context()
	_, err := pool.Exec(ctx, `SELECT lokihooks_publish('report.generated', '{"report_id":"r1"}')`)
	require.NoError(t, err)

	readers := make([]*sdkmetric.ManualReader, 2)
	for i := range readers {
		readers[i] = sdkmetric.NewManualReader()
		leader := telemetry.NewLeader(pool, nil)
		t.Cleanup(func() { _ = leader.Close(context.WithoutCancel(ctx)) })
		_, err := telemetry.RegisterGauges(sdkmetric.NewMeterProvider(sdkmetric.WithReader(readers[i])), pool, leader, telemetry.GaugesConfig{})
		require.NoError(t, err)
	}
	first, second := collect(t, readers[0]), collect(t, readers[1])
	require.InDelta(t, 1, sum(first, telemetry.MetricLeader), 0)
	require.InDelta(t, 1, sum(first, telemetry.MetricOutboxLag), 0)
	require.InDelta(t, 0, sum(second, telemetry.MetricLeader), 0)
	for _, m := range second {
		require.Equal(t, telemetry.MetricLeader, m.Name, "a process that does not lead reports no database-wide gauge")
	}
}
