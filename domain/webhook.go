package domain

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// WebhookStatus is the lifecycle state of a webhook.
type WebhookStatus string

// Webhook statuses (DESIGN §4).
const (
	WebhookStatusActive   WebhookStatus = "active"
	WebhookStatusInactive WebhookStatus = "inactive"
	WebhookStatusPaused   WebhookStatus = "paused"
	WebhookStatusDeleted  WebhookStatus = "deleted"
)

// RetryStrategy names how failed deliveries are rescheduled.
type RetryStrategy string

// Retry strategies (DESIGN §4).
const (
	RetryExponential RetryStrategy = "exponential_backoff"
	RetryLinear      RetryStrategy = "linear_backoff"
	RetryFixed       RetryStrategy = "fixed_interval"
	RetryNone        RetryStrategy = "no_retry"
)

// Defaults and limits of a webhook's configuration.
const (
	DefaultRetryStrategy       = RetryExponential
	DefaultMaxRetries          = 5
	DefaultRetryDelaySeconds   = 60
	DefaultMaxDelaySeconds     = 7200
	DefaultBackoffMultiplier   = 2.0
	DefaultTimeoutSeconds      = 15
	DefaultSecretGracePeriod   = 24 * time.Hour
	MaxSecretGracePeriod       = 7 * 24 * time.Hour
	MaxRetriesLimit            = 50
	MaxDelaySecondsLimit       = 7 * 24 * 3600
	MaxTimeoutSeconds          = 120
	MaxNameLength              = 255
	MaxURLLength               = 2048
	MaxCustomHeaders           = 32
	MaxMetadataBytes           = 16 << 10
	maxPreviousSecrets         = 5
	minBackoffMultiplier       = 1.0
	maxBackoffMultiplier       = 10.0
	webhookStreamType          = "webhook"
	customHeaderValueMaxLength = 4096
)

// WebhookStreamType is the stream type of webhook streams in the event log.
const WebhookStreamType = webhookStreamType

// reservedHeaders may not be set through custom_headers: they carry the
// signature, identity and framing of every delivery, or belong to the
// transport (hop-by-hop and framing headers) or the trace context. It is the
// one list: the API rejects these names and the sender never sends them from
// custom headers.
var reservedHeaders = map[string]bool{
	"content-type": true, "content-length": true, "content-encoding": true, "host": true,
	"transfer-encoding": true, "connection": true, "keep-alive": true, "proxy-connection": true,
	"te": true, "trailer": true, "upgrade": true, "expect": true, "user-agent": true,
	"traceparent": true, "tracestate": true, "baggage": true,
	"webhook-id": true, "webhook-timestamp": true, "webhook-signature": true,
	"x-webhook-signature": true, "x-webhook-event": true, "x-webhook-delivery": true,
	"x-webhook-attempt": true,
}

// IsReservedHeader reports whether name is set by lokihooks or its transport
// on every delivery and so may not be set by a custom header. Names compare
// case-insensitively.
func IsReservedHeader(name string) bool { return reservedHeaders[strings.ToLower(name)] }

// ReservedHeaders returns the reserved header names in canonical form,
// sorted.
func ReservedHeaders() []string {
	out := make([]string, 0, len(reservedHeaders))
	for name := range reservedHeaders {
		out = append(out, http.CanonicalHeaderKey(name))
	}
	slices.Sort(out)
	return out
}

// credentialHeaders carry credentials by HTTP's own definition (RFC 9110
// §11.6.2, §11.7.2; RFC 6265): as custom headers they are always secret,
// whether or not secret_headers lists them.
var credentialHeaders = map[string]bool{"authorization": true, "proxy-authorization": true, "cookie": true}

// IsSecretHeader reports whether the custom header name holds a secret:
// Authorization, Proxy-Authorization and Cookie always do, any other header
// when listed (names compare case-insensitively). Secret header values are
// masked in API answers and redacted in attempt records.
func IsSecretHeader(name string, listed []string) bool {
	if credentialHeaders[strings.ToLower(name)] {
		return true
	}
	for _, l := range listed {
		if strings.EqualFold(l, name) {
			return true
		}
	}
	return false
}

