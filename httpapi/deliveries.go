package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/danielgtaylor/huma/v2"

	"github.com/loki-interceptor/lokihooks/domain"
)

// responseExcerptBytes bounds the response body test-webhook returns.
const responseExcerptBytes = 1 << 10

// redacted replaces a secret value in attempt records, as the sender does.
const redacted = "[redacted]"

// Delivery is the summary of one event's delivery to one destination: a
// webhook or an integration.
type Delivery struct {
	ID                string     `json:"id" example:"dlv_01JDZ8Q6V3N5T8W2X4Y6Z8A0BC"`
	DestinationID     string     `json:"destination_id" example:"wh_01JDZ8Q6V3N5T8W2X4Y6Z8A0BC" doc:"The webhook (wh_…) or integration (int_…) delivered to"`
	DestinationType   string     `json:"destination_type" enum:"webhook,slack,teams,email,zapier"`
	WebhookID         string     `json:"webhook_id,omitempty" example:"wh_01JDZ8Q6V3N5T8W2X4Y6Z8A0BC" doc:"destination_id again, for deliveries to webhooks only"`
	EventID           string     `json:"event_id" example:"evt_01JDZ8Q6V3N5T8W2X4Y6Z8A0BC"`
	EventType         string     `json:"event_type" example:"compliance.alert"`
	Status            string     `json:"status" enum:"pending,retrying,delivered,failed,permanent_failure" doc:"failed: the receiver answered 410 Gone or the webhook stopped being active; permanent_failure: every retry was used (the dead letter)"`
	Attempts          int        `json:"attempts" doc:"Attempts made so far"`
	LastStatusCode    int        `json:"last_status_code" doc:"HTTP status of the last attempt; 0 when none was made or no response arrived"`
	LastErrorCategory string     `json:"last_error_category" doc:"http_3xx, http_4xx, http_5xx, timeout or network; empty when the last attempt succeeded or none was made"`
	LastErrorDetail   string     `json:"last_error_detail"`
	LastDurationMS    float64    `json:"last_duration_ms"`
	NextAttemptAt     *time.Time `json:"next_attempt_at" doc:"When the next attempt is due; null unless pending or retrying"`
	CreatedAt         time.Time  `json:"created_at"`
	UpdatedAt         time.Time  `json:"updated_at"`
	DeliveredAt       *time.Time `json:"delivered_at" doc:"null until delivered"`
}

// Attempt is one recorded delivery attempt.
type Attempt struct {
	Attempt         int               `json:"attempt" doc:"1-based attempt number"`
	Status          string            `json:"status" enum:"pending,retrying,delivered,failed,permanent_failure" doc:"The delivery's status after this attempt"`
	StatusCode      int               `json:"status_code" doc:"0 when no response arrived"`
	ErrorCategory   string            `json:"error_category"`
	ErrorDetail     string            `json:"error_detail"`
	DurationMS      float64           `json:"duration_ms"`
	RequestHeaders  map[string]string `json:"request_headers" doc:"Headers as sent; the signatures and the webhook's secret headers read [redacted]"`
	ResponseHeaders map[string]string `json:"response_headers"`
	ResponseBody    string            `json:"response_body" doc:"The start of the response body"`
	Truncated       bool              `json:"truncated" doc:"The response body was longer than response_body"`
	NextAttemptAt   *time.Time        `json:"next_attempt_at"`
	AttemptedAt     time.Time         `json:"attempted_at"`
}

// DeliveryWithAttempts is a delivery and the record of every attempt made.
type DeliveryWithAttempts struct {
	Delivery
	AttemptHistory []Attempt `json:"attempt_history" doc:"Every attempt, oldest first; attempts is their count"`
}

// DeliveryList is one page of deliveries.
type DeliveryList struct {
	Data       []Delivery `json:"data"`
	NextCursor string     `json:"next_cursor,omitempty" doc:"Pass as cursor to get the next page; absent on the last page"`
}

