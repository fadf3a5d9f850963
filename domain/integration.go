package domain

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
)

// IntegrationID identifies an integration (int_…).
type IntegrationID string

// IntegrationStreamType is the stream type of integration streams in the
// event log.
const IntegrationStreamType = "integration"

// IntegrationSource says how an integration came to be.
type IntegrationSource string

// Integration sources. The strings are stored in events and read models.
const (
	// SourceAPI: created through POST /api/v1/integrations.
	SourceAPI IntegrationSource = "api"
	// SourceZapierRESTHook: a Zapier app subscribed through
	// POST /api/v1/integrations/zapier/subscriptions. A 410 Gone from its
	// target unsubscribes it (it is deleted), as Zapier's REST hooks expect.
	SourceZapierRESTHook IntegrationSource = "zapier_rest_hook"
)

// Limits and defaults of an integration's configuration.
const (
	// MaxIntegrationNameLength bounds a name, which is also a URL path
	// segment of the API.
	MaxIntegrationNameLength = 100
	// MaxIntegrationSettingsBytes bounds the encoded config and the
	// encoded credentials.
	MaxIntegrationSettingsBytes = 128 << 10
	// DefaultBatchIntervalSeconds is how long a batching destination waits
	// for a batch to fill when its config names no batch_interval_seconds.
	DefaultBatchIntervalSeconds = 60
)

// integrationNameRe is the shape of a name: it is used in URLs unescaped.
var integrationNameRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// reservedIntegrationNames are path segments of the API under
// /api/v1/integrations that a name would collide with.
var reservedIntegrationNames = []string{"health", "marketplace"}

// IntegrationValidator checks an integration's credentials and config
// (JSON objects, credentials in plain text) against its kind's schemas.
// It returns nil or a *ValidationError whose fields start with
// "credentials." or "config." ("integration_type" for an unknown kind), and
// never repeats a credential in a message. The application injects the
// connectors' registry (connectors.ValidateIntegration) plus its own
// deployment policy.
type IntegrationValidator func(kind DestinationKind, credentials, config json.RawMessage) error

// IntegrationSpec is the user-controlled configuration of an integration,
// without its credentials (which are write-only and travel apart).
type IntegrationSpec struct {
	Name string          `json:"name"`
	Kind DestinationKind `json:"integration_type"`
	// Config is a JSON object validated against the kind's config schema.
	Config json.RawMessage `json:"config"`
	// EventTypes are the subscribed event types (catalog names or "*");
	// empty means the integration receives nothing yet.
	EventTypes []string `json:"event_subscriptions"`
	DeliverySettings
}

// DefaultIntegrationSpec returns a spec of kind k holding the delivery
// defaults shared by every destination (those of DefaultWebhookSpec), an
// empty config and no subscriptions. The application overlays each kind's
// own defaults (rate limit, timeout) from the connectors' registry.
func DefaultIntegrationSpec(k DestinationKind) IntegrationSpec {
	w := DefaultWebhookSpec()
	return IntegrationSpec{
		Kind: k, Config: json.RawMessage(`{}`), EventTypes: []string{},
		DeliverySettings: w.deliverySettings(),
	}
}

// Validate reports every problem of the spec and of credentials (plain
// text) at once as a *ValidationError; validate checks the kind's
// credentials and config.
func (s IntegrationSpec) Validate(credentials json.RawMessage, validate IntegrationValidator) error {
	v := &ValidationError{}
	switch {
	case s.Name == "":
		v.add("name", "is required")
	case len(s.Name) > MaxIntegrationNameLength:
		v.add("name", "must be at most %d characters", MaxIntegrationNameLength)
	case !integrationNameRe.MatchString(s.Name):
		v.add("name", "must start with a letter or digit and contain only letters, digits, '.', '_' and '-'")
	case slices.Contains(reservedIntegrationNames, strings.ToLower(s.Name)):
		v.add("name", "is reserved (it is a path of the API)")
	}
	if len(s.EventTypes) > 0 {
		if err := ValidateEventTypeFilter(s.EventTypes); err != nil {
			ve, _ := asValidation(err)
			for _, f := range ve.Fields {
				v.add("event_subscriptions", "%s", f.Message)
			}
		}
	}
	s.validate(v)
	if !isJSONObject(s.Config) {
		v.add("config", "must be a JSON object")
	} else if len(s.Config) > MaxIntegrationSettingsBytes {
		v.add("config", "must encode to at most %d bytes", MaxIntegrationSettingsBytes)
	}
	if !isJSONObject(credentials) {
		v.add("credentials", "must be a JSON object")
	} else if len(credentials) > MaxIntegrationSettingsBytes {
		v.add("credentials", "must encode to at most %d bytes", MaxIntegrationSettingsBytes)
	}
	if len(v.Fields) == 0 && validate != nil {
		if err := validate(s.Kind, credentials, s.Config); err != nil {
			v.merge(err, "integration_type")
		}
	}
	return v.err()
}

