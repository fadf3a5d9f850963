package domain

import (
	"encoding/json"
	"strings"
	"time"
)

// DestinationKind names what receives a delivery and so which connector
// renders and sends it. A webhook and the four integrations are all
// destinations: they share the fan-out, the jobs, the retry policy, rate
// limits, dead letters and analytics (DESIGN §3.10).
type DestinationKind string

// Destination kinds. The strings are stored in events and read models.
const (
	KindWebhook DestinationKind = "webhook"
	KindSlack   DestinationKind = "slack"
	KindTeams   DestinationKind = "teams"
	KindEmail   DestinationKind = "email"
	KindZapier  DestinationKind = "zapier"
)

// IntegrationKinds lists the integration kinds (every kind but webhook), in
// the order the marketplace shows them.
func IntegrationKinds() []DestinationKind {
	return []DestinationKind{KindSlack, KindTeams, KindEmail, KindZapier}
}

// IsIntegration reports whether k is one of the integration kinds.
func (k DestinationKind) IsIntegration() bool {
	switch k {
	case KindSlack, KindTeams, KindEmail, KindZapier:
		return true
	}
	return false
}

// DestinationID identifies a webhook (wh_…) or an integration (int_…).
type DestinationID string

// IntegrationIDPrefix starts every integration id.
const IntegrationIDPrefix = "int_"

// KindOf returns the kind of destination an id names, from its prefix:
// KindWebhook for wh_…, "" for an integration (whose kind its record
// holds) or an unknown id.
func KindOf(id DestinationID) DestinationKind {
	if strings.HasPrefix(string(id), WebhookIDPrefix) {
		return KindWebhook
	}
	return ""
}

// Destination is a webhook or an integration as the relay sees it: what to
// send to, how to retry and how fast. Credentials and secrets are in plain
// text; a Destination is never stored or logged.
type Destination struct {
	ID     DestinationID
	Kind   DestinationKind
	Name   string
	Status WebhookStatus
	// EventTypes are the subscribed event types, or ["*"].
	EventTypes         []string
	Retry              RetryPolicy
	RateLimitPerMinute int
	RateLimitPerHour   int
	// Timeout bounds one attempt.
	Timeout time.Duration
	// URL, Secrets and Headers describe a webhook. SecretHeaders names the
	// headers whose values are secret (WebhookSpec.SecretHeaderNames).
	URL           string
	Secrets       []string
	Headers       map[string]string
	SecretHeaders []string
	// Config and Credentials describe an integration.
	Config      json.RawMessage
	Credentials json.RawMessage
	// BatchSize > 1 lets the relay send up to that many events in one
	// request (Zapier batching), waiting at most BatchInterval for a batch
	// to fill.
	BatchSize     int
	BatchInterval time.Duration
	Version       int64
	// Breaker is the destination's circuit breaker (closed, version 0, if
	// it never opened); nil when the reader does not track breakers.
	Breaker *Breaker
}
