package projections

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/DataDog/sketches-go/ddsketch"
	"github.com/DataDog/sketches-go/ddsketch/mapping"
	"github.com/DataDog/sketches-go/ddsketch/store"
	"github.com/jackc/pgx/v5"

	"github.com/loki-interceptor/lokihooks/domain"
)

// AnalyticsVersion is the definition version of the analytics projection.
// Raise it whenever a change to Analytics would build different rows from
// the same log (a new counter, another sketch mapping): the start-up check
// then rebuilds the projection into shadow tables (see Rebuild).
const AnalyticsVersion = 1

// AnalyticsTables are the tables the analytics projection owns.
var AnalyticsTables = []string{"analytics_hourly"}

// FirstEventsFunc returns the first event (version 1) of each of the given
// streams, on tx: eventstore.ReadFirst, which cmd wires in.
type FirstEventsFunc func(ctx context.Context, tx pgx.Tx, streamIDs []string) ([]domain.Recorded, error)

// Analytics is the analytics read model: one analytics_hourly row per
// destination and UTC hour, built from the delivery events by a Runner
// (checkpoint "analytics"). Each event counts in the hour of its own time.
//
// Project aggregates a whole batch in memory, so a row is written once per
// batch whatever the number of its events (which keeps a replay fast), and
// merges each row's response-time sketch with the stored one. Its counters
// are not versioned per delivery: it relies on the Runner committing the
// rows and the checkpoint in one transaction, so that a batch counts
// exactly once (a failed batch rolls back whole), and on a rebuild starting
// from empty tables.
//
// Response times go into a DDSketch with a logarithmic index mapping of
// relative accuracy domain.AnalyticsRelativeAccuracy (1%): any quantile of
// any merge of hours is within 1% of the exact value. DDSketch rather than
// HdrHistogram because its bound is relative at every magnitude without a
// configured range or unit (a 0.3 ms answer and a 30 s timeout get the same
// 1%), merging is adding bin counts, and an hour of a destination encodes in
// a few hundred bytes.
type Analytics struct {
	// First reads the scheduled event of deliveries that earlier batches
	// started (the attempt events do not name their destination). Required.
	First FirstEventsFunc
	// Cache, if set, remembers the destination of recent deliveries, so
	// that a live runner, which meets a delivery's attempts a batch or two
	// after its scheduled event, rarely calls First.
	Cache *DestinationCache
}

// DefaultDestinationCacheSize bounds a DestinationCache when its size is
// zero or negative.
const DefaultDestinationCacheSize = 100_000

// DestinationCache maps delivery ids to their destination. A delivery's
// destination never changes, so the cache is never stale whatever the
// fate of the transaction that filled it. It is safe for concurrent use.
type DestinationCache struct {
	mu   sync.Mutex
	size int
	m    map[string]destinationOf
}

// NewDestinationCache returns a cache of at most size deliveries
// (DefaultDestinationCacheSize when size <= 0); once full it starts over,
// which keeps the recent deliveries a live runner asks about.
func NewDestinationCache(size int) *DestinationCache {
	if size <= 0 {
		size = DefaultDestinationCacheSize
	}
	return &DestinationCache{size: size, m: make(map[string]destinationOf)}
}

func (c *DestinationCache) get(dests map[string]destinationOf, ids []string) []string {
	if c == nil {
		return ids
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	missing := ids[:0]
	for _, id := range ids {
		if d, ok := c.m[id]; ok {
			dests[id] = d
		} else {
			missing = append(missing, id)
		}
	}
	return missing
}

func (c *DestinationCache) put(dests map[string]destinationOf) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m)+len(dests) > c.size {
		c.m = make(map[string]destinationOf, len(dests))
	}
	maps.Copy(c.m, dests)
}

// destinationOf is what the scheduled event of a delivery says.
type destinationOf struct {
	id   string
	kind domain.DestinationKind
}

