package connectors_test

import (
	"bufio"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// requireDetail checks that detail starts with the code word code,
// followed by ": " and an explanation.
func requireDetail(t *testing.T, code, detail string) {
	t.Helper()
	word, explanation, ok := strings.Cut(detail, ": ")
	require.True(t, ok, "detail %q has no explanation", detail)
	require.Equal(t, code, word, "detail %q", detail)
	require.NotEmpty(t, explanation)
}

// rawServer is a TCP receiver that answers with raw bytes, for receivers
// net/http would not let us write (endless headers, resets, drips).
type rawServer struct {
	ln   net.Listener
	done chan struct{}
	wg   sync.WaitGroup
	mu   sync.Mutex
	conn []net.Conn
}

// newRawServer serves handle on every connection until the test ends;
// handle should return when done is closed.
func newRawServer(t *testing.T, handle func(c net.Conn, done <-chan struct{})) *rawServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := &rawServer{ln: ln, done: make(chan struct{})}
	s.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conn = append(s.conn, c)
			s.mu.Unlock()
			s.wg.Go(func() {
				defer c.Close()
				handle(c, s.done)
			})
		}
	})
	t.Cleanup(func() {
		close(s.done)
		_ = ln.Close()
		s.mu.Lock()
		for _, c := range s.conn {
			_ = c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
	return s
}

// URL is the server's base URL.
func (s *rawServer) URL() string { return "http://" + s.ln.Addr().String() }

// readRequest reads one HTTP request and its body from c.
func readRequest(c net.Conn) error {
	req, err := http.ReadRequest(bufio.NewReader(c))
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, req.Body)
	return err
}

// newTLSServer starts an HTTPS server whose certificate no client trusts.
func newTLSServer(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // "bad certificate" noise
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}
