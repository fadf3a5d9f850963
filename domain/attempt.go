package domain

import (
	"encoding/json"
	"net/http"
	"time"
)

// AttemptRequest is one outbound delivery attempt, the input of a
// connector.
type AttemptRequest struct {
	// Kind selects the connector; empty means KindWebhook.
	Kind DestinationKind
	// DestinationID is the webhook's or integration's id. Connectors that
	// keep state per destination (Slack threads) key it by this id.
	DestinationID DestinationID
	// URL is the destination of a webhook, already checked by
	// ValidateWebhookURL. Integrations take theirs from Credentials.
	URL string
	// EventID is the webhook-id header: the same on every retry.
	EventID string
	// EventType is the X-Webhook-Event header.
	EventType string
	// DeliveryID is the X-Webhook-Delivery header.
	DeliveryID string
	// Attempt is the 1-based attempt number (X-Webhook-Attempt).
	Attempt int
	// Body is the JSON payload, sent and signed byte for byte.
	Body []byte
	// Secrets are the signing secrets: the current one first, then rotated
	// ones still in their grace period. At least one is required; the
	// legacy X-Webhook-Signature uses only the first.
	Secrets []string
	// Headers are custom headers. They never replace the contract headers
	// (Content-Type, webhook-*, X-Webhook-*) or transport-owned ones: names
	// for which IsReservedHeader holds are skipped.
	Headers map[string]string
	// SecretHeaders names the custom headers whose values are secret (the
	// destination's SecretHeaders). Their values, and those of the headers
	// that are always secret (IsSecretHeader), are redacted in
	// AttemptResult.RequestHeaders; no other header is.
	SecretHeaders []string
	// Config is an integration's configuration, a JSON object already
	// validated against its kind's schema; nil for webhooks.
	Config json.RawMessage
	// Credentials are an integration's credentials in plain text, a JSON
	// object already validated against its kind's schema; nil for
	// webhooks. They are never logged, stored in results or echoed in
	// errors.
	Credentials json.RawMessage
	// Batch, when it holds more than one item, asks the connector to send
	// these events in one request (Zapier batching). Its first item
	// repeats EventID, EventType, DeliveryID and Body. Connectors that
	// cannot batch send only the first item.
	Batch []BatchItem
	// Timeout bounds the attempt, from dial to the end of the response
	// body. Zero means WebhookConfig.DefaultTimeout.
	Timeout time.Duration
	// Now is the attempt time, sent as webhook-timestamp and used to read
	// an HTTP-date Retry-After. Zero means time.Now().
	Now time.Time
}

// AttemptResult is what one attempt produced. Send fills it in whether or not a
// response arrived.
type AttemptResult struct {
	// StatusCode is the response status, 0 when no response arrived.
	StatusCode int
	// ResponseHeaders are the response headers, nil when no response arrived.
	ResponseHeaders http.Header
	// ResponseBody is the start of the response body, at most
	// WebhookConfig.MaxResponseBytes long.
	ResponseBody []byte
	// Truncated reports that the body was longer than ResponseBody.
	Truncated bool
	// RequestHeaders are the headers as sent, with both signature headers
	// and the secret headers (AttemptRequest.SecretHeaders, IsSecretHeader)
	// replaced by "[redacted]". Nil when the request could not be built.
	RequestHeaders http.Header
	// Duration is the wall time from sending to the end of reading the
	// response.
	Duration time.Duration
	// Category classifies a failure; ErrorCategoryNone on success.
	Category ErrorCategory
	// Detail refines Category. For ErrorCategoryNetwork it starts with one
	// of NetworkDetailDNS, …Connect, …TLS, …Blocked (refused by the SSRF
	// guard or the scheme check) or …Other, followed by ": " and a short
	// explanation ("connect: connection refused"); otherwise it is a short
	// human text such as "HTTP 503 Service Unavailable". It never holds a
	// URL's path or query, a secret or a credential.
	Detail string
	// RetryAfter is the receiver's Retry-After on a 429 or 503, in seconds
	// or as an HTTP date relative to Request.Now; 0 when absent, invalid or
	// in the past.
	RetryAfter time.Duration
	// Success reports a 2xx response (or the integration's equivalent).
	Success bool
	// Permanent reports a failure that retrying cannot fix, such as Slack's
	// channel_not_found or an SMTP 5xx reply: the delivery goes to the dead
	// letter at once instead of being retried.
	Permanent bool
	// Err is the underlying error when no response arrived (or the request
	// could not be built or signed), for logs; nil otherwise. It matches
	// context.Canceled when the caller's context was cancelled (shutdown),
	// and ErrInvalid when a secret or the event id is malformed. Its
	// text names the delivery and may name the host, never a secret or the
	// URL's path and query.
	Err error
}

// BatchItem is one event of a batched attempt.
type BatchItem struct {
	EventID    string
	EventType  string
	DeliveryID string
	// Body is the event's envelope {"id","type","timestamp","data"}.
	Body []byte
}
