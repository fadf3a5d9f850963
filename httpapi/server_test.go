package httpapi_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/loki-interceptor/lokihooks/httpapi"
)

// serveLimited serves a handler that answers "ok" through NewServer on a
// LimitListener, and returns its address.
func serveLimited(t *testing.T, cfg httpapi.ServerConfig) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := httpapi.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = io.WriteString(w, "ok")
	}), cfg)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(httpapi.LimitListener(ln, cfg)) }()
	t.Cleanup(func() {
		require.NoError(t, srv.Close())
		require.ErrorIs(t, <-done, http.ErrServerClosed)
	})
	return ln.Addr().String()
}

// client is one kept-alive connection.
type client struct {
	conn net.Conn
	r    *bufio.Reader
}

func dial(t *testing.T, addr string) *client {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	return &client{conn: conn, r: bufio.NewReader(conn)}
}

// get sends a request on the connection and returns the answer's status.
func (c *client) get(t *testing.T) int {
	t.Helper()
	_, err := io.WriteString(c.conn, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if err != nil {
		return 0
	}
	require.NoError(t, c.conn.SetReadDeadline(time.Now().Add(2*time.Second)))
	res, err := http.ReadResponse(c.r, nil)
	if err != nil {
		return 0
	}
	_, _ = io.Copy(io.Discard, res.Body)
	_ = res.Body.Close()
	return res.StatusCode
}

// refused reads the 503 a connection over a limit gets, then EOF.
func (c *client) refused(t *testing.T) string {
	t.Helper()
	require.NoError(t, c.conn.SetReadDeadline(time.Now().Add(2*time.Second)))
	res, err := http.ReadResponse(c.r, nil)
	require.NoError(t, err)
	body, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	require.NoError(t, res.Body.Close())
	require.Equal(t, http.StatusServiceUnavailable, res.StatusCode)
	require.Equal(t, "application/problem+json", res.Header.Get("Content-Type"))
	require.Equal(t, "1", res.Header.Get("Retry-After"))
	_, err = c.r.ReadByte()
	require.ErrorIs(t, err, io.EOF, "the connection is closed")
	return string(body)
}

func TestLimitListener(t *testing.T) {
	t.Parallel()

	t.Run("PerClient", func(t *testing.T) {
		t.Parallel()
		addr := serveLimited(t, httpapi.ServerConfig{MaxConnsPerClient: 2})
		first, second := dial(t, addr), dial(t, addr)
		require.Equal(t, http.StatusOK, first.get(t))
		require.Equal(t, http.StatusOK, second.get(t))
		require.Contains(t, dial(t, addr).refused(t), "the limit per client")

		// A closed connection frees its slot.
		require.NoError(t, first.conn.Close())
		require.Eventually(t, func() bool { return dial(t, addr).get(t) == http.StatusOK }, 5*time.Second, 10*time.Millisecond)
		require.Equal(t, http.StatusOK, second.get(t), "kept-alive connections go on")
	})

	t.Run("Total", func(t *testing.T) {
		t.Parallel()
		addr := serveLimited(t, httpapi.ServerConfig{MaxConns: 3, MaxConnsPerClient: -1})
		var open []*client
		for range 3 {
			c := dial(t, addr)
			require.Equal(t, http.StatusOK, c.get(t))
			open = append(open, c)
		}
		require.Contains(t, dial(t, addr).refused(t), "connections open, its limit")
		require.NoError(t, open[0].conn.Close())
		require.Eventually(t, func() bool { return dial(t, addr).get(t) == http.StatusOK }, 5*time.Second, 10*time.Millisecond)
	})

	t.Run("Unlimited", func(t *testing.T) {
		t.Parallel()
		addr := serveLimited(t, httpapi.ServerConfig{MaxConns: -1, MaxConnsPerClient: -1})
		for range 20 {
			require.Equal(t, http.StatusOK, dial(t, addr).get(t))
		}
	})
}

func TestNewServer(t *testing.T) {
	t.Parallel()

	t.Run("Defaults", func(t *testing.T) {
		t.Parallel()
		srv := httpapi.NewServer(http.NotFoundHandler(), httpapi.ServerConfig{})
		require.Equal(t, httpapi.DefaultReadHeaderTimeout, srv.ReadHeaderTimeout)
		require.Equal(t, httpapi.DefaultReadTimeout, srv.ReadTimeout)
		require.Equal(t, httpapi.DefaultWriteTimeout, srv.WriteTimeout)
		require.Equal(t, httpapi.DefaultIdleTimeout, srv.IdleTimeout)
		require.Equal(t, httpapi.DefaultMaxHeaderBytes, srv.MaxHeaderBytes)
	})

	t.Run("SlowHeadersCutOff", func(t *testing.T) {
		t.Parallel()
		addr := serveLimited(t, httpapi.ServerConfig{ReadHeaderTimeout: 100 * time.Millisecond})
		c := dial(t, addr)
		_, err := io.WriteString(c.conn, "GET / HTTP/1.1\r\nHost: x\r\n") // never ends the headers
		require.NoError(t, err)
		require.NoError(t, c.conn.SetReadDeadline(time.Now().Add(3*time.Second)))
		_, err = io.ReadAll(c.r)
		require.NoError(t, err, "the server closes the connection well before the client gives up")
	})

	t.Run("SlowBodyCutOff", func(t *testing.T) {
		t.Parallel()
		addr := serveLimited(t, httpapi.ServerConfig{ReadTimeout: 100 * time.Millisecond})
		c := dial(t, addr)
		_, err := io.WriteString(c.conn, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nslow")
		require.NoError(t, err)
		require.NoError(t, c.conn.SetReadDeadline(time.Now().Add(3*time.Second)))
		_, err = io.ReadAll(c.r)
		require.NoError(t, err, "the server closes the connection well before the client gives up")
	})

	t.Run("HugeHeaders", func(t *testing.T) {
		t.Parallel()
		addr := serveLimited(t, httpapi.ServerConfig{MaxHeaderBytes: 1 << 10})
		c := dial(t, addr)
		_, err := io.WriteString(c.conn, "GET / HTTP/1.1\r\nHost: x\r\nX-Big: "+strings.Repeat("b", 8<<10)+"\r\n\r\n")
		require.NoError(t, err)
		require.NoError(t, c.conn.SetReadDeadline(time.Now().Add(3*time.Second)))
		res, err := http.ReadResponse(c.r, nil)
		require.NoError(t, err)
		require.NoError(t, res.Body.Close())
		require.Equal(t, http.StatusRequestHeaderFieldsTooLarge, res.StatusCode)
	})
}
