package domain

import (
	"encoding/json"
	"fmt"
	"time"
)

// Stored type names of webhook events. Never change a published name:
// add a new version instead.
const (
	TypeWebhookCreated       = "webhook.created.v1"
	TypeWebhookUpdated       = "webhook.updated.v1"
	TypeWebhookPaused        = "webhook.paused.v1"
	TypeWebhookResumed       = "webhook.resumed.v1"
	TypeWebhookDeactivated   = "webhook.deactivated.v1"
	TypeWebhookDeleted       = "webhook.deleted.v1"
	TypeWebhookSecretRotated = "webhook.secret_rotated.v1"
)

// WebhookCreated records a new webhook with its full configuration.
type WebhookCreated struct {
	ID     WebhookID   `json:"id"`
	Spec   WebhookSpec `json:"spec"`
	Secret string      `json:"secret"`
	At     time.Time   `json:"at"`
}

// WebhookUpdated records a replaced configuration.
type WebhookUpdated struct {
	Spec WebhookSpec `json:"spec"`
	At   time.Time   `json:"at"`
}

// WebhookPaused records that deliveries are held.
type WebhookPaused struct {
	At time.Time `json:"at"`
}

// WebhookResumed records that deliveries flow again.
type WebhookResumed struct {
	At time.Time `json:"at"`
}

// WebhookDeactivated records that the webhook stopped receiving events.
type WebhookDeactivated struct {
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
}

// WebhookDeleted records the removal of a webhook.
type WebhookDeleted struct {
	At time.Time `json:"at"`
}

// WebhookSecretRotated records a new signing secret; the previous one keeps
// signing until PreviousExpiresAt.
type WebhookSecretRotated struct {
	Secret            string    `json:"secret"`
	PreviousExpiresAt time.Time `json:"previous_expires_at"`
	At                time.Time `json:"at"`
}

// EventType implements Event.
func (WebhookCreated) EventType() string { return TypeWebhookCreated }

// EventType implements Event.
func (WebhookUpdated) EventType() string { return TypeWebhookUpdated }

// EventType implements Event.
func (WebhookPaused) EventType() string { return TypeWebhookPaused }

// EventType implements Event.
func (WebhookResumed) EventType() string { return TypeWebhookResumed }

// EventType implements Event.
func (WebhookDeactivated) EventType() string { return TypeWebhookDeactivated }

// EventType implements Event.
func (WebhookDeleted) EventType() string { return TypeWebhookDeleted }

// EventType implements Event.
func (WebhookSecretRotated) EventType() string { return TypeWebhookSecretRotated }

// DecodeEvent decodes a stored event by its type name. An unknown name is an
// error: a reader must never silently drop history.
func DecodeEvent(typ string, data []byte) (Event, error) {
	var e Event
	var err error
	switch typ {
	case TypeWebhookCreated:
		e, err = decode[WebhookCreated](data)
	case TypeWebhookUpdated:
		e, err = decode[WebhookUpdated](data)
	case TypeWebhookPaused:
		e, err = decode[WebhookPaused](data)
	case TypeWebhookResumed:
		e, err = decode[WebhookResumed](data)
	case TypeWebhookDeactivated:
		e, err = decode[WebhookDeactivated](data)
	case TypeWebhookDeleted:
		e, err = decode[WebhookDeleted](data)
	case TypeWebhookSecretRotated:
		e, err = decode[WebhookSecretRotated](data)
	default:
		return decodeIntegrationEvent(typ, data)
	}
	if err != nil {
		return nil, fmt.Errorf("decode %s: %w", typ, err)
	}
	return e, nil
}

func decode[T Event](data []byte) (Event, error) {
	var v T
	if err := json.Unmarshal(data, &v); err != nil {
		return nil, err
	}
	return v, nil
}
