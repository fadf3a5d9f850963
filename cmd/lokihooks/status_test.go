package main

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/loki-interceptor/lokihooks/internal/telemetry"
)

func TestPrintStatus(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 30, 9, 12, 44, 0, time.UTC)
	s := &telemetry.Status{
		At:     at,
		Outbox: telemetry.OutboxLag{Events: 1204, OldestAge: 190 * time.Second},
		Projections: []telemetry.ProjectionLag{
			{Name: "analytics"}, {Name: "deliveries", Events: 12, OldestAge: 180 * time.Millisecond},
		},
		Jobs:         []telemetry.JobCount{{Kind: "deliver", State: "available", Count: 3}, {Kind: "deliver", State: "running", Count: 41}},
		Destinations: []telemetry.DestinationCount{{Kind: "webhook", Status: "active", Count: 40}},
		Breakers:     []telemetry.BreakerCount{{Kind: "webhook", State: "open", Count: 1}},
		FailingCount: map[string]int64{"webhook": 1},
		Failing: []telemetry.FailingDestination{{
			ID: "whk_1", Name: "billing", Kind: "webhook", Status: "active", BreakerState: "open", Since: at.Add(-32 * time.Minute),
		}},
		XminHolder: &telemetry.XminHolder{PID: 48121, ApplicationName: "billing-batch", Database: "billing", State: "idle in transaction", Age: 191 * time.Second},
	}
	var b strings.Builder
	require.NoError(t, printStatus(&b, s))
	out := b.String()
	for _, want := range []string{
		"outbox         1204 events behind, oldest 3m10s",
		"projections    analytics caught up · deliveries 12 events behind, oldest 180ms",
		"jobs           deliver: available 3, running 41",
		"destinations   webhook active 40",
		"breakers       webhook open 1",
		"failing        1 destinations whose latest attempt failed",
		`whk_1`, `"billing"`, "(32m0s), breaker open",
		`oldest xid     3m11s, pid 48121, application "billing-batch", database "billing", idle in transaction  <- holds back`,
	} {
		require.Contains(t, out, want)
	}
	require.LessOrEqual(t, strings.Count(out, "\n"), 24, "one screen")

	b.Reset()
	require.NoError(t, printStatus(&b, &telemetry.Status{At: at, FailingCount: map[string]int64{}}))
	require.Contains(t, b.String(), "outbox         caught up")
	require.Contains(t, b.String(), "oldest xid     none: nothing holds the outbox back")
}