// isJSONObject reports whether raw is one JSON object.
func isJSONObject(raw json.RawMessage) bool {
	var m map[string]json.RawMessage
	return json.Unmarshal(raw, &m) == nil && m != nil
}

// compactObject returns raw without insignificant whitespace, and {} for
// nil or empty input.
func compactObject(raw json.RawMessage) json.RawMessage {
	if len(bytes.TrimSpace(raw)) == 0 {
		return json.RawMessage(`{}`)
	}
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return raw // Validate reports it
	}
	return b.Bytes()
}

// Integration is the aggregate of a Slack, Teams, email or Zapier
// destination. Build it from its history with ReplayIntegration; mutate it
// only through commands, which return the events to append.
type Integration struct {
	ID     IntegrationID
	Spec   IntegrationSpec
	Source IntegrationSource
	// Credentials is the credentials JSON object as the events carry it:
	// sealed by the application at rest, in plain text only while a
	// command or a delivery needs it. Never returned by the API.
	Credentials  string
	Status       WebhookStatus
	StatusReason string
	CreatedAt    time.Time
	UpdatedAt    time.Time
	Version      int64
	// LastTriggeredAt is when a delivery was last attempted; the read model
	// derives it from the attempts, commands never look at it.
	LastTriggeredAt *time.Time
	// Breaker is the integration's circuit breaker when the reader
	// attached it (reading one integration does); commands never look at
	// it.
	Breaker *Breaker
}

// IntegrationFilter selects integrations in a list. Zero fields select
// everything except deleted integrations.
type IntegrationFilter struct {
	// Status selects one status; "deleted" lists deleted integrations.
	Status WebhookStatus
	// Kind selects one integration type.
	Kind DestinationKind
	// EventType selects integrations subscribed to it (directly or
	// through "*").
	EventType string
	// After is the id of the last integration of the previous page.
	After IntegrationID
	// Ascending lists oldest first; the default is newest first.
	Ascending bool
	// Limit bounds the page (the caller applies defaults).
	Limit int
}

// Exists reports whether the integration was created.
func (i *Integration) Exists() bool { return i.ID != "" }

// Destination returns the integration as the relay sees it, at the given
// time (as Webhook.Destination; nothing of an integration depends on it,
// unlike a webhook's rotated secrets). Credentials must be in plain text.
func (i *Integration) Destination(time.Time) *Destination {
	d := &Destination{
		ID: DestinationID(i.ID), Kind: i.Spec.Kind, Name: i.Spec.Name, Status: i.Status,
		EventTypes: i.Spec.EventTypes, Retry: i.Spec.RetryPolicy(),
		RateLimitPerMinute: i.Spec.RateLimitPerMinute, RateLimitPerHour: i.Spec.RateLimitPerHour,
		Timeout: time.Duration(i.Spec.TimeoutSeconds) * time.Second,
		Config:  i.Spec.Config, Credentials: json.RawMessage(i.Credentials), Version: i.Version,
	}
	if i.Spec.Kind.Batches() {
		var b struct {
			Size     int `json:"batch_size"`
			Interval int `json:"batch_interval_seconds"`
		}
		_ = json.Unmarshal(i.Spec.Config, &b) // validated on the way in; zero values mean no batching
		if b.Size > 1 {
			if b.Interval <= 0 {
				b.Interval = DefaultBatchIntervalSeconds
			}
			d.BatchSize, d.BatchInterval = b.Size, time.Duration(b.Interval)*time.Second
		}
	}
	return d
}

// Batches reports whether destinations of kind k can take several events
// in one request (config batch_size): Zapier only.
func (k DestinationKind) Batches() bool { return k == KindZapier }

