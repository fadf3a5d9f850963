package connectors

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	"code.dny.dev/ssrf"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"

	"github.com/loki-interceptor/lokihooks/domain"
)

// Webhook defaults.
const (
	// DefaultUserAgent is sent when WebhookConfig.UserAgent is empty.
	DefaultUserAgent = "lokihooks/1.0"
	// DefaultMaxResponseBytes is how much of a response body is kept when
	// WebhookConfig.MaxResponseBytes is zero.
	DefaultMaxResponseBytes = 16 << 10
	// DefaultTimeout bounds an attempt when neither Request.Timeout nor
	// WebhookConfig.DefaultTimeout is set (Standard Webhooks suggests 15-30s).
	DefaultTimeout = 15 * time.Second

	// maxDrainBytes is how much of an unread response body is discarded so
	// the connection can go back to the pool; past it the connection is
	// closed instead, which is cheaper than reading a huge body.
	maxDrainBytes = 256 << 10
)

// Request headers of the receiver contract (DESIGN.md §4), in canonical form.
const (
	HeaderWebhookID        = "Webhook-Id"
	HeaderWebhookTimestamp = "Webhook-Timestamp"
	HeaderWebhookSignature = "Webhook-Signature"
	HeaderLegacySignature  = "X-Webhook-Signature"
	HeaderEventType        = "X-Webhook-Event"
	HeaderDeliveryID       = "X-Webhook-Delivery"
	HeaderAttempt          = "X-Webhook-Attempt"

	redactedValue   = "[redacted]"
	contentTypeJSON = "application/json"
)

// reservedHeaders are set by the sender and never taken from
// Request.Headers: the contract headers a receiver verifies, plus those the
// transport owns.
var reservedHeaders = map[string]struct{}{
	"Content-Type":         {},
	HeaderWebhookID:        {},
	HeaderWebhookTimestamp: {},
	HeaderWebhookSignature: {},
	HeaderLegacySignature:  {},
	HeaderEventType:        {},
	HeaderDeliveryID:       {},
	HeaderAttempt:          {},
	"Host":                 {},
	"Content-Length":       {},
	"Transfer-Encoding":    {},
	"Connection":           {},
	"Te":                   {},
	"Trailer":              {},
	"Upgrade":              {},
	"Proxy-Connection":     {},
	"Keep-Alive":           {},
	"Expect":               {},
	"Content-Encoding":     {},
}

// WebhookConfig configures NewWebhook.
type WebhookConfig struct {
	// UserAgent is the User-Agent header. Default DefaultUserAgent
	// ("lokihooks/1.0").
	UserAgent string
	// MaxResponseBytes is how much of a response body domain.AttemptResult keeps.
	// Default DefaultMaxResponseBytes (16 KiB).
	MaxResponseBytes int
	// DefaultTimeout bounds an attempt whose Request.Timeout is zero.
	// Default DefaultTimeout (15s).
	DefaultTimeout time.Duration
	// Propagator injects the request context's trace context (traceparent)
	// into the outbound headers. Default otel.GetTextMapPropagator(), read
	// at send time so it follows what main installs.
	Propagator propagation.TextMapPropagator
}

func (c WebhookConfig) withDefaults() WebhookConfig {
	if c.UserAgent == "" {
		c.UserAgent = DefaultUserAgent
	}
	if c.MaxResponseBytes <= 0 {
		c.MaxResponseBytes = DefaultMaxResponseBytes
	}
	if c.DefaultTimeout <= 0 {
		c.DefaultTimeout = DefaultTimeout
	}
	return c
}

// Webhook sends signed webhook deliveries over HTTP. It is safe for
// concurrent use.
type Webhook struct {
	client *http.Client
	cfg    WebhookConfig
}

// NewWebhook returns a sender that posts through client, which should come
// from NewClient; a nil client means NewClient(ClientConfig{}), the
// production guard.
func NewWebhook(client *http.Client, cfg WebhookConfig) *Webhook {
	if client == nil {
		client = NewClient(ClientConfig{})
	}
	return &Webhook{client: client, cfg: cfg.withDefaults()}
}

