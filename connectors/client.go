package connectors

import (
	"context"
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
// ssrf.ErrProhibitedIP, ssrf.ErrProhibitedPort or ssrf.ErrProhibitedNetwork
// that also names the refused IP and port (never a URL path).
// The client is safe for concurrent use.
func NewClient(cfg ClientConfig) *http.Client {
	cfg = cfg.withDefaults()

	dialer := &net.Dialer{
		Timeout:   cfg.DialTimeout,
		KeepAlive: tcpKeepAlive,
		Control:   guardControl(cfg.AllowedNetworks, ssrf.New().Safe, httpPortsText),
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

// guardControl is the dialer's Control function: the allowed networks on
// any port, then guard (the production rule), with a refusal wrapped in a
// *blockedError that names the address. ports describes the ports guard
// permits, for the error text.
func guardControl(allowed []netip.Prefix, guard func(string, string, syscall.RawConn) error, ports string) func(string, string, syscall.RawConn) error {
	control := guard
	if len(allowed) > 0 {
		control = allowNetworks(allowed, guard)
	}
	return func(network, address string, conn syscall.RawConn) error {
		if err := control(network, address, conn); err != nil {
			return &blockedError{network: network, address: address, ports: ports, err: err}
		}
		return nil
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

// blockedError is a connection the SSRF guard refused. Its text names the
// network, IP and port that were refused and why, so an operator can tell a
// misconfigured destination from an attack; it never holds a URL.
type blockedError struct {
	network, address string
	// ports lists the ports allowed outside the allowed networks.
	ports string
	err   error
}

func (e *blockedError) Error() string {
	return "destination " + e.address + " refused: " + e.err.Error()
}

func (e *blockedError) Unwrap() error { return e.err }

// explain is the short, value-free reason a Detail carries after
// "blocked: ".
func (e *blockedError) explain() string {
	host, port, _ := net.SplitHostPort(e.address)
	switch {
	case errors.Is(e.err, errPlaintextNotAllowed):
		return "tls none is allowed only for SMTP hosts inside " + allowedNetworksSetting + ", and " + host + " is outside"
	case errors.Is(e.err, ssrf.ErrProhibitedPort):
		return "port " + port + " of " + host + " is not allowed (only " + e.ports + "; see " + allowedNetworksSetting + ")"
	case errors.Is(e.err, ssrf.ErrProhibitedIP):
		return "destination " + host + " is not allowed (see " + allowedNetworksSetting + ")"
	case errors.Is(e.err, ssrf.ErrProhibitedNetwork):
		return "network " + e.network + " is not allowed"
	default:
		return "address " + e.address + " is not a valid IP and port"
	}
}

// allowedNetworksSetting names the setting that opens networks to the
// guard, so a refusal tells the operator where to look.
const allowedNetworksSetting = "LOKIHOOKS_ALLOWED_NETWORKS"

// httpPortsText describes the ports the HTTP client's guard permits.
const httpPortsText = "80, 443"

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

// smtpPorts are the ports the SMTP dialer reaches outside the allowed
// networks: relay (25), implicit TLS (465), submission (587) and the common
// alternative submission port (2525).
var smtpPorts = []uint16{25, 465, 587, 2525}

// smtpPortsText describes smtpPorts, for the error text.
const smtpPortsText = "25, 465, 587, 2525"

// errPlaintextNotAllowed refuses an unencrypted SMTP session with a host
// outside ClientConfig.AllowedNetworks.
var errPlaintextNotAllowed = errors.New("plaintext SMTP is allowed only inside the allowed networks")

// SMTPDialer opens TCP connections to SMTP servers through the same SSRF
// guard as NewClient: global addresses only, except ClientConfig.AllowedNetworks
// (any port). Outside the allowed networks it permits the SMTP ports 25,
// 465, 587 and 2525 instead of 80 and 443. It is safe for concurrent use.
type SMTPDialer struct {
	guarded *net.Dialer
	// local reaches the allowed networks only: the rule for sessions
	// without TLS, which may only happen in development.
	local *net.Dialer
}

// NewSMTPDialer returns the dialer the email connector uses. Only
// AllowedNetworks and DialTimeout of cfg apply.
func NewSMTPDialer(cfg ClientConfig) *SMTPDialer {
	cfg = cfg.withDefaults()
	deny := func(string, string, syscall.RawConn) error { return errPlaintextNotAllowed }
	return &SMTPDialer{
		guarded: &net.Dialer{
			Timeout: cfg.DialTimeout, KeepAlive: tcpKeepAlive,
			Control: guardControl(cfg.AllowedNetworks, ssrf.New(ssrf.WithPorts(smtpPorts...)).Safe, smtpPortsText),
		},
		local: &net.Dialer{
			Timeout: cfg.DialTimeout, KeepAlive: tcpKeepAlive,
			Control: guardControl(cfg.AllowedNetworks, deny, smtpPortsText),
		},
	}
}

// DialContext connects to address (host:port) over TCP, resolving host and
// checking every address it tries. network must be tcp, tcp4 or tcp6. A
// refused destination is an error matching ssrf.ErrProhibitedIP,
// ssrf.ErrProhibitedPort or ssrf.ErrProhibitedNetwork. ctx bounds the
// connect only, as with net.Dialer.
func (d *SMTPDialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	return dialTCP(ctx, d.guarded, network, address)
}

// dialLocal connects only to an address inside the allowed networks; any
// other address is refused with errPlaintextNotAllowed.
func (d *SMTPDialer) dialLocal(ctx context.Context, network, address string) (net.Conn, error) {
	return dialTCP(ctx, d.local, network, address)
}

func dialTCP(ctx context.Context, d *net.Dialer, network, address string) (net.Conn, error) {
	switch network {
	case "tcp", "tcp4", "tcp6":
		return d.DialContext(ctx, network, address)
	}
	return nil, &net.OpError{Op: "dial", Net: network, Err: &blockedError{
		network: network, address: address, err: fmt.Errorf("%w: %s", ssrf.ErrProhibitedNetwork, network),
	}}
}
