package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/require"

	"github.com/loki-interceptor/lokihooks/connectors"
	"github.com/loki-interceptor/lokihooks/domain"
)

// receiveBundle is a `lokihooks receive` running in the test.
type receiveBundle struct {
	url    string // http://host:port
	smtp   string // host:port, with --smtp
	out    *lineSink
	stderr *lineSink
	sender *connectors.Webhook
}

// startReceive runs `lokihooks receive --addr 127.0.0.1:0 args...` until
// the test ends, and checks that it then stops cleanly.
func startReceive(t *testing.T, args ...string) *receiveBundle {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	b := &receiveBundle{out: newLineSink(), stderr: newLineSink()}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, append([]string{"receive", "--addr", "127.0.0.1:0"}, args...), env(nil), b.out, b.stderr)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(10 * time.Second):
			t.Error("receive did not stop within 10s of Ctrl-C")
		}
	})
	line := b.stderr.until(t, "listening on ")
	b.url = strings.Fields(strings.SplitAfter(line, "listening on ")[1])[0]
	if strings.Contains(strings.Join(args, " "), "--smtp") {
		b.smtp = strings.Fields(strings.SplitAfter(b.stderr.until(t, "SMTP sink on "), "SMTP sink on ")[1])[0]
	}
	b.sender = connectors.NewWebhook(connectors.NewClient(connectors.ClientConfig{
		AllowHTTP: true, AllowedNetworks: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
	}), connectors.WebhookConfig{})
	return b
}

// send delivers one event with lokihooks' own sender.
func (b *receiveBundle) send(t *testing.T, secret string, attempt int, timeout time.Duration) domain.AttemptResult {
	t.Helper()
	id := domain.NewID(domain.EventIDPrefix, time.Now())
	info, err := domain.LookupEventType(domain.EventTypeComplianceAlert)
	require.NoError(t, err)
	return b.sender.Send(t.Context(), domain.AttemptRequest{
		URL: b.url + "/hooks", EventID: id, EventType: info.Name, DeliveryID: "dlv_test", Attempt: attempt,
		Body: envelope(id, info.Name, time.Now(), info.Example), Secrets: []string{secret}, Timeout: timeout,
	})
}

// nextDelivery reads the next JSON line.
func (b *receiveBundle) nextDelivery(t *testing.T) delivery {
	t.Helper()
	var d delivery
	line := b.out.next(t)
	require.NoError(t, json.Unmarshal([]byte(line), &d), line)
	return d
}

func TestReceive_VerifiesDeliveries(t *testing.T) {
	t.Parallel()
	secret := domain.GenerateSecret()
	b := startReceive(t, "--secret", secret, "--json")

	// The subtests share one receiver and read its output in order, so
	// they run one after the other.
	t.Run("Signed", func(t *testing.T) { //nolint:paralleltest // shares the receiver's output
		res := b.send(t, secret, 3, 0)
		require.True(t, res.Success, "%+v", res)
		require.Equal(t, http.StatusOK, res.StatusCode)
		d := b.nextDelivery(t)
		require.Equal(t, domain.EventTypeComplianceAlert, d.EventType)
		require.True(t, strings.HasPrefix(d.EventID, domain.EventIDPrefix))
		require.Equal(t, "3", d.Attempt)
		require.NotNil(t, d.Verified)
		require.True(t, *d.Verified)
		require.Equal(t, outcomeAnswered, d.Outcome)
	})

	t.Run("OtherSecret", func(t *testing.T) { //nolint:paralleltest // shares the receiver's output
		res := b.send(t, domain.GenerateSecret(), 1, 0)
		require.True(t, res.Success, "receive reports, it does not refuse")
		d := b.nextDelivery(t)
		require.False(t, *d.Verified)
		require.Equal(t, "wrong_secret", d.Standard.Reason)
		require.Equal(t, "wrong_secret", d.Legacy.Reason)
	})

	t.Run("Tampered", func(t *testing.T) { //nolint:paralleltest // shares the receiver's output
		body := []byte(`{"id":"evt_t","type":"webhook.test","timestamp":"2026-03-01T10:00:00Z","data":{"message":"hi"}}`)
		h := signedHeaders(t, secret, "evt_t", body)
		tampered := bytes.Replace(body, []byte(`"hi"`), []byte(`"hacked"`), 1)
		resp := post(t, b.url+"/hooks", h, tampered) //nolint:bodyclose // post closes it
		require.Equal(t, http.StatusOK, resp.StatusCode)
		d := b.nextDelivery(t)
		require.Equal(t, "evt_t", d.EventID)
		require.False(t, *d.Verified)
		require.Equal(t, "wrong_secret", d.Standard.Reason, "nothing explains a changed value")
	})
}

