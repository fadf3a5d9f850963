package projections_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/loki-interceptor/lokihooks/domain"
	"github.com/loki-interceptor/lokihooks/internal/dbtest"
	"github.com/loki-interceptor/lokihooks/projections"
)

func scheduled(id domain.DeliveryID, webhook domain.WebhookID, event domain.EventID, typ string, at time.Time) domain.DeliveryScheduled {
	return domain.DeliveryScheduled{DeliveryID: id, DestinationID: domain.DestinationID(webhook), Kind: domain.KindWebhook, EventID: event, Type: typ, At: at}
}

func retrying(attempt int, at, next time.Time) domain.DeliveryAttempted {
	return domain.DeliveryAttempted{
		Attempt: attempt, RequestHeaders: map[string]string{"X-Webhook-Attempt": fmt.Sprint(attempt)},
		StatusCode: 503, ResponseHeaders: map[string]string{"Retry-After": "60"}, ResponseBody: "busy",
		DurationMS: 12.5, ErrorCategory: domain.ErrorCategoryHTTP5xx, ErrorDetail: "503 Service Unavailable",
		Status: domain.DeliveryRetrying, NextAttemptAt: &next, At: at,
	}
}

func delivered(attempt int, at time.Time) domain.DeliveryAttempted {
	return domain.DeliveryAttempted{
		Attempt: attempt, RequestHeaders: map[string]string{"X-Webhook-Attempt": fmt.Sprint(attempt)},
		StatusCode: 200, ResponseBody: "ok", DurationMS: 8.25, Status: domain.DeliveryDelivered, At: at,
	}
}

func exhausted(attempt int, at time.Time) domain.DeliveryAttempted {
	return domain.DeliveryAttempted{
		Attempt: attempt, DurationMS: 3, ErrorCategory: domain.ErrorCategoryNetwork,
		ErrorDetail: domain.NetworkDetailConnect, Status: domain.DeliveryPermanentFailure, At: at,
	}
}

// insertWebhook inserts a minimal webhooks row, so that last_triggered_at
// can be observed.
func insertWebhook(t *testing.T, db projections.DB, id domain.WebhookID) {
	t.Helper()
	_, err := db.Exec(t.Context(), `INSERT INTO webhooks (id, name, url, secret, status, event_types,
			retry_strategy, max_retries, retry_delay_seconds, max_delay_seconds, backoff_multiplier,
			jitter_enabled, timeout_seconds, created_at, updated_at, version)
		VALUES ($1, $1, 'https://example.com/' || $1, 'whsec_test', 'active', '{*}',
			'exponential_backoff', 3, 1, 60, 2, false, 10, now(), now(), 1)`, string(id))
	require.NoError(t, err)
}

func lastTriggered(t *testing.T, db projections.DB, id domain.WebhookID) time.Time {
	t.Helper()
	var at *time.Time
	require.NoError(t, db.QueryRow(t.Context(), `SELECT last_triggered_at FROM webhooks WHERE id = $1`, string(id)).Scan(&at))
	require.NotNil(t, at)
	return at.UTC()
}

// deliveryBundle projects events directly, without the log and runner.
type deliveryBundle struct {
	pool *pgxpool.Pool
	now  time.Time
	pos  int64
}

func setupDeliveries(t *testing.T) *deliveryBundle {
	t.Helper()
	return &deliveryBundle{
		pool: dbtest.Pool(t, nil),
		now:  time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC),
	}
}

// rec records e as the next event of the log.
func (b *deliveryBundle) rec(t *testing.T, stream string, version int64, e domain.Event) domain.Recorded {
	t.Helper()
	data, err := json.Marshal(e)
	require.NoError(t, err)
	b.pos++
	return domain.Recorded{
		Position: b.pos, TransactionID: uint64(1000 + b.pos), StreamID: stream, Version: version,
		Type: e.EventType(), Data: data, RecordedAt: b.now,
	}
}

func (b *deliveryBundle) project(t *testing.T, events ...domain.Recorded) {
	t.Helper()
	require.NoError(t, pgx.BeginFunc(t.Context(), b.pool, func(tx pgx.Tx) error {
		return projections.Deliveries{}.Project(t.Context(), tx, events)
	}))
}

