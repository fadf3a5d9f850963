package projections

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/loki-interceptor/lokihooks/domain"
)

// Deliveries is the deliveries read model: one deliveries row per delivery
// stream and one delivery_attempts row per attempt, built from the event log
// by a Runner (checkpoint "deliveries"). It also keeps
// webhooks.last_triggered_at, the time of a webhook's latest attempt.
//
// Project is idempotent and version-aware: an event at or below its
// delivery row's version changes nothing, so a replayed batch is harmless.
// The event store guarantees that a stream's versions appear in the log in
// version order, so an event never arrives before its predecessor. If one
// ever does (a version gap, or an event for a delivery whose row does not
// exist), Project fails with ErrGap instead of skipping it: the runner
// then stops at that batch and says so at Error level.
type Deliveries struct{}

// Project applies the delivery events among events, ignoring every other
// event type, on tx. It sends all of its statements in one pgx batch (one
// round trip): deliveries that start in the slice are folded into one
// insert; the events of the others are grouped into rounds, the n-th round
// holding the n-th event (by version) of every such delivery, and each
// round issues at most one multi-row statement per event type.
//
// An attempt_excerpts.redacted.v1 event clears the excerpts that attempts
// recorded before payload rows existed hold in the read model (later
// attempts keep theirs in payload rows, which retention deletes). It
// applies exactly where it stands in the log, so a replay, whatever its
// batches, clears the same attempts as the live runner did.
func (d Deliveries) Project(ctx context.Context, tx pgx.Tx, events []domain.Recorded) error {
	for {
		i := slices.IndexFunc(events, func(r domain.Recorded) bool { return r.Type == domain.TypeAttemptExcerptsRedacted })
		if i < 0 {
			return d.project(ctx, tx, events)
		}
		if err := d.project(ctx, tx, events[:i]); err != nil {
			return err
		}
		if err := redactInline(ctx, tx, events[i]); err != nil {
			return err
		}
		events = events[i+1:]
	}
}

// redactInlineSQL matches delivery_attempts_inline_excerpts_idx.
const redactInlineSQL = `UPDATE delivery_attempts SET request_headers = '{}', response_headers = '{}', response_body = ''
	WHERE payload_id IS NULL AND attempted_at < $1
	  AND (response_body <> '' OR request_headers <> '{}' OR response_headers <> '{}')`

func redactInline(ctx context.Context, tx pgx.Tx, r domain.Recorded) error {
	e, err := domain.DecodeEvent(r.Type, r.Data)
	if err != nil {
		return fmt.Errorf("project %s at %d: %w", r.Type, r.Position, err)
	}
	if _, err := tx.Exec(ctx, redactInlineSQL, e.(domain.AttemptExcerptsRedacted).Before); err != nil {
		return fmt.Errorf("redact attempt excerpts: %w", err)
	}
	return nil
}

func (Deliveries) project(ctx context.Context, tx pgx.Tx, events []domain.Recorded) error {
	folded, rounds, err := deliveryRounds(events)
	if err != nil || (len(rounds) == 0 && folded.empty()) {
		return err
	}
	if rounds, err = dropApplied(ctx, tx, rounds); err != nil {
		return err
	}
	b := &pgx.Batch{}
	folded.queue(b)
	for i := range rounds {
		rounds[i].queue(b)
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("project %d delivery events: %w", len(events), err)
	}
	return nil
}

// Reset empties the deliveries read model; it is the RunnerConfig.Reset of
// a rebuild. webhooks.last_triggered_at is left alone: replaying the same
// attempts yields the same maximum.
func (Deliveries) Reset(ctx context.Context, tx pgx.Tx) error {
	if _, err := tx.Exec(ctx, `TRUNCATE deliveries, delivery_attempts`); err != nil {
		return fmt.Errorf("reset deliveries: %w", err)
	}
	return nil
}

// RefreshLastTriggered moves every webhook's last_triggered_at forward to
// its latest attempt in delivery_attempts (one index lookup per webhook).
// It is the AfterSwap of a deliveries rebuild, whose projector wrote
// last_triggered_at only to a stand-in.
func (Deliveries) RefreshLastTriggered(ctx context.Context, tx pgx.Tx) error {
	const refresh = `UPDATE webhooks w SET last_triggered_at = m.at
		FROM (SELECT id, (SELECT max(a.attempted_at) FROM delivery_attempts a WHERE a.destination_id = webhooks.id) AS at
			FROM webhooks) m
		WHERE w.id = m.id AND m.at > coalesce(w.last_triggered_at, '-infinity')`
	if _, err := tx.Exec(ctx, refresh); err != nil {
		return fmt.Errorf("refresh last_triggered_at: %w", err)
	}
	return nil
}

