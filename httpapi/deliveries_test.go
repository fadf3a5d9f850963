package httpapi_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/loki-interceptor/lokihooks/domain"
	"github.com/loki-interceptor/lokihooks/httpapi"
)

const (
	deliveriesPath        = "/api/v1/deliveries"
	webhookDeliveriesPath = "/api/v1/webhooks/wh_1/deliveries"
)

// testDeliveries returns n deliveries of evt_1 to wh_1, one second apart,
// with sub-microsecond timestamps so cursors must keep nanoseconds.
func testDeliveries(n int) []domain.DeliveryView {
	out := make([]domain.DeliveryView, n)
	for i := range out {
		created := time.Date(2026, 11, 29, 10, 0, i, 123456789, time.UTC)
		out[i] = domain.DeliveryView{
			ID: domain.DeliveryID(fmt.Sprintf("dlv_%d", i+1)), DestinationID: "wh_1", Kind: domain.KindWebhook, EventID: "evt_1",
			EventType: "compliance.alert", Status: domain.DeliveryPending, CreatedAt: created, UpdatedAt: created,
		}
	}
	return out
}

func deliveryIDs(ds []httpapi.Delivery) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.ID
	}
	return out
}

func jsonKeys(t *testing.T, raw []byte) []string {
	t.Helper()
	var m map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(raw, &m), "body: %s", raw)
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func TestAPI_ListDeliveries(t *testing.T) {
	t.Parallel()

	t.Run("WebhookCursorPagination", func(t *testing.T) {
		t.Parallel()
		fake, b := setupPipeline(t)
		fake.deliveries = testDeliveries(3)
		query := "?status=permanent_failure&event_type=compliance.alert&since=2026-11-29T11:00:00%2B01:00&until=2026-11-30T00:00:00.5Z&limit=2"

		r := b.get(t, webhookDeliveriesPath+query)
		page := decode[httpapi.DeliveryList](t, r, http.StatusOK)
		require.Equal(t, []string{"dlv_1", "dlv_2"}, deliveryIDs(page.Data))
		require.NotEmpty(t, page.NextCursor)
		require.Equal(t, `</api/v1/webhooks/wh_1/deliveries?cursor=`+page.NextCursor+
			`&event_type=compliance.alert&limit=2&since=2026-11-29T11%3A00%3A00%2B01%3A00&status=permanent_failure&until=2026-11-30T00%3A00%3A00.5Z>; rel="next"`,
			r.header.Get("Link"))

		// The Link is usable as is.
		next := strings.TrimSuffix(strings.TrimPrefix(r.header.Get("Link"), "<"), `>; rel="next"`)
		r = b.get(t, next)
		page = decode[httpapi.DeliveryList](t, r, http.StatusOK)
		require.Equal(t, []string{"dlv_3"}, deliveryIDs(page.Data))
		requireNoKey(t, r.body, "next_cursor")
		require.Empty(t, r.header.Get("Link"))

		want := domain.DeliveryFilter{
			DestinationID: "wh_1", Status: domain.DeliveryPermanentFailure, EventType: "compliance.alert",
			Since: time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC), Until: time.Date(2026, 11, 30, 0, 0, 0, 5e8, time.UTC),
			Limit: 3,
		}
		second := want
		second.After = &domain.DeliveryCursor{CreatedAt: fake.deliveries[1].CreatedAt, ID: "dlv_2"}
		require.Equal(t, []domain.DeliveryFilter{want, second}, fake.seen().deliveryFilters)
	})

	t.Run("AcrossWebhooks", func(t *testing.T) {
		t.Parallel()
		fake, b := setupPipeline(t)
		fake.deliveries = testDeliveries(2)

		r := b.get(t, deliveriesPath+"?webhook_id=wh_2&status=permanent_failure&event_id=evt_9&limit=1")
		page := decode[httpapi.DeliveryList](t, r, http.StatusOK)
		require.Equal(t, []string{"dlv_1"}, deliveryIDs(page.Data))
		require.Equal(t, `</api/v1/deliveries?cursor=`+page.NextCursor+
			`&event_id=evt_9&limit=1&status=permanent_failure&webhook_id=wh_2>; rel="next"`, r.header.Get("Link"))

		page = decode[httpapi.DeliveryList](t, b.get(t, deliveriesPath+"?limit=1&cursor="+page.NextCursor), http.StatusOK)
		require.Equal(t, []string{"dlv_2"}, deliveryIDs(page.Data))

		require.Equal(t, []domain.DeliveryFilter{
			{DestinationID: "wh_2", Status: domain.DeliveryPermanentFailure, EventID: "evt_9", Limit: 2},
			{After: &domain.DeliveryCursor{CreatedAt: fake.deliveries[0].CreatedAt, ID: "dlv_1"}, Limit: 2},
		}, fake.seen().deliveryFilters)
	})

	t.Run("DefaultLimit", func(t *testing.T) {
		t.Parallel()
		fake, b := setupPipeline(t)
		r := b.get(t, deliveriesPath)
		require.JSONEq(t, `{"data": []}`, string(r.body))
		require.Equal(t, []domain.DeliveryFilter{{Limit: httpapi.DefaultPageLimit + 1}}, fake.seen().deliveryFilters)
	})

	t.Run("SummaryJSON", func(t *testing.T) {
		t.Parallel()
		fake, b := setupPipeline(t)
		next := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
		created := time.Date(2026, 11, 29, 11, 0, 0, 0, time.FixedZone("CET", 3600))
		fake.deliveries = []domain.DeliveryView{{
			ID: "dlv_1", DestinationID: "wh_1", Kind: domain.KindWebhook, EventID: "evt_1", EventType: "compliance.alert",
			Status: domain.DeliveryRetrying, Attempts: 2, LastStatusCode: 503, LastErrorCategory: domain.ErrorCategoryHTTP5xx,
			LastErrorDetail: "HTTP 503 Service Unavailable", LastDurationMS: 12.5, NextAttemptAt: &next,
			CreatedAt: created, UpdatedAt: created.Add(time.Minute), Version: 3,
		}}
		r := b.get(t, webhookDeliveriesPath)
		require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
		require.JSONEq(t, `{"data": [{
			"id": "dlv_1", "destination_id": "wh_1", "destination_type": "webhook", "webhook_id": "wh_1", "event_id": "evt_1", "event_type": "compliance.alert",
			"status": "retrying", "attempts": 2, "last_status_code": 503, "last_error_category": "http_5xx",
			"last_error_detail": "HTTP 503 Service Unavailable", "last_duration_ms": 12.5,
			"next_attempt_at": "2026-11-29T12:00:00Z", "created_at": "2026-11-29T10:00:00Z",
			"updated_at": "2026-11-29T10:01:00Z", "delivered_at": null}]}`, string(r.body))
	})

	t.Run("BadFilters", func(t *testing.T) {
		t.Parallel()
		fake, b := setupPipeline(t)
		for query, location := range map[string]string{
			"since=yesterday":                      "query.since",
			"since=2026-11-29":                     "query.since",
			"until=2026-11-29T10:00:00":            "query.until",
			"status=lost":                          "query.status",
			"limit=0":                              "query.limit",
			"limit=101":                            "query.limit",
			"event_type=a%00b":                     "query.event_type",
			"webhook_id=wh_%00":                    "query.webhook_id",
			"event_id=" + strings.Repeat("e", 201): "query.event_id",
		} {
			p := requireProblem(t, b.get(t, deliveriesPath+"?"+query), http.StatusUnprocessableEntity)
			require.Contains(t, errorLocations(p), location, query)
		}
		p := requireProblem(t, b.get(t, webhookDeliveriesPath+"?since=soon"), http.StatusUnprocessableEntity)
		require.Equal(t, []string{"query.since"}, errorLocations(p))
		fake.requireUntouched(t)
	})

	t.Run("InvalidCursor", func(t *testing.T) {
		t.Parallel()
		fake, b := setupPipeline(t)
		enc := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
		for _, cursor := range []string{
			"!!!", enc("dlv_1"), enc("2026-11-29T10:00:00Z"), enc("yesterday|dlv_1"),
			enc("2026-11-29T10:00:00Z|wh_1"), enc("2026-11-29T10:00:00Z|dlv_\x00"),
		} {
			p := requireProblem(t, b.get(t, deliveriesPath+"?cursor="+cursor), http.StatusBadRequest)
			require.Equal(t, []string{"query.cursor"}, errorLocations(p), cursor)
		}
		fake.requireUntouched(t)
	})
}

