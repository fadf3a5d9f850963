package connectors_test

import (
	"bytes"
	"context"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"code.dny.dev/ssrf"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/loki-interceptor/lokihooks/connectors"
	"github.com/loki-interceptor/lokihooks/domain"
)

// loopback is the test escape hatch: the guard lets 127.0.0.0/8 (any port)
// through so httptest servers are reachable.
var loopback = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}

func testClient(t testing.TB) *http.Client {
	t.Helper()
	c := connectors.NewClient(connectors.ClientConfig{AllowHTTP: true, AllowedNetworks: loopback})
	t.Cleanup(c.CloseIdleConnections)
	return c
}

type received struct {
	path   string
	header http.Header
	body   []byte
}

type testBundle struct {
	server   *httptest.Server
	received chan received
	newConns atomic.Int64
	secret   string
}

// setup starts a receiver that records each request and then runs respond
// (nil answers 200 with an empty body), and returns a sender whose client
// may reach it.
func setup(t *testing.T, respond http.HandlerFunc) (*connectors.Webhook, *testBundle) {
	t.Helper()
	b := &testBundle{received: make(chan received, 8), secret: domain.GenerateSecret()}
	b.server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		select {
		case b.received <- received{path: r.URL.Path, header: r.Header.Clone(), body: body}:
		default: // a test that cares reads every request; never block the server
		}
		if respond != nil {
			respond(w, r)
		}
	}))
	b.server.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			b.newConns.Add(1)
		}
	}
	b.server.Config.ErrorLog = log.New(io.Discard, "", 0)
	b.server.Start()
	t.Cleanup(b.server.Close)
	return connectors.NewWebhook(testClient(t), connectors.WebhookConfig{}), b
}

// request returns a valid attempt against the bundle's server.
func (b *testBundle) request() domain.AttemptRequest {
	return domain.AttemptRequest{
		URL:        b.server.URL + "/hook",
		EventID:    "evt_01JAAAAAAAAAAAAAAAAAAAAAAA",
		EventType:  "order.paid",
		DeliveryID: "dlv_01JBBBBBBBBBBBBBBBBBBBBBBB",
		Attempt:    3,
		Body:       []byte(`{"id":"evt_01JAAAAAAAAAAAAAAAAAAAAAAA","type":"order.paid","timestamp":"2026-01-02T03:04:05Z","data":{"total":42}}`),
		Secrets:    []string{b.secret},
		Timeout:    5 * time.Second,
		Now:        time.Now(),
	}
}

// receive returns the request the receiver recorded during a Send that has
// already returned, so it is in the buffer or was never made.
func (b *testBundle) receive(t *testing.T) received {
	t.Helper()
	select {
	case r := <-b.received:
		return r
	default:
		t.Fatal("receiver got no request")
		return received{}
	}
}

func (b *testBundle) requireNotHit(t *testing.T) {
	t.Helper()
	require.Empty(t, b.received, "receiver must not be reached")
}