// WebhookSpec is the user-controlled configuration of a webhook. Zero values
// of numeric fields mean "default" only where Normalize says so.
type WebhookSpec struct {
	Name               string            `json:"name"`
	URL                string            `json:"url"`
	EventTypes         []string          `json:"event_types"`
	RetryStrategy      RetryStrategy     `json:"retry_strategy"`
	MaxRetries         int               `json:"max_retries"`
	RetryDelaySeconds  int               `json:"retry_delay_seconds"`
	MaxDelaySeconds    int               `json:"max_delay_seconds"`
	BackoffMultiplier  float64           `json:"backoff_multiplier"`
	JitterEnabled      bool              `json:"jitter_enabled"`
	TimeoutSeconds     int               `json:"timeout_seconds"`
	RateLimitPerMinute int               `json:"rate_limit_per_minute"`
	RateLimitPerHour   int               `json:"rate_limit_per_hour"`
	CustomHeaders      map[string]string `json:"custom_headers"`
	// SecretHeaders names the custom headers whose values are credentials,
	// besides those that always are (see IsSecretHeader). Each must name a
	// header of CustomHeaders.
	SecretHeaders []string       `json:"secret_headers,omitempty"`
	Metadata      map[string]any `json:"metadata"`
}

// IsSecretHeader reports whether the custom header name holds a secret.
func (s WebhookSpec) IsSecretHeader(name string) bool { return IsSecretHeader(name, s.SecretHeaders) }

// withSecretHeadersNormalized returns s with SecretHeaders spelled as the
// custom headers they name, sorted, and nil when empty, so that equal
// configurations are recorded alike. Names that match no header are kept
// (Validate reports them).
func (s WebhookSpec) withSecretHeadersNormalized() WebhookSpec {
	if len(s.SecretHeaders) == 0 {
		s.SecretHeaders = nil
		return s
	}
	names := make([]string, 0, len(s.SecretHeaders))
	for _, listed := range s.SecretHeaders {
		name := listed
		for h := range s.CustomHeaders {
			if strings.EqualFold(h, listed) {
				name = h
			}
		}
		names = append(names, name)
	}
	slices.Sort(names)
	s.SecretHeaders = names
	return s
}