func TestAPI_DeliveriesOfUnknownWebhook(t *testing.T) {
	t.Parallel()
	// A webhook that does not exist has no deliveries to list, get or
	// retry: 404, not an empty list.
	fake, b := setupPipeline(t)
	fake.deliveries = testDeliveries(1)
	for _, req := range []request{
		{method: http.MethodGet, path: "/api/v1/webhooks/wh_nope/deliveries"},
		{method: http.MethodGet, path: "/api/v1/webhooks/wh_nope/deliveries?status=failed&order=asc"},
		{method: http.MethodGet, path: "/api/v1/webhooks/wh_nope/deliveries/dlv_1"},
		{method: http.MethodPost, path: "/api/v1/webhooks/wh_nope/retry"},
	} {
		p := requireProblem(t, b.do(t, req), http.StatusNotFound)
		require.Contains(t, p.Detail, "wh_nope", "%s %s", req.method, req.path)
	}
	fake.requireUntouched(t)
}

func TestAPI_ListOrder(t *testing.T) {
	t.Parallel()
	// Every list is newest first unless order=asc; the next-page Link
	// keeps the order.
	for _, path := range []string{deliveriesPath, webhookDeliveriesPath} {
		fake, b := setupPipeline(t)
		fake.deliveries = testDeliveries(3)
		decode[httpapi.DeliveryList](t, b.get(t, path+"?limit=2"), http.StatusOK)
		r := b.get(t, path+"?limit=2&order=asc")
		page := decode[httpapi.DeliveryList](t, r, http.StatusOK)
		require.Contains(t, r.header.Get("Link"), "&order=asc")
		decode[httpapi.DeliveryList](t, b.get(t, path+"?limit=2&order=desc"), http.StatusOK)
		var ascending []bool
		for _, f := range fake.seen().deliveryFilters {
			ascending = append(ascending, f.Ascending)
		}
		require.Equal(t, []bool{false, true, false}, ascending, path)
		require.NotEmpty(t, page.NextCursor)
	}

	fake, b := setupPipeline(t)
	fake.events = testEvents(3)
	decode[httpapi.EventList](t, b.get(t, eventsPath+"?limit=2"), http.StatusOK)
	r := b.get(t, eventsPath+"?limit=2&order=asc")
	decode[httpapi.EventList](t, r, http.StatusOK)
	require.Contains(t, r.header.Get("Link"), "&order=asc")
	filters := fake.seen().eventFilters
	require.Len(t, filters, 2)
	require.False(t, filters[0].Ascending)
	require.True(t, filters[1].Ascending)

	for _, path := range []string{deliveriesPath, webhookDeliveriesPath, eventsPath, webhooksPath} {
		p := requireProblem(t, b.get(t, path+"?order=random"), http.StatusUnprocessableEntity)
		require.Equal(t, []string{"query.order"}, errorLocations(p), path)
		require.Contains(t, p.Errors[0].Message, "asc, desc", path)
	}
}

