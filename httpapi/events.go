package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/loki-interceptor/lokihooks/domain"
)

// eventIDPattern is the shape of a caller-chosen event id; generated ids
// (evt_…) match it too.
const eventIDPattern = `^[A-Za-z0-9_:-]{1,200}$`

var eventIDRe = regexp.MustCompile(eventIDPattern)

// EventData is an event's data: a JSON object. It decodes numbers as
// json.Number so that integers beyond 2^53 are published unchanged.
type EventData map[string]any

// UnmarshalJSON decodes a JSON object, keeping numbers exact.
func (d *EventData) UnmarshalJSON(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return err
	}
	*d = m
	return nil
}

// Schema describes EventData as any JSON object.
func (EventData) Schema(huma.Registry) *huma.Schema {
	return &huma.Schema{
		Type:        huma.TypeObject,
		Description: "The event's payload; it must match the event type's schema (GET /api/v1/event-types/{type})",
		Examples:    []any{map[string]any{"document_id": "doc_123", "severity": "high"}},
	}
}

// PublishEventBody is the body of POST /api/v1/events.
type PublishEventBody struct {
	Type     string            `json:"type" minLength:"1" maxLength:"100" example:"compliance.alert" doc:"An event type of the catalog (GET /api/v1/event-types)"`
	Data     EventData         `json:"data"`
	ID       string            `json:"id,omitempty" pattern:"^[A-Za-z0-9_:-]{1,200}$" example:"order-42:shipped" doc:"Caller-chosen event id, sent to receivers as webhook-id; generated (evt_…) when absent. Reusing an id with different content is a 409"`
	Metadata map[string]string `json:"metadata,omitempty" maxProperties:"50" doc:"String labels kept with the event"`
}

type publishEventInput struct {
	IdempotencyKey string `header:"Idempotency-Key" maxLength:"255" doc:"Makes retries safe: a repeated request with the same key and body returns the first response (with Idempotent-Replayed: true) instead of publishing again; the same key with a different body is a 422. A structured-field string (\"…\") or the bare key"`
	Body           PublishEventBody

	key string // the key, unquoted; set by Resolve
}

// PublishEventResult is the body of a publish-event response.
type PublishEventResult struct {
	ID     string `json:"id" example:"evt_01JDZ8Q6V3N5T8W2X4Y6Z8A0BC"`
	Type   string `json:"type" example:"compliance.alert"`
	Status string `json:"status" enum:"accepted" doc:"The event is in the outbox; deliveries are scheduled asynchronously"`
}

type publishEventOutput struct {
	Location           string `header:"Location"`
	IdempotentReplayed string `header:"Idempotent-Replayed" doc:"true when the response replays an earlier request with the same Idempotency-Key"`
	Body               PublishEventResult
}

// Event is a published event.
type Event struct {
	ID          string          `json:"id" example:"evt_01JDZ8Q6V3N5T8W2X4Y6Z8A0BC"`
	Type        string          `json:"type" example:"compliance.alert"`
	Data        json.RawMessage `json:"data" doc:"The event's data object, as published"`
	Metadata    map[string]any  `json:"metadata"`
	PublishedAt time.Time       `json:"published_at"`
	// SchemaViolations is set by the fan-out (events published over SQL or
	// the Go writer are not checked when they are published).
	SchemaViolations []SchemaViolation `json:"schema_violations,omitempty" doc:"Present when the event's data did not match its type's schema when the fan-out checked it: the event was delivered anyway. Events published over SQL (lokihooks_publish) or the Go writer are checked there, not when published; this API refuses invalid data with a 422"`
}

// SchemaViolation is one way an event's data does not match its type's
// schema.
type SchemaViolation struct {
	Pointer string `json:"pointer" example:"/gates_passed" doc:"RFC 6901 JSON pointer of the value inside data (\"\" for data itself)"`
	Message string `json:"message" example:"is required" doc:"What is wrong; never the value itself"`
}

// TransformSchema documents data as an object: json.RawMessage, which
// passes the stored bytes through unchanged, has no schema of its own.
func (Event) TransformSchema(_ huma.Registry, s *huma.Schema) *huma.Schema {
	if d := s.Properties["data"]; d != nil {
		d.Type = huma.TypeObject
	}
	return s
}

// EventWithDeliveries is an event and its deliveries.
type EventWithDeliveries struct {
	Event
	Deliveries []Delivery `json:"deliveries" doc:"The event's deliveries, newest first (at most 100; GET /api/v1/deliveries?event_id=… pages through all of them)"`
}