func TestReceive_TextLines(t *testing.T) {
	t.Parallel()
	secret := domain.GenerateSecret()
	b := startReceive(t, "--secret", secret)

	const n = 25
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			res := b.send(t, secret, 1, 0)
			require.True(t, res.Success)
		})
	}
	wg.Wait()
	for range n {
		// One whole line per delivery, never two mixed together.
		line := b.out.next(t)
		fields := strings.Fields(line)
		require.Len(t, fields, 11, line)
		require.Equal(t, domain.EventTypeComplianceAlert, fields[1])
		require.Equal(t, []string{"attempt", "1", "✓", "verified", "→", "200", "OK"}, fields[3:10], line)
		require.NotContains(t, line, "\x1b[", "no colour when stdout is not a terminal")
	}
}

func TestReceive_SimulatedTrouble(t *testing.T) {
	t.Parallel()
	secret := domain.GenerateSecret()

	t.Run("Status500", func(t *testing.T) {
		t.Parallel()
		b := startReceive(t, "--status", "500", "--json")
		res := b.send(t, secret, 1, 0)
		require.Equal(t, http.StatusInternalServerError, res.StatusCode)
		require.Equal(t, domain.ErrorCategoryHTTP5xx, res.Category)
		require.Equal(t, 500, b.nextDelivery(t).Status)
	})

	t.Run("FailRate", func(t *testing.T) {
		t.Parallel()
		b := startReceive(t, "--fail-rate", "1", "--json")
		res := b.send(t, secret, 1, 0)
		require.Equal(t, http.StatusInternalServerError, res.StatusCode)
		require.Equal(t, "--fail-rate", b.nextDelivery(t).Simulated)
	})

	t.Run("GoneAfter", func(t *testing.T) {
		t.Parallel()
		b := startReceive(t, "--gone-after", "2", "--json")
		codes := []int{}
		for range 4 {
			codes = append(codes, b.send(t, secret, 1, 0).StatusCode)
		}
		require.Equal(t, []int{200, 200, 410, 410}, codes)
		// DecideAttempt turns what the sender saw into a deactivation.
		out := domain.DecideAttempt(domain.DefaultWebhookSpec().RetryPolicy(), 1, domain.AttemptResult{StatusCode: codes[2]}, time.Now(), 0)
		require.NotEmpty(t, out.Deactivate)
	})

	t.Run("Reset", func(t *testing.T) {
		t.Parallel()
		b := startReceive(t, "--reset-rate", "1", "--json")
		res := b.send(t, secret, 1, 0)
		require.Zero(t, res.StatusCode)
		require.Equal(t, domain.ErrorCategoryNetwork, res.Category, "%+v", res)
		require.Equal(t, outcomeReset, b.nextDelivery(t).Outcome)
	})

	t.Run("Timeout", func(t *testing.T) {
		t.Parallel()
		b := startReceive(t, "--timeout-rate", "1", "--json")
		res := b.send(t, secret, 1, 300*time.Millisecond)
		require.Equal(t, domain.ErrorCategoryTimeout, res.Category, "%+v", res)
		d := b.nextDelivery(t)
		require.Equal(t, outcomeTimeout, d.Outcome)
		require.GreaterOrEqual(t, d.LatencyMS, 250.0, "held until the sender gave up")
	})

	t.Run("Latency", func(t *testing.T) {
		t.Parallel()
		b := startReceive(t, "--latency", "200ms", "--json")
		res := b.send(t, secret, 1, 0)
		require.True(t, res.Success)
		require.GreaterOrEqual(t, res.Duration, 200*time.Millisecond)
		require.GreaterOrEqual(t, b.nextDelivery(t).LatencyMS, 200.0)
	})

	t.Run("LatencyBeyondTimeout", func(t *testing.T) {
		t.Parallel()
		b := startReceive(t, "--latency", "1m", "--json")
		res := b.send(t, secret, 1, 200*time.Millisecond)
		require.Equal(t, domain.ErrorCategoryTimeout, res.Category)
		require.Equal(t, outcomeTimeout, b.nextDelivery(t).Outcome)
	})
}