// ErrGap reports a delivery event that arrived before an earlier version
// of its stream: applying it would lose the earlier one for good.
var ErrGap = errors.New("delivery event arrived before an earlier version of its stream")

const selectVersions = `SELECT id, version FROM deliveries WHERE id = ANY($1::text[])`

// dropApplied reads the current version of every delivery the rounds touch,
// drops events already applied (a replayed batch), and fails with ErrGap
// when a stream's next event is not the row's version + 1.
func dropApplied(ctx context.Context, tx pgx.Tx, rounds []deliveryRound) ([]deliveryRound, error) {
	if len(rounds) == 0 {
		return nil, nil
	}
	firsts := rounds[0].streams()
	rows, err := tx.Query(ctx, selectVersions, firsts)
	if err != nil {
		return nil, fmt.Errorf("read delivery versions: %w", err)
	}
	current := make(map[string]int64, len(firsts))
	var id string
	var v int64
	_, err = pgx.ForEachRow(rows, []any{&id, &v}, func() error { current[id] = v; return nil })
	if err != nil {
		return nil, fmt.Errorf("read delivery versions: %w", err)
	}
	next := make(map[string]int64, len(firsts)) // the version each stream may apply next
	for _, id := range firsts {
		v, ok := current[id]
		if !ok {
			return nil, fmt.Errorf("delivery %s: %w (its delivery.scheduled event was never applied)", id, ErrGap)
		}
		next[id] = v + 1
	}
	out := make([]deliveryRound, 0, len(rounds))
	for _, r := range rounds {
		kept, err := r.keep(next)
		if err != nil {
			return nil, err
		}
		if !kept.empty() {
			out = append(out, kept)
		}
	}
	return out, nil
}

// deliveryRounds sorts the delivery events of a batch into rounds in which
// each delivery appears at most once, so that a multi-row UPDATE never meets
// the same row twice. Within a stream events are applied by version, and a
// version repeated in the slice is applied once.
//
// A delivery whose whole history starts in the batch (its scheduled event
// is in it) is folded instead: its final row is inserted once, which spares
// an update (and its index entries) per later event. Every new delivery
// goes this way; its later events fold in too when they land in the same
// batch (the projector waits RunnerConfig.PollInterval once caught up, so
// fast deliveries often do).
func deliveryRounds(events []domain.Recorded) (*foldedRows, []deliveryRound, error) {
	byStream := make(map[string][]domain.Recorded)
	for _, r := range events {
		switch r.Type {
		case domain.TypeDeliveryScheduled, domain.TypeDeliveryAttempted,
			domain.TypeDeliveryCancelled, domain.TypeDeliveryRedriven, domain.TypeDeliveryPostponed:
			byStream[r.StreamID] = append(byStream[r.StreamID], r)
		}
	}
	var rounds []deliveryRound
	folded := &foldedRows{}
	// Sorted stream ids make the row order of every statement deterministic.
	for _, id := range slices.Sorted(maps.Keys(byStream)) {
		evs := byStream[id]
		slices.SortStableFunc(evs, func(a, b domain.Recorded) int { return cmp.Compare(a.Version, b.Version) })
		evs = slices.CompactFunc(evs, func(a, b domain.Recorded) bool { return a.Version == b.Version })
		if evs[0].Version == 1 && evs[0].Type == domain.TypeDeliveryScheduled {
			if err := folded.add(evs); err != nil {
				return nil, nil, err
			}
			continue
		}
		for i, r := range evs {
			if i == len(rounds) {
				rounds = append(rounds, deliveryRound{})
			}
			if err := rounds[i].add(r); err != nil {
				return nil, nil, err
			}
		}
	}
	return folded, rounds, nil
}

// foldedRows are deliveries projected from their whole history at once.
type foldedRows struct {
	rows     []domain.DeliveryView
	attempts attemptedRows
	// destination and event type of each attempt, parallel to attempts.
	attemptDestination, attemptType []string
}

func (f *foldedRows) empty() bool { return len(f.rows) == 0 }

