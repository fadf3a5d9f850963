package connectors

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"code.dny.dev/ssrf"

	"github.com/loki-interceptor/lokihooks/domain"
)

// HTTPConfig holds the settings every connector that posts over HTTP
// shares (webhook, Slack, Teams, Zapier); the zero value takes the
// defaults.
type HTTPConfig struct {
	// UserAgent is the User-Agent header. Default DefaultUserAgent
	// ("lokihooks/1.0").
	UserAgent string
	// MaxResponseBytes is how much of a response body domain.AttemptResult
	// keeps. Default DefaultMaxResponseBytes (16 KiB).
	MaxResponseBytes int
	// DefaultTimeout bounds an attempt whose request has no Timeout.
	// Default DefaultTimeout (15s).
	DefaultTimeout time.Duration
}

func (c HTTPConfig) withDefaults() HTTPConfig {
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

// post is one outbound HTTP POST of any HTTP connector.
type post struct {
	url    string
	header http.Header
	body   []byte
	// now reads an HTTP-date Retry-After.
	now time.Time
	// timeout bounds the attempt from dial to the end of the response body.
	timeout          time.Duration
	maxResponseBytes int
	// what names the attempt in error text, e.g. "delivery dlv_1"; never a
	// URL or a credential.
	what string
	// secretHeaders names headers whose values the result must not keep,
	// besides the signatures and HTTP's credential headers.
	secretHeaders []string
}

// roundTrip makes p within p.timeout and describes the outcome: Success on
// a 2xx, the category of the status otherwise, RetryAfter on a 429 or 503,
// at most maxResponseBytes of the body (the rest drained up to a bound so
// the connection can be reused). A request that got no response is
// classified by classifyError. Request headers are recorded with
// credentials redacted; errors never carry the URL.
func roundTrip(ctx context.Context, client *http.Client, p *post) domain.AttemptResult {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()

	httpReq, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url, bytes.NewReader(p.body))
	if err != nil {
		return domain.AttemptResult{
			Category: domain.ErrorCategoryNetwork,
			Detail:   domain.NetworkDetailOther + ": the destination URL is not valid",
			Err:      fmt.Errorf("build request for %s: %w", p.what, withoutURL(err)),
		}
	}
	for k, vs := range p.header {
		httpReq.Header[k] = vs
	}

	res := domain.AttemptResult{RequestHeaders: redactHeaders(httpReq.Header, p.secretHeaders)}
	start := time.Now()
	resp, err := client.Do(httpReq) //nolint:bodyclose // readBody closes it
	if err != nil {
		res.Duration = time.Since(start)
		res.Category, res.Detail = classifyError(ctx, err, p.timeout)
		res.Err = fmt.Errorf("post %s: %w", p.what, withoutURL(err))
		return res
	}
	res.StatusCode = resp.StatusCode
	res.ResponseHeaders = resp.Header
	var readErr error
	res.ResponseBody, res.Truncated, readErr = readBody(resp.Body, p.maxResponseBytes)
	res.Duration = time.Since(start)

	res.Category = domain.CategorizeStatus(resp.StatusCode)
	res.Success = res.Category == domain.ErrorCategoryNone
	res.Detail = statusDetail(resp.StatusCode)
	if readErr != nil {
		// The status line already arrived and decides the outcome; say why
		// the recorded body may be incomplete.
		res.Detail += " (response body cut short: " + bodyReadReason(ctx, readErr, p.timeout) + ")"
	}
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
		res.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), p.now)
	}
	return res
}

// readBody keeps up to limit bytes of body, drains a bounded remainder so
// the keep-alive connection is reusable, and closes it. A read error (such
// as the deadline passing mid-body) keeps what was read and is returned.
func readBody(body io.ReadCloser, limit int) ([]byte, bool, error) {
	defer body.Close()
	data, err := io.ReadAll(io.LimitReader(body, int64(limit)+1))
	truncated := len(data) > limit
	if truncated {
		data = data[:limit]
		// Past maxDrainBytes the connection is closed instead of reused,
		// which bounds what an endless body costs.
		_, _ = io.CopyN(io.Discard, body, maxDrainBytes)
	}
	return data, truncated, err
}

func bodyReadReason(ctx context.Context, err error, timeout time.Duration) string {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) {
		return "no complete body within " + timeout.String()
	}
	if errors.Is(err, context.Canceled) {
		return "canceled"
	}
	if errors.Is(err, syscall.ECONNRESET) {
		return "connection reset by peer"
	}
	return "connection closed"
}