// life returns the events that bring a delivery created at `at` to status.
func (b *deliveryBundle) life(t *testing.T, id domain.DeliveryID, webhook domain.WebhookID, event domain.EventID,
	typ string, at time.Time, status domain.DeliveryStatus,
) []domain.Recorded {
	t.Helper()
	s := string(id)
	out := []domain.Recorded{b.rec(t, s, 1, scheduled(id, webhook, event, typ, at))}
	switch status {
	case domain.DeliveryPending:
	case domain.DeliveryRetrying:
		out = append(out, b.rec(t, s, 2, retrying(1, at.Add(time.Second), at.Add(time.Hour))))
	case domain.DeliveryDelivered:
		out = append(out, b.rec(t, s, 2, delivered(1, at.Add(time.Second))))
	case domain.DeliveryPermanentFailure:
		out = append(out, b.rec(t, s, 2, exhausted(1, at.Add(time.Second))))
	case domain.DeliveryFailed:
		out = append(out, b.rec(t, s, 2, domain.DeliveryCancelled{Reason: "webhook is inactive", At: at.Add(time.Second)}))
	default:
		t.Fatalf("no life for status %s", status)
	}
	return out
}

func TestDeliveries_Project(t *testing.T) {
	t.Parallel()

	t.Run("RunnerAppliesRetryingThenDelivered", func(t *testing.T) {
		t.Parallel()
		b := setupRunner(t)
		r := b.runner(t, projections.RunnerConfig{})
		insertWebhook(t, b.pool, "wh_1")
		t0, t1, t2 := b.now, b.now.Add(time.Second), b.now.Add(time.Minute)

		appendEvent(t, b.pool, "dlv_1", 1, scheduled("dlv_1", "wh_1", "evt_1", "validation.completed", t0))
		drainTo(t, r, appendEvent(t, b.pool, "dlv_1", 2, retrying(1, t1, t2)))
		d, err := projections.GetDelivery(t.Context(), b.pool, "dlv_1")
		require.NoError(t, err)
		require.Equal(t, &domain.DeliveryView{
			ID: "dlv_1", DestinationID: "wh_1", Kind: domain.KindWebhook, EventID: "evt_1", EventType: "validation.completed",
			Status: domain.DeliveryRetrying, Attempts: 1, LastStatusCode: 503,
			LastErrorCategory: domain.ErrorCategoryHTTP5xx, LastErrorDetail: "503 Service Unavailable",
			LastDurationMS: 12.5, NextAttemptAt: &t2, CreatedAt: t0, UpdatedAt: t1, Version: 2,
		}, d)
		require.Equal(t, t1, lastTriggered(t, b.pool, "wh_1"))

		drainTo(t, r, appendEvent(t, b.pool, "dlv_1", 3, delivered(2, t2)))
		d, err = projections.GetDelivery(t.Context(), b.pool, "dlv_1")
		require.NoError(t, err)
		require.Equal(t, &domain.DeliveryView{
			ID: "dlv_1", DestinationID: "wh_1", Kind: domain.KindWebhook, EventID: "evt_1", EventType: "validation.completed",
			Status: domain.DeliveryDelivered, Attempts: 2, LastStatusCode: 200, LastDurationMS: 8.25,
			CreatedAt: t0, UpdatedAt: t2, DeliveredAt: &t2, Version: 3,
		}, d)
		require.Equal(t, t2, lastTriggered(t, b.pool, "wh_1"))

		attempts, err := projections.ListAttempts(t.Context(), b.pool, "dlv_1")
		require.NoError(t, err)
		require.Equal(t, []domain.AttemptView{
			{
				Attempt: 1, Status: domain.DeliveryRetrying, StatusCode: 503,
				ErrorCategory: domain.ErrorCategoryHTTP5xx, ErrorDetail: "503 Service Unavailable", DurationMS: 12.5,
				RequestHeaders:  map[string]string{"X-Webhook-Attempt": "1"},
				ResponseHeaders: map[string]string{"Retry-After": "60"}, ResponseBody: "busy",
				NextAttemptAt: &t2, AttemptedAt: t1,
			},
			{
				Attempt: 2, Status: domain.DeliveryDelivered, StatusCode: 200, DurationMS: 8.25,
				RequestHeaders: map[string]string{"X-Webhook-Attempt": "2"}, ResponseHeaders: map[string]string{},
				ResponseBody: "ok", AttemptedAt: t2,
			},
		}, attempts)
		var webhookID, eventType string
		require.NoError(t, b.pool.QueryRow(t.Context(),
			`SELECT destination_id, event_type FROM delivery_attempts WHERE delivery_id = 'dlv_1' AND attempt = 2`).
			Scan(&webhookID, &eventType))
		require.Equal(t, []string{"wh_1", "validation.completed"}, []string{webhookID, eventType})
	})

	t.Run("ReplayedBatchChangesNothing", func(t *testing.T) {
		t.Parallel()
		b := setupDeliveries(t)
		insertWebhook(t, b.pool, "wh_1")
		events := slices.Concat(
			b.life(t, "dlv_1", "wh_1", "evt_1", "system.error", b.now, domain.DeliveryDelivered),
			b.life(t, "dlv_2", "wh_1", "evt_2", "system.error", b.now, domain.DeliveryFailed),
			b.life(t, "dlv_3", "wh_1", "evt_3", "system.error", b.now, domain.DeliveryRetrying),
		)
		b.project(t, events...)
		want := snapshot(t, b.pool)
		triggered := lastTriggered(t, b.pool, "wh_1")

		b.project(t, events...)
		b.project(t, slices.Concat(events, events)...)
		b.project(t, events[1])
		require.JSONEq(t, want, snapshot(t, b.pool))
		require.Equal(t, triggered, lastTriggered(t, b.pool, "wh_1"))
	})

	t.Run("OutOfOrderBatchAppliesByVersion", func(t *testing.T) {
		t.Parallel()
		in, out := setupDeliveries(t), setupDeliveries(t)
		for _, b := range []*deliveryBundle{in, out} {
			events := []domain.Recorded{
				b.rec(t, "dlv_1", 1, scheduled("dlv_1", "wh_1", "evt_1", "system.error", b.now)),
				b.rec(t, "dlv_1", 2, retrying(1, b.now.Add(time.Second), b.now.Add(time.Minute))),
				b.rec(t, "dlv_1", 3, delivered(2, b.now.Add(time.Minute))),
			}
			if b == out {
				slices.Reverse(events)
			}
			b.project(t, events...)
		}
		require.JSONEq(t, snapshot(t, in.pool), snapshot(t, out.pool))
	})

	t.Run("StaleEventIsSkipped", func(t *testing.T) {
		t.Parallel()
		b := setupDeliveries(t)
		life := b.life(t, "dlv_1", "wh_1", "evt_1", "system.error", b.now, domain.DeliveryRetrying)
		b.project(t, life...)
		b.project(t, b.rec(t, "dlv_1", 3, delivered(2, b.now.Add(time.Hour))))
		want := snapshot(t, b.pool)

		// Version 3 again, with other content: the row is at 3, so skipped.
		b.project(t, b.rec(t, "dlv_1", 3, exhausted(2, b.now.Add(2*time.Hour))))
		require.JSONEq(t, want, snapshot(t, b.pool))
	})

	t.Run("CancelledThenRedrivenThenDelivered", func(t *testing.T) {
		t.Parallel()
		b := setupDeliveries(t)
		b.project(t, b.life(t, "dlv_1", "wh_1", "evt_1", "system.error", b.now, domain.DeliveryRetrying)...)
		b.project(t, b.rec(t, "dlv_1", 3, domain.DeliveryCancelled{Reason: "webhook is inactive", At: b.now.Add(time.Minute)}))
		d, err := projections.GetDelivery(t.Context(), b.pool, "dlv_1")
		require.NoError(t, err)
		require.Equal(t, domain.DeliveryFailed, d.Status)
		require.Equal(t, "webhook is inactive", d.LastErrorDetail)
		require.Nil(t, d.NextAttemptAt)
		require.Equal(t, b.now.Add(time.Minute), d.UpdatedAt)
		require.Equal(t, 1, d.Attempts)

		b.project(t, b.rec(t, "dlv_1", 4, domain.DeliveryRedriven{At: b.now.Add(2 * time.Minute)}))
		d, err = projections.GetDelivery(t.Context(), b.pool, "dlv_1")
		require.NoError(t, err)
		require.Equal(t, domain.DeliveryPending, d.Status)
		require.Nil(t, d.NextAttemptAt)
		require.Equal(t, int64(4), d.Version)

		b.project(t, b.rec(t, "dlv_1", 5, delivered(2, b.now.Add(3*time.Minute))))
		d, err = projections.GetDelivery(t.Context(), b.pool, "dlv_1")
		require.NoError(t, err)
		require.Equal(t, domain.DeliveryDelivered, d.Status)
		require.Equal(t, 2, d.Attempts)
		require.Empty(t, d.LastErrorDetail)
	})

	t.Run("NetworkFailureHasNoStatusCode", func(t *testing.T) {
		t.Parallel()
		b := setupDeliveries(t)
		b.project(t, b.life(t, "dlv_1", "wh_1", "evt_1", "system.error", b.now, domain.DeliveryPermanentFailure)...)
		d, err := projections.GetDelivery(t.Context(), b.pool, "dlv_1")
		require.NoError(t, err)
		require.Equal(t, domain.DeliveryPermanentFailure, d.Status)
		require.Zero(t, d.LastStatusCode)
		require.Equal(t, domain.ErrorCategoryNetwork, d.LastErrorCategory)
		var code *int
		require.NoError(t, b.pool.QueryRow(t.Context(), `SELECT last_status_code FROM deliveries`).Scan(&code))
		require.Nil(t, code, "no response is NULL, not 0")
		attempts, err := projections.ListAttempts(t.Context(), b.pool, "dlv_1")
		require.NoError(t, err)
		require.Len(t, attempts, 1)
		require.Equal(t, map[string]string{}, attempts[0].RequestHeaders)
	})

	t.Run("IgnoresOtherEvents", func(t *testing.T) {
		t.Parallel()
		b := setupDeliveries(t)
		empty := snapshot(t, b.pool)
		b.project(t,
			b.rec(t, "wh_1", 1, domain.WebhookPaused{At: b.now}),
			domain.Recorded{StreamID: "dlv_9", Version: 1, Type: "delivery.future.v9", Data: []byte(`{}`)},
		)
		require.JSONEq(t, empty, snapshot(t, b.pool))
	})

	t.Run("CorruptEventFails", func(t *testing.T) {
		t.Parallel()
		b := setupDeliveries(t)
		err := pgx.BeginFunc(t.Context(), b.pool, func(tx pgx.Tx) error {
			return projections.Deliveries{}.Project(t.Context(), tx, []domain.Recorded{
				{StreamID: "dlv_1", Version: 1, Type: domain.TypeDeliveryScheduled, Data: []byte(`{"at": 7}`)},
			})
		})
		require.Error(t, err)
	})

	t.Run("ManyDeliveriesInOneBatch", func(t *testing.T) {
		t.Parallel()
		b := setupDeliveries(t)
		insertWebhook(t, b.pool, "wh_1")
		insertWebhook(t, b.pool, "wh_2")
		var events []domain.Recorded
		for i := range 60 {
			id := domain.DeliveryID(fmt.Sprintf("dlv_%02d", i))
			webhook := domain.WebhookID(fmt.Sprintf("wh_%d", 1+i%2))
			at := b.now.Add(time.Duration(i) * time.Second)
			events = append(events, b.life(t, id, webhook, "evt_1", "system.error", at, domain.DeliveryRetrying)...)
			events = append(events, b.rec(t, string(id), 3, delivered(2, at.Add(time.Minute))))
		}
		b.project(t, events...)

		for i := range 60 {
			d, err := projections.GetDelivery(t.Context(), b.pool, domain.DeliveryID(fmt.Sprintf("dlv_%02d", i)))
			require.NoError(t, err)
			require.Equal(t, domain.DeliveryDelivered, d.Status)
			require.Equal(t, 2, d.Attempts)
		}
		var attempts int
		require.NoError(t, b.pool.QueryRow(t.Context(), `SELECT count(*) FROM delivery_attempts`).Scan(&attempts))
		require.Equal(t, 120, attempts)
		require.Equal(t, b.now.Add(58*time.Second+time.Minute), lastTriggered(t, b.pool, "wh_1"))
		require.Equal(t, b.now.Add(59*time.Second+time.Minute), lastTriggered(t, b.pool, "wh_2"))
	})
}