// Send makes one delivery attempt: it POSTs req.Body to req.URL with the
// contract headers (DESIGN.md §4), then the custom headers, then the
// context's trace context. It bounds the attempt with a context timeout of
// req.Timeout (or the configured default), never follows redirects, keeps at
// most MaxResponseBytes of the response, and drains the rest (up to a bound)
// so the connection can be reused.
//
// Send never returns an error: every outcome, including a cancelled ctx, is
// described by domain.AttemptResult. A malformed secret or event id is reported as
// domain.ErrorCategoryNetwork / domain.NetworkDetailOther with Err matching
// domain.ErrInvalid, and nothing is sent.
func (w *Webhook) Send(ctx context.Context, req domain.AttemptRequest) domain.AttemptResult {
	now := req.Now
	if now.IsZero() {
		now = time.Now()
	}
	signature, err := domain.SignatureHeader(req.Secrets, req.EventID, now, req.Body)
	if err != nil {
		return domain.AttemptResult{
			Category: domain.ErrorCategoryNetwork,
			Detail:   domain.NetworkDetailOther,
			Err:      fmt.Errorf("sign delivery %s: %w", req.DeliveryID, err),
		}
	}

	timeout := req.Timeout
	if timeout <= 0 {
		timeout = w.cfg.DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	httpReq, err := http.NewRequestWithContext(ctx, http.MethodPost, req.URL, bytes.NewReader(req.Body))
	if err != nil {
		return domain.AttemptResult{
			Category: domain.ErrorCategoryNetwork,
			Detail:   domain.NetworkDetailOther,
			Err:      fmt.Errorf("build request for delivery %s: %w", req.DeliveryID, withoutURL(err)),
		}
	}
	w.setHeaders(ctx, httpReq.Header, &req, now, signature)

	res := domain.AttemptResult{RequestHeaders: redactSignatures(httpReq.Header)}
	start := time.Now()
	resp, err := w.client.Do(httpReq)
	if err != nil {
		res.Duration = time.Since(start)
		res.Category, res.Detail = classifyError(ctx, err, timeout)
		res.Err = fmt.Errorf("post delivery %s: %w", req.DeliveryID, withoutURL(err))
		return res
	}
	res.StatusCode = resp.StatusCode
	res.ResponseHeaders = resp.Header
	res.ResponseBody, res.Truncated = w.readBody(resp.Body)
	res.Duration = time.Since(start)

	res.Category = domain.CategorizeStatus(resp.StatusCode)
	res.Success = res.Category == domain.ErrorCategoryNone
	res.Detail = statusDetail(resp.StatusCode)
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
		res.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), now)
	}
	return res
}

// setHeaders writes the custom headers whose keys are not reserved, then the
// contract headers, then the trace context.
func (w *Webhook) setHeaders(ctx context.Context, h http.Header, req *domain.AttemptRequest, now time.Time, signature string) {
	for k, v := range req.Headers {
		k = http.CanonicalHeaderKey(k)
		if _, reserved := reservedHeaders[k]; reserved {
			continue
		}
		h.Set(k, v)
	}
	// Contract headers go in after the custom ones so nothing can shadow
	// them, whatever the map held.
	h.Set("Content-Type", contentTypeJSON)
	h.Set("User-Agent", w.cfg.UserAgent)
	h.Set(HeaderWebhookID, req.EventID)
	h.Set(HeaderWebhookTimestamp, strconv.FormatInt(now.Unix(), 10))
	h.Set(HeaderWebhookSignature, signature)
	h.Set(HeaderLegacySignature, domain.SignLegacy(req.Secrets[0], req.Body))
	h.Set(HeaderEventType, req.EventType)
	h.Set(HeaderDeliveryID, req.DeliveryID)
	h.Set(HeaderAttempt, strconv.Itoa(req.Attempt))

	propagator := w.cfg.Propagator
	if propagator == nil {
		propagator = otel.GetTextMapPropagator()
	}
	propagator.Inject(ctx, propagation.HeaderCarrier(h))
}

// readBody keeps up to MaxResponseBytes of body, drains a bounded remainder
// so the keep-alive connection is reusable, and closes it. A read error
// (such as the deadline passing mid-body) keeps what was read: the status
// line already arrived and decides the outcome.
func (w *Webhook) readBody(body io.ReadCloser) ([]byte, bool) {
	defer body.Close()
	data, _ := io.ReadAll(io.LimitReader(body, int64(w.cfg.MaxResponseBytes)+1))
	truncated := len(data) > w.cfg.MaxResponseBytes
	if truncated {
		data = data[:w.cfg.MaxResponseBytes]
		_, _ = io.CopyN(io.Discard, body, maxDrainBytes)
	}
	return data, truncated
}

// withoutURL drops a *url.Error layer: its text repeats the full URL, whose
// path or query may carry the receiver's token. The rest of the chain, and
// so errors.Is and errors.As, is unchanged.
func withoutURL(err error) error {
	var urlErr *url.Error
	if errors.As(err, &urlErr) {
		return urlErr.Err
	}
	return err
}