func TestAPI_UnknownFilterValues(t *testing.T) {
	t.Parallel()
	// A filter naming an event type or a status that does not exist is a
	// 422 that names the allowed values, not an empty list.
	fake, b := setupPipeline(t)
	types := strings.Join(domain.EventTypeNames(), ", ")
	for _, c := range []struct {
		req      request
		location string
		allowed  string
	}{
		{request{method: http.MethodGet, path: deliveriesPath + "?event_type=nope.nothing"}, "query.event_type", types},
		{request{method: http.MethodGet, path: webhookDeliveriesPath + "?event_type=nope.nothing"}, "query.event_type", types},
		{request{method: http.MethodGet, path: eventsPath + "?type=nope.nothing"}, "query.type", types},
		{request{method: http.MethodGet, path: webhooksPath + "?event_type=nope.nothing"}, "query.event_type", types + ", *"},
		{request{method: http.MethodGet, path: deliveriesPath + "?event_type=*"}, "query.event_type", types},
		{retryRequest(map[string]any{"event_type": "nope.nothing"}), "body.event_type", types},
		{request{method: http.MethodGet, path: deliveriesPath + "?status=lost"}, "query.status", "pending, retrying, delivered, failed, permanent_failure"},
		{request{method: http.MethodGet, path: webhookDeliveriesPath + "?status=lost"}, "query.status", "pending, retrying, delivered, failed, permanent_failure"},
		{request{method: http.MethodGet, path: webhooksPath + "?status=sleeping"}, "query.status", "active, inactive, paused, deleted"},
		{retryRequest(map[string]any{"status": "delivered"}), "body.status", "failed, permanent_failure"},
	} {
		p := requireProblem(t, b.do(t, c.req), http.StatusUnprocessableEntity)
		require.Equal(t, []string{c.location}, errorLocations(p), c.req.path)
		require.Contains(t, p.Errors[0].Message, c.allowed, c.req.path)
		if strings.Contains(c.location, "type") {
			require.Contains(t, p.Errors[0].Message, "GET /api/v1/event-types")
		}
	}
	fake.requireUntouched(t)
}

