package domain

import (
	"fmt"
	"math"
	"time"
)

// A circuit breaker guards each destination (webhook or integration). It
// is an aggregate of its own, on the stream BreakerStreamID(destination):
//
//   - closed: deliveries are sent. When, over Policy.Window, at least
//     MinAttempts attempts were made and at least FailureRate of them
//     failed, it opens.
//   - open: deliveries are parked, not sent, until ReopenAt (the cool-down,
//     doubling with each consecutive opening up to MaxCoolDown).
//   - half_open: one parked delivery at a time is sent as a probe. A probe
//     that succeeds closes the breaker and releases the parked deliveries;
//     one that fails opens it again.
//
// Resuming the destination closes its breaker. Every transition is an
// event that says why.
//
// The breaker has its own stream, not the destination's, for three
// reasons: its transitions are decided by worker processes concurrently,
// and the stream's expected version makes exactly one of them win;
// breaker traffic never bumps the destination's version (its ETag), so a
// user's If-Match is not refused because a receiver failed; and the
// destination's stream stays what users changed, which its rebuild and
// history read.

// BreakerStreamType is the stream type of breaker streams.
const BreakerStreamType = "breaker"

// breakerStreamPrefix starts every breaker stream id.
const breakerStreamPrefix = "breaker-"

// BreakerStreamID returns the stream id of a destination's breaker.
func BreakerStreamID(id DestinationID) string { return breakerStreamPrefix + string(id) }

// BreakerState is the state of a circuit breaker.
type BreakerState string

// Breaker states. The strings are stored in events and read models.
const (
	BreakerStateClosed   BreakerState = "closed"
	BreakerStateOpen     BreakerState = "open"
	BreakerStateHalfOpen BreakerState = "half_open"
)

// Defaults of BreakerPolicy.
const (
	DefaultBreakerWindow      = 5 * time.Minute
	DefaultBreakerMinAttempts = 10
	DefaultBreakerFailureRate = 0.7
	DefaultBreakerCoolDown    = 30 * time.Second
	DefaultBreakerMaxCoolDown = 10 * time.Minute
)

// BreakerPolicy says when a breaker opens and how long it stays open.
// Zero fields mean the defaults stated.
type BreakerPolicy struct {
	// Window is the span over which attempts are counted (default 5m).
	Window time.Duration
	// MinAttempts is how many attempts the window must hold before the
	// breaker may open (default 10).
	MinAttempts int
	// FailureRate is the share of failed attempts, in (0, 1], that opens
	// the breaker (default 0.7).
	FailureRate float64
	// CoolDown is how long the breaker stays open the first time before a
	// probe (default 30s); each consecutive opening doubles it.
	CoolDown time.Duration
	// MaxCoolDown caps the cool-down (default 10m).
	MaxCoolDown time.Duration
}

// WithDefaults returns p with its zero fields set to the defaults.
func (p BreakerPolicy) WithDefaults() BreakerPolicy {
	if p.Window == 0 {
		p.Window = DefaultBreakerWindow
	}
	if p.MinAttempts == 0 {
		p.MinAttempts = DefaultBreakerMinAttempts
	}
	if p.FailureRate == 0 {
		p.FailureRate = DefaultBreakerFailureRate
	}
	if p.CoolDown == 0 {
		p.CoolDown = DefaultBreakerCoolDown
	}
	if p.MaxCoolDown == 0 {
		p.MaxCoolDown = DefaultBreakerMaxCoolDown
	}
	return p
}

// Validate reports the first field out of range.
func (p BreakerPolicy) Validate() error {
	switch {
	case p.Window < time.Second:
		return fmt.Errorf("breaker window must be at least 1s: %w", ErrInvalid)
	case p.MinAttempts < 1:
		return fmt.Errorf("breaker minimum attempts must be at least 1: %w", ErrInvalid)
	case !(p.FailureRate > 0 && p.FailureRate <= 1):
		return fmt.Errorf("breaker failure rate must be in (0, 1]: %w", ErrInvalid)
	case p.CoolDown <= 0 || p.MaxCoolDown < p.CoolDown:
		return fmt.Errorf("breaker cool-down must be positive and at most the maximum cool-down: %w", ErrInvalid)
	}
	return nil
}