type listEventsInput struct {
	Type   string `query:"type" maxLength:"100" doc:"Only events of this type"`
	Cursor string `query:"cursor" maxLength:"200" doc:"next_cursor of the previous page"`
	Limit  int    `query:"limit" minimum:"1" maximum:"100" default:"20"`
	Ordering
}

// EventList is one page of events.
type EventList struct {
	Data       []Event `json:"data"`
	NextCursor string  `json:"next_cursor,omitempty" doc:"Pass as cursor to get the next page; absent on the last page"`
}

type listEventsOutput struct {
	Link string `header:"Link"`
	Body EventList
}

type eventIDInput struct {
	ID string `path:"event_id" maxLength:"200" example:"evt_01JDZ8Q6V3N5T8W2X4Y6Z8A0BC"`
}

type eventOutput struct {
	Body EventWithDeliveries
}

// eventDeliveriesLimit bounds the deliveries embedded in get-event.
const eventDeliveriesLimit = 100

func (a *API) registerEvents() {
	tags := []string{"Events"}
	reg := func(op huma.Operation) huma.Operation {
		op.Tags, op.Security, op.MaxBodyBytes = tags, bearer, MaxBodyBytes
		op.Errors = append(slices.Clone(apiErrors), op.Errors...)
		return op
	}
	huma.Register(a.huma, reg(huma.Operation{
		OperationID: "create-event", Method: http.MethodPost, Path: "/api/v1/events",
		Summary: "Publish an event", DefaultStatus: http.StatusAccepted,
		Errors: []int{http.StatusConflict, http.StatusRequestEntityTooLarge},
		Description: "Writes the event into the outbox; every active webhook subscribed to its type " +
			"receives it. Send an Idempotency-Key to make retries safe.",
	}), a.publishEvent)
	huma.Register(a.huma, reg(huma.Operation{
		OperationID: "list-events", Method: http.MethodGet, Path: "/api/v1/events",
		Summary: "List published events", Description: listDescription + " Events are ordered by publication.",
	}), a.listEvents)
	huma.Register(a.huma, reg(huma.Operation{
		OperationID: "get-event", Method: http.MethodGet, Path: "/api/v1/events/{event_id}",
		Summary: "Get an event and its deliveries", Errors: []int{http.StatusNotFound},
	}), a.getEvent)
}

// Resolve reads the Idempotency-Key and rejects text PostgreSQL cannot
// store.
func (in *publishEventInput) Resolve(ctx huma.Context) []error {
	var errs []error
	present := false
	ctx.EachHeader(func(name, _ string) { present = present || strings.EqualFold(name, "Idempotency-Key") })
	key, ok := idempotencyKey(in.IdempotencyKey)
	switch {
	case present && (!ok || key == ""):
		errs = append(errs, &huma.ErrorDetail{
			Location: "header.Idempotency-Key",
			Message:  `must be a non-empty key, bare or as a quoted string ("key"); leave the header out to publish without one`,
		})
	case !storable(key):
		errs = append(errs, &huma.ErrorDetail{Location: "header.Idempotency-Key", Message: "must be valid UTF-8 without NUL characters"})
	}
	in.key = key
	if !storable(in.Body.Type) {
		errs = append(errs, &huma.ErrorDetail{Location: "body.type", Message: "must be valid UTF-8 without NUL characters"})
	}
	if !storableJSON(map[string]any(in.Body.Data)) {
		errs = append(errs, &huma.ErrorDetail{Location: "body.data", Message: "keys and strings must not contain NUL characters"})
	}
	for k, v := range in.Body.Metadata {
		if !storable(k) || !storable(v) {
			errs = append(errs, &huma.ErrorDetail{Location: "body.metadata", Message: "keys and values must be valid UTF-8 without NUL characters"})
			break
		}
	}
	return errs
}

// Resolve rejects a type filter outside the catalog.
func (in *listEventsInput) Resolve(huma.Context) []error {
	if err := unknownEventTypeFilter("query.type", in.Type, false); err != nil {
		return []error{err}
	}
	return nil
}

func (a *API) publishEvent(ctx context.Context, in *publishEventInput) (*publishEventOutput, error) {
	data, err := json.Marshal(map[string]any(in.Body.Data))
	if err != nil {
		return nil, a.problem(ctx, err)
	}
	id, replayed, err := a.deps.Events.Publish(ctx, domain.PublishRequest{
		Type: in.Body.Type, Data: data, ID: in.Body.ID, Metadata: in.Body.Metadata, IdempotencyKey: in.key,
	})
	if err != nil {
		return nil, a.publishProblem(ctx, err, &in.Body)
	}
	out := &publishEventOutput{
		Location: "/api/v1/events/" + url.PathEscape(string(id)),
		Body:     PublishEventResult{ID: string(id), Type: in.Body.Type, Status: "accepted"},
	}
	if replayed {
		out.IdempotentReplayed = "true"
	}
	return out, nil
}