func TestGetDelivery(t *testing.T) {
	t.Parallel()
	b := setupDeliveries(t)
	_, err := projections.GetDelivery(t.Context(), b.pool, "dlv_missing")
	require.ErrorIs(t, err, domain.ErrNotFound)
	attempts, err := projections.ListAttempts(t.Context(), b.pool, "dlv_missing")
	require.NoError(t, err)
	require.Empty(t, attempts)
}

// seedListing projects six deliveries over two webhooks, one minute apart:
//
//	d1 wh_a evt_1 validation.completed delivered          t0
//	d2 wh_a evt_2 report.generated     permanent_failure  t0+1m
//	d3 wh_b evt_1 validation.completed pending            t0+2m
//	d4 wh_a evt_3 validation.completed failed             t0+3m
//	d5 wh_b evt_2 report.generated     failed             t0+4m
//	d6 wh_a evt_4 validation.completed retrying           t0+5m
func seedListing(t *testing.T) *deliveryBundle {
	t.Helper()
	b := setupDeliveries(t)
	rows := []struct {
		webhook domain.WebhookID
		event   domain.EventID
		typ     string
		status  domain.DeliveryStatus
	}{
		{"wh_a", "evt_1", "validation.completed", domain.DeliveryDelivered},
		{"wh_a", "evt_2", "report.generated", domain.DeliveryPermanentFailure},
		{"wh_b", "evt_1", "validation.completed", domain.DeliveryPending},
		{"wh_a", "evt_3", "validation.completed", domain.DeliveryFailed},
		{"wh_b", "evt_2", "report.generated", domain.DeliveryFailed},
		{"wh_a", "evt_4", "validation.completed", domain.DeliveryRetrying},
	}
	var events []domain.Recorded
	for i, r := range rows {
		id := domain.DeliveryID(fmt.Sprintf("d%d", i+1))
		events = append(events, b.life(t, id, r.webhook, r.event, r.typ, b.now.Add(time.Duration(i)*time.Minute), r.status)...)
	}
	b.project(t, events...)
	return b
}

