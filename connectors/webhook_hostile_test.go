package connectors_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/loki-interceptor/lokihooks/connectors"
	"github.com/loki-interceptor/lokihooks/domain"
)

// hostileBound is how long past its timeout an attempt may take: the
// deadline fires, the connection is torn down, the result is built. Generous
// for -race on a loaded machine; the point is "bounded", not "fast".
const hostileBound = 2 * time.Second

// drip writes b one byte per tick until done.
func drip(c net.Conn, b []byte, tick time.Duration, done <-chan struct{}) {
	ticker := time.NewTicker(tick)
	defer ticker.Stop()
	for i := range b {
		select {
		case <-done:
			return
		case <-ticker.C:
			if _, err := c.Write(b[i : i+1]); err != nil {
				return
			}
		}
	}
	<-done
}

// TestWebhook_HostileReceivers checks that every attempt against a
// misbehaving receiver is bounded in time (the attempt's timeout, end to
// end) and memory (MaxResponseBytes), and is categorised with a Detail that
// says what happened.
func TestWebhook_HostileReceivers(t *testing.T) {
	t.Parallel()

	send := func(t *testing.T, url string, timeout time.Duration) domain.AttemptResult {
		t.Helper()
		_, b := setup(t, nil)
		req := b.request()
		req.URL = url + "/hook"
		req.Timeout = timeout
		wh := connectors.NewWebhook(testClient(t), connectors.WebhookConfig{})
		start := time.Now()
		res := wh.Send(t.Context(), req)
		require.Less(t, time.Since(start), timeout+hostileBound, "attempt must end within its timeout")
		return res
	}

	t.Run("HangAfterHeaders", func(t *testing.T) {
		t.Parallel()
		release := make(chan struct{})
		wh, b := setup(t, func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusOK)
			_, _ = io.WriteString(w, "partial")
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
			case <-release:
			}
		})
		t.Cleanup(func() { close(release) })
		req := b.request()
		req.Timeout = 200 * time.Millisecond

		start := time.Now()
		res := wh.Send(t.Context(), req)

		require.Less(t, time.Since(start), req.Timeout+hostileBound)
		// The status line arrived and decides the outcome; the record says
		// the body is incomplete and keeps what came.
		require.True(t, res.Success)
		require.Equal(t, http.StatusOK, res.StatusCode)
		require.Equal(t, "HTTP 200 OK (response body cut short: no complete body within 200ms)", res.Detail)
		require.Equal(t, "partial", string(res.ResponseBody))
	})

	t.Run("HangAfterHeaders500", func(t *testing.T) {
		t.Parallel()
		srv := newRawServer(t, func(c net.Conn, done <-chan struct{}) {
			if readRequest(c) != nil {
				return
			}
			_, _ = io.WriteString(c, "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 100\r\n\r\noops")
			<-done
		})

		res := send(t, srv.URL(), 200*time.Millisecond)

		require.False(t, res.Success)
		require.Equal(t, domain.ErrorCategoryHTTP5xx, res.Category)
		require.Equal(t, "oops", string(res.ResponseBody))
		require.Contains(t, res.Detail, "cut short")
	})

	t.Run("ResetBeforeResponse", func(t *testing.T) {
		t.Parallel()
		srv := newRawServer(t, func(c net.Conn, _ <-chan struct{}) {
			if readRequest(c) != nil {
				return
			}
			_ = c.(*net.TCPConn).SetLinger(0) // Close sends RST
		})

		res := send(t, srv.URL(), 5*time.Second)

		require.False(t, res.Success)
		require.Equal(t, domain.ErrorCategoryNetwork, res.Category)
		require.Equal(t, "connect: connection reset by peer", res.Detail)
		require.Error(t, res.Err)
	})

	t.Run("CloseBeforeResponse", func(t *testing.T) {
		t.Parallel()
		srv := newRawServer(t, func(c net.Conn, _ <-chan struct{}) { _ = readRequest(c) })

		res := send(t, srv.URL(), 5*time.Second)

		require.Equal(t, domain.ErrorCategoryNetwork, res.Category)
		require.Equal(t, "other: connection closed before a complete response", res.Detail)
	})

	t.Run("ResetMidBody", func(t *testing.T) {
		t.Parallel()
		srv := newRawServer(t, func(c net.Conn, _ <-chan struct{}) {
			if readRequest(c) != nil {
				return
			}
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nabc")
			_ = c.(*net.TCPConn).SetLinger(0)
		})

		res := send(t, srv.URL(), 5*time.Second)

		require.True(t, res.Success)
		require.Equal(t, "abc", string(res.ResponseBody))
		require.Contains(t, res.Detail, "response body cut short")
	})

	t.Run("EndlessBody", func(t *testing.T) {
		t.Parallel()
		srv := newRawServer(t, func(c net.Conn, done <-chan struct{}) {
			if readRequest(c) != nil {
				return
			}
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
			chunk := "4000\r\n" + strings.Repeat("x", 0x4000) + "\r\n"
			for {
				select {
				case <-done:
					return
				default:
				}
				if _, err := io.WriteString(c, chunk); err != nil {
					return // the client hung up: the point of the test
				}
			}
		})

		start := time.Now()
		res := send(t, srv.URL(), 10*time.Second)

		// Kept 16 KiB, drained a bounded amount, closed: well inside the
		// timeout, not at it.
		require.Less(t, time.Since(start), 5*time.Second)
		require.True(t, res.Success)
		require.True(t, res.Truncated)
		require.Len(t, res.ResponseBody, connectors.DefaultMaxResponseBytes)
	})

	t.Run("GiganticDeclaredBody", func(t *testing.T) {
		t.Parallel()
		srv := newRawServer(t, func(c net.Conn, done <-chan struct{}) {
			if readRequest(c) != nil {
				return
			}
			_, _ = io.WriteString(c, "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 10737418240\r\n\r\n")
			buf := []byte(strings.Repeat("y", 64<<10))
			for {
				select {
				case <-done:
					return
				default:
				}
				if _, err := c.Write(buf); err != nil {
					return
				}
			}
		})
		_, b := setup(t, nil)
		req := b.request()
		req.URL = srv.URL() + "/hook"
		wh := connectors.NewWebhook(testClient(t), connectors.WebhookConfig{HTTPConfig: connectors.HTTPConfig{MaxResponseBytes: 1024}})

		res := wh.Send(t.Context(), req)

		require.Equal(t, domain.ErrorCategoryHTTP5xx, res.Category)
		require.True(t, res.Truncated)
		require.Len(t, res.ResponseBody, 1024)
	})

	t.Run("HugeHeaders", func(t *testing.T) {
		t.Parallel()
		srv := newRawServer(t, func(c net.Conn, done <-chan struct{}) {
			if readRequest(c) != nil {
				return
			}
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\n")
			line := "X-Pad: " + strings.Repeat("h", 1000) + "\r\n"
			for range 1000 { // ~1 MB of headers
				if _, err := io.WriteString(c, line); err != nil {
					return
				}
			}
			<-done
		})

		res := send(t, srv.URL(), 5*time.Second)

		require.False(t, res.Success)
		require.Equal(t, domain.ErrorCategoryNetwork, res.Category)
		require.Equal(t, "other: response headers exceed 64 KiB", res.Detail)
	})

	t.Run("OneByteAtATimeStatusLine", func(t *testing.T) {
		t.Parallel()
		srv := newRawServer(t, func(c net.Conn, done <-chan struct{}) {
			if readRequest(c) != nil {
				return
			}
			drip(c, []byte("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"), 50*time.Millisecond, done)
		})

		res := send(t, srv.URL(), 300*time.Millisecond)

		require.False(t, res.Success)
		require.Equal(t, domain.ErrorCategoryTimeout, res.Category)
		require.Equal(t, "no response within 300ms", res.Detail)
		require.ErrorIs(t, res.Err, context.DeadlineExceeded)
	})

	t.Run("OneByteAtATimeBody", func(t *testing.T) {
		t.Parallel()
		srv := newRawServer(t, func(c net.Conn, done <-chan struct{}) {
			if readRequest(c) != nil {
				return
			}
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
			drip(c, []byte(strings.Repeat("z", 1000)), 50*time.Millisecond, done)
		})

		res := send(t, srv.URL(), 300*time.Millisecond)

		require.True(t, res.Success)
		require.Equal(t, "HTTP 200 OK (response body cut short: no complete body within 300ms)", res.Detail)
		require.Less(t, len(res.ResponseBody), 1000)
	})

	t.Run("MalformedResponse", func(t *testing.T) {
		t.Parallel()
		srv := newRawServer(t, func(c net.Conn, done <-chan struct{}) {
			if readRequest(c) != nil {
				return
			}
			_, _ = io.WriteString(c, "SMTP is not HTTP\r\n\r\n")
			<-done
		})

		res := send(t, srv.URL(), 5*time.Second)

		require.Equal(t, domain.ErrorCategoryNetwork, res.Category)
		require.Equal(t, "other: malformed HTTP response", res.Detail)
	})

	t.Run("Redirects", func(t *testing.T) {
		t.Parallel()
		for _, code := range []int{301, 302, 303, 307, 308} {
			t.Run(strconv.Itoa(code), func(t *testing.T) {
				t.Parallel()
				wh, b := setup(t, func(w http.ResponseWriter, r *http.Request) {
					// Towards the cloud metadata address: following it would be
					// the SSRF the guard exists to stop.
					http.Redirect(w, r, "http://169.254.169.254/latest/meta-data/", code)
				})

				res := wh.Send(t.Context(), b.request())

				require.False(t, res.Success)
				require.Equal(t, domain.ErrorCategoryHTTP3xx, res.Category)
				require.Equal(t, code, res.StatusCode)
				require.Contains(t, res.Detail, "(redirects are not followed)")
				require.NoError(t, res.Err)
			})
		}
	})

	t.Run("DiagnosableNetworkDetails", func(t *testing.T) {
		t.Parallel()
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		closed := ln.Addr().String()
		require.NoError(t, ln.Close())
		_, port, err := net.SplitHostPort(closed)
		require.NoError(t, err)

		tests := []struct {
			name   string
			client *http.Client
			url    string
			want   string
		}{
			{name: "Refused", url: "http://" + closed + "/hook?token=s3cr3t", want: "connect: connection refused"},
			{name: "DNS", url: "http://nonexistent.invalid/hook", want: "dns: no such host"},
			{
				name:   "BlockedPort",
				client: connectors.NewClient(connectors.ClientConfig{AllowHTTP: true}),
				url:    "http://" + closed + "/hook?token=s3cr3t",
				want:   "blocked: port " + port + " of 127.0.0.1 is not allowed (only 80, 443; see LOKIHOOKS_ALLOWED_NETWORKS)",
			},
			{
				name:   "PlainHTTP",
				client: connectors.NewClient(connectors.ClientConfig{AllowedNetworks: loopback}),
				url:    "http://" + closed + "/hook",
				want:   "blocked: plain http is not allowed (https only)",
			},
			{name: "HTTPSToPlain", url: "https://" + closed + "/x", want: "connect: connection refused"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				client := tt.client
				if client == nil {
					client = testClient(t)
				}
				_, b := setup(t, nil)
				req := b.request()
				req.URL = tt.url

				res := connectors.NewWebhook(client, connectors.WebhookConfig{}).Send(t.Context(), req)

				require.Equal(t, tt.want, res.Detail)
				require.NotContains(t, res.Err.Error(), "s3cr3t")
				require.NotContains(t, res.Err.Error(), "/hook")
			})
		}
	})

	t.Run("DiagnosableTLSDetails", func(t *testing.T) {
		t.Parallel()
		tlsSrv := newTLSServer(t)
		_, b := setup(t, nil)
		wh := connectors.NewWebhook(testClient(t), connectors.WebhookConfig{})

		req := b.request()
		req.URL = tlsSrv.URL + "/hook"
		require.Equal(t, "tls: certificate signed by unknown authority", wh.Send(t.Context(), req).Detail)

		req.URL = strings.Replace(b.server.URL, "http://", "https://", 1) + "/hook"
		require.Equal(t, "tls: the server does not speak TLS", wh.Send(t.Context(), req).Detail)
	})
}