// Selects reports whether the integration subscribes to eventType,
// directly or through "*".
func (i *Integration) Selects(eventType string) bool {
	return slices.Contains(i.Spec.EventTypes, EventTypeWildcard) || slices.Contains(i.Spec.EventTypes, eventType)
}

// CreateIntegrationParams are the inputs of CreateIntegration.
type CreateIntegrationParams struct {
	ID   IntegrationID
	Spec IntegrationSpec
	// Credentials is the credentials JSON object in plain text.
	Credentials json.RawMessage
	// Source is SourceAPI when empty.
	Source IntegrationSource
}

// CreateIntegration decides the creation of an integration. The event
// carries the credentials in plain text; the application seals them before
// appending.
func CreateIntegration(p CreateIntegrationParams, validate IntegrationValidator, now time.Time) ([]Event, error) {
	p.Spec.Config, p.Credentials = compactObject(p.Spec.Config), compactObject(p.Credentials)
	if p.Spec.EventTypes == nil {
		p.Spec.EventTypes = []string{}
	}
	v := &ValidationError{}
	if err := p.Spec.Validate(p.Credentials, validate); err != nil {
		v.merge(err, "spec")
	}
	if !strings.HasPrefix(string(p.ID), IntegrationIDPrefix) {
		v.add("id", "must start with %q", IntegrationIDPrefix)
	}
	switch p.Source {
	case "":
		p.Source = SourceAPI
	case SourceAPI, SourceZapierRESTHook:
	default:
		v.add("source", "must be %s or %s", SourceAPI, SourceZapierRESTHook)
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	return []Event{IntegrationCreated{
		ID: p.ID, Spec: p.Spec, Source: p.Source, Credentials: string(p.Credentials), At: now.UTC(),
	}}, nil
}

// Update replaces the integration's configuration. credentials replaces
// the stored credentials when non-nil; nil keeps them (i.Credentials must
// then be in plain text, since the config is checked against them). The
// integration type cannot change.
func (i *Integration) Update(spec IntegrationSpec, credentials json.RawMessage, validate IntegrationValidator, now time.Time) ([]Event, error) {
	if err := i.mutable(); err != nil {
		return nil, err
	}
	spec.Config = compactObject(spec.Config)
	if spec.EventTypes == nil {
		spec.EventTypes = []string{}
	}
	if spec.Kind != i.Spec.Kind {
		return nil, &ValidationError{Fields: []FieldError{{
			Field: "integration_type", Message: fmt.Sprintf("cannot be changed (it is %s); create another integration", i.Spec.Kind),
		}}}
	}
	effective := json.RawMessage(i.Credentials)
	if credentials != nil {
		credentials = compactObject(credentials)
		effective = credentials
	}
	if err := spec.Validate(effective, validate); err != nil {
		return nil, err
	}
	return []Event{IntegrationUpdated{Spec: spec, Credentials: string(credentials), At: now.UTC()}}, nil
}

// Subscribe adds eventType (a catalog name or "*") to the subscriptions;
// subscribing again changes nothing.
func (i *Integration) Subscribe(eventType string, now time.Time) ([]Event, error) {
	if err := i.mutable(); err != nil {
		return nil, err
	}
	if eventType != EventTypeWildcard && !IsKnownEventType(eventType) {
		return nil, &ValidationError{Fields: []FieldError{{
			Field: "event_type", Message: "is not a known event type (GET /api/v1/event-types lists them)",
		}}}
	}
	if slices.Contains(i.Spec.EventTypes, eventType) {
		return nil, nil
	}
	return []Event{IntegrationSubscribed{Subscribed: eventType, At: now.UTC()}}, nil
}

// Unsubscribe removes eventType from the subscriptions; an event type that
// is not subscribed is ErrNotFound.
func (i *Integration) Unsubscribe(eventType string, now time.Time) ([]Event, error) {
	if err := i.mutable(); err != nil {
		return nil, err
	}
	if !slices.Contains(i.Spec.EventTypes, eventType) {
		return nil, fmt.Errorf("subscription of integration %s to %q: %w", i.Spec.Name, eventType, ErrNotFound)
	}
	return []Event{IntegrationUnsubscribed{Unsubscribed: eventType, At: now.UTC()}}, nil
}

// Pause holds deliveries (they stay pending) until Resume.
func (i *Integration) Pause(now time.Time) ([]Event, error) {
	if err := i.mutable(); err != nil {
		return nil, err
	}
	if i.Status == WebhookStatusPaused {
		return nil, nil
	}
	return []Event{IntegrationPaused{At: now.UTC()}}, nil
}

// Resume makes a paused or inactive integration active again.
func (i *Integration) Resume(now time.Time) ([]Event, error) {
	if err := i.mutable(); err != nil {
		return nil, err
	}
	if i.Status == WebhookStatusActive {
		return nil, nil
	}
	return []Event{IntegrationResumed{At: now.UTC()}}, nil
}

// Deactivate stops deliveries; reason says why (the target answered 410
// Gone).
func (i *Integration) Deactivate(reason string, now time.Time) ([]Event, error) {
	if err := i.mutable(); err != nil {
		return nil, err
	}
	if i.Status == WebhookStatusInactive {
		return nil, nil
	}
	return []Event{IntegrationDeactivated{Reason: reason, At: now.UTC()}}, nil
}

// Delete removes the integration; its name becomes free again. reason is
// empty for a deletion asked for, and says why otherwise.
func (i *Integration) Delete(reason string, now time.Time) ([]Event, error) {
	if err := i.mutable(); err != nil {
		return nil, err
	}
	return []Event{IntegrationDeleted{Reason: reason, At: now.UTC()}}, nil
}

// Gone decides what a 410 Gone from the integration's target means: a
// Zapier REST hook is unsubscribed (deleted), anything else is
// deactivated. A deleted integration stays as it is.
func (i *Integration) Gone(reason string, now time.Time) ([]Event, error) {
	if i.Exists() && i.Status == WebhookStatusDeleted {
		return nil, nil
	}
	if i.Source == SourceZapierRESTHook {
		return i.Delete(reason, now)
	}
	return i.Deactivate(reason, now)
}

// mutable rejects commands on integrations that don't exist or were deleted.
func (i *Integration) mutable() error {
	if !i.Exists() || i.Status == WebhookStatusDeleted {
		return fmt.Errorf("integration %s: %w", i.ID, ErrNotFound)
	}
	return nil
}

// Apply folds one event into the aggregate's state.
func (i *Integration) Apply(e Event, version int64) {
	i.Version = version
	switch e := e.(type) {
	case IntegrationCreated:
		i.ID, i.Spec, i.Source, i.Credentials, i.Status = e.ID, e.Spec, e.Source, e.Credentials, WebhookStatusActive
		i.CreatedAt, i.UpdatedAt = e.At, e.At
	case IntegrationUpdated:
		i.Spec, i.UpdatedAt = e.Spec, e.At
		if e.Credentials != "" {
			i.Credentials = e.Credentials
		}
	case IntegrationSubscribed:
		i.Spec.EventTypes = append(slices.Clone(i.Spec.EventTypes), e.Subscribed)
		i.UpdatedAt = e.At
	case IntegrationUnsubscribed:
		i.Spec.EventTypes = slices.DeleteFunc(slices.Clone(i.Spec.EventTypes), func(t string) bool { return t == e.Unsubscribed })
		i.UpdatedAt = e.At
	case IntegrationPaused:
		i.Status, i.StatusReason, i.UpdatedAt = WebhookStatusPaused, "", e.At
	case IntegrationResumed:
		i.Status, i.StatusReason, i.UpdatedAt = WebhookStatusActive, "", e.At
	case IntegrationDeactivated:
		i.Status, i.StatusReason, i.UpdatedAt = WebhookStatusInactive, e.Reason, e.At
	case IntegrationDeleted:
		i.Status, i.StatusReason, i.UpdatedAt = WebhookStatusDeleted, e.Reason, e.At
	case IntegrationCredentialsResealed:
		i.Credentials = e.Credentials
	}
}

// ReplayIntegration rebuilds an integration from its recorded history.
func ReplayIntegration(history []Recorded) (*Integration, error) {
	i := &Integration{}
	for _, r := range history {
		e, err := DecodeEvent(r.Type, r.Data)
		if err != nil {
			return nil, fmt.Errorf("replay integration %s at version %d: %w", r.StreamID, r.Version, err)
		}
		i.Apply(e, r.Version)
	}
	return i, nil
}