// classifyError maps a failed round trip (no response) to a category and a
// detail. For ErrorCategoryNetwork the detail starts with one of the
// domain.NetworkDetail… code words, then ": " and a short explanation that
// never holds a URL path, query or secret. ctx is the attempt's context;
// timeout its budget, for the text.
func classifyError(ctx context.Context, err error, timeout time.Duration) (domain.ErrorCategory, string) {
	var (
		blocked *blockedError
		dnsErr  *net.DNSError
	)
	switch {
	case errors.As(err, &blocked):
		return domain.ErrorCategoryNetwork, domain.NetworkDetailBlocked + ": " + blocked.explain()
	case errors.Is(err, errSchemeNotAllowed):
		return domain.ErrorCategoryNetwork, domain.NetworkDetailBlocked + ": plain http is not allowed (https only)"
	case isBlocked(err):
		return domain.ErrorCategoryNetwork, domain.NetworkDetailBlocked + ": destination is not allowed"
	case errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded):
		return domain.ErrorCategoryTimeout, "no response within " + timeout.String()
	case errors.Is(ctx.Err(), context.Canceled) || errors.Is(err, context.Canceled):
		return domain.ErrorCategoryTimeout, "canceled before a response arrived"
	case errors.As(err, &dnsErr):
		return domain.ErrorCategoryNetwork, domain.NetworkDetailDNS + ": " + explainDNS(dnsErr)
	case isTLSError(err):
		return domain.ErrorCategoryNetwork, domain.NetworkDetailTLS + ": " + explainTLS(err)
	case isTimeout(err):
		if isDialError(err) {
			return domain.ErrorCategoryTimeout, "connect timed out"
		}
		return domain.ErrorCategoryTimeout, "timed out"
	case isConnectError(err):
		return domain.ErrorCategoryNetwork, domain.NetworkDetailConnect + ": " + explainConnect(err)
	default:
		return domain.ErrorCategoryNetwork, domain.NetworkDetailOther + ": " + explainOther(err)
	}
}

func isBlocked(err error) bool {
	return errors.Is(err, ssrf.ErrProhibitedIP) ||
		errors.Is(err, ssrf.ErrProhibitedPort) ||
		errors.Is(err, ssrf.ErrProhibitedNetwork) ||
		errors.Is(err, ssrf.ErrInvalidHostPort) ||
		errors.Is(err, errSchemeNotAllowed) ||
		errors.Is(err, errPlaintextNotAllowed)
}

func explainDNS(err *net.DNSError) string {
	switch {
	case err.IsNotFound:
		return "no such host"
	case err.IsTimeout:
		return "lookup timed out"
	default:
		return "lookup failed: " + truncateRunes(err.Err, maxExplanationRunes)
	}
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

func explainTLS(err error) string {
	var (
		recordErr   tls.RecordHeaderError
		alertErr    tls.AlertError
		authorityEr x509.UnknownAuthorityError
		hostnameErr x509.HostnameError
		invalidErr  x509.CertificateInvalidError
		opErr       *net.OpError
	)
	switch {
	case errors.Is(err, http.ErrSchemeMismatch) || errors.As(err, &recordErr):
		return "the server does not speak TLS"
	case errors.As(err, &authorityEr):
		return "certificate signed by unknown authority"
	case errors.As(err, &hostnameErr):
		return "certificate is not valid for " + hostnameErr.Host
	case errors.As(err, &invalidErr):
		if invalidErr.Reason == x509.Expired {
			return "certificate has expired or is not yet valid"
		}
		return "invalid certificate"
	case errors.As(err, &alertErr):
		return "handshake failed: " + strings.TrimPrefix(alertErr.Error(), "tls: ")
	case errors.As(err, &opErr) && (opErr.Op == "remote error" || opErr.Op == "local error"):
		return opErr.Op + ": " + strings.TrimPrefix(shortText(opErr.Err), "tls: ")
	default:
		return "handshake failed"
	}
}

func isTimeout(err error) bool {
	var netErr net.Error
	return errors.As(err, &netErr) && netErr.Timeout()
}

func isDialError(err error) bool {
	var opErr *net.OpError
	return errors.As(err, &opErr) && opErr.Op == "dial"
}

func isConnectError(err error) bool {
	if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.ECONNABORTED) || errors.Is(err, syscall.EHOSTUNREACH) ||
		errors.Is(err, syscall.ENETUNREACH) {
		return true
	}
	return isDialError(err)
}

func explainConnect(err error) string {
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset by peer"
	case errors.Is(err, syscall.ECONNABORTED):
		return "connection aborted"
	case errors.Is(err, syscall.EHOSTUNREACH):
		return "host unreachable"
	case errors.Is(err, syscall.ENETUNREACH):
		return "network unreachable"
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Err != nil {
		return shortText(opErr.Err)
	}
	return "connection failed"
}

func explainOther(err error) string {
	text := err.Error()
	switch {
	// net/http has no sentinel for these; its message text is all there is.
	case strings.Contains(text, "server response headers exceeded"):
		return "response headers exceed " + byteSize(maxResponseHeaderBytes)
	case strings.Contains(text, "malformed HTTP"):
		return "malformed HTTP response"
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed before a complete response"
	case errors.Is(err, net.ErrClosed):
		return "connection closed"
	}
	return shortText(err)
}

// maxExplanationRunes bounds the free text a Detail repeats from an error.
const maxExplanationRunes = 160

// shortText is err's text cut to maxExplanationRunes.
func shortText(err error) string {
	if err == nil {
		return "unknown error"
	}
	return truncateRunes(err.Error(), maxExplanationRunes)
}

// truncateRunes cuts s to at most n runes, marking the cut with "…".
func truncateRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:max(n-1, 0)]) + "…"
}

func byteSize(n int) string {
	if n%1024 == 0 {
		return strconv.Itoa(n/1024) + " KiB"
	}
	return strconv.Itoa(n) + " bytes"
}
