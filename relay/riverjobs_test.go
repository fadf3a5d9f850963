package relay_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/loki-interceptor/lokihooks/internal/dbtest"
	"github.com/loki-interceptor/lokihooks/relay"
)

// TestRiverJobs_CheckedAgainstThisRiver fails on a River upgrade: the
// statements of relay/riverjobs.go reach past River's public API, and
// whoever upgrades must check them against the new release, then update
// relay.RiverVersion.
func TestRiverJobs_CheckedAgainstThisRiver(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Version}}", "github.com/riverqueue/river").Output()
	require.NoError(t, err)
	require.Equal(t, relay.RiverVersion, strings.TrimSpace(string(out)),
		"River changed: check relay/riverjobs.go against the new release, then update relay.RiverVersion")
}

// TestRiverJobs_SchemaHasWhatWeUse fails if River's table loses a column or
// state riverjobs.go relies on.
func TestRiverJobs_SchemaHasWhatWeUse(t *testing.T) {
	t.Parallel()
	pool := dbtest.Pool(t, nil)
	var cols []string
	rows, err := pool.Query(t.Context(), `SELECT column_name FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name = 'river_job'`)
	require.NoError(t, err)
	for rows.Next() {
		var c string
		require.NoError(t, rows.Scan(&c))
		cols = append(cols, c)
	}
	require.NoError(t, rows.Err())
	for _, c := range []string{
		"id", "state", "kind", "args", "metadata", "scheduled_at", "attempted_by", "attempt", "attempted_at",
		"max_attempts", "errors", "finalized_at",
	} {
		require.Contains(t, cols, c)
	}
	var states []string
	require.NoError(t, pool.QueryRow(t.Context(), `SELECT enum_range(NULL::river_job_state)::text[]`).Scan(&states))
	for _, s := range []string{"available", "scheduled", "running", "completed", "discarded"} {
		require.Contains(t, states, s)
	}
}
