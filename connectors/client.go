package connectors

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"

	"code.dny.dev/ssrf"
)

// Client defaults and fixed transport limits.
const (
	// DefaultDialTimeout bounds a TCP connect when ClientConfig.DialTimeout is zero.
	DefaultDialTimeout = 5 * time.Second
	// DefaultTLSHandshakeTimeout bounds a TLS handshake when
	// ClientConfig.TLSHandshakeTimeout is zero.
	DefaultTLSHandshakeTimeout = 5 * time.Second
	// DefaultMaxIdleConnsPerHost is the keep-alive pool size per host when
	// ClientConfig.MaxIdleConnsPerHost is zero. Thousands of deliveries per
	// second to one receiver need dozens of warm connections; Go's default of
	// 2 would open and close a connection for almost every request.
	DefaultMaxIdleConnsPerHost = 64

	// minMaxIdleConns is the floor of the pool across all hosts.
	minMaxIdleConns = 4096
	// idleConnTimeout closes pooled connections nobody reused.
	idleConnTimeout = 90 * time.Second
	// tcpKeepAlive is the TCP keep-alive probe period.
	tcpKeepAlive = 30 * time.Second
	// maxResponseHeaderBytes bounds what a receiver can make us buffer
	// before the body.
	maxResponseHeaderBytes = 64 << 10
	// clientBackstopTimeout is http.Client.Timeout: a last resort for a caller
	// that forgot a deadline. Per-request timeouts come from the context.
	clientBackstopTimeout = 5 * time.Minute
)

// errSchemeNotAllowed reports a plain-HTTP request on a client built without
// ClientConfig.AllowHTTP.
var errSchemeNotAllowed = errors.New("scheme not allowed")

// ClientConfig configures NewClient. The zero value is the production
// configuration: HTTPS only, ports 80 and 443 only, and no connection to any
// loopback, private, link-local, metadata or other non-global address.
type ClientConfig struct {
	// AllowHTTP permits plain http:// requests. Default false: the client
	// refuses them before dialling.
	AllowHTTP bool
	// AllowedNetworks are prefixes the SSRF guard lets through even though
	// they are not global (for tests and local runs, e.g. 127.0.0.0/8), on
	// any port, so httptest servers are reachable. Every other destination
	// keeps the production rule: global addresses, ports 80 and 443.
	// Default empty.
	AllowedNetworks []netip.Prefix
	// DialTimeout bounds a TCP connect. Default DefaultDialTimeout (5s).
	DialTimeout time.Duration
	// TLSHandshakeTimeout bounds a TLS handshake. Default
	// DefaultTLSHandshakeTimeout (5s).
	TLSHandshakeTimeout time.Duration
	// MaxIdleConnsPerHost is the keep-alive pool size per host. Default
	// DefaultMaxIdleConnsPerHost (64).
	MaxIdleConnsPerHost int
}

func (c ClientConfig) withDefaults() ClientConfig {
	if c.DialTimeout <= 0 {
		c.DialTimeout = DefaultDialTimeout
	}
	if c.TLSHandshakeTimeout <= 0 {
		c.TLSHandshakeTimeout = DefaultTLSHandshakeTimeout
	}
	if c.MaxIdleConnsPerHost <= 0 {
		c.MaxIdleConnsPerHost = DefaultMaxIdleConnsPerHost
	}
	return c
}

// NewClient returns the HTTP client every connector uses to reach customer
// endpoints. Non-positive durations and sizes in cfg mean their defaults.
//
// The SSRF guard (code.dny.dev/ssrf) runs as the dialer's Control function,
// on the exact IP being connected after DNS resolution, so DNS rebinding and
// odd IP spellings cannot slip past it. There is no proxy (a proxy would make
// the guard see the proxy's address) and redirects are never followed: a 3xx
// is returned to the caller as the final response. Connections are pooled
// HTTP/1.1 keep-alives. Client.Timeout is only a backstop of 5 minutes; give
// each request a deadline through its context.
//
// A refused destination fails the request with an error matching
// ssrf.ErrProhibitedIP, ssrf.ErrProhibitedPort or ssrf.ErrProhibitedNetwork.
// The client is safe for concurrent use.
func NewClient(cfg ClientConfig) *http.Client {
	cfg = cfg.withDefaults()

	control := ssrf.New().Safe
	if len(cfg.AllowedNetworks) > 0 {
		control = allowNetworks(cfg.AllowedNetworks, control)
	}

	dialer := &net.Dialer{
		Timeout:   cfg.DialTimeout,
		KeepAlive: tcpKeepAlive,
		Control:   control,
	}
	transport := &http.Transport{
		Proxy:                  nil,
		DialContext:            dialer.DialContext,
		TLSClientConfig:        &tls.Config{MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:    cfg.TLSHandshakeTimeout,
		MaxIdleConns:           max(minMaxIdleConns, cfg.MaxIdleConnsPerHost),
		MaxIdleConnsPerHost:    cfg.MaxIdleConnsPerHost,
		IdleConnTimeout:        idleConnTimeout,
		MaxResponseHeaderBytes: maxResponseHeaderBytes,
		// No Accept-Encoding: receivers answer in identity encoding, so the
		// stored response is what they sent and a compressed body cannot
		// expand past our read limits.
		DisableCompression: true,
		// A custom DialContext already disables HTTP/2; keep it explicit
		// that deliveries use HTTP/1.1 keep-alive pooling.
		ForceAttemptHTTP2: false,
	}
	return &http.Client{
		Transport:     &schemeGuard{next: transport, allowHTTP: cfg.AllowHTTP},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       clientBackstopTimeout,
	}
}

// allowNetworks lets connections to the allowed prefixes through on any
// port and sends every other destination to the production guard, which
// keeps its port restriction (80 and 443).
func allowNetworks(allowed []netip.Prefix, guard func(string, string, syscall.RawConn) error) func(string, string, syscall.RawConn) error {
	return func(network, address string, conn syscall.RawConn) error {
		if ap, err := netip.ParseAddrPort(address); err == nil {
			ip := ap.Addr().Unmap()
			for _, p := range allowed {
				if p.Contains(ip) {
					return nil
				}
			}
		}
		return guard(network, address, conn)
	}
}

// schemeGuard refuses plain-HTTP requests unless they are allowed, so a URL
// that slipped past ValidateURL is still never sent in clear text.
type schemeGuard struct {
	next      *http.Transport
	allowHTTP bool
}

func (g *schemeGuard) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme != "https" && (req.URL.Scheme != "http" || !g.allowHTTP) {
		if req.Body != nil {
			_ = req.Body.Close() // RoundTrip must close the body, even on errors.
		}
		return nil, fmt.Errorf("%w: %q", errSchemeNotAllowed, req.URL.Scheme)
	}
	return g.next.RoundTrip(req)
}

// CloseIdleConnections lets http.Client.CloseIdleConnections reach the pool.
func (g *schemeGuard) CloseIdleConnections() { g.next.CloseIdleConnections() }
