package domain

import (
	"encoding/json"
	"time"
)

// The types below are read-model views: what projections return and the API
// serves. Commands never use them.

// DeliveryView is a delivery as the deliveries read model holds it.
type DeliveryView struct {
	ID                DeliveryID
	DestinationID     DestinationID
	Kind              DestinationKind
	EventID           EventID
	EventType         string
	Status            DeliveryStatus
	Attempts          int
	LastStatusCode    int
	LastErrorCategory ErrorCategory
	LastErrorDetail   string
	LastDurationMS    float64
	NextAttemptAt     *time.Time
	CreatedAt         time.Time
	UpdatedAt         time.Time
	DeliveredAt       *time.Time
	Version           int64
}

// AttemptView is one recorded attempt of a delivery.
type AttemptView struct {
	Attempt         int
	Status          DeliveryStatus
	StatusCode      int
	ErrorCategory   ErrorCategory
	ErrorDetail     string
	DurationMS      float64
	RequestHeaders  map[string]string
	ResponseHeaders map[string]string
	ResponseBody    string
	Truncated       bool
	NextAttemptAt   *time.Time
	AttemptedAt     time.Time
}

// DeliveryFilter selects deliveries. Zero fields select everything.
type DeliveryFilter struct {
	DestinationID DestinationID
	EventID       EventID
	Status        DeliveryStatus
	EventType     string
	// Since and Until bound created_at: Since <= created_at < Until.
	Since, Until time.Time
	// After is the last delivery of the previous page (keyset on
	// created_at, id).
	After *DeliveryCursor
	// Ascending lists oldest first; the default is newest first.
	Ascending bool
	Limit     int
	// IDs, when set, selects exactly these deliveries (a redrive of
	// chosen dead letters); the other fields still narrow the selection.
	IDs []DeliveryID
}

// DeliveryCursor is a keyset position in a deliveries listing.
type DeliveryCursor struct {
	CreatedAt time.Time
	ID        DeliveryID
}

// PublishedEvent is an event as published through the outbox.
type PublishedEvent struct {
	Seq         int64
	ID          EventID
	Type        string
	Data        json.RawMessage
	Metadata    map[string]any
	PublishedAt time.Time
	// SchemaViolations are the problems the fan-out found when it checked
	// Data against the type's catalog schema (ValidateEventData), each with
	// its JSON pointer; empty when it found none or has not handled the
	// event yet. The event is delivered anyway: lokihooks_publish cannot
	// check a schema, so a producer's mistake is recorded, not dropped.
	SchemaViolations []FieldError
}

// PublishedEventFilter selects published events.
type PublishedEventFilter struct {
	Type string
	// AfterSeq is the Seq of the last event of the previous page; 0 starts
	// at the first page.
	AfterSeq int64
	// Ascending lists oldest first; the default is newest first.
	Ascending bool
	Limit     int
}

// Subscription pairs a published event with a destination that receives
// it: the fan-out's unit of work.
type Subscription struct {
	EventID       EventID
	EventType     string
	DestinationID DestinationID
	Kind          DestinationKind
}

// EventRef names an event read from the outbox.
type EventRef struct {
	ID   EventID
	Type string
}

// PublishRequest is an event submitted for publication by the API.
type PublishRequest struct {
	Type string
	// Data is the event's data object (JSON).
	Data json.RawMessage
	// ID is the caller's event id; generated when empty.
	ID       string
	Metadata map[string]string
	// IdempotencyKey, when set, makes a repeated request return the first
	// response instead of publishing again.
	IdempotencyKey string
}