func retryRequest(body any) request {
	return request{method: http.MethodPost, path: "/api/v1/webhooks/wh_1/retry", body: body}
}

func TestAPI_GetWebhookDelivery(t *testing.T) {
	t.Parallel()

	t.Run("WithAttempts", func(t *testing.T) {
		t.Parallel()
		fake, b := setupPipeline(t)
		delivered := time.Date(2026, 11, 29, 10, 5, 0, 0, time.UTC)
		retryAt := time.Date(2026, 11, 29, 10, 1, 0, 0, time.UTC)
		fake.deliveries = testDeliveries(1)
		fake.deliveries[0].Status, fake.deliveries[0].Attempts, fake.deliveries[0].DeliveredAt = domain.DeliveryDelivered, 2, &delivered
		fake.attempts = []domain.AttemptView{
			{
				Attempt: 1, Status: domain.DeliveryRetrying, ErrorCategory: domain.ErrorCategoryNetwork, ErrorDetail: "dns",
				DurationMS: 3, RequestHeaders: map[string]string{"Webhook-Signature": "[redacted]"},
				NextAttemptAt: &retryAt, AttemptedAt: time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC),
			},
			{
				Attempt: 2, Status: domain.DeliveryDelivered, StatusCode: 200, DurationMS: 42.25,
				RequestHeaders: map[string]string{"Webhook-Id": "evt_1"}, ResponseHeaders: map[string]string{"Content-Type": "text/plain"},
				ResponseBody: "ok", Truncated: true, AttemptedAt: delivered,
			},
		}

		r := b.get(t, webhookDeliveriesPath+"/dlv_1")
		require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
		require.JSONEq(t, `{
			"id": "dlv_1", "destination_id": "wh_1", "destination_type": "webhook", "webhook_id": "wh_1", "event_id": "evt_1", "event_type": "compliance.alert",
			"status": "delivered", "attempts": 2, "last_status_code": 0, "last_error_category": "",
			"last_error_detail": "", "last_duration_ms": 0, "next_attempt_at": null,
			"created_at": "2026-11-29T10:00:00.123456789Z", "updated_at": "2026-11-29T10:00:00.123456789Z",
			"delivered_at": "2026-11-29T10:05:00Z",
			"attempt_history": [
				{"attempt": 1, "status": "retrying", "status_code": 0, "error_category": "network", "error_detail": "dns",
				 "duration_ms": 3, "request_headers": {"Webhook-Signature": "[redacted]"}, "response_headers": {},
				 "response_body": "", "truncated": false, "next_attempt_at": "2026-11-29T10:01:00Z",
				 "attempted_at": "2026-11-29T10:00:00Z"},
				{"attempt": 2, "status": "delivered", "status_code": 200, "error_category": "", "error_detail": "",
				 "duration_ms": 42.25, "request_headers": {"Webhook-Id": "evt_1"}, "response_headers": {"Content-Type": "text/plain"},
				 "response_body": "ok", "truncated": true, "next_attempt_at": null, "attempted_at": "2026-11-29T10:05:00Z"}
			]}`, string(r.body))
		require.Equal(t, []domain.DeliveryID{"dlv_1"}, fake.seen().deliveryIDs)
	})

	t.Run("OtherWebhook", func(t *testing.T) {
		t.Parallel()
		fake, b := setupPipeline(t)
		fake.deliveries = testDeliveries(1)
		p := requireProblem(t, b.get(t, "/api/v1/webhooks/wh_2/deliveries/dlv_1"), http.StatusNotFound)
		require.Contains(t, p.Detail, "no delivery with this id for this webhook")
	})

	t.Run("Unknown", func(t *testing.T) {
		t.Parallel()
		_, b := setupPipeline(t)
		requireProblem(t, b.get(t, webhookDeliveriesPath+"/dlv_nope"), http.StatusNotFound)
	})

	t.Run("ImpossibleIDs", func(t *testing.T) {
		t.Parallel()
		fake, b := setupPipeline(t)
		requireProblem(t, b.get(t, webhookDeliveriesPath+"/dlv_%00"), http.StatusNotFound)
		requireProblem(t, b.get(t, "/api/v1/webhooks/wh_%FF/deliveries/dlv_1"), http.StatusNotFound)
		fake.requireUntouched(t)
	})
}