// DeliveryQuery are the query parameters shared by the delivery listings.
// (Exported because Huma only reads parameters of exported embedded
// structs.)
type DeliveryQuery struct {
	Status    string `query:"status" enum:"pending,retrying,delivered,failed,permanent_failure" doc:"Only deliveries in this status; permanent_failure is the dead letter"`
	EventType string `query:"event_type" maxLength:"100" doc:"Only deliveries of this event type"`
	EventID   string `query:"event_id" maxLength:"200" doc:"Only deliveries of this event"`
	Since     string `query:"since" format:"date-time" doc:"Only deliveries created at or after this RFC 3339 time"`
	Until     string `query:"until" format:"date-time" doc:"Only deliveries created before this RFC 3339 time"`
	Cursor    string `query:"cursor" maxLength:"300" doc:"next_cursor of the previous page"`
	Limit     int    `query:"limit" minimum:"1" maximum:"100" default:"20"`
	Ordering
}

type listWebhookDeliveriesInput struct {
	WebhookID string `path:"webhook_id" maxLength:"64" example:"wh_01JDZ8Q6V3N5T8W2X4Y6Z8A0BC"`
	DeliveryQuery
}

type listDeliveriesInput struct {
	WebhookID     string `query:"webhook_id" maxLength:"64" doc:"Only deliveries to this webhook"`
	DestinationID string `query:"destination_id" maxLength:"64" doc:"Only deliveries to this webhook or integration (wh_… or int_…)"`
	DeliveryQuery
}

type listDeliveriesOutput struct {
	Link string `header:"Link"`
	Body DeliveryList
}

type deliveryIDInput struct {
	WebhookID  string `path:"webhook_id" maxLength:"64" example:"wh_01JDZ8Q6V3N5T8W2X4Y6Z8A0BC"`
	DeliveryID string `path:"delivery_id" maxLength:"64" example:"dlv_01JDZ8Q6V3N5T8W2X4Y6Z8A0BC"`
}

type deliveryOutput struct {
	Body DeliveryWithAttempts
}

// RetryDeliveriesBody selects the deliveries retry-webhook-deliveries
// redrives. Every field is optional; an absent body redrives every failed
// and permanent_failure delivery of the webhook.
type RetryDeliveriesBody struct {
	Status    string `json:"status,omitempty" enum:"failed,permanent_failure" doc:"Only deliveries in this status (default: both)"`
	EventType string `json:"event_type,omitempty" maxLength:"100" doc:"Only deliveries of this event type"`
	Since     string `json:"since,omitempty" format:"date-time" doc:"Only deliveries created at or after this time"`
	Until     string `json:"until,omitempty" format:"date-time" doc:"Only deliveries created before this time"`
	// DeliveryIDs picks the dead letters to redrive (a single one, or a
	// selection on a screen); the other fields still narrow it.
	DeliveryIDs []string `json:"delivery_ids,omitempty" maxItems:"100" doc:"Only these deliveries (at most 100). Ids of other destinations, unknown ids and deliveries that are not failed or permanent_failure are skipped; redriven counts the rest."`
}

// filter turns the body into the redrive's selection for dest.
func (b *RetryDeliveriesBody) filter(dest domain.DestinationID) (domain.DeliveryFilter, error) {
	f := domain.DeliveryFilter{DestinationID: dest}
	if b == nil {
		return f, nil
	}
	var err error
	f.Status, f.EventType = domain.DeliveryStatus(b.Status), b.EventType
	if f.Since, err = parseTime("body.since", b.Since); err != nil {
		return f, err
	}
	if f.Until, err = parseTime("body.until", b.Until); err != nil {
		return f, err
	}
	for i, id := range b.DeliveryIDs {
		if !storable(id) || len(id) > 64 {
			return f, huma.Error422UnprocessableEntity("invalid delivery id", &huma.ErrorDetail{
				Message: "not a delivery id", Location: fmt.Sprintf("body.delivery_ids[%d]", i), Value: id,
			})
		}
		f.IDs = append(f.IDs, domain.DeliveryID(id))
	}
	return f, nil
}

