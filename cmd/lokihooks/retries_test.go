package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/loki-interceptor/lokihooks/domain"
)

func TestRetries(t *testing.T) {
	t.Parallel()

	t.Run("Table", func(t *testing.T) {
		t.Parallel()
		out, _, err := runCmd(t, "retries", "--strategy", "exponential_backoff", "--max-retries", "5",
			"--delay", "60", "--max-delay", "7200", "--multiplier", "2", "--jitter")
		require.NoError(t, err)
		lines := strings.Split(out, "\n")
		require.Equal(t, "exponential_backoff: 5 retries, delay 1m ×2 per retry, at most 2h, jitter ±20%", lines[0])
		require.Equal(t, []string{"1", "1m", "(48s", "–", "1m12s)", "1m", "(48s", "–", "1m12s)"}, strings.Fields(lines[3]))
		require.Equal(t, []string{"5", "16m", "(12m48s", "–", "19m12s)", "31m", "(24m48s", "–", "37m12s)"}, strings.Fields(lines[7]))
		require.Contains(t, out, "dead-lettered (permanent_failure) about 31m after the first attempt")
	})

	t.Run("JSONMatchesDomain", func(t *testing.T) {
		t.Parallel()
		out, _, err := runCmd(t, "retries", "--strategy", "linear_backoff", "--max-retries", "4", "--delay", "30",
			"--max-delay", "90", "--jitter=false", "--json")
		require.NoError(t, err)
		var doc scheduleDoc
		require.NoError(t, json.Unmarshal([]byte(out), &doc))
		want := domain.RetryPolicy{Strategy: domain.RetryLinear, MaxRetries: 4, Delay: 30e9, MaxDelay: 90e9, Multiplier: 2}.Schedule()
		require.Len(t, doc.Retries, len(want))
		for i, r := range want {
			require.Equal(t, r.N, doc.Retries[i].N)
			require.InDelta(t, r.Delay.Seconds(), doc.Retries[i].DelaySeconds, 1e-9)
			require.InDelta(t, r.Cumulative.Seconds(), doc.Retries[i].CumulativeSeconds, 1e-9)
		}
		require.InDelta(t, 90.0, doc.Retries[3].DelaySeconds, 1e-9, "capped at --max-delay")
	})

	t.Run("NoRetry", func(t *testing.T) {
		t.Parallel()
		out, _, err := runCmd(t, "retries", "--strategy", "no_retry")
		require.NoError(t, err)
		require.Contains(t, out, "nothing is retried")
	})

	t.Run("Invalid", func(t *testing.T) {
		t.Parallel()
		_, _, err := runCmd(t, "retries", "--delay", "600", "--max-delay", "60", "--multiplier", "20")
		var usage *usageError
		require.ErrorAs(t, err, &usage)
		// The webhook's own rules, named by flag.
		require.Equal(t, "--max-delay must be at least retry_delay_seconds (600); --multiplier must be between 1 and 10", usage.err.Error())
	})
}
