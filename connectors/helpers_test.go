package connectors_test

import (
	"bufio"
	"bytes"
	"encoding/json"
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

// testTimestamp is the timestamp of every test envelope: 2026-01-02T03:04:05Z.
const testTimestamp = "2026-01-02T03:04:05Z"

// testUnix is testTimestamp in unix seconds.
const testUnix = 1767323045

// envelopeBody returns an event envelope with the given id, type and data
// object (JSON).
func envelopeBody(id, typ, data string) []byte {
	return []byte(`{"id":"` + id + `","type":"` + typ + `","timestamp":"` + testTimestamp + `","data":` + data + `}`)
}

// recorder is a fake third-party HTTP service: it records each request and
// answers with respond (nil: 200 "ok").
type recorder struct {
	server   *httptest.Server
	requests chan recorded
}

type recorded struct {
	path   string
	header http.Header
	body   []byte
}

func newRecorder(t *testing.T, respond http.HandlerFunc) *recorder {
	t.Helper()
	rec := &recorder{requests: make(chan recorded, 16)}
	rec.server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		select {
		case rec.requests <- recorded{path: r.URL.Path, header: r.Header.Clone(), body: body}:
		default:
		}
		if respond == nil {
			_, _ = io.WriteString(w, "ok")
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		respond(w, r)
	}))
	t.Cleanup(rec.server.Close)
	return rec
}

// next returns the request recorded during a call that has returned.
func (r *recorder) next(t *testing.T) recorded {
	t.Helper()
	select {
	case got := <-r.requests:
		return got
	default:
		t.Fatal("service got no request")
		return recorded{}
	}
}

func (r *recorder) requireNone(t *testing.T) {
	t.Helper()
	require.Empty(t, r.requests, "service must not be reached")
}

// mustJSON encodes v.
func mustJSON(t *testing.T, v any) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return b
}