// add folds one delivery's events (version 1 first) into its final row.
func (f *foldedRows) add(evs []domain.Recorded) error {
	var d domain.DeliveryView
	for _, r := range evs {
		e, err := domain.DecodeEvent(r.Type, r.Data)
		if err != nil {
			return fmt.Errorf("project delivery %s version %d: %w", r.StreamID, r.Version, err)
		}
		d.Version = r.Version
		switch e := e.(type) {
		case domain.DeliveryScheduled:
			at := eventTime(e.At, r)
			d.ID, d.DestinationID, d.Kind = domain.DeliveryID(r.StreamID), e.DestinationID, e.Kind
			d.EventID, d.EventType = e.EventID, e.Type
			d.Status, d.CreatedAt, d.UpdatedAt = domain.DeliveryPending, at, at
		case domain.DeliveryAttempted:
			at := eventTime(e.At, r)
			d.Status, d.Attempts = e.Status, max(d.Attempts, e.Attempt)
			d.LastStatusCode, d.LastErrorCategory, d.LastErrorDetail = e.StatusCode, e.ErrorCategory, e.ErrorDetail
			d.LastDurationMS, d.NextAttemptAt, d.UpdatedAt = e.DurationMS, e.NextAttemptAt, at
			if e.Status == domain.DeliveryDelivered {
				d.DeliveredAt = &at
			}
			if err := f.attempts.add(r, e); err != nil {
				return err
			}
			f.attemptDestination = append(f.attemptDestination, string(d.DestinationID))
			f.attemptType = append(f.attemptType, d.EventType)
		case domain.DeliveryCancelled:
			d.Status, d.LastErrorDetail, d.NextAttemptAt, d.UpdatedAt = domain.DeliveryFailed, e.Reason, nil, eventTime(e.At, r)
		case domain.DeliveryRedriven:
			d.Status, d.NextAttemptAt, d.UpdatedAt = domain.DeliveryPending, nil, eventTime(e.At, r)
		case domain.DeliveryPostponed:
			until := e.Until
			d.NextAttemptAt, d.UpdatedAt = &until, eventTime(e.At, r)
		}
	}
	f.rows = append(f.rows, d)
	return nil
}

func (f *foldedRows) queue(b *pgx.Batch) {
	if f.empty() {
		return
	}
	n := len(f.rows)
	id, dest, kind, event, typ, status := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	attempts, code := make([]int32, n), make([]int32, n)
	category, detail := make([]string, n), make([]string, n)
	duration := make([]float64, n)
	next, delivered := make([]*time.Time, n), make([]*time.Time, n)
	created, updated := make([]time.Time, n), make([]time.Time, n)
	version := make([]int64, n)
	for i, d := range f.rows {
		id[i], dest[i], kind[i], event[i], typ[i], status[i] = string(d.ID), string(d.DestinationID), string(d.Kind), string(d.EventID), d.EventType, string(d.Status)
		attempts[i], code[i], category[i], detail[i] = int32(d.Attempts), int32(d.LastStatusCode), string(d.LastErrorCategory), d.LastErrorDetail
		duration[i], next[i], delivered[i] = d.LastDurationMS, d.NextAttemptAt, d.DeliveredAt
		created[i], updated[i], version[i] = d.CreatedAt, d.UpdatedAt, d.Version
	}
	b.Queue(insertFolded, id, dest, event, typ, status, attempts, code, category, detail, duration,
		next, created, updated, delivered, version, kind)
	if a := &f.attempts; len(a.id) > 0 {
		b.Queue(insertAttempts, a.id, a.attempt, f.attemptDestination, f.attemptType, a.status, a.statusCode,
			a.errorCategory, a.errorDetail, a.durationMS, a.requestHeaders, a.responseHeaders, a.responseBody,
			a.truncated, a.nextAttemptAt, a.at, a.payloadID)
		b.Queue(touchWebhooks, f.attemptDestination, a.at)
	}
}

// deliveryRound holds the column arrays of one round, one group per event
// type; each group becomes one statement over unnest()ed arrays.
type deliveryRound struct {
	events    []domain.Recorded
	attempted attemptedRows
	cancelled cancelledRows
	redriven  redrivenRows
	postponed redrivenRows // id, at = until, version
}

func (d *deliveryRound) empty() bool { return len(d.events) == 0 }

// streams lists the delivery ids of the round.
func (d *deliveryRound) streams() []string {
	out := make([]string, len(d.events))
	for i, r := range d.events {
		out[i] = r.StreamID
	}
	return out
}

// keep returns the round without events already applied, advancing next
// (the version each stream may apply next); an event past next is a gap.
func (d *deliveryRound) keep(next map[string]int64) (deliveryRound, error) {
	var out deliveryRound
	for _, r := range d.events {
		want, ok := next[r.StreamID]
		switch {
		case !ok:
			return out, fmt.Errorf("delivery %s version %d: %w", r.StreamID, r.Version, ErrGap)
		case r.Version < want:
			continue // applied before: a replayed batch
		case r.Version > want:
			return out, fmt.Errorf("delivery %s: version %d arrived while %d is the next to apply: %w", r.StreamID, r.Version, want, ErrGap)
		}
		next[r.StreamID] = want + 1
		if err := out.add(r); err != nil {
			return out, err
		}
	}
	return out, nil
}