// Project applies the delivery events among events, ignoring every other
// event type, on tx.
func (a Analytics) Project(ctx context.Context, tx pgx.Tx, events []domain.Recorded) error {
	dests := make(map[string]destinationOf)
	var mine []domain.Recorded
	var decoded []any // mine's events, decoded once
	for _, r := range events {
		var e any
		var err error
		switch r.Type {
		case domain.TypeDeliveryAttempted:
			e, err = domain.DecodeAttemptFacts(r.Data) // most of a replay: only what is counted
		case domain.TypeDeliveryScheduled, domain.TypeDeliveryCancelled, domain.TypeDeliveryRedriven,
			domain.TypeDeliveryPostponed:
			e, err = domain.DecodeEvent(r.Type, r.Data)
		default:
			continue
		}
		if err != nil {
			return fmt.Errorf("project analytics of %s version %d: %w", r.StreamID, r.Version, err)
		}
		if sch, ok := e.(domain.DeliveryScheduled); ok {
			dests[r.StreamID] = destinationOf{id: string(sch.DestinationID), kind: sch.Kind}
		}
		mine, decoded = append(mine, r), append(decoded, e)
	}
	if len(mine) == 0 {
		return nil
	}
	if err := a.lookUp(ctx, tx, mine, dests); err != nil {
		return err
	}
	a.Cache.put(dests)
	b := make(analyticsBatch)
	for i, r := range mine {
		if err := b.add(r, decoded[i], dests[r.StreamID]); err != nil {
			return err
		}
	}
	return b.write(ctx, tx)
}

// Reset empties the analytics read model.
func (Analytics) Reset(ctx context.Context, tx pgx.Tx) error {
	if _, err := tx.Exec(ctx, `TRUNCATE analytics_hourly`); err != nil {
		return fmt.Errorf("reset analytics: %w", err)
	}
	return nil
}

// lookUp adds the destinations of deliveries whose scheduled event is not
// in the batch, read from the log itself.
func (a Analytics) lookUp(ctx context.Context, tx pgx.Tx, events []domain.Recorded, dests map[string]destinationOf) error {
	var missing []string
	seen := make(map[string]bool)
	for _, r := range events {
		if _, ok := dests[r.StreamID]; !ok && !seen[r.StreamID] {
			seen[r.StreamID] = true
			missing = append(missing, r.StreamID)
		}
	}
	if missing = a.Cache.get(dests, missing); len(missing) == 0 {
		return nil
	}
	if a.First == nil {
		return errors.New("project analytics: Analytics.First is nil")
	}
	firsts, err := a.First(ctx, tx, missing)
	if err != nil {
		return err
	}
	for _, r := range firsts {
		if r.Type != domain.TypeDeliveryScheduled {
			continue
		}
		e, err := decodeScheduled(r)
		if err != nil {
			return err
		}
		dests[r.StreamID] = destinationOf{id: string(e.DestinationID), kind: e.Kind}
	}
	for _, id := range missing {
		if _, ok := dests[id]; !ok {
			return fmt.Errorf("delivery %s: %w (its delivery.scheduled event was not found)", id, ErrGap)
		}
	}
	return nil
}

func decodeScheduled(r domain.Recorded) (domain.DeliveryScheduled, error) {
	e, err := domain.DecodeEvent(r.Type, r.Data)
	if err != nil {
		return domain.DeliveryScheduled{}, fmt.Errorf("project analytics of %s version %d: %w", r.StreamID, r.Version, err)
	}
	s, _ := e.(domain.DeliveryScheduled)
	return s, nil
}

// hourKey is one analytics_hourly row.
type hourKey struct {
	destination string
	hour        int64 // unix seconds of the UTC hour
}

// analyticsBatch aggregates a batch in memory, one hourStats per row.
type analyticsBatch map[hourKey]*hourStats

func (b analyticsBatch) add(r domain.Recorded, e any, dest destinationOf) error {
	var at time.Time
	switch e := e.(type) {
	case domain.DeliveryScheduled:
		at = e.At
	case domain.AttemptFacts:
		at = e.At
	case domain.DeliveryCancelled:
		at = e.At
	case domain.DeliveryRedriven:
		at = e.At
	case domain.DeliveryPostponed:
		at = e.At
	}
	key := hourKey{destination: dest.id, hour: eventTime(at, r).Unix() / 3600 * 3600}
	h := b[key]
	if h == nil {
		h = &hourStats{kind: dest.kind}
		b[key] = h
	}
	return h.count(e)
}

// hourStats are the statistics of one or more hours of one or more
// destinations: a row, a batch's share of a row, or a merge of rows.
type hourStats struct {
	kind domain.DestinationKind
	c    domain.AnalyticsStats // counters only: percentiles come from sketch
	// sumUS is the sum of response times in whole microseconds: integers
	// add up alike in any order, so a replay's rows equal the live ones
	// (floating-point sums would differ in their last bits).
	sumUS int64
	// min and max are valid when c.ResponseCount > 0.
	sketch *ddsketch.DDSketch
}

