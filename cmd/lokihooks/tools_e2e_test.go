package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/loki-interceptor/lokihooks/domain"
)

// These tests run the developer tools against a real `lokihooks serve`
// child process (every role) on its own schema.

const e2eAPIKey = "e2e-tools-key-0123456789"

// apiServe is a running `lokihooks serve`.
type apiServe struct {
	base   string        // http://127.0.0.1:port
	pool   *pgxpool.Pool // on serve's schema
	dbURL  string        // serve's DATABASE_URL
	stderr *lineLog      // serve's log
}

func startAPIServe(t *testing.T) *apiServe {
	t.Helper()
	b := newServeBundle(t)
	cmd := exec.Command(os.Args[0], "serve")
	cmd.Env = append(os.Environ(),
		runMainEnv+"=1",
		envDatabaseURL+"="+b.dbURL,
		envAddr+"=127.0.0.1:0",
		envAPIKeys+"="+e2eAPIKey,
		envSecretsKey+"="+testSecretsKey,
		envAllowHTTP+"=true",
		envAllowedNetworks+"=127.0.0.0/8",
		envPollInterval+"=10ms",
		envProjectionLag+"=10ms",
		envShutdownTimeout+"=5s",
		envLogFormat+"=text", // the tests search the log for text lines
	)
	stdout, stderr := newLineSink(), &lineLog{t: t, prefix: "serve"}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	require.NoError(t, cmd.Start())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	line := stdout.until(t, "API:")
	api := strings.TrimSuffix(strings.Fields(line)[1], "/api/v1")
	return &apiServe{base: api, pool: b.pool, dbURL: b.dbURL, stderr: stderr}
}

// call makes an API call and decodes a JSON answer into out (if not nil).
func (s *apiServe) call(t *testing.T, method, path string, body any, out any) int {
	t.Helper()
	var rd *bytes.Reader
	if body != nil {
		b, err := json.Marshal(body)
		require.NoError(t, err)
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, s.base+path, rd)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+e2eAPIKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	if out != nil && resp.StatusCode < 300 && resp.StatusCode != http.StatusNoContent {
		require.NoError(t, json.NewDecoder(resp.Body).Decode(out))
	}
	return resp.StatusCode
}

func (s *apiServe) createWebhook(t *testing.T, fields map[string]any) string {
	t.Helper()
	var hook struct {
		ID string `json:"id"`
	}
	require.Equal(t, http.StatusCreated, s.call(t, http.MethodPost, "/api/v1/webhooks", fields, &hook))
	return hook.ID
}

func (s *apiServe) publish(t *testing.T, eventType string) string {
	t.Helper()
	info, err := domain.LookupEventType(eventType)
	require.NoError(t, err)
	var ev struct {
		ID string `json:"id"`
	}
	require.Equal(t, http.StatusAccepted, s.call(t, http.MethodPost, "/api/v1/events",
		map[string]any{"type": eventType, "data": json.RawMessage(info.Example)}, &ev))
	return ev.ID
}

// TestTools_AgainstServe shares one serve process between its subtests
// (each creates its own webhooks), since starting one takes a while.
func TestTools_AgainstServe(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("runs lokihooks serve in a child process against PostgreSQL")
	}
	s := startAPIServe(t)

	t.Run("ReceiveShowsRetriesUntilDeadLetter", func(t *testing.T) {
		t.Parallel()
		secret := domain.GenerateSecret()
		r := startReceive(t, "--secret", secret, "--status", "500", "--json")
		hook := s.createWebhook(t, map[string]any{
			"name": "e2e-retries", "url": r.url + "/hooks", "event_types": []string{domain.EventTypeWebhookTest},
			"secret": secret, "retry_strategy": "fixed_interval", "max_retries": 2, "retry_delay_seconds": 0,
		})
		eventID := s.publish(t, domain.EventTypeWebhookTest)

		// The receiver verifies each attempt of the real deliveries and
		// answers 500 to each.
		for attempt := 1; attempt <= 3; attempt++ {
			d := r.nextDelivery(t)
			require.Equal(t, eventID, d.EventID)
			require.Equal(t, domain.EventTypeWebhookTest, d.EventType)
			require.Equal(t, strconv.Itoa(attempt), d.Attempt)
			require.True(t, *d.Verified, "attempt %d: %+v %+v", attempt, d.Standard, d.Legacy)
			require.Equal(t, 500, d.Status)
		}
		// The deliveries API shows the retries and the dead letter.
		var page struct {
			Data []struct {
				EventID        string `json:"event_id"`
				Status         string `json:"status"`
				Attempts       int    `json:"attempts"`
				LastStatusCode int    `json:"last_status_code"`
			} `json:"data"`
		}
		require.Eventually(t, func() bool {
			s.call(t, http.MethodGet, "/api/v1/webhooks/"+hook+"/deliveries", nil, &page)
			return len(page.Data) == 1 && page.Data[0].Status == string(domain.DeliveryPermanentFailure)
		}, 20*time.Second, 20*time.Millisecond)
		require.Equal(t, eventID, page.Data[0].EventID)
		require.Equal(t, 3, page.Data[0].Attempts)
		require.Equal(t, 500, page.Data[0].LastStatusCode)
	})

	t.Run("ReceiveGoneDeactivates", func(t *testing.T) {
		t.Parallel()
		r := startReceive(t, "--gone-after", "1", "--json")
		hook := s.createWebhook(t, map[string]any{
			"name": "e2e-gone", "url": r.url + "/hooks", "event_types": []string{domain.EventTypeSystemError},
		})
		s.publish(t, domain.EventTypeSystemError)
		s.publish(t, domain.EventTypeSystemError)
		statuses := []int{r.nextDelivery(t).Status, r.nextDelivery(t).Status}
		require.ElementsMatch(t, []int{200, 410}, statuses)
		var got struct {
			Status string `json:"status"`
		}
		require.Eventually(t, func() bool {
			s.call(t, http.MethodGet, "/api/v1/webhooks/"+hook, nil, &got)
			return got.Status == string(domain.WebhookStatusInactive)
		}, 20*time.Second, 20*time.Millisecond)
	})

	t.Run("LoadtestViaOutbox", func(t *testing.T) {
		t.Parallel()
		rep, stderr := runLoadtest(t, "--via-outbox", "--api", s.base, "--api-key", e2eAPIKey,
			"--events", "40", "--concurrency", "8", "--wait", "30s")
		require.Equal(t, "via_outbox", rep.Mode)
		require.Equal(t, 40, rep.Sent)
		require.Equal(t, 40, rep.Succeeded, stderr)
		require.Equal(t, 40, rep.Delivery.Delivered)
		require.Zero(t, rep.Delivery.Missing)
		require.Zero(t, rep.Delivery.BadSignatures)
		require.Equal(t, 40, rep.Latency.Count)
		require.Contains(t, stderr, "loadtest: delivered 40/40 (100%)")

		// The temporary webhook is gone.
		var got struct {
			Status string `json:"status"`
		}
		code := s.call(t, http.MethodGet, "/api/v1/webhooks/"+rep.Delivery.WebhookID, nil, &got)
		require.True(t, code == http.StatusNotFound || got.Status == string(domain.WebhookStatusDeleted), "code %d, %+v", code, got)
	})

	t.Run("LoadtestViaOutboxBadKey", func(t *testing.T) {
		t.Parallel()
		_, _, err := runCmd(t, "loadtest", "--via-outbox", "--api", s.base, "--api-key", "wrong-key-0123456789", "--events", "1")
		require.ErrorContains(t, err, "refused the key (401)")
		require.ErrorContains(t, err, envAPIKey)
	})
}
