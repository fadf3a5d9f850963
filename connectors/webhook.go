package connectors

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

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

// WebhookConfig configures NewWebhook.
type WebhookConfig struct {
	HTTPConfig
	// Propagator injects the request context's trace context (traceparent)
	// into the outbound headers. Default otel.GetTextMapPropagator(), read
	// at send time so it follows what main installs.
	Propagator propagation.TextMapPropagator
}

func (c WebhookConfig) withDefaults() WebhookConfig {
	c.HTTPConfig = c.HTTPConfig.withDefaults()
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
// described by domain.AttemptResult. A failure without a response has a
// Detail that starts with its code word (domain.NetworkDetailDNS, …Connect,
// …TLS, …Blocked, …Other) followed by ": " and a short explanation, such as
// "connect: connection refused" or "other: response headers exceed 64 KiB";
// it never holds the URL's path or query. A malformed secret or event id is
// reported as domain.ErrorCategoryNetwork with Detail "other: …" and Err
// matching domain.ErrInvalid, and nothing is sent.
func (w *Webhook) Send(ctx context.Context, req domain.AttemptRequest) domain.AttemptResult {
	now := req.Now
	if now.IsZero() {
		now = time.Now()
	}
	signature, err := domain.SignatureHeader(req.Secrets, req.EventID, now, req.Body)
	if err != nil {
		return domain.AttemptResult{
			Category: domain.ErrorCategoryNetwork,
			Detail:   domain.NetworkDetailOther + ": cannot sign (invalid secret or event id)",
			Err:      fmt.Errorf("sign delivery %s: %w", req.DeliveryID, err),
		}
	}

	timeout := req.Timeout
	if timeout <= 0 {
		timeout = w.cfg.DefaultTimeout
	}
	h := make(http.Header)
	w.setHeaders(ctx, h, &req, now, signature)
	return roundTrip(ctx, w.client, &post{
		url: req.URL, header: h, body: req.Body, now: now, timeout: timeout,
		maxResponseBytes: w.cfg.MaxResponseBytes, what: "delivery " + req.DeliveryID, secretHeaders: req.SecretHeaders,
	})
}

// setHeaders writes the custom headers whose keys are not reserved
// (domain.IsReservedHeader, the list the API refuses), then the contract
// headers, then the trace context.
func (w *Webhook) setHeaders(ctx context.Context, h http.Header, req *domain.AttemptRequest, now time.Time, signature string) {
	for k, v := range req.Headers {
		if domain.IsReservedHeader(k) {
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

// redactHeaders returns h with the values of the signature headers and of
// the secret headers replaced by "[redacted]". Secret headers are those the
// destination lists plus HTTP's credential headers (domain.IsSecretHeader);
// no name is guessed, so a header the user did not mark is recorded as sent.
func redactHeaders(h http.Header, secret []string) http.Header {
	out := h.Clone()
	for name := range out {
		if strings.EqualFold(name, HeaderWebhookSignature) || strings.EqualFold(name, HeaderLegacySignature) ||
			domain.IsSecretHeader(name, secret) {
			out.Set(name, redactedValue)
		}
	}
	return out
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