func (d *deliveryRound) add(r domain.Recorded) error {
	d.events = append(d.events, r)
	e, err := domain.DecodeEvent(r.Type, r.Data)
	if err != nil {
		return fmt.Errorf("project delivery %s version %d: %w", r.StreamID, r.Version, err)
	}
	// A scheduled event is always version 1, so its stream is folded and
	// never reaches a round.
	switch e := e.(type) {
	case domain.DeliveryAttempted:
		return d.attempted.add(r, e)
	case domain.DeliveryCancelled:
		d.cancelled.add(r, e)
	case domain.DeliveryRedriven:
		d.redriven.add(r, e)
	case domain.DeliveryPostponed:
		d.postponed.add(r, domain.DeliveryRedriven{At: e.Until})
	}
	return nil
}

func (d *deliveryRound) queue(b *pgx.Batch) {
	if len(d.attempted.id) > 0 {
		a := &d.attempted
		b.Queue(applyAttempted, a.id, a.version, a.attempt, a.status, a.statusCode, a.errorCategory,
			a.errorDetail, a.durationMS, a.requestHeaders, a.responseHeaders, a.responseBody, a.truncated,
			a.nextAttemptAt, a.at, a.payloadID)
	}
	if len(d.cancelled.id) > 0 {
		c := &d.cancelled
		b.Queue(applyCancelled, c.id, c.reason, c.at, c.version)
	}
	if len(d.redriven.id) > 0 {
		r := &d.redriven
		b.Queue(applyRedriven, r.id, r.at, r.version)
	}
	if len(d.postponed.id) > 0 {
		p := &d.postponed
		b.Queue(applyPostponed, p.id, p.at, p.version)
	}
}

// eventTime is the event's own time, or the time it was recorded for an
// event that carries none.
func eventTime(at time.Time, r domain.Recorded) time.Time {
	if at.IsZero() {
		return r.RecordedAt
	}
	return at
}