func TestWebhook_Send(t *testing.T) {
	t.Parallel()

	t.Run("HeadersAndBody", func(t *testing.T) {
		t.Parallel()
		wh, b := setup(t, func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("X-Receiver", "ok")
			_, _ = io.WriteString(w, `{"received":true}`)
		})
		req := b.request()

		res := wh.Send(t.Context(), req)

		require.NoError(t, res.Err)
		require.True(t, res.Success)
		require.Equal(t, domain.ErrorCategoryNone, res.Category)
		require.Equal(t, http.StatusOK, res.StatusCode)
		require.JSONEq(t, `{"received":true}`, string(res.ResponseBody))
		require.False(t, res.Truncated)
		require.Equal(t, "ok", res.ResponseHeaders.Get("X-Receiver"))
		require.Positive(t, res.Duration)
		require.Zero(t, res.RetryAfter)

		got := b.receive(t)
		require.Equal(t, "/hook", got.path)
		require.Equal(t, req.Body, got.body)
		wantSig, err := domain.SignatureHeader(req.Secrets, req.EventID, req.Now, req.Body)
		require.NoError(t, err)
		want := map[string]string{
			"Content-Type":        "application/json",
			"User-Agent":          "lokihooks/1.0",
			"webhook-id":          req.EventID,
			"webhook-timestamp":   strconv.FormatInt(req.Now.Unix(), 10),
			"webhook-signature":   wantSig,
			"X-Webhook-Signature": domain.SignLegacy(b.secret, req.Body),
			"X-Webhook-Event":     "order.paid",
			"X-Webhook-Delivery":  req.DeliveryID,
			"X-Webhook-Attempt":   "3",
		}
		for k, v := range want {
			require.Equal(t, []string{v}, got.header.Values(k), "header %s", k)
		}
		require.True(t, domain.VerifyLegacy(b.secret, got.body, got.header.Get("X-Webhook-Signature")))

		// The receiver's side, with the reference library and the real clock
		// (Verify enforces ±5 minutes).
		ref, err := standardwebhooks.NewWebhook(b.secret)
		require.NoError(t, err)
		require.NoError(t, ref.Verify(got.body, got.header))

		// The record of what was sent hides both signatures.
		require.Equal(t, "[redacted]", res.RequestHeaders.Get("webhook-signature"))
		require.Equal(t, "[redacted]", res.RequestHeaders.Get("X-Webhook-Signature"))
		require.Equal(t, req.EventID, res.RequestHeaders.Get("webhook-id"))
		require.NotContains(t, strings.Join(res.RequestHeaders.Values("webhook-signature"), ""), wantSig)
	})

	t.Run("RotatedSecretVerifies", func(t *testing.T) {
		t.Parallel()
		wh, b := setup(t, nil)
		req := b.request()
		current := domain.GenerateSecret()
		req.Secrets = []string{current, b.secret} // the receiver still holds the old one

		res := wh.Send(t.Context(), req)
		require.True(t, res.Success, res.Detail)

		got := b.receive(t)
		require.Len(t, strings.Split(got.header.Get("webhook-signature"), " "), 2)
		old, err := standardwebhooks.NewWebhook(b.secret)
		require.NoError(t, err)
		require.NoError(t, old.Verify(got.body, got.header))
		// The legacy header uses the current secret only.
		require.True(t, domain.VerifyLegacy(current, got.body, got.header.Get("X-Webhook-Signature")))
	})

	t.Run("CustomHeaders", func(t *testing.T) {
		t.Parallel()
		wh, b := setup(t, nil)
		req := b.request()
		req.Headers = map[string]string{
			"X-Tenant":            "acme",
			"Authorization":       "Bearer t0ken",
			"webhook-signature":   "v1,forged",
			"X-WEBHOOK-SIGNATURE": "sha256=forged",
			"Webhook-Id":          "evt_forged",
			"WEBHOOK-TIMESTAMP":   "1",
			"content-type":        "text/plain",
			"X-Webhook-Attempt":   "99",
		}

		res := wh.Send(t.Context(), req)
		require.True(t, res.Success, res.Detail)

		got := b.receive(t)
		require.Equal(t, "acme", got.header.Get("X-Tenant"))
		require.Equal(t, "Bearer t0ken", got.header.Get("Authorization"))
		require.Equal(t, []string{"application/json"}, got.header.Values("Content-Type"))
		require.Equal(t, []string{req.EventID}, got.header.Values("webhook-id"))
		require.Equal(t, []string{strconv.FormatInt(req.Now.Unix(), 10)}, got.header.Values("webhook-timestamp"))
		require.Equal(t, []string{"3"}, got.header.Values("X-Webhook-Attempt"))
		require.Len(t, got.header.Values("webhook-signature"), 1)
		require.NotContains(t, got.header.Get("webhook-signature"), "forged")
		require.Len(t, got.header.Values("X-Webhook-Signature"), 1)
		require.True(t, domain.VerifyLegacy(b.secret, got.body, got.header.Get("X-Webhook-Signature")))
		ref, err := standardwebhooks.NewWebhook(b.secret)
		require.NoError(t, err)
		require.NoError(t, ref.Verify(got.body, got.header))
	})

	t.Run("ReservedHeadersNeverSent", func(t *testing.T) {
		t.Parallel()
		// The sender skips exactly the names the API refuses: one list,
		// domain.ReservedHeaders, so nothing the API accepts is dropped.
		wh, b := setup(t, nil)
		req := b.request()
		req.Headers = map[string]string{"X-Tenant": "acme"}
		for _, name := range domain.ReservedHeaders() {
			req.Headers[name] = "custom-" + name
		}
		res := wh.Send(t.Context(), req)
		require.True(t, res.Success, res.Detail)
		got := b.receive(t)
		require.Equal(t, "acme", got.header.Get("X-Tenant"))
		for name, values := range got.header {
			for _, v := range values {
				require.NotContains(t, v, "custom-", "reserved header %s was sent from custom headers", name)
			}
		}
	})

	t.Run("TraceContextPropagated", func(t *testing.T) {
		t.Parallel()
		_, b := setup(t, nil)
		// An explicit propagator instead of the otel global, which tests
		// running in parallel must not set.
		wh := connectors.NewWebhook(testClient(t), connectors.WebhookConfig{Propagator: propagation.TraceContext{}})
		sc := trace.NewSpanContext(trace.SpanContextConfig{
			TraceID:    trace.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36},
			SpanID:     trace.SpanID{0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7},
			TraceFlags: trace.FlagsSampled,
		})
		ctx := trace.ContextWithSpanContext(t.Context(), sc)

		res := wh.Send(ctx, b.request())
		require.True(t, res.Success, res.Detail)

		got := b.receive(t)
		require.Equal(t, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", got.header.Get("traceparent"))
	})

	t.Run("ZeroNowUsesClock", func(t *testing.T) {
		t.Parallel()
		wh, b := setup(t, nil)
		req := b.request()
		req.Now = time.Time{}
		before := time.Now().Unix()

		res := wh.Send(t.Context(), req)
		require.True(t, res.Success, res.Detail)

		ts, err := strconv.ParseInt(b.receive(t).header.Get("webhook-timestamp"), 10, 64)
		require.NoError(t, err)
		require.GreaterOrEqual(t, ts, before)
	})

	t.Run("RedirectNotFollowed", func(t *testing.T) {
		t.Parallel()
		wh, b := setup(t, func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/hook" {
				http.Redirect(w, r, "/target", http.StatusFound)
			}
		})

		res := wh.Send(t.Context(), b.request())

		require.False(t, res.Success)
		require.Equal(t, domain.ErrorCategoryHTTP3xx, res.Category)
		require.Equal(t, http.StatusFound, res.StatusCode)
		require.Equal(t, "/target", res.ResponseHeaders.Get("Location"))
		require.NoError(t, res.Err)
		require.Equal(t, "/hook", b.receive(t).path)
		b.requireNotHit(t) // the redirect target never saw a request
	})

	t.Run("StatusCategories", func(t *testing.T) {
		t.Parallel()
		tests := []struct {
			status  int
			want    domain.ErrorCategory
			success bool
		}{
			{status: http.StatusOK, want: domain.ErrorCategoryNone, success: true},
			{status: http.StatusCreated, want: domain.ErrorCategoryNone, success: true},
			{status: http.StatusAccepted, want: domain.ErrorCategoryNone, success: true},
			{status: http.StatusNoContent, want: domain.ErrorCategoryNone, success: true},
			{status: http.StatusMovedPermanently, want: domain.ErrorCategoryHTTP3xx},
			{status: http.StatusNotModified, want: domain.ErrorCategoryHTTP3xx},
			{status: http.StatusBadRequest, want: domain.ErrorCategoryHTTP4xx},
			{status: http.StatusUnauthorized, want: domain.ErrorCategoryHTTP4xx},
			{status: http.StatusNotFound, want: domain.ErrorCategoryHTTP4xx},
			{status: http.StatusGone, want: domain.ErrorCategoryHTTP4xx},
			{status: http.StatusTooManyRequests, want: domain.ErrorCategoryHTTP4xx},
			{status: http.StatusInternalServerError, want: domain.ErrorCategoryHTTP5xx},
			{status: http.StatusBadGateway, want: domain.ErrorCategoryHTTP5xx},
			{status: http.StatusServiceUnavailable, want: domain.ErrorCategoryHTTP5xx},
			{status: http.StatusGatewayTimeout, want: domain.ErrorCategoryHTTP5xx},
		}
		for _, tt := range tests {
			t.Run(strconv.Itoa(tt.status), func(t *testing.T) {
				t.Parallel()
				wh, b := setup(t, func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(tt.status) })

				res := wh.Send(t.Context(), b.request())

				require.Equal(t, tt.status, res.StatusCode)
				require.Equal(t, tt.want, res.Category)
				require.Equal(t, tt.success, res.Success)
				require.Contains(t, res.Detail, strconv.Itoa(tt.status))
				require.NoError(t, res.Err)
			})
		}
	})

	t.Run("RetryAfter", func(t *testing.T) {
		t.Parallel()
		now := time.Now().Truncate(time.Second)
		tests := []struct {
			name       string
			status     int
			retryAfter string
			want       time.Duration
		}{
			{name: "Seconds429", status: http.StatusTooManyRequests, retryAfter: "7", want: 7 * time.Second},
			{name: "Seconds503", status: http.StatusServiceUnavailable, retryAfter: "120", want: 2 * time.Minute},
			{name: "HTTPDate", status: http.StatusTooManyRequests, retryAfter: now.Add(30 * time.Second).UTC().Format(http.TimeFormat), want: 30 * time.Second},
			{name: "PastDate", status: http.StatusServiceUnavailable, retryAfter: now.Add(-time.Hour).UTC().Format(http.TimeFormat)},
			{name: "Absent", status: http.StatusTooManyRequests},
			{name: "Garbage", status: http.StatusTooManyRequests, retryAfter: "soon"},
			{name: "Negative", status: http.StatusTooManyRequests, retryAfter: "-5"},
			{name: "IgnoredOn500", status: http.StatusInternalServerError, retryAfter: "7"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				wh, b := setup(t, func(w http.ResponseWriter, _ *http.Request) {
					if tt.retryAfter != "" {
						w.Header().Set("Retry-After", tt.retryAfter)
					}
					w.WriteHeader(tt.status)
				})
				req := b.request()
				req.Now = now

				res := wh.Send(t.Context(), req)

				require.Equal(t, tt.status, res.StatusCode)
				require.Equal(t, tt.want, res.RetryAfter)
			})
		}
	})

	t.Run("Timeout", func(t *testing.T) {
		t.Parallel()
		release := make(chan struct{})
		wh, b := setup(t, func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done(): // the client gave up and closed the connection
			case <-release:
			}
		})
		t.Cleanup(func() { close(release) }) // runs before the server closes
		req := b.request()
		req.Timeout = 50 * time.Millisecond

		res := wh.Send(t.Context(), req)

		require.False(t, res.Success)
		require.Equal(t, domain.ErrorCategoryTimeout, res.Category)
		require.ErrorIs(t, res.Err, context.DeadlineExceeded)
		require.Zero(t, res.StatusCode)
		require.GreaterOrEqual(t, res.Duration, 50*time.Millisecond)
	})

	t.Run("CallerCanceled", func(t *testing.T) {
		t.Parallel()
		wh, b := setup(t, nil)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()

		res := wh.Send(ctx, b.request())

		require.False(t, res.Success)
		require.Equal(t, domain.ErrorCategoryTimeout, res.Category)
		require.ErrorIs(t, res.Err, context.Canceled)
	})

	t.Run("ConnectionRefused", func(t *testing.T) {
		t.Parallel()
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		addr := ln.Addr().String()
		require.NoError(t, ln.Close())
		wh := connectors.NewWebhook(testClient(t), connectors.WebhookConfig{})
		_, b := setup(t, nil)
		req := b.request()
		req.URL = "http://" + addr + "/hook"

		res := wh.Send(t.Context(), req)

		require.False(t, res.Success)
		require.Equal(t, domain.ErrorCategoryNetwork, res.Category)
		requireDetail(t, domain.NetworkDetailConnect, res.Detail)
		require.Error(t, res.Err)
	})

	t.Run("DNSFailure", func(t *testing.T) {
		t.Parallel()
		wh, b := setup(t, nil)
		req := b.request()
		req.URL = "http://nonexistent.invalid/hook"

		res := wh.Send(t.Context(), req)

		require.Equal(t, domain.ErrorCategoryNetwork, res.Category)
		requireDetail(t, domain.NetworkDetailDNS, res.Detail)
		var dnsErr *net.DNSError
		require.ErrorAs(t, res.Err, &dnsErr)
	})

	t.Run("UntrustedCertificate", func(t *testing.T) {
		t.Parallel()
		srv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
		srv.Config.ErrorLog = log.New(io.Discard, "", 0) // "bad certificate" noise
		srv.StartTLS()
		t.Cleanup(srv.Close)
		wh, b := setup(t, nil)
		req := b.request()
		req.URL = srv.URL + "/hook"

		res := wh.Send(t.Context(), req)

		require.Equal(t, domain.ErrorCategoryNetwork, res.Category)
		requireDetail(t, domain.NetworkDetailTLS, res.Detail)
	})

	t.Run("HTTPSToPlainServer", func(t *testing.T) {
		t.Parallel()
		wh, b := setup(t, nil)
		req := b.request()
		req.URL = strings.Replace(req.URL, "http://", "https://", 1)

		res := wh.Send(t.Context(), req)

		require.Equal(t, domain.ErrorCategoryNetwork, res.Category)
		requireDetail(t, domain.NetworkDetailTLS, res.Detail)
	})

	t.Run("ResponseTruncated", func(t *testing.T) {
		t.Parallel()
		big := bytes.Repeat([]byte("0123456789abcdef"), 20<<10/16) // 20 KiB
		wh, b := setup(t, func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(big) })

		res := wh.Send(t.Context(), b.request())

		require.True(t, res.Success)
		require.True(t, res.Truncated)
		require.Len(t, res.ResponseBody, 16<<10)
		require.Equal(t, big[:16<<10], res.ResponseBody)
	})

	t.Run("ResponseExactlyAtLimit", func(t *testing.T) {
		t.Parallel()
		body := bytes.Repeat([]byte("x"), 16<<10)
		wh, b := setup(t, func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(body) })

		res := wh.Send(t.Context(), b.request())

		require.False(t, res.Truncated)
		require.Equal(t, body, res.ResponseBody)
	})

	t.Run("ConnectionReused", func(t *testing.T) {
		t.Parallel()
		big := bytes.Repeat([]byte("z"), 40<<10) // over the kept 16 KiB, under the drain bound
		wh, b := setup(t, func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(big) })

		for range 5 {
			res := wh.Send(t.Context(), b.request())
			require.True(t, res.Success, res.Detail)
			require.True(t, res.Truncated)
		}
		require.Equal(t, int64(1), b.newConns.Load(), "drained responses must leave the connection reusable")
	})

	t.Run("InvalidSigningInput", func(t *testing.T) {
		t.Parallel()
		tests := map[string]func(*domain.AttemptRequest){
			"NoSecrets":     func(r *domain.AttemptRequest) { r.Secrets = nil },
			"BadSecret":     func(r *domain.AttemptRequest) { r.Secrets = []string{"whsec_tooshort"} },
			"DotInEventID":  func(r *domain.AttemptRequest) { r.EventID = "evt.1" },
			"EmptyEventID":  func(r *domain.AttemptRequest) { r.EventID = "" },
			"RotatedBadOne": func(r *domain.AttemptRequest) { r.Secrets = append(r.Secrets, "nope") },
		}
		for name, mutate := range tests {
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				wh, b := setup(t, nil)
				req := b.request()
				mutate(&req)

				res := wh.Send(t.Context(), req)

				require.False(t, res.Success)
				require.Equal(t, domain.ErrorCategoryNetwork, res.Category)
				requireDetail(t, domain.NetworkDetailOther, res.Detail)
				require.ErrorIs(t, res.Err, domain.ErrInvalid)
				b.requireNotHit(t)
			})
		}
	})
}

