package domain

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"time"
)

// DeliveryStatus is the state of one event's delivery to one destination.
type DeliveryStatus string

// Delivery statuses (DESIGN §4). failed is final but not an exhaustion: the
// receiver answered 410 Gone, or the webhook stopped being active.
// permanent_failure is the dead letter: every retry was used. Both can be
// redriven.
const (
	DeliveryPending          DeliveryStatus = "pending"
	DeliveryRetrying         DeliveryStatus = "retrying"
	DeliveryDelivered        DeliveryStatus = "delivered"
	DeliveryFailed           DeliveryStatus = "failed"
	DeliveryPermanentFailure DeliveryStatus = "permanent_failure"
)

// DeliveryStreamType is the stream type of delivery streams.
const DeliveryStreamType = "delivery"

// Retry bounds.
const (
	// MaxRetryAfter caps how long a receiver's Retry-After can postpone a
	// retry.
	MaxRetryAfter = time.Hour
	// jitterSpread randomises a delay by ±20%.
	jitterSpread = 0.2
)

// DeliveryIDFor derives the delivery id of (event, destination). It is
// deterministic so that a fan-out that runs twice schedules the same
// delivery once. It takes a DestinationID or a WebhookID.
//
// When the event id is one of lokihooks's (evt_ + 26 characters whose
// first 10 are its creation time in milliseconds), the delivery id starts
// with the same 10 characters, so delivery ids grow with time like every
// other id: their index entries (the log's stream key, the read models'
// primary keys) land on the last pages instead of a random page each,
// which on a large database saves a full-page write per index and
// delivery. The rest is a hash of the pair.
func DeliveryIDFor[D ~string](event EventID, destination D) DeliveryID {
	sum := sha256.Sum256([]byte(string(event) + "\x00" + string(destination)))
	var b [16]byte
	copy(b[:], sum[:16])
	id := encodeBase32(b)
	if prefix, ok := timePrefix(event); ok {
		id = prefix + id[len(prefix):]
	}
	return DeliveryID(DeliveryIDPrefix + id)
}

// timePrefix returns the 10 characters of a lokihooks event id that hold
// its creation time (48 bits of milliseconds in Crockford base32).
func timePrefix(event EventID) (string, bool) {
	s, ok := strings.CutPrefix(string(event), EventIDPrefix)
	if !ok || len(s) != 26 || s[0] > '7' { // 128 bits: the first character holds 3
		return "", false
	}
	for i := range len(s) {
		if strings.IndexByte(crockford, s[i]) < 0 {
			return "", false
		}
	}
	return s[:10], true
}

// RetryPolicy is how a webhook reschedules failed deliveries.
type RetryPolicy struct {
	Strategy   RetryStrategy
	MaxRetries int
	Delay      time.Duration
	MaxDelay   time.Duration
	Multiplier float64
	Jitter     bool
}

// RetryPolicy extracts the webhook's retry policy.
func (s WebhookSpec) RetryPolicy() RetryPolicy { return s.deliverySettings().RetryPolicy() }

// Backoff returns the delay before retry n (1 = the first retry; smaller
// n count as 1). random is a number in [0, 1) that spreads the delay by
// ±20% when jitter is on; the result never exceeds MaxDelay, nor
// MaxDelaySecondsLimit when MaxDelay is zero, and is never negative.
func (p RetryPolicy) Backoff(n int, random float64) time.Duration {
	n = max(n, 1)
	var d float64
	base := float64(p.Delay)
	switch p.Strategy {
	case RetryExponential:
		d = base * math.Pow(p.Multiplier, float64(n-1))
	case RetryLinear:
		d = base * float64(n)
	case RetryFixed:
		d = base
	default:
		return 0
	}
	if p.Jitter {
		d *= 1 - jitterSpread + 2*jitterSpread*random
	}
	if maxD := float64(p.MaxDelay); p.MaxDelay > 0 && d > maxD {
		d = maxD
	}
	// A large multiplier and retry count overflow time.Duration (and a
	// policy that bypassed validation may hold anything): cap, and keep
	// NaN and negatives out.
	switch limit := float64(MaxDelaySecondsLimit) * float64(time.Second); {
	case d > limit:
		d = limit
	case !(d >= 0):
		d = 0
	}
	return time.Duration(d)
}

