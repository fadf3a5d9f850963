package main

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/loki-interceptor/lokihooks/internal/dbtest"
)

// TestBench_Modes runs each ingest mode of `lokihooks bench` on a few
// events and checks that every figure is reported (the figures themselves
// are measurements, never asserted). The runs are one after another (no
// t.Parallel in the subtests): each holds about 20 connections, and the
// tests share the server's max_connections.
func TestBench_Modes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"HTTP", []string{"-events", "30", "-ingest", "http", "-clients", "2"}},
		{"SQLOneEventPerTransaction", []string{"-events", "30", "-ingest", "sql", "-tx-size", "1", "-clients", "2"}},
		{"SQLBatched", []string{"-events", "30", "-tx-size", "10"}},
		{"Paced", []string{"-events", "10", "-rate", "50"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			args := append([]string{"bench", "-workers", "10"}, tc.args...)
			err := run(t.Context(), args, env(map[string]string{envDatabaseURL: dbtest.URL()}), &out, &errOut)
			require.NoError(t, err, errOut.String())
			for _, s := range []string{
				"(duplicates 0)", "deliveries/s over the whole span", "steady (10th to 90th percentile receipt)",
				"per second, ingested/delivered:", "min delivered/ingested", "publish→receipt latency: p50",
				"CPU per delivered event:", "row writes per event:", "WAL per event:", "database connections of lokihooks: at most",
			} {
				require.Contains(t, out.String(), s)
			}
		})
	}
	t.Run("Idle", func(t *testing.T) {
		var out, errOut bytes.Buffer
		err := run(t.Context(), []string{"bench", "-workers", "10", "-idle", "1s"},
			env(map[string]string{envDatabaseURL: dbtest.URL()}), &out, &errOut)
		require.NoError(t, err, errOut.String())
		require.Contains(t, out.String(), "cores (this process")
		require.Contains(t, out.String(), "idle WAL:")
		require.Contains(t, out.String(), "idle row writes:")
	})
	t.Run("BadIngest", func(t *testing.T) {
		_, _, err := runCmd(t, "bench", "-ingest", "carrier-pigeon")
		require.ErrorContains(t, err, "--ingest")
	})
}