const (
	// insertFolded writes deliveries projected from their whole history; a
	// row already at that version or later (a replay) is left alone.
	insertFolded = `INSERT INTO deliveries AS d (id, destination_id, kind, event_id, event_type, status, attempts,
			last_status_code, last_error_category, last_error_detail, last_duration_ms, next_attempt_at,
			created_at, updated_at, delivered_at, version)
		SELECT u.id, u.destination_id, u.kind, u.event_id, u.event_type, u.status, u.attempts, nullif(u.code, 0),
			nullif(u.category, ''), nullif(u.detail, ''), CASE WHEN u.attempts > 0 THEN u.duration END,
			u.next, u.created, u.updated, u.delivered, u.version
		FROM unnest($1::text[], $2::text[], $16::text[], $3::text[], $4::text[], $5::text[], $6::int[], $7::int[],
			$8::text[], $9::text[], $10::float8[], $11::timestamptz[], $12::timestamptz[], $13::timestamptz[],
			$14::timestamptz[], $15::bigint[])
			AS u(id, destination_id, kind, event_id, event_type, status, attempts, code, category, detail, duration,
				next, created, updated, delivered, version)
		ON CONFLICT (id) DO UPDATE SET status = excluded.status, attempts = excluded.attempts,
			last_status_code = excluded.last_status_code, last_error_category = excluded.last_error_category,
			last_error_detail = excluded.last_error_detail, last_duration_ms = excluded.last_duration_ms,
			next_attempt_at = excluded.next_attempt_at, updated_at = excluded.updated_at,
			delivered_at = excluded.delivered_at, version = excluded.version
		WHERE d.version < excluded.version`

	// insertAttempts records the attempts of folded deliveries.
	insertAttempts = `INSERT INTO delivery_attempts (delivery_id, attempt, destination_id, event_type, status,
			status_code, error_category, error_detail, duration_ms, request_headers, response_headers,
			response_body, truncated, next_attempt_at, attempted_at, payload_id)
		SELECT u.id, u.attempt, u.destination_id, u.event_type, u.status, nullif(u.status_code, 0),
			nullif(u.error_category, ''), nullif(u.error_detail, ''), u.duration_ms,
			u.request_headers::jsonb, u.response_headers::jsonb, u.response_body, u.truncated,
			u.next_attempt_at, u.at, nullif(u.payload_id, 0)
		FROM unnest($1::text[], $2::int[], $3::text[], $4::text[], $5::text[], $6::int[], $7::text[],
			$8::text[], $9::float8[], $10::text[], $11::text[], $12::text[], $13::bool[],
			$14::timestamptz[], $15::timestamptz[], $16::bigint[])
			AS u(id, attempt, destination_id, event_type, status, status_code, error_category, error_detail,
				duration_ms, request_headers, response_headers, response_body, truncated, next_attempt_at, at,
				payload_id)
		ON CONFLICT (delivery_id, attempt) DO NOTHING`

	// touchWebhooks moves last_triggered_at forward to the latest attempt.
	touchWebhooks = `UPDATE webhooks w SET last_triggered_at = greatest(coalesce(w.last_triggered_at, m.at), m.at)
		FROM (SELECT destination_id, max(at) AS at FROM unnest($1::text[], $2::timestamptz[]) AS u(destination_id, at)
			GROUP BY destination_id) m
		WHERE w.id = m.destination_id`

	// applyAttempted is one statement for the three effects of an attempt.
	// Data-modifying CTEs all see the rows as they were before the
	// statement, so the version check in "applied" decides for the attempt
	// row and the webhook too: a replayed attempt changes nothing.
	applyAttempted = `WITH u AS (
			SELECT * FROM unnest($1::text[], $2::bigint[], $3::int[], $4::text[], $5::int[], $6::text[],
				$7::text[], $8::float8[], $9::text[], $10::text[], $11::text[], $12::bool[],
				$13::timestamptz[], $14::timestamptz[], $15::bigint[])
				AS t(id, version, attempt, status, status_code, error_category, error_detail, duration_ms,
					request_headers, response_headers, response_body, truncated, next_attempt_at, at, payload_id)
		), applied AS (
			UPDATE deliveries d SET
				status = u.status,
				attempts = greatest(d.attempts, u.attempt),
				last_status_code = nullif(u.status_code, 0),
				last_error_category = nullif(u.error_category, ''),
				last_error_detail = nullif(u.error_detail, ''),
				last_duration_ms = u.duration_ms,
				next_attempt_at = u.next_attempt_at,
				updated_at = u.at,
				delivered_at = CASE WHEN u.status = 'delivered' THEN u.at ELSE d.delivered_at END,
				version = u.version
			FROM u
			WHERE d.id = u.id AND d.version < u.version
			RETURNING d.id, d.destination_id, d.event_type
		), attempts AS (
			INSERT INTO delivery_attempts (delivery_id, attempt, destination_id, event_type, status, status_code,
				error_category, error_detail, duration_ms, request_headers, response_headers, response_body,
				truncated, next_attempt_at, attempted_at, payload_id)
			SELECT u.id, u.attempt, a.destination_id, a.event_type, u.status, nullif(u.status_code, 0),
				nullif(u.error_category, ''), nullif(u.error_detail, ''), u.duration_ms,
				u.request_headers::jsonb, u.response_headers::jsonb, u.response_body, u.truncated,
				u.next_attempt_at, u.at, nullif(u.payload_id, 0)
			FROM u JOIN applied a ON a.id = u.id
			ON CONFLICT (delivery_id, attempt) DO NOTHING
		)
		UPDATE webhooks w SET last_triggered_at = greatest(coalesce(w.last_triggered_at, m.at), m.at)
		FROM (SELECT a.destination_id, max(u.at) AS at FROM applied a JOIN u ON u.id = a.id GROUP BY a.destination_id) m
		WHERE w.id = m.destination_id`

	applyCancelled = `UPDATE deliveries d SET
			status = 'failed', last_error_detail = u.reason, next_attempt_at = NULL,
			updated_at = u.at, version = u.version
		FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::bigint[]) AS u(id, reason, at, version)
		WHERE d.id = u.id AND d.version < u.version`

	// applyPostponed moves the next attempt to the end of the wait.
	applyPostponed = `UPDATE deliveries d SET next_attempt_at = u.until, version = u.version
		FROM unnest($1::text[], $2::timestamptz[], $3::bigint[]) AS u(id, until, version)
		WHERE d.id = u.id AND d.version < u.version`

	applyRedriven = `UPDATE deliveries d SET
			status = 'pending', next_attempt_at = NULL, updated_at = u.at, version = u.version
		FROM unnest($1::text[], $2::timestamptz[], $3::bigint[]) AS u(id, at, version)
		WHERE d.id = u.id AND d.version < u.version`
)

type attemptedRows struct {
	id                                                                  []string
	version                                                             []int64
	attempt, statusCode                                                 []int32
	status, errorCategory, errorDetail, requestHeaders, responseHeaders []string
	responseBody                                                        []string
	durationMS                                                          []float64
	truncated                                                           []bool
	nextAttemptAt                                                       []*time.Time
	at                                                                  []time.Time
	payloadID                                                           []int64
}