// newSketch returns an empty sketch with the analytics mapping. Every
// sketch must use the same mapping to merge.
func newSketch() *ddsketch.DDSketch {
	m, err := mapping.NewLogarithmicMapping(domain.AnalyticsRelativeAccuracy)
	if err != nil {
		panic(fmt.Sprintf("analytics sketch mapping: %v", err)) // a constant accuracy in (0, 1)
	}
	return ddsketch.NewDDSketch(m, store.NewDenseStore(), store.NewDenseStore())
}

// count adds one event (a domain.Event, or the facts of an attempt).
func (h *hourStats) count(e any) error {
	c := &h.c
	switch e := e.(type) {
	case domain.DeliveryScheduled:
		c.TotalDeliveries++
	case domain.DeliveryCancelled:
		c.Failed++
	case domain.DeliveryRedriven:
		c.Redriven++
	case domain.DeliveryPostponed:
		c.Postponed++
	case domain.AttemptFacts:
		c.Attempts++
		switch e.Status {
		case domain.DeliveryDelivered:
			c.Delivered++
		case domain.DeliveryRetrying:
			c.Retries++
		case domain.DeliveryPermanentFailure:
			c.PermanentFailures++
		case domain.DeliveryFailed:
			c.Failed++
		}
		if e.Status != domain.DeliveryDelivered {
			c.FailedAttempts++
		}
		countError(&c.Errors, domain.ErrorClass(e.ErrorCategory, e.ErrorDetail))
		if e.StatusCode > 0 || e.ErrorCategory == domain.ErrorCategoryTimeout {
			return h.addResponse(e.DurationMS)
		}
	}
	return nil
}

func countError(e *domain.AnalyticsErrors, class string) {
	switch class {
	case "":
	case "3xx":
		e.HTTP3xx++
	case "4xx":
		e.HTTP4xx++
	case "5xx":
		e.HTTP5xx++
	case "timeout":
		e.Timeout++
	case "network":
		e.Network++
	case "blocked":
		e.Blocked++
	default:
		e.Other++
	}
}

// addResponse counts one response time. A negative or NaN duration (a
// clock step) counts as zero.
func (h *hourStats) addResponse(ms float64) error {
	if !(ms >= 0) {
		ms = 0
	}
	c := &h.c
	if c.ResponseCount == 0 || ms < c.MinResponseMS {
		c.MinResponseMS = ms
	}
	if c.ResponseCount == 0 || ms > c.MaxResponseMS {
		c.MaxResponseMS = ms
	}
	c.ResponseCount++
	h.sumUS += int64(math.Round(ms * 1000))
	if h.sketch == nil {
		h.sketch = newSketch()
	}
	return h.sketch.Add(ms)
}

// merge adds o's counters and sketch to h.
func (h *hourStats) merge(o *hourStats) error {
	a, b := &h.c, &o.c
	if b.ResponseCount > 0 {
		if a.ResponseCount == 0 || b.MinResponseMS < a.MinResponseMS {
			a.MinResponseMS = b.MinResponseMS
		}
		if a.ResponseCount == 0 || b.MaxResponseMS > a.MaxResponseMS {
			a.MaxResponseMS = b.MaxResponseMS
		}
	}
	a.TotalDeliveries += b.TotalDeliveries
	a.Attempts += b.Attempts
	a.FailedAttempts += b.FailedAttempts
	a.Delivered += b.Delivered
	a.Failed += b.Failed
	a.PermanentFailures += b.PermanentFailures
	a.Retries += b.Retries
	a.Postponed += b.Postponed
	a.Redriven += b.Redriven
	a.Errors.HTTP3xx += b.Errors.HTTP3xx
	a.Errors.HTTP4xx += b.Errors.HTTP4xx
	a.Errors.HTTP5xx += b.Errors.HTTP5xx
	a.Errors.Timeout += b.Errors.Timeout
	a.Errors.Network += b.Errors.Network
	a.Errors.Blocked += b.Errors.Blocked
	a.Errors.Other += b.Errors.Other
	a.ResponseCount += b.ResponseCount
	h.sumUS += o.sumUS
	if o.sketch == nil {
		return nil
	}
	if h.sketch == nil {
		h.sketch = newSketch()
	}
	return h.sketch.MergeWith(o.sketch)
}