type retryDeliveriesInput struct {
	WebhookID string `path:"webhook_id" maxLength:"64" example:"wh_01JDZ8Q6V3N5T8W2X4Y6Z8A0BC"`
	Body      *RetryDeliveriesBody
}

// RetryDeliveriesResult is the body of a retry-webhook-deliveries response.
type RetryDeliveriesResult struct {
	Redriven int `json:"redriven" doc:"How many deliveries were scheduled for a new attempt"`
}

type retryDeliveriesOutput struct {
	Body RetryDeliveriesResult
}

// WebhookTestResult is the outcome of test-webhook's attempt.
type WebhookTestResult struct {
	Success         bool    `json:"success" doc:"The receiver answered 2xx"`
	StatusCode      int     `json:"status_code" doc:"0 when no response arrived"`
	LatencyMS       float64 `json:"latency_ms"`
	ErrorCategory   string  `json:"error_category" doc:"http_3xx, http_4xx, http_5xx, timeout or network; empty on success"`
	ErrorDetail     string  `json:"error_detail"`
	ResponseExcerpt string  `json:"response_excerpt" doc:"The first 1 KiB of the response body, as text"`
}

type webhookTestOutput struct {
	Body WebhookTestResult
}

func (a *API) registerDeliveries() {
	reg := func(tag string, op huma.Operation) huma.Operation {
		op.Tags, op.Security, op.MaxBodyBytes = []string{tag}, bearer, MaxBodyBytes
		op.Errors = append(slices.Clone(apiErrors), op.Errors...)
		return op
	}
	huma.Register(a.huma, reg("Deliveries", huma.Operation{
		OperationID: "list-webhook-deliveries", Method: http.MethodGet, Path: "/api/v1/webhooks/{webhook_id}/deliveries",
		Summary: "List a webhook's deliveries",
		Description: listDescription + " A webhook that does not exist (or was deleted) is a 404; " +
			"GET /api/v1/deliveries?webhook_id=… still lists a deleted webhook's deliveries.",
		Errors: []int{http.StatusNotFound},
	}), a.listWebhookDeliveries)
	huma.Register(a.huma, reg("Deliveries", huma.Operation{
		OperationID: "get-webhook-delivery", Method: http.MethodGet, Path: "/api/v1/webhooks/{webhook_id}/deliveries/{delivery_id}",
		Summary: "Get a delivery and its attempts", Errors: []int{http.StatusNotFound},
	}), a.getWebhookDelivery)
	huma.Register(a.huma, reg("Deliveries", huma.Operation{
		OperationID: "list-deliveries", Method: http.MethodGet, Path: "/api/v1/deliveries",
		Summary:     "List deliveries across webhooks and integrations",
		Description: listDescription + " status=permanent_failure is the dead-letter view.",
	}), a.listDeliveries)
	huma.Register(a.huma, reg("Deliveries", huma.Operation{
		OperationID: "retry-webhook-deliveries", Method: http.MethodPost, Path: "/api/v1/webhooks/{webhook_id}/retry",
		Summary: "Redrive failed deliveries",
		Description: "Schedules a new attempt, with a fresh retry budget, for the webhook's failed and " +
			"permanent_failure deliveries that match the filter. Selecting individual deliveries " +
			"by id is not supported.",
		Errors: []int{http.StatusNotFound, http.StatusRequestEntityTooLarge},
	}), a.retryDeliveries)
	huma.Register(a.huma, reg("Webhooks", huma.Operation{
		OperationID: "test-webhook", Method: http.MethodPost, Path: "/api/v1/webhooks/{webhook_id}/test",
		Summary:     "Send a test event",
		Description: "Sends a signed webhook.test event to the webhook now and reports the outcome; nothing is retried.",
		Errors:      []int{http.StatusNotFound},
	}), a.testWebhook)
}