// ScheduledRetry is one retry in a RetryPolicy's schedule.
type ScheduledRetry struct {
	// N is the retry number: 1 is the first retry, which is the delivery's
	// second attempt.
	N int
	// Delay is the wait after the previous attempt failed, with jitter at
	// its midpoint.
	Delay time.Duration
	// Min and Max bound the delay when jitter is on (±20%, then capped at
	// MaxDelay); both equal Delay when it is off.
	Min, Max time.Duration
	// Cumulative is the sum of the delays up to this retry: how long after
	// the first attempt this retry starts, not counting the time attempts
	// themselves take. CumulativeMin and CumulativeMax are its jitter bounds.
	Cumulative, CumulativeMin, CumulativeMax time.Duration
}

// Schedule returns the retries the policy makes after a first failed attempt,
// in order: MaxRetries entries, or none for RetryNone. Delays are those of
// Backoff; a receiver's Retry-After on a 429 or 503 can lengthen one (up to
// MaxRetryAfter), which a schedule cannot foresee.
func (p RetryPolicy) Schedule() []ScheduledRetry {
	if p.Strategy == RetryNone || p.MaxRetries <= 0 {
		return nil
	}
	out := make([]ScheduledRetry, p.MaxRetries)
	var sum, sumMin, sumMax time.Duration
	for i := range out {
		n := i + 1
		// random 0.5 puts the jitter factor at exactly 1; 0 and 1 are its
		// ends (1 itself is never drawn, but bounds the range).
		r := ScheduledRetry{N: n, Delay: p.Backoff(n, 0.5), Min: p.Backoff(n, 0), Max: p.Backoff(n, 1)}
		sum, sumMin, sumMax = sum+r.Delay, sumMin+r.Min, sumMax+r.Max
		r.Cumulative, r.CumulativeMin, r.CumulativeMax = sum, sumMin, sumMax
		out[i] = r
	}
	return out
}

// AttemptOutcome is the decision taken after an attempt.
type AttemptOutcome struct {
	// Status is the delivery's status after the attempt.
	Status DeliveryStatus
	// NextAttemptAt is set when Status is retrying.
	NextAttemptAt *time.Time
	// Deactivate is set when the receiver answered 410 Gone: the
	// destination must be deactivated with this reason.
	Deactivate string
}

// DecideAttempt turns an attempt's result into an outcome. try is the
// 1-based attempt number since the delivery was scheduled or redriven: a
// delivery gets 1 + MaxRetries tries. random is in [0, 1) (jitter).
func DecideAttempt(p RetryPolicy, try int, r AttemptResult, now time.Time, random float64) AttemptOutcome {
	switch {
	case r.Success:
		return AttemptOutcome{Status: DeliveryDelivered}
	case r.StatusCode == 410:
		return AttemptOutcome{Status: DeliveryFailed, Deactivate: "receiver answered 410 Gone"}
	case r.Permanent, p.Strategy == RetryNone, try > p.MaxRetries:
		return AttemptOutcome{Status: DeliveryPermanentFailure}
	}
	delay := p.Backoff(try, random)
	if r.RetryAfter > 0 && (r.StatusCode == 429 || r.StatusCode == 503) {
		delay = max(delay, min(r.RetryAfter, MaxRetryAfter))
	}
	next := now.Add(delay).UTC()
	return AttemptOutcome{Status: DeliveryRetrying, NextAttemptAt: &next}
}

// Stored type names of delivery events.
const (
	TypeDeliveryScheduled = "delivery.scheduled.v1"
	TypeDeliveryAttempted = "delivery.attempted.v1"
	TypeDeliveryCancelled = "delivery.cancelled.v1"
	TypeDeliveryRedriven  = "delivery.redriven.v1"
	TypeDeliveryPostponed = "delivery.postponed.v1"
)

// Postponement reasons.
const (
	// PostponedRateLimited: the destination's rate limit was reached; the
	// delivery holds a token of a later window and waits for it.
	PostponedRateLimited = "rate_limited"
)