func deliveryIDs(ds []domain.DeliveryView) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = string(d.ID)
	}
	return out
}

func TestListDeliveries(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)

	for name, tc := range map[string]struct {
		filter domain.DeliveryFilter
		want   []string
	}{
		"All":              {domain.DeliveryFilter{}, []string{"d1", "d2", "d3", "d4", "d5", "d6"}},
		"Webhook":          {domain.DeliveryFilter{DestinationID: "wh_a"}, []string{"d1", "d2", "d4", "d6"}},
		"WebhookAndStatus": {domain.DeliveryFilter{DestinationID: "wh_a", Status: domain.DeliveryFailed}, []string{"d4"}},
		"Status":           {domain.DeliveryFilter{Status: domain.DeliveryFailed}, []string{"d4", "d5"}},
		"Event":            {domain.DeliveryFilter{EventID: "evt_1"}, []string{"d1", "d3"}},
		"EventAndWebhook":  {domain.DeliveryFilter{EventID: "evt_1", DestinationID: "wh_b"}, []string{"d3"}},
		"EventType":        {domain.DeliveryFilter{EventType: "report.generated"}, []string{"d2", "d5"}},
		"SinceUntil": {
			domain.DeliveryFilter{Since: t0.Add(time.Minute), Until: t0.Add(4 * time.Minute)},
			[]string{"d2", "d3", "d4"},
		},
		"WebhookTypeSince": {
			domain.DeliveryFilter{DestinationID: "wh_a", EventType: "validation.completed", Since: t0.Add(time.Second)},
			[]string{"d4", "d6"},
		},
		"Limit": {domain.DeliveryFilter{Limit: 2}, []string{"d1", "d2"}},
		"After": {
			domain.DeliveryFilter{DestinationID: "wh_a", After: &domain.DeliveryCursor{CreatedAt: t0.Add(time.Minute), ID: "d2"}},
			[]string{"d4", "d6"},
		},
		"NoMatch": {domain.DeliveryFilter{DestinationID: "wh_zzz"}, []string{}},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b := seedListing(t)
			tc.filter.Ascending = true
			got, err := projections.ListDeliveries(t.Context(), b.pool, tc.filter)
			require.NoError(t, err)
			require.Equal(t, tc.want, deliveryIDs(got))
			tc.filter.Ascending = false
			got, err = projections.ListDeliveries(t.Context(), b.pool, tc.filter)
			require.NoError(t, err)
			if tc.filter.After == nil && tc.filter.Limit == 0 {
				want := slices.Clone(tc.want)
				slices.Reverse(want)
				require.Equal(t, want, deliveryIDs(got), "newest first by default")
			}
		})
	}

	t.Run("PagesWithCursor", func(t *testing.T) {
		t.Parallel()
		b := seedListing(t)
		var all []string
		f := domain.DeliveryFilter{Limit: 4, Ascending: true}
		for {
			page, err := projections.ListDeliveries(t.Context(), b.pool, f)
			require.NoError(t, err)
			all = append(all, deliveryIDs(page)...)
			if len(page) < f.Limit {
				break
			}
			last := page[len(page)-1]
			f.After = &domain.DeliveryCursor{CreatedAt: last.CreatedAt, ID: last.ID}
		}
		require.Equal(t, []string{"d1", "d2", "d3", "d4", "d5", "d6"}, all)
	})

	t.Run("CursorBreaksCreatedAtTies", func(t *testing.T) {
		t.Parallel()
		b := setupDeliveries(t)
		var events []domain.Recorded
		for _, id := range []domain.DeliveryID{"dlv_c", "dlv_a", "dlv_b"} {
			events = append(events, b.life(t, id, "wh_1", "evt_1", "system.error", b.now, domain.DeliveryPending)...)
		}
		b.project(t, events...)
		page, err := projections.ListDeliveries(t.Context(), b.pool, domain.DeliveryFilter{Limit: 1, Ascending: true})
		require.NoError(t, err)
		require.Equal(t, []string{"dlv_a"}, deliveryIDs(page))
		page, err = projections.ListDeliveries(t.Context(), b.pool, domain.DeliveryFilter{
			After: &domain.DeliveryCursor{CreatedAt: page[0].CreatedAt, ID: page[0].ID}, Ascending: true,
		})
		require.NoError(t, err)
		require.Equal(t, []string{"dlv_b", "dlv_c"}, deliveryIDs(page))
		page, err = projections.ListDeliveries(t.Context(), b.pool, domain.DeliveryFilter{
			After: &domain.DeliveryCursor{CreatedAt: page[0].CreatedAt, ID: page[0].ID},
		})
		require.NoError(t, err)
		require.Equal(t, []string{"dlv_a"}, deliveryIDs(page), "newest first, the cursor continues towards older")
	})

	t.Run("DefaultLimit", func(t *testing.T) {
		t.Parallel()
		b := setupDeliveries(t)
		var events []domain.Recorded
		for i := range projections.DefaultDeliveriesLimit + 5 {
			id := domain.DeliveryID(fmt.Sprintf("dlv_%03d", i))
			events = append(events, b.life(t, id, "wh_1", "evt_1", "system.error", b.now, domain.DeliveryPending)...)
		}
		b.project(t, events...)
		page, err := projections.ListDeliveries(t.Context(), b.pool, domain.DeliveryFilter{})
		require.NoError(t, err)
		require.Len(t, page, projections.DefaultDeliveriesLimit)
	})
}