// idempotencyKey reads the key as the draft's structured-field string
// ("…", RFC 8941 §3.3.3: printable ASCII, with \" and \\ escapes) or bare,
// as most clients send it. ok is false for a quoted string that is not
// well-formed.
func idempotencyKey(h string) (key string, ok bool) {
	h = strings.TrimSpace(h)
	quoted, found := strings.CutPrefix(h, `"`)
	if !found {
		return h, true
	}
	var b strings.Builder
	for i := 0; i < len(quoted); i++ {
		switch c := quoted[i]; {
		case c == '\\' && i+1 < len(quoted) && (quoted[i+1] == '"' || quoted[i+1] == '\\'):
			b.WriteByte(quoted[i+1])
			i++
		case c == '"':
			return b.String(), i == len(quoted)-1
		case c < 0x20 || c > 0x7e || c == '\\':
			return "", false
		default:
			b.WriteByte(c)
		}
	}
	return "", false // no closing quote
}

func (a *API) listEvents(ctx context.Context, in *listEventsInput) (*listEventsOutput, error) {
	f := domain.PublishedEventFilter{Type: in.Type, Ascending: in.ascending(), Limit: in.Limit + 1}
	if in.Cursor != "" {
		seq, err := decodeSeqCursor(in.Cursor)
		if err != nil {
			return nil, invalidCursor(in.Cursor)
		}
		f.AfterSeq = seq
	}
	evs, err := a.deps.Events.ListEvents(ctx, f)
	if err != nil {
		return nil, a.problem(ctx, err)
	}
	out := &listEventsOutput{Body: EventList{Data: []Event{}}}
	if len(evs) > in.Limit {
		evs = evs[:in.Limit]
		out.Body.NextCursor = encodeCursor(strconv.FormatInt(evs[len(evs)-1].Seq, 10))
		q := url.Values{"cursor": {out.Body.NextCursor}, "limit": {strconv.Itoa(in.Limit)}}
		if in.Type != "" {
			q.Set("type", in.Type)
		}
		in.setLink(q)
		out.Link = nextLink("/api/v1/events", q)
	}
	for i := range evs {
		out.Body.Data = append(out.Body.Data, toEvent(&evs[i]))
	}
	return out, nil
}

func (a *API) getEvent(ctx context.Context, in *eventIDInput) (*eventOutput, error) {
	// An id that cannot have been published names no event.
	if !eventIDRe.MatchString(in.ID) {
		return nil, huma.Error404NotFound("no such event")
	}
	id := domain.EventID(in.ID)
	ev, err := a.deps.Events.GetEvent(ctx, id)
	if err != nil {
		return nil, a.problem(ctx, err)
	}
	ds, err := a.deps.Deliveries.ListDeliveries(ctx, domain.DeliveryFilter{EventID: id, Limit: eventDeliveriesLimit})
	if err != nil {
		return nil, a.problem(ctx, err)
	}
	out := &eventOutput{Body: EventWithDeliveries{Event: toEvent(ev), Deliveries: make([]Delivery, 0, len(ds))}}
	for i := range ds {
		out.Body.Deliveries = append(out.Body.Deliveries, toDelivery(&ds[i]))
	}
	return out, nil
}

func toEvent(e *domain.PublishedEvent) Event {
	out := Event{ID: string(e.ID), Type: e.Type, Data: e.Data, Metadata: e.Metadata, PublishedAt: e.PublishedAt.UTC()}
	if len(out.Data) == 0 {
		out.Data = json.RawMessage(`{}`)
	}
	if out.Metadata == nil {
		out.Metadata = map[string]any{}
	}
	for _, v := range e.SchemaViolations {
		out.SchemaViolations = append(out.SchemaViolations, SchemaViolation{Pointer: v.Pointer, Message: v.Message})
	}
	return out
}

// decodeSeqCursor reads a list-events cursor: base64url of the last
// event's sequence number.
func decodeSeqCursor(c string) (int64, error) {
	s, err := decodeCursor(c, "")
	if err != nil {
		return 0, err
	}
	seq, err := strconv.ParseInt(s, 10, 64)
	if err != nil || seq < 0 {
		return 0, errNotCursor
	}
	return seq, nil
}