// mergeEncoded merges an encoded sketch into h's.
func (h *hourStats) mergeEncoded(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	if h.sketch == nil {
		h.sketch = newSketch()
	}
	if err := h.sketch.DecodeAndMergeWith(b); err != nil {
		return fmt.Errorf("decode response-time sketch: %w", err)
	}
	return nil
}

func (h *hourStats) encodedSketch() []byte {
	if h.sketch == nil || h.sketch.IsEmpty() {
		return nil
	}
	var b []byte
	h.sketch.Encode(&b, true) // the mapping is fixed by newSketch
	return b
}

// stats returns the counters with the percentiles read from the sketch,
// clamped to the exact minimum and maximum (which only brings them closer
// to the exact values).
func (h *hourStats) stats() domain.AnalyticsStats {
	s := h.c
	if s.ResponseCount == 0 || h.sketch == nil || h.sketch.IsEmpty() {
		s.MinResponseMS, s.MaxResponseMS = 0, 0
		return s
	}
	s.ResponseSumMS = float64(h.sumUS) / 1000
	q := func(p float64) float64 {
		v, err := h.sketch.GetValueAtQuantile(p)
		if err != nil || math.IsNaN(v) {
			return 0
		}
		return min(max(v, s.MinResponseMS), s.MaxResponseMS)
	}
	s.P50ResponseMS, s.P95ResponseMS, s.P99ResponseMS = q(0.50), q(0.95), q(0.99)
	return s
}

const (
	selectSketches = `SELECT destination_id, hour, response_sketch FROM analytics_hourly
		WHERE (destination_id, hour) IN (SELECT * FROM unnest($1::text[], $2::timestamptz[]))
		  AND response_sketch IS NOT NULL`

	// upsertHours adds a batch's counts to the rows; the sketch was merged
	// with the stored one in Go.
	upsertHours = `INSERT INTO analytics_hourly AS a (destination_id, hour, kind, created, attempts, delivered,
			failed_attempts, retries, permanent_failures, failed, postponed, redriven, errors_3xx, errors_4xx,
			errors_5xx, errors_timeout, errors_network, errors_blocked, errors_other, response_count,
			response_sum_us, response_min_ms, response_max_ms, response_sketch)
		SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::bigint[], $5::bigint[], $6::bigint[],
			$7::bigint[], $8::bigint[], $9::bigint[], $10::bigint[], $11::bigint[], $12::bigint[], $13::bigint[],
			$14::bigint[], $15::bigint[], $16::bigint[], $17::bigint[], $18::bigint[], $19::bigint[], $20::bigint[],
			$21::bigint[], $22::float8[], $23::float8[], $24::bytea[])
		ON CONFLICT (destination_id, hour) DO UPDATE SET
			created = a.created + excluded.created, attempts = a.attempts + excluded.attempts,
			delivered = a.delivered + excluded.delivered, failed_attempts = a.failed_attempts + excluded.failed_attempts,
			retries = a.retries + excluded.retries,
			permanent_failures = a.permanent_failures + excluded.permanent_failures,
			failed = a.failed + excluded.failed, postponed = a.postponed + excluded.postponed,
			redriven = a.redriven + excluded.redriven, errors_3xx = a.errors_3xx + excluded.errors_3xx,
			errors_4xx = a.errors_4xx + excluded.errors_4xx, errors_5xx = a.errors_5xx + excluded.errors_5xx,
			errors_timeout = a.errors_timeout + excluded.errors_timeout,
			errors_network = a.errors_network + excluded.errors_network,
			errors_blocked = a.errors_blocked + excluded.errors_blocked,
			errors_other = a.errors_other + excluded.errors_other,
			response_count = a.response_count + excluded.response_count,
			response_sum_us = a.response_sum_us + excluded.response_sum_us,
			response_min_ms = least(a.response_min_ms, excluded.response_min_ms),
			response_max_ms = greatest(a.response_max_ms, excluded.response_max_ms),
			response_sketch = coalesce(excluded.response_sketch, a.response_sketch)`
)