// Trips reports whether attempts and failures counted over the window
// open a closed breaker.
func (p BreakerPolicy) Trips(s BreakerStats) bool {
	return s.Attempts >= p.MinAttempts && float64(s.Failures) >= p.FailureRate*float64(s.Attempts)
}

// CoolDownFor returns the cool-down of the n-th consecutive opening (1 is
// the first): CoolDown doubled n-1 times, at most MaxCoolDown.
func (p BreakerPolicy) CoolDownFor(n int) time.Duration {
	d := float64(p.CoolDown) * math.Pow(2, float64(max(n, 1)-1))
	if d > float64(p.MaxCoolDown) {
		return p.MaxCoolDown
	}
	return time.Duration(d)
}

// BreakerStats are the attempts a breaker decides on.
type BreakerStats struct {
	// Attempts and Failures were counted over Window.
	Attempts int
	Failures int
	Window   time.Duration
	// LastFailure describes the latest failure ("http_5xx: HTTP 503 …").
	LastFailure string
	// FailingSince is when the destination's current run of failures
	// began; nil if unknown.
	FailingSince *time.Time
}

// Rate returns Failures / Attempts, 0 without attempts.
func (s BreakerStats) Rate() float64 {
	if s.Attempts == 0 {
		return 0
	}
	return float64(s.Failures) / float64(s.Attempts)
}

// Stored type names of breaker events.
const (
	TypeBreakerOpened     = "breaker.opened.v1"
	TypeBreakerHalfOpened = "breaker.half_opened.v1"
	TypeBreakerClosed     = "breaker.closed.v1"
)

// BreakerOpened records that deliveries to a destination are held until
// ReopenAt, and why: the failures that tripped it, or a failed probe.
type BreakerOpened struct {
	DestinationID DestinationID `json:"destination_id"`
	Reason        string        `json:"reason"`
	// Attempts, Failures and FailureRate are the counts over the window
	// that tripped the breaker (those of the probe when one failed).
	Attempts      int     `json:"attempts"`
	Failures      int     `json:"failures"`
	FailureRate   float64 `json:"failure_rate"`
	WindowSeconds int     `json:"window_seconds"`
	// Opens counts consecutive openings since the breaker last closed.
	Opens    int       `json:"opens"`
	ReopenAt time.Time `json:"reopen_at"`
	// FailingSince is when the destination's current run of failures
	// began, if known.
	FailingSince *time.Time `json:"failing_since,omitempty"`
	At           time.Time  `json:"at"`
}

// BreakerHalfOpened records that the cool-down ended: one probe at a time
// may be sent.
type BreakerHalfOpened struct {
	DestinationID DestinationID `json:"destination_id"`
	Reason        string        `json:"reason"`
	At            time.Time     `json:"at"`
}

// BreakerClosed records that deliveries flow again: a probe succeeded, or
// the destination was resumed.
type BreakerClosed struct {
	DestinationID DestinationID `json:"destination_id"`
	Reason        string        `json:"reason"`
	At            time.Time     `json:"at"`
}

// EventType implements Event.
func (BreakerOpened) EventType() string { return TypeBreakerOpened }

// EventType implements Event.
func (BreakerHalfOpened) EventType() string { return TypeBreakerHalfOpened }

// EventType implements Event.
func (BreakerClosed) EventType() string { return TypeBreakerClosed }

// Breaker is a destination's circuit breaker. The zero value (with an
// id) is a closed breaker that never opened. Build it with ReplayBreaker
// or from the breakers read model; change it only through its decisions.
type Breaker struct {
	DestinationID DestinationID
	State         BreakerState
	// Reason says why the breaker entered its state; Since is when.
	Reason string
	Since  time.Time
	// Attempts, Failures, FailureRate and WindowSeconds are the counts of
	// the last opening.
	Attempts      int
	Failures      int
	FailureRate   float64
	WindowSeconds int
	// Opens counts consecutive openings since the breaker last closed.
	Opens int
	// ReopenAt is when an open breaker's cool-down ends.
	ReopenAt *time.Time
	// FailingSince is when the run of failures that opened it began.
	FailingSince *time.Time
	Version      int64
}

// NewBreaker returns the closed breaker of a destination that never
// opened.
func NewBreaker(id DestinationID) *Breaker {
	return &Breaker{DestinationID: id, State: BreakerStateClosed}
}