// explainDB runs EXPLAIN for every query before running it.
type explainDB struct {
	pgx.Tx
	plan string
}

func (e *explainDB) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	rows, err := e.Tx.Query(ctx, "EXPLAIN "+sql, args...)
	if err != nil {
		return nil, err
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, err
	}
	e.plan = strings.Join(lines, "\n")
	return e.Tx.Query(ctx, sql, args...)
}

func TestListDeliveries_UsesIndexes(t *testing.T) {
	t.Parallel()
	b := seedListing(t)
	// Enough rows, spread over webhooks, statuses and types, for the planner
	// to prefer the narrowest index.
	_, err := b.pool.Exec(t.Context(), `INSERT INTO deliveries
			(id, destination_id, kind, event_id, event_type, status, created_at, updated_at, version)
		SELECT 'bulk_' || i, 'wh_' || i % 10, 'webhook', 'evt_bulk_' || i, 'system.error',
			(ARRAY['pending', 'retrying', 'delivered', 'failed', 'permanent_failure'])[1 + i % 5],
			now(), now(), 1
		FROM generate_series(1, 50000) AS i`)
	require.NoError(t, err)
	for range 20 {
		publish(t, b.pool, "system.error", `{}`)
		publish(t, b.pool, "report.generated", `{}`)
	}
	_, err = b.pool.Exec(t.Context(), `ANALYZE deliveries; ANALYZE published_events`)
	require.NoError(t, err)

	for name, tc := range map[string]struct {
		list  func(ctx context.Context, db projections.DB) error
		index string
	}{
		"Webhook": {func(ctx context.Context, db projections.DB) error {
			_, err := projections.ListDeliveries(ctx, db, domain.DeliveryFilter{DestinationID: "wh_1"})
			return err
		}, "deliveries_destination_idx"},
		"WebhookStatus": {func(ctx context.Context, db projections.DB) error {
			_, err := projections.ListDeliveries(ctx, db, domain.DeliveryFilter{DestinationID: "wh_1", Status: "failed"})
			return err
		}, "deliveries_destination_status_idx"},
		"Status": {func(ctx context.Context, db projections.DB) error {
			_, err := projections.ListDeliveries(ctx, db, domain.DeliveryFilter{Status: "failed"})
			return err
		}, "deliveries_status_idx"},
		"WebhookDelivered": {func(ctx context.Context, db projections.DB) error {
			_, err := projections.ListDeliveries(ctx, db, domain.DeliveryFilter{DestinationID: "wh_1", Status: "delivered"})
			return err
		}, "deliveries_destination_idx"},
		"StatusDelivered": {func(ctx context.Context, db projections.DB) error {
			_, err := projections.ListDeliveries(ctx, db, domain.DeliveryFilter{Status: "delivered"})
			return err
		}, "deliveries_created_idx"},
		"Event": {func(ctx context.Context, db projections.DB) error {
			_, err := projections.ListDeliveries(ctx, db, domain.DeliveryFilter{EventID: "evt_bulk_7"})
			return err
		}, "deliveries_event_idx"},
		"Redrivable": {func(ctx context.Context, db projections.DB) error {
			_, err := projections.RedrivableDeliveries(ctx, db, "wh_1", domain.DeliveryFilter{})
			return err
		}, "deliveries_destination"},
		"PublishedByType": {func(ctx context.Context, db projections.DB) error {
			_, err := projections.ListPublishedEvents(ctx, db, domain.PublishedEventFilter{Type: "system.error"})
			return err
		}, "published_events_type_seq_idx"},
		"Published": {func(ctx context.Context, db projections.DB) error {
			_, err := projections.ListPublishedEvents(ctx, db, domain.PublishedEventFilter{AfterSeq: 3})
			return err
		}, "published_events_seq_key"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			tx, err := b.pool.Begin(t.Context())
			require.NoError(t, err)
			defer func() { _ = tx.Rollback(context.WithoutCancel(t.Context())) }()
			// published_events is tiny: make the planner show the index it can use.
			_, err = tx.Exec(t.Context(), `SET LOCAL enable_seqscan = off`)
			require.NoError(t, err)
			db := &explainDB{Tx: tx}
			require.NoError(t, tc.list(t.Context(), db))
			require.Contains(t, db.plan, tc.index, db.plan)
		})
	}
}