// write merges the batch's sketches with the stored ones and upserts every
// row, in two statements.
func (b analyticsBatch) write(ctx context.Context, tx pgx.Tx) error {
	keys := slices.SortedFunc(maps.Keys(b), func(x, y hourKey) int {
		return cmp.Or(cmp.Compare(x.destination, y.destination), cmp.Compare(x.hour, y.hour))
	})
	if err := b.mergeStored(ctx, tx, keys); err != nil {
		return err
	}
	n := len(keys)
	dest, kind := make([]string, n), make([]string, n)
	hour := make([]time.Time, n)
	cols := make([][]int64, 17)
	for i := range cols {
		cols[i] = make([]int64, n)
	}
	sum := make([]int64, n)
	minMS, maxMS := make([]*float64, n), make([]*float64, n)
	sketch := make([][]byte, n)
	for i, k := range keys {
		h := b[k]
		c := &h.c
		dest[i], kind[i], hour[i] = k.destination, string(h.kind), time.Unix(k.hour, 0).UTC()
		for j, v := range []int64{
			c.TotalDeliveries, c.Attempts, c.Delivered, c.FailedAttempts, c.Retries,
			c.PermanentFailures, c.Failed, c.Postponed, c.Redriven, c.Errors.HTTP3xx, c.Errors.HTTP4xx,
			c.Errors.HTTP5xx, c.Errors.Timeout, c.Errors.Network, c.Errors.Blocked, c.Errors.Other, c.ResponseCount,
		} {
			cols[j][i] = v
		}
		sum[i] = h.sumUS
		if c.ResponseCount > 0 {
			minMS[i], maxMS[i] = &c.MinResponseMS, &c.MaxResponseMS
		}
		sketch[i] = h.encodedSketch()
	}
	args := []any{dest, hour, kind}
	for _, c := range cols {
		args = append(args, c)
	}
	args = append(args, sum, minMS, maxMS, sketch)
	if _, err := tx.Exec(ctx, upsertHours, args...); err != nil {
		return fmt.Errorf("write %d analytics rows: %w", n, err)
	}
	return nil
}

// mergeStored merges the stored sketch of every row the batch has response
// times for into the batch's.
func (b analyticsBatch) mergeStored(ctx context.Context, tx pgx.Tx, keys []hourKey) error {
	var dest []string
	var hour []time.Time
	for _, k := range keys {
		if b[k].sketch != nil {
			dest, hour = append(dest, k.destination), append(hour, time.Unix(k.hour, 0).UTC())
		}
	}
	if len(dest) == 0 {
		return nil
	}
	rows, err := tx.Query(ctx, selectSketches, dest, hour)
	if err != nil {
		return fmt.Errorf("read analytics sketches: %w", err)
	}
	var id string
	var at time.Time
	var enc []byte
	_, err = pgx.ForEachRow(rows, []any{&id, &at, &enc}, func() error {
		return b[hourKey{destination: id, hour: at.Unix()}].mergeEncoded(enc)
	})
	if err != nil {
		return fmt.Errorf("read analytics sketches: %w", err)
	}
	return nil
}

// Queries.

const (
	analyticsColumns = `destination_id, kind, hour, created, attempts, delivered, failed_attempts, retries,
		permanent_failures, failed, postponed, redriven, errors_3xx, errors_4xx, errors_5xx, errors_timeout,
		errors_network, errors_blocked, errors_other, response_count, response_sum_us,
		coalesce(response_min_ms, 0), coalesce(response_max_ms, 0), response_sketch`
	selectDestinationHours = `SELECT ` + analyticsColumns + ` FROM analytics_hourly
		WHERE destination_id = $1 AND hour >= $2 AND hour < $3 ORDER BY hour`
	selectAllHours = `SELECT ` + analyticsColumns + ` FROM analytics_hourly
		WHERE hour >= $1 AND hour < $2 ORDER BY destination_id, hour`
)

// DefaultTopDestinations is how many destinations AnalyticsOverview ranks.
const DefaultTopDestinations = 10