// Open decides to open the breaker: from closed when s trips policy p,
// from half_open when a probe failed (s describes it). It returns no
// events if the breaker is already open, or closed and not tripped.
func (b *Breaker) Open(p BreakerPolicy, s BreakerStats, now time.Time) []Event {
	var reason string
	switch b.state() {
	case BreakerStateOpen:
		return nil
	case BreakerStateClosed:
		if !p.Trips(s) {
			return nil
		}
		reason = fmt.Sprintf("%.0f%% of %d attempts failed in the last %s", 100*s.Rate(), s.Attempts, s.Window)
	case BreakerStateHalfOpen:
		reason = "probe failed"
	}
	if s.LastFailure != "" {
		reason += " (last: " + s.LastFailure + ")"
	}
	opens := b.Opens + 1
	return []Event{BreakerOpened{
		DestinationID: b.DestinationID, Reason: reason, Attempts: s.Attempts, Failures: s.Failures,
		FailureRate: s.Rate(), WindowSeconds: int(s.Window / time.Second), Opens: opens,
		ReopenAt: now.Add(p.CoolDownFor(opens)).UTC(), FailingSince: utcOrNil(s.FailingSince), At: now.UTC(),
	}}
}

// HalfOpen decides that an open breaker's cool-down is over at now. It
// returns no events otherwise.
func (b *Breaker) HalfOpen(now time.Time) []Event {
	if b.state() != BreakerStateOpen || b.ReopenAt == nil || now.Before(*b.ReopenAt) {
		return nil
	}
	return []Event{BreakerHalfOpened{
		DestinationID: b.DestinationID, Reason: "cool-down ended; probing with one delivery", At: now.UTC(),
	}}
}

// Close decides to close an open or half-open breaker with reason. It
// returns no events for a closed one.
func (b *Breaker) Close(reason string, now time.Time) []Event {
	if b.state() == BreakerStateClosed {
		return nil
	}
	return []Event{BreakerClosed{DestinationID: b.DestinationID, Reason: reason, At: now.UTC()}}
}

func (b *Breaker) state() BreakerState {
	if b.State == "" {
		return BreakerStateClosed
	}
	return b.State
}

// Apply folds one event into the breaker.
func (b *Breaker) Apply(e Event, version int64) {
	b.Version = version
	switch e := e.(type) {
	case BreakerOpened:
		reopen := e.ReopenAt
		b.DestinationID, b.State, b.Reason, b.Since = e.DestinationID, BreakerStateOpen, e.Reason, e.At
		b.Attempts, b.Failures, b.FailureRate, b.WindowSeconds = e.Attempts, e.Failures, e.FailureRate, e.WindowSeconds
		b.Opens, b.ReopenAt = e.Opens, &reopen
		if e.FailingSince != nil || b.FailingSince == nil {
			b.FailingSince = e.FailingSince
		}
	case BreakerHalfOpened:
		b.DestinationID, b.State, b.Reason, b.Since = e.DestinationID, BreakerStateHalfOpen, e.Reason, e.At
	case BreakerClosed:
		b.DestinationID, b.State, b.Reason, b.Since = e.DestinationID, BreakerStateClosed, e.Reason, e.At
		b.Opens, b.ReopenAt, b.FailingSince = 0, nil, nil
	}
}

// ReplayBreaker rebuilds a breaker from its recorded history.
func ReplayBreaker(id DestinationID, history []Recorded) (*Breaker, error) {
	b := NewBreaker(id)
	for _, r := range history {
		e, err := DecodeEvent(r.Type, r.Data)
		if err != nil {
			return nil, fmt.Errorf("replay breaker of %s at version %d: %w", id, r.Version, err)
		}
		b.Apply(e, r.Version)
	}
	return b, nil
}

// decodeBreakerEvent decodes the breaker events and hands every other
// type on to the re-encryption events.
func decodeBreakerEvent(typ string, data []byte) (Event, error) {
	var e Event
	var err error
	switch typ {
	case TypeBreakerOpened:
		e, err = decode[BreakerOpened](data)
	case TypeBreakerHalfOpened:
		e, err = decode[BreakerHalfOpened](data)
	case TypeBreakerClosed:
		e, err = decode[BreakerClosed](data)
	default:
		return decodeResealEvent(typ, data)
	}
	if err != nil {
		return nil, fmt.Errorf("decode %s: %w", typ, err)
	}
	return e, nil
}

func utcOrNil(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}