// TestNewClient_Guard proves the SSRF guard and the scheme check are wired
// into the client, with loopback traffic only.
func TestNewClient_Guard(t *testing.T) {
	t.Parallel()

	t.Run("ProductionRefusesLoopback", func(t *testing.T) {
		t.Parallel()
		_, b := setup(t, nil)
		// The production guard, except for scheme, so the refusal comes from
		// the dialer (httptest has no TLS certificate we could trust here).
		client := connectors.NewClient(connectors.ClientConfig{AllowHTTP: true})
		wh := connectors.NewWebhook(client, connectors.WebhookConfig{})

		res := wh.Send(t.Context(), b.request())

		require.False(t, res.Success)
		require.Equal(t, domain.ErrorCategoryNetwork, res.Category)
		requireDetail(t, domain.NetworkDetailBlocked, res.Detail)
		require.ErrorIs(t, res.Err, ssrf.ErrProhibitedPort) // httptest's port is neither 80 nor 443
		b.requireNotHit(t)
	})

	t.Run("NilClientIsProduction", func(t *testing.T) {
		t.Parallel()
		_, b := setup(t, nil)
		wh := connectors.NewWebhook(nil, connectors.WebhookConfig{})

		res := wh.Send(t.Context(), b.request())

		requireDetail(t, domain.NetworkDetailBlocked, res.Detail)
		b.requireNotHit(t)
	})

	t.Run("AllowListDoesNotCoverLoopback", func(t *testing.T) {
		t.Parallel()
		_, b := setup(t, nil)
		client := connectors.NewClient(connectors.ClientConfig{
			AllowHTTP:       true,
			AllowedNetworks: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("2001:db8::/32")},
		})
		wh := connectors.NewWebhook(client, connectors.WebhookConfig{})

		res := wh.Send(t.Context(), b.request())

		requireDetail(t, domain.NetworkDetailBlocked, res.Detail)
		// Outside the allowed networks the production rule applies, ports
		// first: the allow list does not open other ports to everyone.
		require.ErrorIs(t, res.Err, ssrf.ErrProhibitedPort)
		b.requireNotHit(t)
	})

	t.Run("PlainHTTPRefusedByDefault", func(t *testing.T) {
		t.Parallel()
		_, b := setup(t, nil)
		client := connectors.NewClient(connectors.ClientConfig{AllowedNetworks: loopback})
		wh := connectors.NewWebhook(client, connectors.WebhookConfig{})

		res := wh.Send(t.Context(), b.request())

		require.Equal(t, domain.ErrorCategoryNetwork, res.Category)
		requireDetail(t, domain.NetworkDetailBlocked, res.Detail)
		b.requireNotHit(t)
	})

	t.Run("RedirectNotFollowedByClient", func(t *testing.T) {
		t.Parallel()
		_, b := setup(t, func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/hook" {
				http.Redirect(w, r, "/target", http.StatusTemporaryRedirect)
			}
		})
		resp, err := testClient(t).Get(b.server.URL + "/hook")
		require.NoError(t, err)
		require.NoError(t, resp.Body.Close())
		require.Equal(t, http.StatusTemporaryRedirect, resp.StatusCode)
		require.Equal(t, "/hook", b.receive(t).path)
		b.requireNotHit(t)
	})
}