// Resolve rejects filters PostgreSQL cannot compare and event types
// outside the catalog.
func (q *DeliveryQuery) Resolve(huma.Context) []error {
	var errs []error
	if err := unknownEventTypeFilter("query.event_type", q.EventType, false); err != nil {
		errs = append(errs, err)
	}
	if !storable(q.EventID) {
		errs = append(errs, &huma.ErrorDetail{Location: "query.event_id", Message: "must be valid UTF-8 without NUL characters"})
	}
	return errs
}

// Resolve rejects filters PostgreSQL cannot compare. It shadows the
// embedded DeliveryQuery's Resolve, so it calls it.
func (in *listDeliveriesInput) Resolve(ctx huma.Context) []error {
	errs := in.DeliveryQuery.Resolve(ctx)
	if !storable(in.WebhookID) {
		errs = append(errs, &huma.ErrorDetail{Location: "query.webhook_id", Message: "must be valid UTF-8 without NUL characters"})
	}
	if !storable(in.DestinationID) {
		errs = append(errs, &huma.ErrorDetail{Location: "query.destination_id", Message: "must be valid UTF-8 without NUL characters"})
	}
	if in.WebhookID != "" && in.DestinationID != "" && in.WebhookID != in.DestinationID {
		errs = append(errs, &huma.ErrorDetail{Location: "query.destination_id", Message: "must equal webhook_id when both are given"})
	}
	return errs
}

// Resolve rejects an event_type outside the catalog.
func (b *RetryDeliveriesBody) Resolve(huma.Context) []error {
	if err := unknownEventTypeFilter("body.event_type", b.EventType, false); err != nil {
		return []error{err}
	}
	return nil
}

func (a *API) listWebhookDeliveries(ctx context.Context, in *listWebhookDeliveriesInput) (*listDeliveriesOutput, error) {
	id, err := webhookID(in.WebhookID)
	if err != nil {
		return nil, err
	}
	f, err := in.filter(domain.DestinationID(id))
	if err != nil {
		return nil, err
	}
	if _, err := a.webhook(ctx, id); err != nil {
		return nil, err
	}
	return a.deliveryPage(ctx, "/api/v1/webhooks/"+url.PathEscape(in.WebhookID)+"/deliveries", f, &in.DeliveryQuery, url.Values{})
}

func (a *API) listDeliveries(ctx context.Context, in *listDeliveriesInput) (*listDeliveriesOutput, error) {
	dest := domain.DestinationID(in.WebhookID)
	if in.DestinationID != "" {
		dest = domain.DestinationID(in.DestinationID)
	}
	f, err := in.filter(dest)
	if err != nil {
		return nil, err
	}
	q := url.Values{}
	if in.WebhookID != "" {
		q.Set("webhook_id", in.WebhookID)
	}
	if in.DestinationID != "" {
		q.Set("destination_id", in.DestinationID)
	}
	return a.deliveryPage(ctx, "/api/v1/deliveries", f, &in.DeliveryQuery, q)
}

// filter turns the query into a filter for one more delivery than a page
// holds (to know whether another page follows).
func (q *DeliveryQuery) filter(destination domain.DestinationID) (domain.DeliveryFilter, error) {
	f := domain.DeliveryFilter{
		DestinationID: destination, EventID: domain.EventID(q.EventID), Status: domain.DeliveryStatus(q.Status),
		EventType: q.EventType, Ascending: q.ascending(), Limit: q.Limit + 1,
	}
	var err error
	if f.Since, err = parseTime("query.since", q.Since); err != nil {
		return f, err
	}
	if f.Until, err = parseTime("query.until", q.Until); err != nil {
		return f, err
	}
	if q.Cursor != "" {
		if f.After, err = decodeDeliveryCursor(q.Cursor); err != nil {
			return f, invalidCursor(q.Cursor)
		}
	}
	return f, nil
}