func TestRedrivableDeliveries(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)

	for name, tc := range map[string]struct {
		webhook domain.WebhookID
		filter  domain.DeliveryFilter
		want    []string
	}{
		"FailedAndPermanent": {"wh_a", domain.DeliveryFilter{}, []string{"d2", "d4"}},
		"OtherWebhook":       {"wh_b", domain.DeliveryFilter{}, []string{"d5"}},
		"FilterWebhookIgnored": {
			"wh_b", domain.DeliveryFilter{DestinationID: "wh_a"}, []string{"d5"},
		},
		"Status":    {"wh_a", domain.DeliveryFilter{Status: domain.DeliveryPermanentFailure}, []string{"d2"}},
		"EventType": {"wh_a", domain.DeliveryFilter{EventType: "validation.completed"}, []string{"d4"}},
		"Since":     {"wh_a", domain.DeliveryFilter{Since: t0.Add(2 * time.Minute)}, []string{"d4"}},
		"Until":     {"wh_a", domain.DeliveryFilter{Until: t0.Add(2 * time.Minute)}, []string{"d2"}},
		"Limit":     {"wh_a", domain.DeliveryFilter{Limit: 1}, []string{"d2"}},
		"None":      {"wh_zzz", domain.DeliveryFilter{}, []string{}},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b := seedListing(t)
			got, err := projections.RedrivableDeliveries(t.Context(), b.pool, domain.DestinationID(tc.webhook), tc.filter)
			require.NoError(t, err)
			require.Equal(t, tc.want, deliveryIDs(got))
			for _, d := range got {
				require.True(t, d.Status.Redrivable())
			}
		})
	}

	t.Run("StatusNotRedrivable", func(t *testing.T) {
		t.Parallel()
		b := setupDeliveries(t)
		_, err := projections.RedrivableDeliveries(t.Context(), b.pool, "wh_a",
			domain.DeliveryFilter{Status: domain.DeliveryDelivered})
		require.ErrorIs(t, err, domain.ErrInvalid)
	})
}