// SecretHeaderNames returns the custom headers whose values are secret, as
// CustomHeaders spells them, sorted.
func (s WebhookSpec) SecretHeaderNames() []string {
	out := []string{}
	for name := range s.CustomHeaders {
		if s.IsSecretHeader(name) {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// DefaultWebhookSpec returns a spec holding every default; callers overwrite
// the fields a user supplied.
func DefaultWebhookSpec() WebhookSpec {
	return WebhookSpec{
		RetryStrategy:     DefaultRetryStrategy,
		MaxRetries:        DefaultMaxRetries,
		RetryDelaySeconds: DefaultRetryDelaySeconds,
		MaxDelaySeconds:   DefaultMaxDelaySeconds,
		BackoffMultiplier: DefaultBackoffMultiplier,
		JitterEnabled:     true,
		TimeoutSeconds:    DefaultTimeoutSeconds,
		CustomHeaders:     map[string]string{},
		Metadata:          map[string]any{},
	}
}

// ValidationOpts carries deployment policy that validation depends on.
type ValidationOpts struct {
	// AllowHTTP permits http:// URLs (development only).
	AllowHTTP bool
}

// Validate reports every problem of the spec at once as *ValidationError.
func (s WebhookSpec) Validate(opts ValidationOpts) error {
	v := &ValidationError{}
	name := strings.TrimSpace(s.Name)
	switch {
	case name == "":
		v.add("name", "is required")
	case utf8.RuneCountInString(s.Name) > MaxNameLength:
		v.add("name", "must be at most %d characters", MaxNameLength)
	case name != s.Name:
		v.add("name", "must not start or end with whitespace")
	}
	if err := ValidateWebhookURL(s.URL, opts.AllowHTTP); err != nil {
		v.merge(err, "url")
	}
	if err := ValidateEventTypeFilter(s.EventTypes); err != nil {
		if ve, ok := asValidation(err); ok {
			v.Fields = append(v.Fields, ve.Fields...)
		} else {
			v.add("event_types", "%s", err.Error())
		}
	}
	s.deliverySettings().validate(v)
	validateHeaders(v, s.CustomHeaders)
	validateSecretHeaders(v, s.SecretHeaders, s.CustomHeaders)
	if b, err := json.Marshal(s.Metadata); err != nil {
		v.add("metadata", "must be a JSON object")
	} else if len(b) > MaxMetadataBytes {
		v.add("metadata", "must encode to at most %d bytes", MaxMetadataBytes)
	}
	return v.err()
}

func validateHeaders(v *ValidationError, headers map[string]string) {
	if len(headers) > MaxCustomHeaders {
		v.add("custom_headers", "at most %d headers", MaxCustomHeaders)
	}
	seen := make(map[string]bool, len(headers))
	for name, value := range headers {
		field := "custom_headers." + name
		canonical := http.CanonicalHeaderKey(name)
		switch {
		case seen[canonical]:
			v.add(field, "duplicates another header that differs only in case")
		case !isToken(name):
			v.add(field, "is not a valid HTTP header name")
		case IsReservedHeader(name):
			v.add(field, "is set by lokihooks on every delivery and cannot be overridden")
		case strings.ContainsAny(value, "\r\n\x00"):
			v.add(field, "value must not contain CR, LF or NUL")
		case len(value) > customHeaderValueMaxLength:
			v.add(field, "value must be at most %d bytes", customHeaderValueMaxLength)
		}
		seen[canonical] = true
	}
}

func validateSecretHeaders(v *ValidationError, names []string, headers map[string]string) {
	if len(names) > MaxCustomHeaders {
		v.add("secret_headers", "at most %d names", MaxCustomHeaders)
		return
	}
	seen := make(map[string]bool, len(names))
	for _, name := range names {
		canonical := http.CanonicalHeaderKey(name)
		switch {
		case seen[canonical]:
			v.add("secret_headers", "names %q twice", name)
		case !hasHeader(headers, name):
			v.add("secret_headers", "%q names no header of custom_headers: add the header, or leave the name out", name)
		}
		seen[canonical] = true
	}
}

func hasHeader(headers map[string]string, name string) bool {
	for h := range headers {
		if strings.EqualFold(h, name) {
			return true
		}
	}
	return false
}

// isToken reports whether s is an RFC 9110 token (a valid header name).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r > 127 || ((r < 'a' || r > 'z') && (r < 'A' || r > 'Z') && (r < '0' || r > '9') && !strings.ContainsRune("!#$%&'*+-.^_`|~", r)) {
			return false
		}
	}
	return true
}

// PreviousSecret is a rotated-out secret that still signs until ExpiresAt.
type PreviousSecret struct {
	Secret    string    `json:"secret"`
	ExpiresAt time.Time `json:"expires_at"`
}

// Webhook is the aggregate: a destination that receives signed events.
// Build it from its history with ReplayWebhook; mutate it only through
// commands, which return the events to append.
type Webhook struct {
	ID              WebhookID
	Spec            WebhookSpec
	Secret          string
	PreviousSecrets []PreviousSecret
	Status          WebhookStatus
	StatusReason    string
	CreatedAt       time.Time
	UpdatedAt       time.Time
	Version         int64
	// LastTriggeredAt is maintained by the read model from delivery events;
	// commands never look at it.
	LastTriggeredAt *time.Time
	// Breaker is the webhook's circuit breaker when the reader attached it
	// (reading one webhook does); commands never look at it.
	Breaker *Breaker
}

// WebhookFilter selects webhooks in a list. Zero fields select everything
// except deleted webhooks.
type WebhookFilter struct {
	// Status selects one status; "deleted" lists deleted webhooks.
	Status WebhookStatus
	// EventType selects webhooks subscribed to it (directly or through "*").
	EventType string
	// After is the id of the last webhook of the previous page.
	After WebhookID
	// Ascending lists oldest first; the default is newest first.
	Ascending bool
	// Limit bounds the page (the caller applies defaults).
	Limit int
}

// Exists reports whether the webhook was created (and so not the zero value).
func (w *Webhook) Exists() bool { return w.ID != "" }