func (a *attemptedRows) add(r domain.Recorded, e domain.DeliveryAttempted) error {
	req, err := headersJSON(e.RequestHeaders)
	if err != nil {
		return fmt.Errorf("project delivery %s version %d: %w", r.StreamID, r.Version, err)
	}
	resp, err := headersJSON(e.ResponseHeaders)
	if err != nil {
		return fmt.Errorf("project delivery %s version %d: %w", r.StreamID, r.Version, err)
	}
	a.id = append(a.id, r.StreamID)
	a.version = append(a.version, r.Version)
	a.attempt = append(a.attempt, int32(e.Attempt))
	a.status = append(a.status, string(e.Status))
	a.statusCode = append(a.statusCode, int32(e.StatusCode))
	a.errorCategory = append(a.errorCategory, string(e.ErrorCategory))
	a.errorDetail = append(a.errorDetail, e.ErrorDetail)
	a.durationMS = append(a.durationMS, e.DurationMS)
	a.requestHeaders = append(a.requestHeaders, req)
	a.responseHeaders = append(a.responseHeaders, resp)
	a.responseBody = append(a.responseBody, e.ResponseBody)
	a.truncated = append(a.truncated, e.Truncated)
	a.nextAttemptAt = append(a.nextAttemptAt, e.NextAttemptAt)
	a.at = append(a.at, eventTime(e.At, r))
	a.payloadID = append(a.payloadID, e.PayloadID)
	return nil
}

// headersJSON encodes headers as a JSON object; nil becomes {} so the
// column never holds a JSON null.
func headersJSON(h map[string]string) (string, error) {
	if h == nil {
		return "{}", nil
	}
	b, err := json.Marshal(h)
	return string(b), err
}

type cancelledRows struct {
	id, reason []string
	at         []time.Time
	version    []int64
}

func (c *cancelledRows) add(r domain.Recorded, e domain.DeliveryCancelled) {
	c.id = append(c.id, r.StreamID)
	c.reason = append(c.reason, e.Reason)
	c.at = append(c.at, eventTime(e.At, r))
	c.version = append(c.version, r.Version)
}

type redrivenRows struct {
	id      []string
	at      []time.Time
	version []int64
}

func (d *redrivenRows) add(r domain.Recorded, e domain.DeliveryRedriven) {
	d.id = append(d.id, r.StreamID)
	d.at = append(d.at, eventTime(e.At, r))
	d.version = append(d.version, r.Version)
}

// Queries.

const (
	deliveryColumns = `id, destination_id, kind, event_id, event_type, status, attempts,
		coalesce(last_status_code, 0), coalesce(last_error_category, ''), coalesce(last_error_detail, ''),
		coalesce(last_duration_ms, 0), next_attempt_at, created_at, updated_at, delivered_at, version`
	selectDeliveries = `SELECT ` + deliveryColumns + ` FROM deliveries`
	selectDelivery   = selectDeliveries + ` WHERE id = $1`

	// deliveryFilters is shared by every listing. Its parameters are
	// $1 destination_id, $2 event_id, $3 status, $4 event_type, $5 since,
	// $6 until, $7/$8 the keyset cursor and $9 the limit. Unset bounds are
	// ±infinity rather than NULL so that they stay index conditions.
	deliveryFilters = ` AND ($1 = '' OR destination_id = $1) AND ($2 = '' OR event_id = $2)
		AND ($3 = '' OR status = $3) AND ($4 = '' OR event_type = $4)
		AND created_at >= $5 AND created_at < $6`
	pageAsc  = ` AND (created_at, id) > ($7, $8) ORDER BY created_at, id LIMIT $9`
	pageDesc = ` AND (created_at, id) < ($7, $8) ORDER BY created_at DESC, id DESC LIMIT $9`

	// The leading equality of each listing matches an index (an
	// "x = $1 OR $1 = ''" predicate cannot drive an index in a generic,
	// cached plan, so it is spelled out).
	//
	// The status indexes leave delivered rows out (most rows, and most of a
	// delivery's writes): a listing of other statuses says so literally,
	// so that even a generic plan may use them; delivered ones walk the
	// destination's or the creation index.
	byEvent             = selectDeliveries + ` WHERE event_id = $2` + deliveryFilters
	byDestinationStatus = selectDeliveries + ` WHERE destination_id = $1 AND status = $3 AND status <> 'delivered'` + deliveryFilters
	byDestination       = selectDeliveries + ` WHERE destination_id = $1` + deliveryFilters
	byStatus            = selectDeliveries + ` WHERE status = $3 AND status <> 'delivered'` + deliveryFilters
	byNothing           = selectDeliveries + ` WHERE true` + deliveryFilters

	// listRedrivable walks deliveries_destination_status_idx, oldest first.
	listRedrivable = selectDeliveries + ` WHERE destination_id = $1 AND status = ANY($2::text[]) AND status <> 'delivered'
		AND ($3 = '' OR event_type = $3)
		AND created_at >= $4 AND created_at < $5 AND (created_at, id) > ($6, $7)
		AND (cardinality($9::text[]) = 0 OR id = ANY($9::text[]))
		ORDER BY created_at, id
		LIMIT $8`

	// selectAttempts reads each attempt's excerpts from its payload row,
	// or from the read model for attempts recorded before payload rows
	// existed. Once retention removed a payload row, they are empty.
	selectAttempts = `SELECT a.attempt, a.status, coalesce(a.status_code, 0), coalesce(a.error_category, ''),
			coalesce(a.error_detail, ''), a.duration_ms,
			CASE WHEN a.payload_id IS NULL THEN a.request_headers ELSE coalesce(p.request_headers, '{}') END,
			CASE WHEN a.payload_id IS NULL THEN a.response_headers ELSE coalesce(p.response_headers, '{}') END,
			CASE WHEN a.payload_id IS NULL THEN a.response_body ELSE coalesce(p.response_body, '') END,
			a.truncated, a.next_attempt_at, a.attempted_at
		FROM delivery_attempts a LEFT JOIN attempt_payloads p ON p.id = a.payload_id
		WHERE a.delivery_id = $1 ORDER BY a.attempt`
)

