package httpapi

import (
	"encoding/json"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Defaults of ServerConfig. The timeouts stop clients that send headers or
// bodies slowly, or sit idle, from holding connections; the connection
// limits stop many such clients, or one client with many connections, from
// using up the process's file descriptors.
const (
	DefaultReadHeaderTimeout = 5 * time.Second
	DefaultReadTimeout       = 30 * time.Second
	// DefaultWriteTimeout outlasts the longest test-webhook call (a
	// webhook's timeout is at most 120 s).
	DefaultWriteTimeout      = 3 * time.Minute
	DefaultIdleTimeout       = time.Minute
	DefaultMaxHeaderBytes    = 64 << 10
	DefaultMaxConns          = 10000
	DefaultMaxConnsPerClient = 1000
)

// ServerConfig configures NewServer and LimitListener. Zero values mean the
// defaults stated.
type ServerConfig struct {
	// ReadHeaderTimeout bounds reading a request's headers (default
	// DefaultReadHeaderTimeout).
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds reading a whole request, body included (default
	// DefaultReadTimeout). Operations with a body also stop reading it
	// after 5 s.
	ReadTimeout time.Duration
	// WriteTimeout bounds handling a request and writing its answer
	// (default DefaultWriteTimeout).
	WriteTimeout time.Duration
	// IdleTimeout bounds how long a kept-alive connection waits for its
	// next request (default DefaultIdleTimeout).
	IdleTimeout time.Duration
	// MaxHeaderBytes bounds a request's headers; larger ones are answered
	// 431 (default DefaultMaxHeaderBytes).
	MaxHeaderBytes int
	// MaxConns caps the open connections (default DefaultMaxConns; negative:
	// no cap).
	MaxConns int
	// MaxConnsPerClient caps the open connections from one IP address
	// (default DefaultMaxConnsPerClient; negative: no cap). Behind a proxy
	// every client has the proxy's address: raise it there.
	MaxConnsPerClient int
}

func (c ServerConfig) withDefaults() ServerConfig {
	def := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.ReadHeaderTimeout, DefaultReadHeaderTimeout)
	def(&c.ReadTimeout, DefaultReadTimeout)
	def(&c.WriteTimeout, DefaultWriteTimeout)
	def(&c.IdleTimeout, DefaultIdleTimeout)
	if c.MaxHeaderBytes == 0 {
		c.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if c.MaxConns == 0 {
		c.MaxConns = DefaultMaxConns
	}
	if c.MaxConnsPerClient == 0 {
		c.MaxConnsPerClient = DefaultMaxConnsPerClient
	}
	return c
}

// NewServer returns an http.Server for h with the timeouts and header
// limit of cfg. Serve it on a LimitListener.
func NewServer(h http.Handler, cfg ServerConfig) *http.Server {
	cfg = cfg.withDefaults()
	return &http.Server{
		Handler: h, ReadHeaderTimeout: cfg.ReadHeaderTimeout, ReadTimeout: cfg.ReadTimeout,
		WriteTimeout: cfg.WriteTimeout, IdleTimeout: cfg.IdleTimeout, MaxHeaderBytes: cfg.MaxHeaderBytes,
	}
}

// LimitListener returns ln holding at most cfg.MaxConns connections open
// at once, and at most cfg.MaxConnsPerClient from one IP address. A
// connection over a limit is answered 503 with Retry-After and closed at
// once, so it costs no file descriptor and no goroutine past Accept. The
// returned listener is safe for concurrent use.
func LimitListener(ln net.Listener, cfg ServerConfig) net.Listener {
	cfg = cfg.withDefaults()
	return &limitListener{Listener: ln, max: cfg.MaxConns, perClient: cfg.MaxConnsPerClient, clients: map[string]int{}}
}

type limitListener struct {
	net.Listener
	max, perClient int // negative: no limit

	mu      sync.Mutex
	total   int
	clients map[string]int // open connections per IP address
}

// refuseDeadline bounds writing the 503 to a refused connection.
const refuseDeadline = time.Second

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		client := clientIP(c.RemoteAddr())
		if reason := l.admit(client); reason != "" {
			refuse(c, reason)
			continue
		}
		return &limitedConn{Conn: c, release: func() { l.release(client) }}, nil
	}
}

// admit counts a new connection from client, or says which limit it
// exceeds.
func (l *limitListener) admit(client string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.max >= 0 && l.total >= l.max:
		return "the server has " + strconv.Itoa(l.max) + " connections open, its limit"
	case l.perClient >= 0 && l.clients[client] >= l.perClient:
		return "your address has " + strconv.Itoa(l.perClient) + " connections open, the limit per client: reuse connections (keep-alive) instead of opening more"
	}
	l.total++
	l.clients[client]++
	return ""
}

func (l *limitListener) release(client string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if l.clients[client]--; l.clients[client] <= 0 {
		delete(l.clients, client)
	}
}

// refuse answers a connection over a limit with a 503 problem and closes
// it. The answer is small and the connection new, so the write does not
// wait; the deadline bounds it anyway.
func refuse(c net.Conn, reason string) {
	detail, _ := json.Marshal("too many connections: " + reason + "; retry shortly")
	body := `{"title":"Service Unavailable","status":503,"detail":` + string(detail) + "}"
	_ = c.SetWriteDeadline(time.Now().Add(refuseDeadline))
	_, _ = c.Write([]byte("HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/problem+json\r\n" +
		"Retry-After: 1\r\nConnection: close\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body))
	_ = c.Close()
}

// clientIP is the IP address of a remote address (the whole address when
// it has no port).
func clientIP(a net.Addr) string {
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return host
}

// limitedConn gives its slot back once, when it is closed.
type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitedConn) Close() error {
	c.once.Do(c.release)
	return c.Conn.Close()
}