// DeliveryScheduled records that an event is to be delivered to a
// destination.
type DeliveryScheduled struct {
	DeliveryID    DeliveryID      `json:"delivery_id"`
	DestinationID DestinationID   `json:"destination_id"`
	Kind          DestinationKind `json:"kind"`
	EventID       EventID         `json:"event_id"`
	Type          string          `json:"event_type"`
	At            time.Time       `json:"at"`
}

// UnmarshalJSON also reads events written before destinations existed,
// which name a webhook_id and no kind.
func (e *DeliveryScheduled) UnmarshalJSON(b []byte) error {
	type plain DeliveryScheduled
	var v struct {
		plain
		WebhookID DestinationID `json:"webhook_id"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*e = DeliveryScheduled(v.plain)
	if e.DestinationID == "" {
		e.DestinationID = v.WebhookID
	}
	if e.Kind == "" {
		e.Kind = KindWebhook
	}
	return nil
}

// DeliveryAttempted records one attempt and the decision taken after it.
// Its excerpts (RequestHeaders, ResponseHeaders, ResponseBody) travel with
// it to the recorder, which stores them in the payload row PayloadID
// names and records the event without them (see AttemptExcerptsRedacted);
// events recorded before payload rows existed carry them inline.
type DeliveryAttempted struct {
	Attempt         int               `json:"attempt"`
	PayloadID       int64             `json:"payload_id,omitempty"`
	RequestHeaders  map[string]string `json:"request_headers,omitempty"`
	StatusCode      int               `json:"status_code,omitempty"`
	ResponseHeaders map[string]string `json:"response_headers,omitempty"`
	ResponseBody    string            `json:"response_body,omitempty"`
	Truncated       bool              `json:"truncated,omitempty"`
	DurationMS      float64           `json:"duration_ms"`
	ErrorCategory   ErrorCategory     `json:"error_category,omitempty"`
	ErrorDetail     string            `json:"error_detail,omitempty"`
	Status          DeliveryStatus    `json:"status"`
	NextAttemptAt   *time.Time        `json:"next_attempt_at,omitempty"`
	At              time.Time         `json:"at"`
}

// DeliveryCancelled records a delivery dropped without an attempt, because
// its destination is no longer active. The delivery is failed.
type DeliveryCancelled struct {
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
}

// DeliveryRedriven records a manual retry of a failed delivery.
type DeliveryRedriven struct {
	At time.Time `json:"at"`
}

// DeliveryPostponed records that an attempt waits, without having been
// made, until Until: the destination's rate limit was reached.
type DeliveryPostponed struct {
	Reason string    `json:"reason"`
	Until  time.Time `json:"until"`
	At     time.Time `json:"at"`
}

// EventType implements Event.
func (DeliveryScheduled) EventType() string { return TypeDeliveryScheduled }

// EventType implements Event.
func (DeliveryPostponed) EventType() string { return TypeDeliveryPostponed }

// EventType implements Event.
func (DeliveryAttempted) EventType() string { return TypeDeliveryAttempted }

// EventType implements Event.
func (DeliveryCancelled) EventType() string { return TypeDeliveryCancelled }

// EventType implements Event.
func (DeliveryRedriven) EventType() string { return TypeDeliveryRedriven }

func decodeDeliveryEvent(typ string, data []byte) (Event, error) {
	var e Event
	var err error
	switch typ {
	case TypeDeliveryScheduled:
		e, err = decode[DeliveryScheduled](data)
	case TypeDeliveryAttempted:
		e, err = decode[DeliveryAttempted](data)
	case TypeDeliveryCancelled:
		e, err = decode[DeliveryCancelled](data)
	case TypeDeliveryRedriven:
		e, err = decode[DeliveryRedriven](data)
	case TypeDeliveryPostponed:
		e, err = decode[DeliveryPostponed](data)
	default:
		return decodeBreakerEvent(typ, data)
	}
	if err != nil {
		return nil, fmt.Errorf("decode %s: %w", typ, err)
	}
	return e, nil
}

// Redrivable reports whether a delivery in status s may be retried by hand.
func (s DeliveryStatus) Redrivable() bool {
	return s == DeliveryFailed || s == DeliveryPermanentFailure
}