// Listing limits.
const (
	// DefaultDeliveriesLimit is the page size of ListDeliveries when the
	// filter's Limit is zero or negative.
	DefaultDeliveriesLimit = 100
	// DefaultRedrivableLimit bounds RedrivableDeliveries when the filter's
	// Limit is zero or negative: one redrive transaction's worth.
	DefaultRedrivableLimit = 500
)

var (
	minTime = pgtype.Timestamptz{InfinityModifier: pgtype.NegativeInfinity, Valid: true}
	maxTime = pgtype.Timestamptz{InfinityModifier: pgtype.Infinity, Valid: true}
)

// GetDelivery returns a delivery by id; an unknown id returns an error
// matching domain.ErrNotFound.
func GetDelivery(ctx context.Context, db DB, id domain.DeliveryID) (*domain.DeliveryView, error) {
	d, err := scanDelivery(db.QueryRow(ctx, selectDelivery, string(id)))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("delivery %s: %w", id, domain.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get delivery %s: %w", id, err)
	}
	return d, nil
}

// ListAttempts returns a delivery's attempts ordered by attempt number; an
// unknown delivery has none.
func ListAttempts(ctx context.Context, db DB, id domain.DeliveryID) ([]domain.AttemptView, error) {
	rows, err := db.Query(ctx, selectAttempts, string(id))
	if err != nil {
		return nil, fmt.Errorf("list attempts of %s: %w", id, err)
	}
	out, err := pgx.CollectRows(rows, scanAttempt)
	if err != nil {
		return nil, fmt.Errorf("list attempts of %s: %w", id, err)
	}
	return out, nil
}

// ListDeliveries returns one page of deliveries matching f, newest first
// by (created_at, id), or oldest first when f.Ascending. f.After continues
// after the last delivery of the previous page; f.Limit <= 0 means
// DefaultDeliveriesLimit.
func ListDeliveries(ctx context.Context, db DB, f domain.DeliveryFilter) ([]domain.DeliveryView, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = DefaultDeliveriesLimit
	}
	after, afterID := cursorArgs(f.After, f.Ascending)
	args := []any{
		string(f.DestinationID), string(f.EventID), string(f.Status), f.EventType,
		lowerBound(f.Since), upperBound(f.Until), after, afterID, limit,
	}
	return queryDeliveries(ctx, db, "list deliveries", listDeliveriesQuery(f), args)
}

// listDeliveriesQuery picks the listing whose leading equality matches an
// index for the filter's fields, in the filter's order.
func listDeliveriesQuery(f domain.DeliveryFilter) string {
	page := pageDesc
	if f.Ascending {
		page = pageAsc
	}
	switch {
	case f.EventID != "":
		return byEvent + page
	case f.DestinationID != "" && f.Status != "" && f.Status != domain.DeliveryDelivered:
		return byDestinationStatus + page
	case f.DestinationID != "":
		return byDestination + page
	case f.Status != "" && f.Status != domain.DeliveryDelivered:
		return byStatus + page
	default:
		return byNothing + page
	}
}

