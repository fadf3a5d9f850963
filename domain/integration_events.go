package domain

import (
	"fmt"
	"time"
)

// Stored type names of integration events. Never change a published name:
// add a new version instead.
const (
	TypeIntegrationCreated      = "integration.created.v1"
	TypeIntegrationUpdated      = "integration.updated.v1"
	TypeIntegrationSubscribed   = "integration.subscribed.v1"
	TypeIntegrationUnsubscribed = "integration.unsubscribed.v1"
	TypeIntegrationPaused       = "integration.paused.v1"
	TypeIntegrationResumed      = "integration.resumed.v1"
	TypeIntegrationDeactivated  = "integration.deactivated.v1"
	TypeIntegrationDeleted      = "integration.deleted.v1"
)

// IntegrationCreated records a new integration with its full
// configuration. Credentials is the credentials JSON object, sealed by the
// application before it is appended.
type IntegrationCreated struct {
	ID          IntegrationID     `json:"id"`
	Spec        IntegrationSpec   `json:"spec"`
	Source      IntegrationSource `json:"source"`
	Credentials string            `json:"credentials"`
	At          time.Time         `json:"at"`
}

// IntegrationUpdated records a replaced configuration. Credentials, when
// not empty, replaces the credentials (sealed like IntegrationCreated's);
// empty keeps them.
type IntegrationUpdated struct {
	Spec        IntegrationSpec `json:"spec"`
	Credentials string          `json:"credentials,omitempty"`
	At          time.Time       `json:"at"`
}

// IntegrationSubscribed records a new event subscription.
type IntegrationSubscribed struct {
	Subscribed string    `json:"event_type"`
	At         time.Time `json:"at"`
}

// IntegrationUnsubscribed records a removed event subscription.
type IntegrationUnsubscribed struct {
	Unsubscribed string    `json:"event_type"`
	At           time.Time `json:"at"`
}

// IntegrationPaused records that deliveries are held.
type IntegrationPaused struct {
	At time.Time `json:"at"`
}

// IntegrationResumed records that deliveries flow again.
type IntegrationResumed struct {
	At time.Time `json:"at"`
}

// IntegrationDeactivated records that the integration stopped receiving
// events (its target answered 410 Gone).
type IntegrationDeactivated struct {
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
}

// IntegrationDeleted records the removal of an integration: asked for
// (Reason empty), or a Zapier REST hook whose target answered 410 Gone.
type IntegrationDeleted struct {
	Reason string    `json:"reason,omitempty"`
	At     time.Time `json:"at"`
}

// EventType implements Event.
func (IntegrationCreated) EventType() string { return TypeIntegrationCreated }

// EventType implements Event.
func (IntegrationUpdated) EventType() string { return TypeIntegrationUpdated }

// EventType implements Event.
func (IntegrationSubscribed) EventType() string { return TypeIntegrationSubscribed }

// EventType implements Event.
func (IntegrationUnsubscribed) EventType() string { return TypeIntegrationUnsubscribed }

// EventType implements Event.
func (IntegrationPaused) EventType() string { return TypeIntegrationPaused }

// EventType implements Event.
func (IntegrationResumed) EventType() string { return TypeIntegrationResumed }

// EventType implements Event.
func (IntegrationDeactivated) EventType() string { return TypeIntegrationDeactivated }

// EventType implements Event.
func (IntegrationDeleted) EventType() string { return TypeIntegrationDeleted }

// decodeIntegrationEvent decodes the integration events and hands every
// other type on to the delivery events.
func decodeIntegrationEvent(typ string, data []byte) (Event, error) {
	var e Event
	var err error
	switch typ {
	case TypeIntegrationCreated:
		e, err = decode[IntegrationCreated](data)
	case TypeIntegrationUpdated:
		e, err = decode[IntegrationUpdated](data)
	case TypeIntegrationSubscribed:
		e, err = decode[IntegrationSubscribed](data)
	case TypeIntegrationUnsubscribed:
		e, err = decode[IntegrationUnsubscribed](data)
	case TypeIntegrationPaused:
		e, err = decode[IntegrationPaused](data)
	case TypeIntegrationResumed:
		e, err = decode[IntegrationResumed](data)
	case TypeIntegrationDeactivated:
		e, err = decode[IntegrationDeactivated](data)
	case TypeIntegrationDeleted:
		e, err = decode[IntegrationDeleted](data)
	default:
		return decodeDeliveryEvent(typ, data)
	}
	if err != nil {
		return nil, fmt.Errorf("decode %s: %w", typ, err)
	}
	return e, nil
}
