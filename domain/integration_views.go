package domain

import (
	"encoding/json"
	"time"
)

// IntegrationHealth is how one integration has been doing, from the
// attempts read model. Commands never use it.
type IntegrationHealth struct {
	ID           IntegrationID
	Name         string
	Kind         DestinationKind
	Status       WebhookStatus
	StatusReason string
	// LastSuccessAt is the time of the latest successful attempt; nil if
	// none.
	LastSuccessAt *time.Time
	// LastFailureAt is the time of the latest failed attempt; nil if none.
	LastFailureAt *time.Time
	// LastFailureStatusCode, LastFailureCategory and LastFailureReason
	// describe that attempt (the reason is its error detail).
	LastFailureStatusCode int
	LastFailureCategory   ErrorCategory
	LastFailureReason     string
	// AttemptsInWindow and FailuresInWindow count the attempts made since
	// the start of the window (the last hour).
	AttemptsInWindow int
	FailuresInWindow int
}

// FailureRate is FailuresInWindow / AttemptsInWindow, 0 without attempts.
func (h IntegrationHealth) FailureRate() float64 {
	if h.AttemptsInWindow == 0 {
		return 0
	}
	return float64(h.FailuresInWindow) / float64(h.AttemptsInWindow)
}

// IntegrationKindView describes an integration type for the marketplace.
type IntegrationKindView struct {
	Kind        DestinationKind
	Title       string
	Description string
	Features    []string
	// CredentialsSchema and ConfigSchema are JSON Schema (draft 2020-12)
	// documents.
	CredentialsSchema json.RawMessage
	ConfigSchema      json.RawMessage
	// Defaults are the delivery settings a new integration of the kind
	// starts with.
	Defaults DeliverySettings
	// BatchSize and BatchIntervalSeconds are the batching defaults; 0 for
	// kinds that do not batch.
	BatchSize            int
	BatchIntervalSeconds int
}