func BenchmarkWebhook_Send(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = io.WriteString(w, `{"ok":true}`)
	}))
	b.Cleanup(srv.Close)
	wh := connectors.NewWebhook(testClient(b), connectors.WebhookConfig{})
	req := domain.AttemptRequest{
		URL:        srv.URL + "/hook",
		EventID:    "evt_01JAAAAAAAAAAAAAAAAAAAAAAA",
		EventType:  "order.paid",
		DeliveryID: "dlv_01JBBBBBBBBBBBBBBBBBBBBBBB",
		Attempt:    1,
		Body:       bytes.Repeat([]byte(`{"k":"v"}`), 110), // ~1 KiB
		Secrets:    []string{domain.GenerateSecret()},
		Timeout:    5 * time.Second,
		Now:        time.Now(),
	}
	ctx := b.Context()
	b.ReportAllocs()
	for b.Loop() {
		if res := wh.Send(ctx, req); !res.Success {
			b.Fatalf("send: %s %v", res.Detail, res.Err)
		}
	}
}

func TestWebhook_Send_RedactsCredentialHeaders(t *testing.T) {
	t.Parallel()
	var got http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Clone()
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(srv.Close)
	client := connectors.NewClient(connectors.ClientConfig{AllowHTTP: true, AllowedNetworks: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	res := connectors.NewWebhook(client, connectors.WebhookConfig{}).Send(t.Context(), domain.AttemptRequest{
		URL: srv.URL, EventID: "evt_1", EventType: "system.error", DeliveryID: "dlv_1", Attempt: 1, Body: []byte(`{}`),
		Secrets: []string{domain.GenerateSecret()},
		Headers: map[string]string{
			"Authorization": "Bearer s3cr3t", "Cookie": "session=1", "X-Api-Key": "k3y", "X-Custom-Credential": "c0de",
			"X-Secret-Token": "by name only", "X-Tenant": "acme",
		},
		SecretHeaders: []string{"x-api-key", "X-Custom-Credential"},
	})
	require.True(t, res.Success)
	require.Equal(t, "Bearer s3cr3t", got.Get("Authorization"), "the receiver gets the real value")
	require.Equal(t, "k3y", got.Get("X-Api-Key"), "the receiver gets the real value")
	// Redacted: the webhook's own list, and HTTP's credential headers.
	for _, name := range []string{"Authorization", "Cookie", "X-Api-Key", "X-Custom-Credential", "webhook-signature", "X-Webhook-Signature"} {
		require.Equal(t, "[redacted]", res.RequestHeaders.Get(name), name)
	}
	// Nothing is guessed from a name.
	require.Equal(t, "by name only", res.RequestHeaders.Get("X-Secret-Token"))
	require.Equal(t, "acme", res.RequestHeaders.Get("X-Tenant"), "other headers are kept")
}
