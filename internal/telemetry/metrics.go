package telemetry

import (
	"context"
	"errors"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/loki-interceptor/lokihooks/domain"
)

// ScopeName is the instrumentation scope of lokihooks' own metrics.
const ScopeName = "github.com/loki-interceptor/lokihooks"

// Attribute keys of lokihooks' metrics. Each has few values: destination
// kinds, statuses and error categories are closed sets, and no id, URL or
// customer value is ever an attribute.
const (
	AttrDestinationKind   = attribute.Key("destination.kind")
	AttrDeliveryStatus    = attribute.Key("delivery.status")
	AttrErrorCategory     = attribute.Key("error.category")
	AttrReason            = attribute.Key("reason")
	AttrBreakerState      = attribute.Key("breaker.state")
	AttrEventType         = attribute.Key("event.type")
	AttrProjection        = attribute.Key("projection")
	AttrJobKind           = attribute.Key("job.kind")
	AttrJobState          = attribute.Key("job.state")
	AttrDestinationStatus = attribute.Key("destination.status")
	AttrApplicationName   = attribute.Key("application_name")
)

// Metric names (OTel; the Prometheus exposition replaces dots with
// underscores and appends the unit, e.g. _seconds, and _total to
// counters).
const (
	MetricDeliveriesFinished = "lokihooks.deliveries.finished"
	MetricAttemptDuration    = "lokihooks.delivery.attempt.duration"
	MetricFirstAttemptDelay  = "lokihooks.delivery.first_attempt.latency"
	MetricPostponements      = "lokihooks.delivery.postponements"
	MetricBreakerTransitions = "lokihooks.breaker.transitions"
	MetricSchemaViolations   = "lokihooks.events.schema_violations"
	MetricOutboxLag          = "lokihooks.outbox.lag"
	MetricOutboxAge          = "lokihooks.outbox.oldest_age"
	MetricProjectionLag      = "lokihooks.projection.lag"
	MetricProjectionAge      = "lokihooks.projection.oldest_age"
	MetricJobs               = "lokihooks.jobs"
	MetricBreakersOpen       = "lokihooks.breakers.open"
	MetricDestinations       = "lokihooks.destinations"
	MetricFailing            = "lokihooks.destinations.failing"
	MetricXminHolderAge      = "lokihooks.db.xmin_holder.age"
	MetricLeader             = "lokihooks.telemetry.leader"
)

// Instrument describes one of lokihooks' metrics, for the documentation.
type Instrument struct {
	Name, Kind, Unit, Description string
	Attributes                    []attribute.Key
	// Leader is true for database-wide gauges, which only the leader
	// process reports.
	Leader bool
}

// Catalog lists lokihooks' own metrics (the runtime, process and HTTP
// server metrics come from their libraries).
func Catalog() []Instrument {
	kind := []attribute.Key{AttrDestinationKind}
	return []Instrument{
		{MetricDeliveriesFinished, "counter", "{delivery}", "Deliveries that reached a final status: delivered, failed (410 Gone; error category cancelled when dropped because the destination was deleted or deactivated) or permanent_failure (dead letter).", []attribute.Key{AttrDestinationKind, AttrDeliveryStatus, AttrErrorCategory}, false},
		{MetricAttemptDuration, "histogram", "s", "Duration of each recorded attempt (its count is the number of attempts, retries included); no error category on success.", []attribute.Key{AttrDestinationKind, AttrErrorCategory}, false},
		{MetricFirstAttemptDelay, "histogram", "s", "From the event's publication (the timestamp in its body) to its first attempt.", kind, false},
		{MetricPostponements, "counter", "{delivery}", "Attempts postponed to a later rate-limit window.", []attribute.Key{AttrDestinationKind, AttrReason}, false},
		{MetricBreakerTransitions, "counter", "{transition}", "Circuit breaker transitions, by the state entered.", []attribute.Key{AttrBreakerState}, false},
		{MetricSchemaViolations, "counter", "{event}", "Published events whose data violates their type's schema (delivered anyway).", []attribute.Key{AttrEventType}, false},
		{MetricOutboxLag, "gauge", "{event}", "Outbox events the fan-out has not consumed yet.", nil, true},
		{MetricOutboxAge, "gauge", "s", "Age of the oldest outbox event the fan-out has not consumed (0 when none).", nil, true},
		{MetricProjectionLag, "gauge", "{event}", "Events of the log a projection has not applied yet.", []attribute.Key{AttrProjection}, true},
		{MetricProjectionAge, "gauge", "s", "Age of the oldest event a projection has not applied (0 when none).", []attribute.Key{AttrProjection}, true},
		{MetricJobs, "gauge", "{job}", "River jobs by kind and state (available, scheduled, running, retryable, discarded); parked deliveries are scheduled.", []attribute.Key{AttrJobKind, AttrJobState}, true},
		{MetricBreakersOpen, "gauge", "{breaker}", "Circuit breakers that hold deliveries (state open or half_open).", []attribute.Key{AttrDestinationKind, AttrBreakerState}, true},
		{MetricDestinations, "gauge", "{destination}", "Webhooks and integrations that are not deleted.", []attribute.Key{AttrDestinationKind, AttrDestinationStatus}, true},
		{MetricFailing, "gauge", "{destination}", "Destinations whose latest attempt failed.", kind, true},
		{MetricXminHolderAge, "gauge", "s", "Age of the oldest transaction in the cluster holding a transaction id (it holds back pg_snapshot_xmin, which pauses the outbox), with its application_name; 0 when none.", []attribute.Key{AttrApplicationName}, true},
		{MetricLeader, "gauge", "", "1 in the process that gathers the database-wide gauges, 0 in the others.", nil, false},
	}
}

