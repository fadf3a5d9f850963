package relay_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/loki-interceptor/lokihooks/domain"
	"github.com/loki-interceptor/lokihooks/eventstore"
	"github.com/loki-interceptor/lokihooks/projections"
	"github.com/loki-interceptor/lokihooks/relay"
)

func count(t *testing.T, b *testBundle, query string) int {
	t.Helper()
	var n int
	require.NoError(t, b.pool.QueryRow(t.Context(), query).Scan(&n))
	return n
}

func execSQL(t *testing.T, b *testBundle, query string, args ...any) {
	t.Helper()
	_, err := b.pool.Exec(t.Context(), query, args...)
	require.NoError(t, err)
}

// TestRetention checks that one retention pass deletes what is old and
// keeps the rest, that attempt excerpts go without an event row being
// edited, and that a replay afterwards builds the read model live has.
func TestRetention(t *testing.T) {
	t.Parallel()

	t.Run("DeletesOldRowsKeepsTheRestReplayEqualsLive", func(t *testing.T) {
		t.Parallel()
		b := setup(t, nil)
		rc := newReceiver(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("X-Receipt", "r1")
			_, _ = w.Write([]byte("accepted"))
		})
		hook := b.createWebhook(t, rc.URL, nil)
		var evs []domain.EventID
		for range 3 {
			ev := b.publish(t, domain.EventTypeSystemError, `{"error_code":"E"}`)
			b.waitDelivery(t, ev, hook.ID, domain.DeliveryDelivered)
			evs = append(evs, ev)
		}
		require.Eventually(t, func() bool {
			return count(t, b, `SELECT count(*) FROM delivery_attempts`) == 3
		}, 20*time.Second, 5*time.Millisecond)

		// Two attempts as recorded before payload rows existed, with their
		// excerpts in the event: one old, one recent.
		legacy := func(id string, age time.Duration) domain.DeliveryID {
			at := time.Now().Add(-age).UTC().Truncate(time.Microsecond)
			_, err := b.events.Append(t.Context(), domain.Append{
				StreamID: id, StreamType: domain.DeliveryStreamType, Expect: 0,
				Events: []domain.Event{
					domain.DeliveryScheduled{
						DeliveryID: domain.DeliveryID(id), DestinationID: domain.DestinationID(hook.ID),
						Kind: domain.KindWebhook, EventID: "evt_" + domain.EventID(id), Type: domain.EventTypeSystemError, At: at,
					},
					domain.DeliveryAttempted{
						Attempt: 1, RequestHeaders: map[string]string{"X-Webhook-Attempt": "1"},
						StatusCode: 200, ResponseBody: "legacy " + id, Status: domain.DeliveryDelivered, At: at,
					},
				},
			})
			require.NoError(t, err)
			return domain.DeliveryID(id)
		}
		oldLegacy, newLegacy := legacy("dlv_legacyold", 40*24*time.Hour), legacy("dlv_legacynew", 24*time.Hour)
		require.Eventually(t, func() bool {
			return count(t, b, `SELECT count(*) FROM delivery_attempts`) == 5
		}, 20*time.Second, 5*time.Millisecond)

		// Age what retention should take: two of three outbox rows, two of
		// three payload rows; and add keys and rate windows, old and new.
		execSQL(t, b, `UPDATE watermill_outbox SET created_at = created_at - interval '8 days'
			WHERE ("transaction_id", "offset") IN (SELECT "transaction_id", "offset" FROM watermill_outbox ORDER BY 1, 2 LIMIT 2)`)
		execSQL(t, b, `UPDATE attempt_payloads SET recorded_at = now() - interval '31 days'
			WHERE id IN (SELECT id FROM attempt_payloads ORDER BY id LIMIT 2)`)
		execSQL(t, b, `INSERT INTO idempotency_keys (key, request_hash, event_id, created_at) VALUES
			('old1', 'h', 'e', now() - interval '25 hours'), ('old2', 'h', 'e', now() - interval '2 days'),
			('new', 'h', 'e', now() - interval '1 hour')`)
		execSQL(t, b, `INSERT INTO rate_windows (destination_id, window_kind, window_start, count) VALUES
			('wh_x', 'minute', date_trunc('minute', now()) - interval '2 hours', 5),
			('wh_x', 'hour', date_trunc('hour', now()) - interval '3 hours', 5),
			('wh_x', 'minute', date_trunc('minute', now()), 1),
			('wh_x', 'hour', date_trunc('hour', now()) + interval '1 hour', 1)`)
		keptPayload := count(t, b, `SELECT max(id) FROM attempt_payloads`)
		logBefore := eventRows(t, b)

		res, err := b.relay.RunRetention(t.Context())
		require.NoError(t, err)
		require.Equal(t, relay.RetentionResult{Outbox: 2, IdempotencyKeys: 2, RateWindows: 2, AttemptPayloads: 2, Redactions: 1}, res)
		require.Equal(t, 1, count(t, b, `SELECT count(*) FROM watermill_outbox`))
		require.Equal(t, 1, count(t, b, `SELECT count(*) FROM idempotency_keys WHERE key = 'new'`))
		require.Equal(t, 1, count(t, b, `SELECT count(*) FROM idempotency_keys`))
		require.Equal(t, 2, count(t, b, `SELECT count(*) FROM rate_windows WHERE window_start >= date_trunc('minute', now())`))
		require.Equal(t, 2, count(t, b, `SELECT count(*) FROM rate_windows`))
		require.Equal(t, keptPayload, count(t, b, `SELECT min(id) FROM attempt_payloads`))
		require.Equal(t, 1, count(t, b, `SELECT count(*) FROM attempt_payloads`))
		require.Equal(t, logBefore, eventRows(t, b), "no event row was edited")

		var redaction domain.AttemptExcerptsRedacted
		recs, err := b.events.Load(t.Context(), domain.AttemptExcerptsStream)
		require.NoError(t, err)
		require.Len(t, recs, 1)
		e, err := domain.DecodeEvent(recs[0].Type, recs[0].Data)
		require.NoError(t, err)
		redaction = e.(domain.AttemptExcerptsRedacted)
		require.Equal(t, int64(keptPayload-1), redaction.Through)
		require.Equal(t, 2, redaction.Count)

		// The excerpts of the two oldest deliveries and of the old legacy
		// attempt are gone; the others are whole.
		excerpt := func(id domain.DeliveryID) string {
			as := attempts(t, b, id)
			require.Len(t, as, 1)
			return as[0].ResponseBody + "|" + as[0].ResponseHeaders["X-Receipt"] + "|" + as[0].RequestHeaders["X-Webhook-Attempt"]
		}
		for i, ev := range evs {
			want := "||"
			if i == 2 {
				want = "accepted|r1|1"
			}
			require.Equal(t, want, excerpt(domain.DeliveryIDFor(ev, hook.ID)), "delivery %d", i)
		}
		require.Eventually(t, func() bool { return excerpt(oldLegacy) == "||" }, 20*time.Second, 5*time.Millisecond,
			"the live projection clears the old legacy excerpts")
		require.Equal(t, "legacy dlv_legacynew||1", excerpt(newLegacy))

		again, err := b.relay.RunRetention(t.Context())
		require.NoError(t, err)
		require.Equal(t, relay.RetentionResult{}, again, "a second pass finds nothing")

		// Replay equals live.
		live := readModel(t, b)
		_, err = projections.Rebuild(t.Context(), b.pool, projections.Definition{
			Name: "deliveries", Version: projections.DeliveriesVersion, Tables: projections.DeliveriesTables,
			Borrowed: []string{"webhooks"}, AfterSwap: projections.Deliveries{}.RefreshLastTriggered, Projector: projections.Deliveries{},
		}, projections.RebuildConfig{Read: func(ctx context.Context, q projections.DB, after domain.LogPosition, limit int) ([]domain.Recorded, error) {
			return eventstore.ReadLog(ctx, q, after, limit)
		}})
		require.NoError(t, err)
		require.JSONEq(t, live, readModel(t, b))
		require.Equal(t, "||", excerpt(oldLegacy))
		require.Equal(t, "legacy dlv_legacynew||1", excerpt(newLegacy))
	})

	t.Run("OutboxKeepsWhatTheFanoutHasNotConsumed", func(t *testing.T) {
		t.Parallel()
		b := setup(t, &setupOpts{noFanout: true, noWork: true})
		for range 3 {
			b.publish(t, domain.EventTypeSystemError, `{"error_code":"E"}`)
		}
		execSQL(t, b, `UPDATE watermill_outbox SET created_at = created_at - interval '30 days'`)
		// The fan-out acknowledged the second event only.
		execSQL(t, b, `INSERT INTO watermill_offsets_outbox (consumer_group, offset_acked, last_processed_transaction_id)
			SELECT 'fanout', "offset", transaction_id FROM watermill_outbox ORDER BY transaction_id, "offset" OFFSET 1 LIMIT 1`)
		res, err := b.relay.RunRetention(t.Context())
		require.NoError(t, err)
		require.Equal(t, 2, res.Outbox)
		require.Equal(t, 1, count(t, b, `SELECT count(*) FROM watermill_outbox o, watermill_offsets_outbox f
			WHERE (o.transaction_id, o."offset") > (f.last_processed_transaction_id, f.offset_acked)`), "the unconsumed event stays")
		require.Equal(t, 1, count(t, b, `SELECT count(*) FROM watermill_outbox`))
	})

	t.Run("OneProcessAtATime", func(t *testing.T) {
		t.Parallel()
		b := setup(t, &setupOpts{noFanout: true, noWork: true})
		execSQL(t, b, `INSERT INTO idempotency_keys (key, request_hash, event_id, created_at) VALUES ('old', 'h', 'e', now() - interval '2 days')`)
		tx, err := b.pool.Begin(t.Context())
		require.NoError(t, err)
		defer func() { _ = tx.Rollback(context.WithoutCancel(t.Context())) }()
		_, err = tx.Exec(t.Context(), `SELECT pg_advisory_xact_lock(hashtext('lokihooks.retention:' || current_schema()))`)
		require.NoError(t, err)
		res, err := b.relay.RunRetention(t.Context())
		require.NoError(t, err)
		require.True(t, res.Skipped)
		require.Equal(t, 1, count(t, b, `SELECT count(*) FROM idempotency_keys`))
		require.NoError(t, tx.Rollback(t.Context()))
		res, err = b.relay.RunRetention(t.Context())
		require.NoError(t, err)
		require.Equal(t, 1, res.IdempotencyKeys)
	})
}

// eventRows returns every event row but the redactions, as JSON.
func eventRows(t *testing.T, b *testBundle) string {
	t.Helper()
	var out string
	require.NoError(t, b.pool.QueryRow(t.Context(), `SELECT coalesce(jsonb_agg(to_jsonb(e) ORDER BY position), '[]')::text
		FROM events e WHERE type <> $1`, domain.TypeAttemptExcerptsRedacted).Scan(&out))
	return out
}

// readModel returns the deliveries read model as JSON.
func readModel(t *testing.T, b *testBundle) string {
	t.Helper()
	var out string
	require.NoError(t, b.pool.QueryRow(t.Context(), `SELECT jsonb_build_object(
		'deliveries', (SELECT coalesce(jsonb_agg(to_jsonb(d) ORDER BY d.id), '[]') FROM deliveries d),
		'attempts', (SELECT coalesce(jsonb_agg(to_jsonb(a) ORDER BY a.delivery_id, a.attempt), '[]') FROM delivery_attempts a))::text`).Scan(&out))
	return out
}
