package relay

import (
	"context"
	"database/sql"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/loki-interceptor/lokihooks/domain"
)

// Sender makes one delivery attempt. A connector (*connectors.Mux for
// every kind, *connectors.Webhook for webhooks alone) satisfies it.
type Sender interface {
	Send(ctx context.Context, req domain.AttemptRequest) domain.AttemptResult
}

// EventLog appends events. *eventstore.Store satisfies it: AppendTx on the
// workers' transactions, AppendSQLTx on the outbox consumer's.
type EventLog interface {
	AppendTx(ctx context.Context, tx pgx.Tx, streams ...domain.Append) ([]domain.Recorded, error)
	AppendSQLTx(ctx context.Context, tx *sql.Tx, streams ...domain.Append) ([]domain.Recorded, error)
}

// Subscribers selects the destinations of outbox events.
// projections.Subscribers satisfies it.
type Subscribers interface {
	// MatchSQLTx returns, for each event, the active or paused
	// destinations subscribed to its type, on the outbox consumer's
	// transaction.
	MatchSQLTx(ctx context.Context, tx *sql.Tx, events []domain.EventRef) ([]domain.Subscription, error)
}

// Destinations reads and changes destinations for the workers.
type Destinations interface {
	// Destination returns a destination, deleted ones included, with its
	// secrets and credentials in plain text and its circuit breaker;
	// domain.ErrNotFound if it never existed.
	Destination(ctx context.Context, id domain.DestinationID) (*domain.Destination, error)
	// DeactivateTx records on tx that a destination stopped accepting
	// deliveries (it answered 410 Gone). Deactivating an inactive or
	// deleted destination does nothing.
	DeactivateTx(ctx context.Context, tx pgx.Tx, id domain.DestinationID, reason string) error
	// DisableTx records on tx that lokihooks switched a destination off
	// with reason (it kept failing): it becomes inactive, whatever its
	// kind, until resumed. An inactive or deleted destination is left as
	// it is.
	DisableTx(ctx context.Context, tx pgx.Tx, id domain.DestinationID, reason string) error
}

// Deps are the relay's collaborators. Every field is required for the
// roles that use it: Log and Subscribers for the fan-out; Log,
// Destinations and Sender for the workers.
type Deps struct {
	Log          EventLog
	Subscribers  Subscribers
	Destinations Destinations
	Sender       Sender
	// EventChecker, optional, inspects each group of outbox events before
	// the fan-out schedules it (eventcheck.go).
	EventChecker EventChecker
	// Observer, optional, is told what the workers recorded (metrics).
	Observer Observer
}

// Observer is told what the relay did, once it is committed, so that
// metrics count each outcome exactly once. Its methods must be safe for
// concurrent use, quick, and must not block. *telemetry.Metrics satisfies
// it.
type Observer interface {
	// DeliveryRecorded is told of each delivery event a worker recorded:
	// domain.DeliveryAttempted, DeliveryPostponed or DeliveryCancelled,
	// for a destination of kind. published is when the delivery's event
	// was published (zero when unknown).
	DeliveryRecorded(ctx context.Context, kind domain.DestinationKind, ev domain.Event, published time.Time)
	// BreakerChanged is told of the events appended to a circuit breaker
	// (domain.BreakerOpened, BreakerHalfOpened, BreakerClosed).
	BreakerChanged(ctx context.Context, events []domain.Event)
}