// SigningSecrets returns the current secret followed by rotated secrets
// still within their grace period at now.
func (w *Webhook) SigningSecrets(now time.Time) []string {
	out := []string{w.Secret}
	for _, p := range w.PreviousSecrets {
		if now.Before(p.ExpiresAt) && !slices.Contains(out, p.Secret) {
			out = append(out, p.Secret)
		}
	}
	return out
}

// Selects reports whether w subscribes to eventType, directly or through
// "*". It does not look at the status: callers decide what a paused or
// inactive webhook gets.
func (w *Webhook) Selects(eventType string) bool {
	for _, t := range w.Spec.EventTypes {
		if t == "*" || t == eventType {
			return true
		}
	}
	return false
}

// Destination returns the webhook as the relay sees it, with the signing
// secrets valid at now.
func (w *Webhook) Destination(now time.Time) *Destination {
	return &Destination{
		ID: DestinationID(w.ID), Kind: KindWebhook, Name: w.Spec.Name, Status: w.Status,
		EventTypes: w.Spec.EventTypes, Retry: w.Spec.RetryPolicy(),
		RateLimitPerMinute: w.Spec.RateLimitPerMinute, RateLimitPerHour: w.Spec.RateLimitPerHour,
		Timeout: time.Duration(w.Spec.TimeoutSeconds) * time.Second,
		URL:     w.Spec.URL, Secrets: w.SigningSecrets(now), Headers: w.Spec.CustomHeaders,
		SecretHeaders: w.Spec.SecretHeaderNames(), Version: w.Version,
	}
}

// CreateWebhookParams are the inputs of CreateWebhook.
type CreateWebhookParams struct {
	ID   WebhookID
	Spec WebhookSpec
	// Secret is used as given when non-empty; otherwise one is generated.
	Secret string
}