func TestAPI_RetryWebhookDeliveries(t *testing.T) {
	t.Parallel()
	retry := func(webhook string, body any) request {
		return request{method: http.MethodPost, path: "/api/v1/webhooks/" + webhook + "/retry", body: body}
	}

	t.Run("NoBody", func(t *testing.T) {
		t.Parallel()
		fake, b := setupPipeline(t)
		fake.redriven = 4
		got := decode[httpapi.RetryDeliveriesResult](t, b.do(t, retry("wh_1", nil)), http.StatusOK)
		require.Equal(t, httpapi.RetryDeliveriesResult{Redriven: 4}, got)
		require.Equal(t, []redriveCall{{"wh_1", domain.DeliveryFilter{DestinationID: "wh_1"}}}, fake.seen().redrives)
	})

	t.Run("Filter", func(t *testing.T) {
		t.Parallel()
		fake, b := setupPipeline(t)
		fake.redriven = 2
		r := b.do(t, retry("wh_1", map[string]any{
			"status": "permanent_failure", "event_type": "compliance.alert",
			"since": "2026-11-29T00:00:00Z", "until": "2026-11-29T12:00:00+02:00",
		}))
		require.Equal(t, httpapi.RetryDeliveriesResult{Redriven: 2}, decode[httpapi.RetryDeliveriesResult](t, r, http.StatusOK))
		require.Equal(t, []redriveCall{{"wh_1", domain.DeliveryFilter{
			DestinationID: "wh_1", Status: domain.DeliveryPermanentFailure, EventType: "compliance.alert",
			Since: time.Date(2026, 11, 29, 0, 0, 0, 0, time.UTC), Until: time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC),
		}}}, fake.seen().redrives)
	})

	t.Run("DeliveryIDs", func(t *testing.T) {
		t.Parallel()
		fake, b := setupPipeline(t)
		fake.redriven = 1
		r := b.do(t, retry("wh_1", map[string]any{"delivery_ids": []string{"dlv_1", "dlv_2"}, "status": "failed"}))
		require.Equal(t, httpapi.RetryDeliveriesResult{Redriven: 1}, decode[httpapi.RetryDeliveriesResult](t, r, http.StatusOK))
		require.Equal(t, []redriveCall{{"wh_1", domain.DeliveryFilter{
			DestinationID: "wh_1", Status: domain.DeliveryFailed, IDs: []domain.DeliveryID{"dlv_1", "dlv_2"},
		}}}, fake.seen().redrives)
		// A hundred is the most one call takes.
		r = b.do(t, retry("wh_1", map[string]any{"delivery_ids": manyIDs(100)}))
		decode[httpapi.RetryDeliveriesResult](t, r, http.StatusOK)
	})

	t.Run("EmptyObject", func(t *testing.T) {
		t.Parallel()
		fake, b := setupPipeline(t)
		r := b.do(t, retry("wh_1", map[string]any{}))
		require.Equal(t, httpapi.RetryDeliveriesResult{Redriven: 0}, decode[httpapi.RetryDeliveriesResult](t, r, http.StatusOK))
		require.Equal(t, []redriveCall{{"wh_1", domain.DeliveryFilter{DestinationID: "wh_1"}}}, fake.seen().redrives)
	})

	t.Run("UnknownWebhook", func(t *testing.T) {
		t.Parallel()
		fake, b := setupPipeline(t)
		requireProblem(t, b.do(t, retry("wh_nope", nil)), http.StatusNotFound)
		requireProblem(t, b.do(t, retry("wh_nope", map[string]any{"status": "failed"})), http.StatusNotFound)
		fake.requireUntouched(t)
	})

	t.Run("Malformed", func(t *testing.T) {
		t.Parallel()
		fake, b := setupPipeline(t)
		for name, c := range map[string]struct {
			body     any
			status   int
			location string
		}{
			"NotRedrivable":  {map[string]any{"status": "delivered"}, http.StatusUnprocessableEntity, "body.status"},
			"BadSince":       {map[string]any{"since": "yesterday"}, http.StatusUnprocessableEntity, "body.since"},
			"BadUntil":       {map[string]any{"until": "2026-11-29"}, http.StatusUnprocessableEntity, "body.until"},
			"TooManyIDs":     {map[string]any{"delivery_ids": manyIDs(101)}, http.StatusUnprocessableEntity, "body.delivery_ids"},
			"NULDeliveryID":  {map[string]any{"delivery_ids": []string{"dlv_1", "dlv\x00"}}, http.StatusUnprocessableEntity, "body.delivery_ids[1]"},
			"IDsNotAList":    {map[string]any{"delivery_ids": "dlv_1"}, http.StatusUnprocessableEntity, "body.delivery_ids"},
			"EventTypeNUL":   {map[string]any{"event_type": "a\x00"}, http.StatusUnprocessableEntity, "body.event_type"},
			"NotJSON":        {`{"status": `, http.StatusBadRequest, "body"},
			"Array":          {`[]`, http.StatusUnprocessableEntity, "body"},
			"Oversized":      {`{"event_type": "` + strings.Repeat("x", httpapi.MaxBodyBytes) + `"}`, http.StatusRequestEntityTooLarge, ""},
			"ImpossibleHook": {nil, http.StatusNotFound, ""},
		} {
			hook := "wh_1"
			if name == "ImpossibleHook" {
				hook = "wh_%00"
			}
			p := requireProblem(t, b.do(t, retry(hook, c.body)), c.status)
			if c.location != "" {
				require.Contains(t, errorLocations(p), c.location, name)
			}
		}
		fake.requireUntouched(t)
	})
}