func redactSignatures(h http.Header) http.Header {
	out := h.Clone()
	for name := range out {
		if isSensitiveHeader(name) {
			out.Set(name, redactedValue)
		}
	}
	return out
}

// isSensitiveHeader reports headers whose values are credentials: the
// signatures, and custom headers that by their name carry a secret
// (Authorization, Cookie, API keys, tokens). Their values are never stored.
func isSensitiveHeader(name string) bool {
	n := strings.ToLower(name)
	switch n {
	case "authorization", "proxy-authorization", "cookie", strings.ToLower(HeaderWebhookSignature), strings.ToLower(HeaderLegacySignature):
		return true
	}
	for _, part := range []string{"token", "secret", "key", "password", "auth", "signature", "credential"} {
		if strings.Contains(n, part) {
			return true
		}
	}
	return false
}

func statusDetail(code int) string {
	d := "HTTP " + strconv.Itoa(code)
	if text := http.StatusText(code); text != "" {
		d += " " + text
	}
	if code >= 300 && code < 400 {
		d += " (redirects are not followed)"
	}
	return d
}

// maxRetryAfterSeconds keeps a Retry-After in seconds from overflowing
// time.Duration.
const maxRetryAfterSeconds = math.MaxInt64 / int64(time.Second)

// parseRetryAfter reads a Retry-After value: delay seconds or an HTTP date,
// taken relative to now. It returns 0 when v is empty, invalid or not in
// the future.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		return time.Duration(min(secs, maxRetryAfterSeconds)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}

// classifyError maps a failed round trip (no response) to a category and
// detail. ctx is the attempt's context; timeout its budget, for the text.
func classifyError(ctx context.Context, err error, timeout time.Duration) (domain.ErrorCategory, string) {
	var dnsErr *net.DNSError
	switch {
	case isBlocked(err):
		return domain.ErrorCategoryNetwork, domain.NetworkDetailBlocked
	case errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded):
		return domain.ErrorCategoryTimeout, "no response within " + timeout.String()
	case errors.Is(err, context.Canceled):
		return domain.ErrorCategoryTimeout, "canceled before a response arrived"
	case errors.As(err, &dnsErr):
		return domain.ErrorCategoryNetwork, domain.NetworkDetailDNS
	case isTLSError(err):
		return domain.ErrorCategoryNetwork, domain.NetworkDetailTLS
	case isTimeout(err):
		return domain.ErrorCategoryTimeout, "timed out"
	case isConnectError(err):
		return domain.ErrorCategoryNetwork, domain.NetworkDetailConnect
	default:
		return domain.ErrorCategoryNetwork, domain.NetworkDetailOther
	}
}

func isBlocked(err error) bool {
	return errors.Is(err, ssrf.ErrProhibitedIP) ||
		errors.Is(err, ssrf.ErrProhibitedPort) ||
		errors.Is(err, ssrf.ErrProhibitedNetwork) ||
		errors.Is(err, ssrf.ErrInvalidHostPort) ||
		errors.Is(err, errSchemeNotAllowed)
}

func isTLSError(err error) bool {
	var (
		recordErr   tls.RecordHeaderError
		verifyErr   *tls.CertificateVerificationError
		alertErr    tls.AlertError
		echErr      *tls.ECHRejectionError
		authorityEr x509.UnknownAuthorityError
		hostnameErr x509.HostnameError
		invalidErr  x509.CertificateInvalidError
		opErr       *net.OpError
	)
	// http.ErrSchemeMismatch replaces the RecordHeaderError when a plain
	// HTTP server answers an https:// request.
	if errors.Is(err, http.ErrSchemeMismatch) || errors.As(err, &recordErr) || errors.As(err, &verifyErr) || errors.As(err, &alertErr) ||
		errors.As(err, &echErr) || errors.As(err, &authorityEr) || errors.As(err, &hostnameErr) ||
		errors.As(err, &invalidErr) {
		return true
	}
	// crypto/tls reports TLS alerts over TCP as a *net.OpError with these Op
	// values and an unexported error type, so the Op is all there is to match.
	return errors.As(err, &opErr) && (opErr.Op == "remote error" || opErr.Op == "local error")
}

func isTimeout(err error) bool {
	var netErr net.Error
	return errors.As(err, &netErr) && netErr.Timeout()
}

func isConnectError(err error) bool {
	if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.ECONNABORTED) || errors.Is(err, syscall.EHOSTUNREACH) ||
		errors.Is(err, syscall.ENETUNREACH) {
		return true
	}
	var opErr *net.OpError
	return errors.As(err, &opErr) && opErr.Op == "dial"
}