func TestReceive_Save(t *testing.T) {
	t.Parallel()
	secret := domain.GenerateSecret()
	dir := filepath.Join(t.TempDir(), "requests")
	b := startReceive(t, "--secret", secret, "--save", dir, "--json")
	require.True(t, b.send(t, secret, 2, 0).Success)
	d := b.nextDelivery(t)
	require.Equal(t, dir, filepath.Dir(d.SavedTo))
	require.True(t, strings.HasSuffix(d.SavedTo, "-attempt2.http"), d.SavedTo)

	// The saved file is what `verify` reads.
	out, _, err := runCmd(t, "verify", "--secret", secret, d.SavedTo)
	require.NoError(t, err, out)
	raw, err := os.ReadFile(d.SavedTo)
	require.NoError(t, err)
	require.True(t, bytes.HasPrefix(raw, []byte("POST /hooks HTTP/1.1\r\n")))
}

func TestReceive_SMTPSink(t *testing.T) {
	t.Parallel()
	b := startReceive(t, "--smtp", "127.0.0.1:0")
	msg := strings.ReplaceAll(`From: lokihooks <alerts@loki.example>
To: ops@example.com
Subject: =?UTF-8?Q?[high]_Compliance_alert_=E2=80=94_doc=5F456?=
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="outer"

--outer
Content-Type: multipart/alternative; boundary="inner"

--inner
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: quoted-printable

Financial promotion lacks a risk warning=
 (doc_456).
Affected: 2 documents

--inner
Content-Type: text/html; charset=utf-8

<p>Financial promotion lacks a risk warning</p>
--inner--

--outer
Content-Type: application/pdf; name="report.pdf"
Content-Disposition: attachment; filename="report.pdf"
Content-Transfer-Encoding: base64

JVBERi0xLjQK
--outer--
`, "\n", "\r\n")
	c, err := smtp.Dial(b.smtp) // plain SMTP: the sink offers no STARTTLS
	require.NoError(t, err)
	require.NoError(t, c.SendMail("alerts@loki.example", []string{"ops@example.com", "oncall@example.com"}, strings.NewReader(msg)))
	require.NoError(t, c.Quit())

	lines := []string{b.out.next(t), b.out.next(t), b.out.next(t), b.out.next(t), b.out.next(t)}
	require.Contains(t, lines[0], "✉ email  from alerts@loki.example  to ops@example.com, oncall@example.com")
	require.Equal(t, "    subject: [high] Compliance alert — doc_456", lines[1])
	require.Equal(t, `    parts:   text/plain (76 B), text/html (47 B), application/pdf "report.pdf" (9 B)`, lines[2])
	require.Equal(t, "    │ Financial promotion lacks a risk warning (doc_456).", lines[3])
	require.Equal(t, "    │ Affected: 2 documents", lines[4])
}

func TestReceive_PortInUse(t *testing.T) {
	t.Parallel()
	b := startReceive(t)
	_, _, err := runCmd(t, "receive", "--addr", strings.TrimPrefix(b.url, "http://"))
	require.ErrorContains(t, err, "already in use")
	require.ErrorContains(t, err, "--addr")
}

// signedHeaders signs body as lokihooks does.
func signedHeaders(t *testing.T, secret, id string, body []byte) http.Header {
	t.Helper()
	now := time.Now()
	sig, err := domain.SignatureHeader([]string{secret}, id, now, body)
	require.NoError(t, err)
	h := http.Header{}
	h.Set("webhook-id", id)
	h.Set("webhook-timestamp", strconv.FormatInt(now.Unix(), 10))
	h.Set("webhook-signature", sig)
	h.Set("X-Webhook-Signature", domain.SignLegacy(secret, body))
	h.Set("Content-Type", "application/json")
	return h
}

func post(t *testing.T, url string, h http.Header, body []byte) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url, bytes.NewReader(body))
	require.NoError(t, err)
	req.Header = h
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	return resp
}