func TestAPI_TestWebhook(t *testing.T) {
	t.Parallel()
	test := func(webhook string) request {
		return request{method: http.MethodPost, path: "/api/v1/webhooks/" + webhook + "/test"}
	}

	t.Run("Success", func(t *testing.T) {
		t.Parallel()
		fake, b := setupPipeline(t)
		// 1023 ASCII bytes then "é" (2 bytes): the 1 KiB cut splits it.
		body := append(bytes.Repeat([]byte("a"), 1023), "é and more"...)
		fake.testResult = domain.AttemptResult{
			StatusCode: 200, Success: true, Duration: 1500 * time.Microsecond, ResponseBody: body,
			ResponseHeaders: http.Header{"X-Secret": {"not returned"}},
		}
		r := b.do(t, test("wh_1"))
		got := decode[httpapi.WebhookTestResult](t, r, http.StatusOK)
		require.Equal(t, httpapi.WebhookTestResult{
			Success: true, StatusCode: 200, LatencyMS: 1.5, ResponseExcerpt: strings.Repeat("a", 1023),
		}, got)
		require.Equal(t, []string{"error_category", "error_detail", "latency_ms", "response_excerpt", "status_code", "success"}, jsonKeys(t, r.body))
		require.Equal(t, []domain.WebhookID{"wh_1"}, fake.seen().tested)
	})

	t.Run("Failure", func(t *testing.T) {
		t.Parallel()
		fake, b := setupPipeline(t)
		fake.testResult = domain.AttemptResult{
			Category: domain.ErrorCategoryNetwork, Detail: domain.NetworkDetailDNS, Duration: 2 * time.Millisecond,
			Err: fmt.Errorf("dial receiver.example: no such host"),
		}
		got := decode[httpapi.WebhookTestResult](t, b.do(t, test("wh_1")), http.StatusOK)
		require.Equal(t, httpapi.WebhookTestResult{LatencyMS: 2, ErrorCategory: "network", ErrorDetail: "dns"}, got)
	})

	t.Run("InvalidUTF8Body", func(t *testing.T) {
		t.Parallel()
		fake, b := setupPipeline(t)
		fake.testResult = domain.AttemptResult{StatusCode: 500, Category: domain.ErrorCategoryHTTP5xx, ResponseBody: []byte("bad \xff byte")}
		got := decode[httpapi.WebhookTestResult](t, b.do(t, test("wh_1")), http.StatusOK)
		require.Equal(t, "bad \uFFFD byte", got.ResponseExcerpt)
	})

	t.Run("UnknownWebhook", func(t *testing.T) {
		t.Parallel()
		fake, b := setupPipeline(t)
		fake.testErr = fmt.Errorf("test webhook wh_nope: %w", domain.ErrNotFound)
		requireProblem(t, b.do(t, test("wh_nope")), http.StatusNotFound)
	})
}

func manyIDs(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("dlv_%d", i)
	}
	return ids
}