// Bucket boundaries, in seconds: attempts take milliseconds to the
// longest destination timeout (120 s); first attempts come within
// milliseconds unless the outbox stalls or a rate limit waits.
var (
	attemptBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120}
	latencyBuckets = []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600}
)

// Metrics holds lokihooks' event-driven instruments. It satisfies
// relay.Observer. It is safe for concurrent use.
type Metrics struct {
	finished     metric.Int64Counter
	attempt      metric.Float64Histogram
	firstAttempt metric.Float64Histogram
	postponed    metric.Int64Counter
	breakers     metric.Int64Counter
	violations   metric.Int64Counter
	sets         sync.Map // attrsKey → metric.MeasurementOption
}

// NewMetrics creates the instruments on mp's meter for ScopeName.
func NewMetrics(mp metric.MeterProvider) (*Metrics, error) {
	m := mp.Meter(ScopeName)
	var (
		ms   Metrics
		errs [6]error
	)
	ms.finished, errs[0] = m.Int64Counter(MetricDeliveriesFinished, metric.WithUnit("{delivery}"),
		metric.WithDescription("Deliveries that reached a final status."))
	ms.attempt, errs[1] = m.Float64Histogram(MetricAttemptDuration, metric.WithUnit("s"),
		metric.WithDescription("Duration of each recorded delivery attempt."), metric.WithExplicitBucketBoundaries(attemptBuckets...))
	ms.firstAttempt, errs[2] = m.Float64Histogram(MetricFirstAttemptDelay, metric.WithUnit("s"),
		metric.WithDescription("From an event's publication to its first delivery attempt."), metric.WithExplicitBucketBoundaries(latencyBuckets...))
	ms.postponed, errs[3] = m.Int64Counter(MetricPostponements, metric.WithUnit("{delivery}"),
		metric.WithDescription("Attempts postponed to a later rate-limit window."))
	ms.breakers, errs[4] = m.Int64Counter(MetricBreakerTransitions, metric.WithUnit("{transition}"),
		metric.WithDescription("Circuit breaker transitions, by the state entered."))
	ms.violations, errs[5] = m.Int64Counter(MetricSchemaViolations, metric.WithUnit("{event}"),
		metric.WithDescription("Published events whose data violates their type's schema."))
	if err := errors.Join(errs[:]...); err != nil {
		return nil, err
	}
	return &ms, nil
}

// DeliveryRecorded implements relay.Observer.
func (m *Metrics) DeliveryRecorded(ctx context.Context, kind domain.DestinationKind, ev domain.Event, published time.Time) {
	switch e := ev.(type) {
	case domain.DeliveryAttempted:
		m.attempt.Record(ctx, e.DurationMS/1000, m.attrs(attrsKey{kind: kind, category: string(e.ErrorCategory)}))
		if !published.IsZero() {
			m.firstAttempt.Record(ctx, max(0, e.At.Sub(published).Seconds()), m.attrs(attrsKey{kind: kind}))
		}
		if e.Status != domain.DeliveryRetrying {
			m.finished.Add(ctx, 1, m.attrs(attrsKey{kind: kind, status: e.Status, category: string(e.ErrorCategory)}))
		}
	case domain.DeliveryCancelled:
		m.finished.Add(ctx, 1, m.attrs(attrsKey{kind: kind, status: domain.DeliveryFailed, category: "cancelled"}))
	case domain.DeliveryPostponed:
		m.postponed.Add(ctx, 1, m.attrs(attrsKey{kind: kind, reason: e.Reason}))
	}
}

// attrsKey names one combination of attributes; empty fields are left out.
type attrsKey struct {
	kind     domain.DestinationKind
	status   domain.DeliveryStatus
	category string
	reason   string
}

// attrs returns the measurement option of k's attributes, built once per
// combination (the values are closed sets), so that a delivery's
// measurements allocate nothing for them.
func (m *Metrics) attrs(k attrsKey) metric.MeasurementOption {
	if o, ok := m.sets.Load(k); ok {
		return o.(metric.MeasurementOption)
	}
	kv := []attribute.KeyValue{AttrDestinationKind.String(string(k.kind))}
	if k.status != "" {
		kv = append(kv, AttrDeliveryStatus.String(string(k.status)))
	}
	if k.category != "" {
		kv = append(kv, AttrErrorCategory.String(k.category))
	}
	if k.reason != "" {
		kv = append(kv, AttrReason.String(k.reason))
	}
	o, _ := m.sets.LoadOrStore(k, metric.WithAttributeSet(attribute.NewSet(kv...)))
	return o.(metric.MeasurementOption)
}

// BreakerChanged implements relay.Observer.
func (m *Metrics) BreakerChanged(ctx context.Context, events []domain.Event) {
	for _, ev := range events {
		var state domain.BreakerState
		switch ev.(type) {
		case domain.BreakerOpened:
			state = domain.BreakerStateOpen
		case domain.BreakerHalfOpened:
			state = domain.BreakerStateHalfOpen
		case domain.BreakerClosed:
			state = domain.BreakerStateClosed
		default:
			continue
		}
		m.breakers.Add(ctx, 1, metric.WithAttributes(AttrBreakerState.String(string(state))))
	}
}

// SchemaViolation counts a published event whose data violates its
// type's schema (app.SchemaViolationFunc).
func (m *Metrics) SchemaViolation(ctx context.Context, eventType string, _ int) {
	m.violations.Add(ctx, 1, metric.WithAttributes(AttrEventType.String(eventType)))
}
