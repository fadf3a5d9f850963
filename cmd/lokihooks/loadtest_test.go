package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/loki-interceptor/lokihooks/domain"
	"github.com/loki-interceptor/lokihooks/internal/sigcheck"
)

// loadTarget is an httptest receiver that counts what it gets and answers
// by the request's arrival number.
type loadTarget struct {
	*httptest.Server
	received atomic.Int64
	verified atomic.Int64
	mu       sync.Mutex
	ids      map[string]int
}

func newLoadTarget(t *testing.T, secret string, answer func(n int64, w http.ResponseWriter, r *http.Request)) *loadTarget {
	t.Helper()
	lt := &loadTarget{ids: map[string]int{}}
	lt.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		n := lt.received.Add(1)
		if sigcheck.Check(r.Header, body, sigcheck.Params{Secret: secret, Now: time.Now()}).OK() {
			lt.verified.Add(1)
		}
		lt.mu.Lock()
		lt.ids[r.Header.Get("webhook-id")]++
		lt.mu.Unlock()
		answer(n, w, r)
	}))
	t.Cleanup(lt.Close)
	return lt
}

func runLoadtest(t *testing.T, args ...string) (*loadReport, string) {
	t.Helper()
	out, stderr, err := runCmd(t, append([]string{"loadtest", "--json"}, args...)...)
	require.NoError(t, err, stderr)
	var rep loadReport
	require.NoError(t, json.Unmarshal([]byte(out), &rep), out)
	return &rep, stderr
}

func TestLoadtest_Direct(t *testing.T) {
	t.Parallel()
	secret := domain.GenerateSecret()
	target := newLoadTarget(t, secret, func(n int64, w http.ResponseWriter, _ *http.Request) {
		switch {
		case n%5 == 0:
			w.WriteHeader(http.StatusInternalServerError)
		case n%7 == 0:
			w.WriteHeader(http.StatusNotFound)
		default:
			w.WriteHeader(http.StatusNoContent)
		}
	})
	rep, stderr := runLoadtest(t, "--url", target.URL+"/hooks", "--events", "50", "--concurrency", "8", "--secret", secret)

	// Of arrivals 1..50: 10 multiples of 5, and 6 multiples of 7 that are not.
	require.EqualValues(t, 50, target.received.Load())
	require.EqualValues(t, 50, target.verified.Load(), "every event signed with --secret")
	require.Len(t, target.ids, 50, "one id per event")
	require.Equal(t, 50, rep.Sent)
	require.Equal(t, 34, rep.Succeeded)
	require.InDelta(t, 0.68, rep.SuccessRate, 1e-9)
	require.Equal(t, map[string]int{"http_3xx": 0, "http_4xx": 6, "http_5xx": 10, "timeout": 0, "network": 0}, rep.Errors)
	require.Equal(t, map[int]int{204: 34, 404: 6, 500: 10}, rep.StatusCodes)
	require.Equal(t, 50, rep.Latency.Count)
	require.LessOrEqual(t, rep.Latency.Min, rep.Latency.P50)
	require.LessOrEqual(t, rep.Latency.P50, rep.Latency.P95)
	require.LessOrEqual(t, rep.Latency.P95, rep.Latency.P99)
	require.LessOrEqual(t, rep.Latency.P99, rep.Latency.Max)
	require.Contains(t, stderr, "loadtest: sending 50/50 (100%)\n", "plain progress lines when stderr is not a terminal")
}

func TestLoadtest_TimeoutsAndNetwork(t *testing.T) {
	t.Parallel()

	t.Run("Timeout", func(t *testing.T) {
		t.Parallel()
		target := newLoadTarget(t, "", func(n int64, w http.ResponseWriter, r *http.Request) {
			if n == 1 {
				<-r.Context().Done() // hold the first until the sender gives up
				return
			}
			w.WriteHeader(http.StatusOK)
		})
		rep, _ := runLoadtest(t, "--url", target.URL, "--events", "4", "--timeout", "200ms")
		require.Equal(t, 3, rep.Succeeded)
		require.Equal(t, 1, rep.Errors["timeout"])
		require.Equal(t, 3, rep.Latency.Count, "latency counts requests that got a response")
	})

	t.Run("Network", func(t *testing.T) {
		t.Parallel()
		closed := httptest.NewServer(http.NotFoundHandler())
		closed.Close()
		rep, _ := runLoadtest(t, "--url", closed.URL, "--events", "3")
		require.Equal(t, 3, rep.Errors["network"])
		require.Nil(t, rep.Latency)
	})

	t.Run("Rate", func(t *testing.T) {
		t.Parallel()
		target := newLoadTarget(t, "", func(_ int64, w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
		rep, _ := runLoadtest(t, "--url", target.URL, "--events", "11", "--rate", "100")
		require.Equal(t, 11, rep.Succeeded)
		require.GreaterOrEqual(t, rep.DurationSeconds, 0.1, "10 intervals of 10ms")
	})
}

func TestLoadtest_RefusesRemote(t *testing.T) {
	t.Parallel()
	for _, target := range []string{"http://192.0.2.10/hooks", "https://[2001:db8::1]/hooks", "http://10.0.0.1:9000/"} {
		_, _, err := runCmd(t, "loadtest", "--url", target, "--events", "1")
		require.ErrorContains(t, err, "--allow-remote", target)
	}
	_, _, err := runCmd(t, "loadtest", "--via-outbox", "--api", "http://192.0.2.10:8080", "--api-key", strings.Repeat("k", 16))
	require.ErrorContains(t, err, "--allow-remote")
}

func TestSummarise(t *testing.T) {
	t.Parallel()
	lat := make([]time.Duration, 100)
	for i := range lat {
		lat[i] = time.Duration(100-i) * time.Millisecond // 1ms..100ms, unsorted
	}
	require.Equal(t, &latencyStats{Count: 100, Min: 1, Avg: 50.5, P50: 50, P95: 95, P99: 99, Max: 100}, summarise(lat))
	require.Nil(t, summarise(nil))
}