// RedrivableDeliveries returns the deliveries of a destination that may be
// redriven (status failed or permanent_failure), oldest first by
// (created_at, id). Of f it honours Status (which must then be one of
// those two, else the error matches domain.ErrInvalid), EventType, Since,
// Until, IDs, After and Limit (<= 0 means DefaultRedrivableLimit).
func RedrivableDeliveries(ctx context.Context, db DB, destination domain.DestinationID, f domain.DeliveryFilter) ([]domain.DeliveryView, error) {
	statuses := []string{string(domain.DeliveryFailed), string(domain.DeliveryPermanentFailure)}
	if f.Status != "" {
		if !f.Status.Redrivable() {
			return nil, fmt.Errorf("redrivable deliveries of %s: status %q cannot be redriven: %w",
				destination, f.Status, domain.ErrInvalid)
		}
		statuses = []string{string(f.Status)}
	}
	limit := f.Limit
	if limit <= 0 {
		limit = DefaultRedrivableLimit
	}
	after, afterID := cursorArgs(f.After, true)
	ids := make([]string, len(f.IDs))
	for i, id := range f.IDs {
		ids[i] = string(id)
	}
	args := []any{
		string(destination), statuses, f.EventType, lowerBound(f.Since), upperBound(f.Until), after, afterID, limit, ids,
	}
	return queryDeliveries(ctx, db, "redrivable deliveries of "+string(destination), listRedrivable, args)
}

func queryDeliveries(ctx context.Context, db DB, op, sql string, args []any) ([]domain.DeliveryView, error) {
	rows, err := db.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (domain.DeliveryView, error) {
		d, err := scanDelivery(row)
		if err != nil {
			return domain.DeliveryView{}, err
		}
		return *d, nil
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	return out, nil
}

// cursorArgs returns the keyset position to continue after: before every
// row when listing oldest first, after every row when newest first.
func cursorArgs(c *domain.DeliveryCursor, ascending bool) (pgtype.Timestamptz, string) {
	if c == nil && ascending {
		return minTime, ""
	}
	if c == nil {
		return maxTime, ""
	}
	return pgtype.Timestamptz{Time: c.CreatedAt, Valid: true}, string(c.ID)
}

func lowerBound(t time.Time) pgtype.Timestamptz {
	if t.IsZero() {
		return minTime
	}
	return pgtype.Timestamptz{Time: t, Valid: true}
}

func upperBound(t time.Time) pgtype.Timestamptz {
	if t.IsZero() {
		return maxTime
	}
	return pgtype.Timestamptz{Time: t, Valid: true}
}

func scanDelivery(row pgx.Row) (*domain.DeliveryView, error) {
	var d domain.DeliveryView
	err := row.Scan(&d.ID, &d.DestinationID, &d.Kind, &d.EventID, &d.EventType, &d.Status, &d.Attempts,
		&d.LastStatusCode, &d.LastErrorCategory, &d.LastErrorDetail, &d.LastDurationMS, &d.NextAttemptAt,
		&d.CreatedAt, &d.UpdatedAt, &d.DeliveredAt, &d.Version)
	if err != nil {
		return nil, err
	}
	d.CreatedAt, d.UpdatedAt = d.CreatedAt.UTC(), d.UpdatedAt.UTC()
	d.NextAttemptAt, d.DeliveredAt = utcPtr(d.NextAttemptAt), utcPtr(d.DeliveredAt)
	return &d, nil
}

func scanAttempt(row pgx.CollectableRow) (domain.AttemptView, error) {
	var a domain.AttemptView
	err := row.Scan(&a.Attempt, &a.Status, &a.StatusCode, &a.ErrorCategory, &a.ErrorDetail, &a.DurationMS,
		&a.RequestHeaders, &a.ResponseHeaders, &a.ResponseBody, &a.Truncated, &a.NextAttemptAt, &a.AttemptedAt)
	a.AttemptedAt, a.NextAttemptAt = a.AttemptedAt.UTC(), utcPtr(a.NextAttemptAt)
	return a, err
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// ProjectAhead implements LookaheadProjector: it applies events, and
// folds in the later events, among ahead, of the deliveries that start in
// events, so that a delivery attempted soon after it was scheduled is
// written once, already final, instead of inserted as pending and then
// updated (every index entry written again). The runner reads ahead again
// next time; the deliveries folded then are at those versions already and
// skip them.
func (d Deliveries) ProjectAhead(ctx context.Context, tx pgx.Tx, events, ahead []domain.Recorded) error {
	started := map[string]bool{}
	for _, r := range events {
		if r.Version == 1 && r.Type == domain.TypeDeliveryScheduled {
			started[r.StreamID] = true
		}
	}
	all := events
	for _, r := range ahead {
		if started[r.StreamID] {
			if len(all) == len(events) {
				all = slices.Clone(events)
			}
			all = append(all, r)
		}
	}
	return d.Project(ctx, tx, all)
}