// DestinationAnalytics returns a destination's statistics over r: the
// summary is the merge of every hour of r, and the series has one point per
// period of r's granularity (the merge of its hours), empty periods
// included as zeros. An unknown destination has only zeros.
func DestinationAnalytics(ctx context.Context, db DB, id domain.DestinationID, r domain.AnalyticsRange) (*domain.DestinationAnalytics, error) {
	periods := r.Periods()
	buckets := make([]hourStats, len(periods))
	var summary hourStats
	p := r.Granularity.Period()
	err := scanHours(ctx, db, selectDestinationHours, []any{string(id), r.From, r.To}, func(_ string, hour time.Time, h *hourStats) error {
		i := int(hour.Sub(r.From) / p)
		if i < 0 || i >= len(buckets) {
			return nil
		}
		return errors.Join(buckets[i].merge(h), summary.merge(h))
	})
	if err != nil {
		return nil, fmt.Errorf("analytics of %s: %w", id, err)
	}
	out := &domain.DestinationAnalytics{
		DestinationID: id, Range: r, Summary: summary.stats(),
		Series: make([]domain.AnalyticsPoint, len(periods)),
	}
	for i, start := range periods {
		out.Series[i] = domain.AnalyticsPoint{Start: start, AnalyticsStats: buckets[i].stats()}
	}
	return out, nil
}

// AnalyticsOverview returns the statistics of every destination over r
// (Range.Granularity plays no part): the summary, and the top destinations
// (at most top; DefaultTopDestinations when top <= 0) by failed attempts
// and by p99 response time. Ties rank by destination id.
func AnalyticsOverview(ctx context.Context, db DB, r domain.AnalyticsRange, top int) (*domain.AnalyticsOverview, error) {
	if top <= 0 {
		top = DefaultTopDestinations
	}
	var summary hourStats
	var per []domain.DestinationStats
	var cur *hourStats
	curID := ""
	flush := func() {
		if cur != nil {
			per = append(per, domain.DestinationStats{
				DestinationID: domain.DestinationID(curID), Kind: cur.kind, AnalyticsStats: cur.stats(),
			})
		}
	}
	err := scanHours(ctx, db, selectAllHours, []any{r.From, r.To}, func(dest string, _ time.Time, h *hourStats) error {
		if cur == nil || dest != curID {
			flush()
			cur, curID = &hourStats{kind: h.kind}, dest
		}
		return errors.Join(cur.merge(h), summary.merge(h))
	})
	if err != nil {
		return nil, fmt.Errorf("analytics overview: %w", err)
	}
	flush()
	out := &domain.AnalyticsOverview{Range: r, Summary: summary.stats(), Destinations: len(per)}
	out.TopByFailures = topBy(per, top, func(s domain.DestinationStats) float64 { return float64(s.FailedAttempts) })
	out.TopByP99 = topBy(per, top, func(s domain.DestinationStats) float64 { return s.P99ResponseMS })
	return out, nil
}

// topBy returns up to n destinations with the highest positive key.
func topBy(all []domain.DestinationStats, n int, key func(domain.DestinationStats) float64) []domain.DestinationStats {
	var out []domain.DestinationStats
	for _, s := range all {
		if key(s) > 0 {
			out = append(out, s)
		}
	}
	slices.SortStableFunc(out, func(a, b domain.DestinationStats) int {
		return cmp.Or(cmp.Compare(key(b), key(a)), cmp.Compare(a.DestinationID, b.DestinationID))
	})
	return out[:min(n, len(out))]
}

// scanHours runs an analytics_hourly query and calls fn for every row.
func scanHours(ctx context.Context, db DB, query string, args []any, fn func(dest string, hour time.Time, h *hourStats) error) error {
	rows, err := db.Query(ctx, query, args...)
	if err != nil {
		return err
	}
	var dest, kind string
	var hour time.Time
	var h hourStats
	c := &h.c
	var enc []byte
	_, err = pgx.ForEachRow(rows, []any{
		&dest, &kind, &hour, &c.TotalDeliveries, &c.Attempts, &c.Delivered,
		&c.FailedAttempts, &c.Retries, &c.PermanentFailures, &c.Failed, &c.Postponed, &c.Redriven,
		&c.Errors.HTTP3xx, &c.Errors.HTTP4xx, &c.Errors.HTTP5xx, &c.Errors.Timeout, &c.Errors.Network,
		&c.Errors.Blocked, &c.Errors.Other, &c.ResponseCount, &h.sumUS, &c.MinResponseMS,
		&c.MaxResponseMS, &enc,
	}, func() error {
		h.kind, h.sketch = domain.DestinationKind(kind), nil
		if err := h.mergeEncoded(enc); err != nil {
			return err
		}
		return fn(dest, hour.UTC(), &h)
	})
	return err
}