// BenchmarkDeliveries_Project projects batches of 500 events: 250
// deliveries, each scheduled and attempted in the same batch, one
// transaction per batch.
func BenchmarkDeliveries_Project(b *testing.B) {
	pool := dbtest.Pool(b, nil)
	ctx := context.Background()
	_, err := pool.Exec(ctx, `INSERT INTO webhooks (id, name, url, secret, status, event_types,
			retry_strategy, max_retries, retry_delay_seconds, max_delay_seconds, backoff_multiplier,
			jitter_enabled, timeout_seconds, created_at, updated_at, version)
		VALUES ('wh_1', 'wh_1', 'https://example.com/wh_1', 'whsec_test', 'active', '{*}',
			'exponential_backoff', 3, 1, 60, 2, false, 10, now(), now(), 1)`)
	require.NoError(b, err)
	now := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	sched, err := json.Marshal(scheduled("", "wh_1", "evt_1", "validation.completed", now))
	require.NoError(b, err)
	att, err := json.Marshal(delivered(1, now.Add(time.Second)))
	require.NoError(b, err)

	const pairs = 250
	batch := make([]domain.Recorded, 0, 2*pairs)
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		batch = batch[:0]
		for range pairs {
			n++
			id := fmt.Sprintf("dlv_%d", n)
			batch = append(batch,
				domain.Recorded{StreamID: id, Version: 1, Type: domain.TypeDeliveryScheduled, Data: sched},
				domain.Recorded{StreamID: id, Version: 2, Type: domain.TypeDeliveryAttempted, Data: att})
		}
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			return projections.Deliveries{}.Project(ctx, tx, batch)
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(2*n)/b.Elapsed().Seconds(), "events/s")
}