// deliveryPage serves one page of the deliveries f selects; path and link
// carry what the next-page Link needs besides the query's filters.
func (a *API) deliveryPage(ctx context.Context, path string, f domain.DeliveryFilter, in *DeliveryQuery, link url.Values) (*listDeliveriesOutput, error) {
	ds, err := a.deps.Deliveries.ListDeliveries(ctx, f)
	if err != nil {
		return nil, a.problem(ctx, err)
	}
	out := &listDeliveriesOutput{Body: DeliveryList{Data: make([]Delivery, 0, min(len(ds), in.Limit))}}
	if len(ds) > in.Limit {
		ds = ds[:in.Limit]
		last := ds[len(ds)-1]
		out.Body.NextCursor = encodeDeliveryCursor(last.CreatedAt, last.ID)
		link.Set("cursor", out.Body.NextCursor)
		link.Set("limit", strconv.Itoa(in.Limit))
		for k, v := range map[string]string{
			"status": in.Status, "event_type": in.EventType, "event_id": in.EventID, "since": in.Since, "until": in.Until,
		} {
			if v != "" {
				link.Set(k, v)
			}
		}
		in.setLink(link)
		out.Link = nextLink(path, link)
	}
	for i := range ds {
		out.Body.Data = append(out.Body.Data, toDelivery(&ds[i]))
	}
	return out, nil
}

func (a *API) getWebhookDelivery(ctx context.Context, in *deliveryIDInput) (*deliveryOutput, error) {
	wh, err := webhookID(in.WebhookID)
	if err != nil {
		return nil, err
	}
	w, err := a.webhook(ctx, wh)
	if err != nil {
		return nil, err
	}
	if !storable(in.DeliveryID) {
		return nil, errNoDelivery()
	}
	d, attempts, err := a.deps.Deliveries.GetDelivery(ctx, domain.DeliveryID(in.DeliveryID))
	if err != nil {
		return nil, a.problem(ctx, err)
	}
	// A delivery is addressed through its webhook; another webhook's
	// delivery does not exist here.
	if d.DestinationID != domain.DestinationID(wh) {
		return nil, errNoDelivery()
	}
	out := &deliveryOutput{Body: DeliveryWithAttempts{Delivery: toDelivery(d), AttemptHistory: make([]Attempt, 0, len(attempts))}}
	for i := range attempts {
		out.Body.AttemptHistory = append(out.Body.AttemptHistory, toAttempt(&attempts[i], &w.Spec))
	}
	return out, nil
}

func errNoDelivery() error {
	return huma.Error404NotFound("no delivery with this id for this webhook: " +
		"GET /api/v1/webhooks/{webhook_id}/deliveries lists the webhook's deliveries")
}

func (a *API) retryDeliveries(ctx context.Context, in *retryDeliveriesInput) (*retryDeliveriesOutput, error) {
	id, err := webhookID(in.WebhookID)
	if err != nil {
		return nil, err
	}
	f, err := in.Body.filter(domain.DestinationID(id))
	if err != nil {
		return nil, err
	}
	if _, err := a.webhook(ctx, id); err != nil {
		return nil, err
	}
	n, err := a.deps.Deliveries.Redrive(ctx, domain.DestinationID(id), f)
	if err != nil {
		return nil, a.problem(ctx, err)
	}
	return &retryDeliveriesOutput{Body: RetryDeliveriesResult{Redriven: n}}, nil
}

func (a *API) testWebhook(ctx context.Context, in *webhookIDInput) (*webhookTestOutput, error) {
	id, err := webhookID(in.ID)
	if err != nil {
		return nil, err
	}
	r, err := a.deps.Webhooks.TestWebhook(ctx, id)
	if err != nil {
		return nil, a.problem(ctx, err)
	}
	return &webhookTestOutput{Body: WebhookTestResult{
		Success: r.Success, StatusCode: r.StatusCode, LatencyMS: durationMS(r.Duration),
		ErrorCategory: string(r.Category), ErrorDetail: r.Detail, ResponseExcerpt: excerpt(r.ResponseBody, responseExcerptBytes),
	}}, nil
}

