package domain

import (
	"strings"
	"time"
	"unicode"
)

// Analytics limits and defaults.
const (
	// DefaultAnalyticsWindow is the range of an analytics query that names
	// neither end: the last 24 hours.
	DefaultAnalyticsWindow = 24 * time.Hour
	// MaxAnalyticsRange bounds an analytics query (400 days).
	MaxAnalyticsRange = 400 * 24 * time.Hour
	// AnalyticsRelativeAccuracy is the relative error bound of every
	// response-time percentile: the value returned for quantile q is within
	// 1% of the exact value at rank floor(q·(n−1)) of the n durations
	// counted (DDSketch guarantee, kept by merging).
	AnalyticsRelativeAccuracy = 0.01
)

// Granularity is the period of an analytics series.
type Granularity string

// Granularities. Every period is a whole UTC hour or day.
const (
	GranularityHour Granularity = "hour"
	GranularityDay  Granularity = "day"
)

// Period returns the length of one period.
func (g Granularity) Period() time.Duration {
	if g == GranularityDay {
		return 24 * time.Hour
	}
	return time.Hour
}

// AnalyticsRange is the time range of an analytics query, in whole periods
// of its granularity: From is the start of the first period and To the end
// of the last one (exclusive), both UTC.
type AnalyticsRange struct {
	From, To    time.Time
	Granularity Granularity
}

// NewAnalyticsRange checks a query's range and widens it to whole periods:
// from rounds down and to rounds up to the granularity's boundary in UTC.
// Zero from and to mean the DefaultAnalyticsWindow that ends at now; a zero
// from alone means DefaultAnalyticsWindow before to, a zero to alone means
// now. An empty granularity means GranularityHour. Problems come back as a
// *ValidationError (matching ErrInvalid): an unknown granularity, to before
// from, or a range longer than MaxAnalyticsRange.
func NewAnalyticsRange(from, to time.Time, g Granularity, now time.Time) (AnalyticsRange, error) {
	v := &ValidationError{}
	if g == "" {
		g = GranularityHour
	}
	if g != GranularityHour && g != GranularityDay {
		v.add("granularity", "must be hour or day")
	}
	if to.IsZero() {
		to = now
	}
	if from.IsZero() {
		from = to.Add(-DefaultAnalyticsWindow)
	}
	from, to = from.UTC(), to.UTC()
	switch {
	case to.Before(from):
		v.add("to", "must not be before from")
	case to.Sub(from) > MaxAnalyticsRange:
		v.add("to", "must be at most 400 days after from")
	}
	if err := v.err(); err != nil {
		return AnalyticsRange{}, err
	}
	p := g.Period()
	start := from.Truncate(p)
	end := to.Truncate(p)
	if end.Before(to) || !end.After(start) {
		end = end.Add(p)
	}
	return AnalyticsRange{From: start, To: end, Granularity: g}, nil
}

// Periods returns the start of every period of the range, in order.
func (r AnalyticsRange) Periods() []time.Time {
	p := r.Granularity.Period()
	var out []time.Time
	for t := r.From; t.Before(r.To); t = t.Add(p) {
		out = append(out, t)
	}
	return out
}

// AnalyticsErrors counts failed attempts by error category.
type AnalyticsErrors struct {
	HTTP3xx int64
	HTTP4xx int64
	HTTP5xx int64
	Timeout int64
	// Network counts network failures other than Blocked (DNS, connect,
	// TLS, other).
	Network int64
	// Blocked counts attempts refused before connecting: the SSRF guard or
	// the scheme check (network failures whose detail starts "blocked").
	Blocked int64
	// Other counts categories this version does not know.
	Other int64
}

// AnalyticsStats are the delivery statistics of one destination (or of
// all) over some hours. Counters count events of those hours.
type AnalyticsStats struct {
	// TotalDeliveries counts deliveries created (scheduled).
	TotalDeliveries int64
	// Attempts counts attempts made; FailedAttempts those that did not
	// deliver.
	Attempts, FailedAttempts int64
	// Delivered, Failed and PermanentFailures count deliveries that
	// finished so: Failed is the final "failed" (410 Gone, or cancelled
	// because the destination stopped being active), PermanentFailures the
	// dead letters (every retry used). A redriven delivery can finish again.
	Delivered, Failed, PermanentFailures int64
	// Retries counts retries scheduled after a failed attempt.
	Retries int64
	// Postponed counts attempts postponed by the destination's rate limit.
	Postponed int64
	// Redriven counts manual redrives.
	Redriven int64
	Errors   AnalyticsErrors
	// ResponseCount counts the attempts that reached the receiver (a
	// response arrived, or the attempt timed out); the response times
	// below describe them, in milliseconds as the sender measured them. All
	// are 0 when ResponseCount is.
	ResponseCount                               int64
	ResponseSumMS                               float64
	MinResponseMS, MaxResponseMS                float64
	P50ResponseMS, P95ResponseMS, P99ResponseMS float64
}

// Finished counts deliveries that reached a final status.
func (s AnalyticsStats) Finished() int64 { return s.Delivered + s.Failed + s.PermanentFailures }

// SuccessRate is Delivered / Finished, between 0 and 1; 0 when nothing
// finished.
func (s AnalyticsStats) SuccessRate() float64 {
	if f := s.Finished(); f > 0 {
		return float64(s.Delivered) / float64(f)
	}
	return 0
}

// AvgResponseMS is the mean response time; 0 when none was counted.
func (s AnalyticsStats) AvgResponseMS() float64 {
	if s.ResponseCount > 0 {
		return s.ResponseSumMS / float64(s.ResponseCount)
	}
	return 0
}

// AnalyticsPoint is one period of a series.
type AnalyticsPoint struct {
	Start time.Time
	AnalyticsStats
}

// DestinationAnalytics answers a per-destination analytics query: the
// summary of the whole range and one point per period, empty periods
// included as zeros.
type DestinationAnalytics struct {
	DestinationID DestinationID
	Range         AnalyticsRange
	Summary       AnalyticsStats
	Series        []AnalyticsPoint
}

// DestinationStats are one destination's statistics over a range.
type DestinationStats struct {
	DestinationID DestinationID
	Kind          DestinationKind
	AnalyticsStats
}

// AnalyticsOverview answers the query over every destination: the summary
// and the destinations with the most failed attempts and the highest p99
// response time.
type AnalyticsOverview struct {
	Range         AnalyticsRange
	Summary       AnalyticsStats
	Destinations  int
	TopByFailures []DestinationStats
	TopByP99      []DestinationStats
}

// ErrorClass names the analytics error class of an attempt's category and
// detail: "3xx", "4xx", "5xx", "timeout", "network", "blocked", "other",
// or "" for a successful attempt.
func ErrorClass(c ErrorCategory, detail string) string {
	switch c {
	case ErrorCategoryNone:
		return ""
	case ErrorCategoryHTTP3xx:
		return "3xx"
	case ErrorCategoryHTTP4xx:
		return "4xx"
	case ErrorCategoryHTTP5xx:
		return "5xx"
	case ErrorCategoryTimeout:
		return "timeout"
	case ErrorCategoryNetwork:
		word := detail
		if i := strings.IndexFunc(detail, func(r rune) bool { return !unicode.IsLetter(r) }); i >= 0 {
			word = detail[:i]
		}
		if word == NetworkDetailBlocked {
			return "blocked"
		}
		return "network"
	}
	return "other"
}