// TestDeliveries_GapFailsLoudly: an event that arrives before an earlier
// version of its stream used to be applied over the gap, and the earlier
// one skipped later as already seen — an attempt lost from the read model
// for good. Now the batch fails with ErrGap and nothing of it is applied.
func TestDeliveries_GapFailsLoudly(t *testing.T) {
	t.Parallel()
	b := setupDeliveries(t)
	b.project(t, b.rec(t, "dlv_g", 1, scheduled("dlv_g", "wh_1", "evt_1", "system.error", b.now)))

	v3 := b.rec(t, "dlv_g", 3, delivered(2, b.now.Add(time.Minute)))
	err := pgx.BeginFunc(t.Context(), b.pool, func(tx pgx.Tx) error {
		return projections.Deliveries{}.Project(t.Context(), tx, []domain.Recorded{v3})
	})
	require.ErrorIs(t, err, projections.ErrGap)

	// Once version 2 arrives, both apply in order and both attempts exist.
	v2 := b.rec(t, "dlv_g", 2, retrying(1, b.now.Add(time.Second), b.now.Add(time.Minute)))
	b.project(t, v2, v3)
	d, err := projections.GetDelivery(t.Context(), b.pool, "dlv_g")
	require.NoError(t, err)
	require.Equal(t, domain.DeliveryDelivered, d.Status)
	as, err := projections.ListAttempts(t.Context(), b.pool, "dlv_g")
	require.NoError(t, err)
	require.Len(t, as, 2, "no attempt lost")

	// A replayed batch (versions already applied) changes nothing.
	b.project(t, v2, v3)
	again, err := projections.GetDelivery(t.Context(), b.pool, "dlv_g")
	require.NoError(t, err)
	require.Equal(t, d.Version, again.Version)
}

func TestDeliveries_EventForUnknownDeliveryFailsLoudly(t *testing.T) {
	t.Parallel()
	b := setupDeliveries(t)
	err := pgx.BeginFunc(t.Context(), b.pool, func(tx pgx.Tx) error {
		return projections.Deliveries{}.Project(t.Context(), tx, []domain.Recorded{
			b.rec(t, "dlv_x", 2, delivered(1, b.now)),
		})
	})
	require.ErrorIs(t, err, projections.ErrGap, "its delivery.scheduled was never applied")
}