// CreateWebhook decides the creation of a webhook.
func CreateWebhook(p CreateWebhookParams, opts ValidationOpts, now time.Time) ([]Event, error) {
	v := &ValidationError{}
	if err := p.Spec.Validate(opts); err != nil {
		ve, _ := asValidation(err)
		v.Fields = append(v.Fields, ve.Fields...)
	}
	secret := p.Secret
	if secret == "" {
		secret = GenerateSecret()
	} else if err := ValidateSecret(secret); err != nil {
		v.merge(err, "secret")
	}
	if !strings.HasPrefix(string(p.ID), WebhookIDPrefix) {
		v.add("id", "must start with %q", WebhookIDPrefix)
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	return []Event{WebhookCreated{ID: p.ID, Spec: p.Spec.withSecretHeadersNormalized(), Secret: secret, At: now.UTC()}}, nil
}

// Update replaces the webhook's configuration.
func (w *Webhook) Update(spec WebhookSpec, opts ValidationOpts, now time.Time) ([]Event, error) {
	if err := w.mutable(); err != nil {
		return nil, err
	}
	if err := spec.Validate(opts); err != nil {
		return nil, err
	}
	return []Event{WebhookUpdated{Spec: spec.withSecretHeadersNormalized(), At: now.UTC()}}, nil
}

// Pause holds deliveries (they stay pending) until Resume.
func (w *Webhook) Pause(now time.Time) ([]Event, error) {
	if err := w.mutable(); err != nil {
		return nil, err
	}
	if w.Status == WebhookStatusPaused {
		return nil, nil
	}
	return []Event{WebhookPaused{At: now.UTC()}}, nil
}

// Resume makes a paused or inactive webhook active again.
func (w *Webhook) Resume(now time.Time) ([]Event, error) {
	if err := w.mutable(); err != nil {
		return nil, err
	}
	if w.Status == WebhookStatusActive {
		return nil, nil
	}
	return []Event{WebhookResumed{At: now.UTC()}}, nil
}

// Deactivate stops deliveries to the webhook; reason says why (for example
// the receiver answered 410 Gone).
func (w *Webhook) Deactivate(reason string, now time.Time) ([]Event, error) {
	if err := w.mutable(); err != nil {
		return nil, err
	}
	if w.Status == WebhookStatusInactive {
		return nil, nil
	}
	return []Event{WebhookDeactivated{Reason: reason, At: now.UTC()}}, nil
}

// Delete removes the webhook. Its name and URL become free again.
func (w *Webhook) Delete(now time.Time) ([]Event, error) {
	if err := w.mutable(); err != nil {
		return nil, err
	}
	return []Event{WebhookDeleted{At: now.UTC()}}, nil
}

// RotateSecretParams are the inputs of RotateSecret.
type RotateSecretParams struct {
	// Secret is the new secret; generated when empty.
	Secret string
	// GracePeriod is how long the old secret keeps signing (default 24 h,
	// at most 7 days; zero means the default, negative means none).
	GracePeriod time.Duration
}

// RotateSecret replaces the signing secret. The old secret keeps signing
// (a second webhook-signature entry) for the grace period.
func (w *Webhook) RotateSecret(p RotateSecretParams, now time.Time) ([]Event, error) {
	if err := w.mutable(); err != nil {
		return nil, err
	}
	v := &ValidationError{}
	secret := p.Secret
	if secret == "" {
		secret = GenerateSecret()
	} else if err := ValidateSecret(secret); err != nil {
		v.merge(err, "secret")
	} else if secret == w.Secret {
		v.add("secret", "must differ from the current secret")
	}
	grace := p.GracePeriod
	switch {
	case grace == 0:
		grace = DefaultSecretGracePeriod
	case grace < 0:
		grace = 0
	case grace > MaxSecretGracePeriod:
		v.add("grace_period_seconds", "must be at most %d", int(MaxSecretGracePeriod/time.Second))
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	return []Event{WebhookSecretRotated{
		Secret:            secret,
		PreviousExpiresAt: now.UTC().Add(grace),
		At:                now.UTC(),
	}}, nil
}

// mutable rejects commands on webhooks that don't exist or were deleted.
func (w *Webhook) mutable() error {
	if !w.Exists() || w.Status == WebhookStatusDeleted {
		return fmt.Errorf("webhook %s: %w", w.ID, ErrNotFound)
	}
	return nil
}

// Apply folds one event into the aggregate's state.
func (w *Webhook) Apply(e Event, version int64) {
	w.Version = version
	switch e := e.(type) {
	case WebhookCreated:
		w.ID, w.Spec, w.Secret, w.Status = e.ID, e.Spec, e.Secret, WebhookStatusActive
		w.CreatedAt, w.UpdatedAt = e.At, e.At
	case WebhookUpdated:
		w.Spec, w.UpdatedAt = e.Spec, e.At
	case WebhookPaused:
		w.Status, w.StatusReason, w.UpdatedAt = WebhookStatusPaused, "", e.At
	case WebhookResumed:
		w.Status, w.StatusReason, w.UpdatedAt = WebhookStatusActive, "", e.At
	case WebhookDeactivated:
		w.Status, w.StatusReason, w.UpdatedAt = WebhookStatusInactive, e.Reason, e.At
	case WebhookDeleted:
		w.Status, w.UpdatedAt = WebhookStatusDeleted, e.At
	case WebhookSecretRotated:
		kept := []PreviousSecret{{Secret: w.Secret, ExpiresAt: e.PreviousExpiresAt}}
		for _, p := range w.PreviousSecrets {
			if e.At.Before(p.ExpiresAt) && len(kept) < maxPreviousSecrets {
				kept = append(kept, p)
			}
		}
		w.Secret, w.PreviousSecrets, w.UpdatedAt = e.Secret, kept, e.At
	case WebhookSecretsResealed:
		w.applyResealed(e)
	}
}

// ReplayWebhook rebuilds a webhook from its recorded history.
func ReplayWebhook(history []Recorded) (*Webhook, error) {
	w := &Webhook{}
	for _, r := range history {
		e, err := DecodeEvent(r.Type, r.Data)
		if err != nil {
			return nil, fmt.Errorf("replay webhook %s at version %d: %w", r.StreamID, r.Version, err)
		}
		w.Apply(e, r.Version)
	}
	return w, nil
}

func asValidation(err error) (*ValidationError, bool) {
	ve, ok := err.(*ValidationError) //nolint:errorlint // constructed in this package, never wrapped
	return ve, ok
}