// parseTime parses an optional RFC 3339 time; loc names it in the 422.
func parseTime(loc, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, huma.Error422UnprocessableEntity("invalid time", &huma.ErrorDetail{
			Location: loc, Message: "expected an RFC 3339 time such as 2026-11-29T10:00:00Z", Value: s,
		})
	}
	return t.UTC(), nil
}

// encodeDeliveryCursor makes the opaque cursor after a delivery: base64url
// of "<created_at RFC 3339 nano>|<id>".
func encodeDeliveryCursor(createdAt time.Time, id domain.DeliveryID) string {
	return encodeCursor(createdAt.UTC().Format(time.RFC3339Nano) + "|" + string(id))
}

func decodeDeliveryCursor(c string) (*domain.DeliveryCursor, error) {
	s, err := decodeCursor(c, "")
	if err != nil {
		return nil, err
	}
	ts, id, ok := strings.Cut(s, "|")
	if !ok || !strings.HasPrefix(id, domain.DeliveryIDPrefix) {
		return nil, errNotCursor
	}
	t, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil {
		return nil, errNotCursor
	}
	return &domain.DeliveryCursor{CreatedAt: t, ID: domain.DeliveryID(id)}, nil
}

func toDelivery(d *domain.DeliveryView) Delivery {
	out := Delivery{
		ID: string(d.ID), DestinationID: string(d.DestinationID), DestinationType: string(d.Kind),
		EventID: string(d.EventID), EventType: d.EventType,
		Status: string(d.Status), Attempts: d.Attempts, LastStatusCode: d.LastStatusCode,
		LastErrorCategory: string(d.LastErrorCategory), LastErrorDetail: d.LastErrorDetail,
		LastDurationMS: d.LastDurationMS, NextAttemptAt: utcPtr(d.NextAttemptAt),
		CreatedAt: d.CreatedAt.UTC(), UpdatedAt: d.UpdatedAt.UTC(), DeliveredAt: utcPtr(d.DeliveredAt),
	}
	if d.Kind == domain.KindWebhook || d.Kind == "" {
		out.DestinationType, out.WebhookID = string(domain.KindWebhook), string(d.DestinationID)
	}
	return out
}

// toAttempt presents an attempt record. Request headers were redacted when
// recorded; those the webhook marks secret now are redacted too, so that
// marking a header secret also covers the attempts made before.
func toAttempt(at *domain.AttemptView, webhook *domain.WebhookSpec) Attempt {
	out := Attempt{
		Attempt: at.Attempt, Status: string(at.Status), StatusCode: at.StatusCode,
		ErrorCategory: string(at.ErrorCategory), ErrorDetail: at.ErrorDetail, DurationMS: at.DurationMS,
		RequestHeaders: make(map[string]string, len(at.RequestHeaders)), ResponseHeaders: at.ResponseHeaders,
		ResponseBody: at.ResponseBody, Truncated: at.Truncated, NextAttemptAt: utcPtr(at.NextAttemptAt),
		AttemptedAt: at.AttemptedAt.UTC(),
	}
	for name, value := range at.RequestHeaders {
		if webhook.IsSecretHeader(name) {
			value = redacted
		}
		out.RequestHeaders[name] = value
	}
	if out.ResponseHeaders == nil {
		out.ResponseHeaders = map[string]string{}
	}
	return out
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

func durationMS(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// excerpt returns up to n bytes of b as text, cut at a character boundary,
// with invalid UTF-8 replaced.
func excerpt(b []byte, n int) string {
	if len(b) > n {
		b = b[:n]
		// Drop a character the cut split in two (at most 3 bytes).
		for i := 0; i < utf8.UTFMax-1 && len(b) > 0 && !utf8.Valid(b); i++ {
			b = b[:len(b)-1]
		}
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}
