package httpapi

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/danielgtaylor/huma/v2"

	"github.com/loki-interceptor/lokihooks/domain"
)

// Webhook is a webhook as the API returns it. The secret is present only in
// the responses of create and rotate-secret.
type Webhook struct {
	ID                 string            `json:"id" example:"wh_01JDZ8Q6V3N5T8W2X4Y6Z8A0BC"`
	Name               string            `json:"name" example:"Compliance Alerts"`
	URL                string            `json:"url" example:"https://example.com/webhooks/compliance"`
	Secret             string            `json:"secret,omitempty" doc:"Signing secret; returned only when created or rotated"`
	Status             string            `json:"status" enum:"active,inactive,paused,deleted"`
	StatusReason       string            `json:"status_reason,omitempty" doc:"Why the webhook was deactivated"`
	EventTypes         []string          `json:"event_types" example:"[\"compliance.alert\",\"validation.failed\"]"`
	RetryStrategy      string            `json:"retry_strategy" enum:"exponential_backoff,linear_backoff,fixed_interval,no_retry"`
	MaxRetries         int               `json:"max_retries"`
	RetryDelaySeconds  int               `json:"retry_delay_seconds"`
	MaxDelaySeconds    int               `json:"max_delay_seconds"`
	BackoffMultiplier  float64           `json:"backoff_multiplier"`
	JitterEnabled      bool              `json:"jitter_enabled"`
	TimeoutSeconds     int               `json:"timeout_seconds"`
	RateLimitPerMinute int               `json:"rate_limit_per_minute" doc:"0 means unlimited"`
	RateLimitPerHour   int               `json:"rate_limit_per_hour" doc:"0 means unlimited"`
	CustomHeaders      map[string]string `json:"custom_headers"`
	Metadata           map[string]any    `json:"metadata"`
	CreatedAt          time.Time         `json:"created_at"`
	UpdatedAt          time.Time         `json:"updated_at"`
	LastTriggeredAt    *time.Time        `json:"last_triggered_at" doc:"When a delivery was last attempted; null if never"`
	Version            int64             `json:"version" doc:"Incremented by every change; the ETag is \"v<version>\""`
	CircuitBreaker     *CircuitBreaker   `json:"circuit_breaker,omitempty" doc:"The webhook's circuit breaker, in single-webhook answers once it has opened (absent: closed, never opened)"`
}

// WebhookFields are the configurable fields of create, PUT and PATCH. On
// create and PUT an absent field takes its default; on PATCH it keeps its
// current value.
type WebhookFields struct {
	Name               *string           `json:"name,omitempty" maxLength:"255" example:"Compliance Alerts"`
	URL                *string           `json:"url,omitempty" maxLength:"2048" example:"https://example.com/webhooks/compliance"`
	EventTypes         []string          `json:"event_types,omitempty" maxItems:"50" example:"[\"compliance.alert\",\"validation.failed\"]" doc:"Event types to receive, or [\"*\"] for all"`
	RetryStrategy      *string           `json:"retry_strategy,omitempty" enum:"exponential_backoff,linear_backoff,fixed_interval,no_retry" doc:"Default exponential_backoff"`
	MaxRetries         *int              `json:"max_retries,omitempty" minimum:"0" maximum:"50" doc:"Retries after the first attempt (default 5)"`
	RetryDelaySeconds  *int              `json:"retry_delay_seconds,omitempty" minimum:"0" doc:"Initial delay (default 60)"`
	MaxDelaySeconds    *int              `json:"max_delay_seconds,omitempty" minimum:"0" doc:"Cap on any delay (default 7200)"`
	BackoffMultiplier  *float64          `json:"backoff_multiplier,omitempty" doc:"Exponential growth factor, 1 to 10 (default 2)"`
	JitterEnabled      *bool             `json:"jitter_enabled,omitempty" doc:"Randomise delays by up to ±20% (default true)"`
	TimeoutSeconds     *int              `json:"timeout_seconds,omitempty" doc:"Per-attempt timeout, 1 to 120 (default 15)"`
	RateLimitPerMinute *int              `json:"rate_limit_per_minute,omitempty" minimum:"0" maximum:"2147483647" doc:"0 means unlimited (default)"`
	RateLimitPerHour   *int              `json:"rate_limit_per_hour,omitempty" minimum:"0" maximum:"2147483647" doc:"0 means unlimited (default)"`
	CustomHeaders      map[string]string `json:"custom_headers,omitempty" doc:"Extra request headers; cannot override signature, id, timestamp or content-type headers"`
	Metadata           map[string]any    `json:"metadata,omitempty" doc:"Free-form JSON object kept with the webhook"`
}

// CreateWebhookBody is the body of POST /api/v1/webhooks.
type CreateWebhookBody struct {
	WebhookFields
	Secret string `json:"secret,omitempty" doc:"whsec_ + base64 of 24-64 random bytes; generated when absent"`
}

type createWebhookInput struct {
	Body CreateWebhookBody
}

type webhookOutput struct {
	ETag     string `header:"ETag"`
	Location string `header:"Location"`
	Body     Webhook
}

type webhookIDInput struct {
	ID string `path:"webhook_id" maxLength:"64" example:"wh_01JDZ8Q6V3N5T8W2X4Y6Z8A0BC"`
}

type writeWebhookInput struct {
	ID      string `path:"webhook_id" maxLength:"64"`
	IfMatch string `header:"If-Match" doc:"\"v<version>\" from the ETag; the write fails with 412 when the webhook changed"`
	Body    WebhookFields
}

type commandInput struct {
	ID      string `path:"webhook_id" maxLength:"64"`
	IfMatch string `header:"If-Match" doc:"Optional ETag precondition"`
}

// RotateSecretBody is the optional body of rotate-secret.
type RotateSecretBody struct {
	Secret             string `json:"secret,omitempty" doc:"The new secret; generated when absent"`
	GracePeriodSeconds *int   `json:"grace_period_seconds,omitempty" minimum:"0" maximum:"604800" doc:"How long the old secret keeps signing (default 86400)"`
}

type rotateSecretInput struct {
	ID      string `path:"webhook_id" maxLength:"64"`
	IfMatch string `header:"If-Match"`
	Body    *RotateSecretBody
}

type listWebhooksInput struct {
	Status    string `query:"status" enum:"active,inactive,paused,deleted" doc:"Only webhooks in this status (default: all but deleted)"`
	EventType string `query:"event_type" maxLength:"100" doc:"Only webhooks subscribed to this event type"`
	Cursor    string `query:"cursor" maxLength:"200" doc:"next_cursor of the previous page"`
	Limit     int    `query:"limit" minimum:"1" maximum:"100" default:"20"`
}

// WebhookList is one page of webhooks.
type WebhookList struct {
	Data       []Webhook `json:"data"`
	NextCursor string    `json:"next_cursor,omitempty" doc:"Pass as cursor to get the next page; absent on the last page"`
}

type listWebhooksOutput struct {
	Link string `header:"Link"`
	Body WebhookList
}

type noContentOutput struct{}

func (a *API) registerWebhooks() {
	tags := []string{"Webhooks"}
	reg := func(op huma.Operation) huma.Operation {
		op.Tags, op.Security, op.MaxBodyBytes = tags, bearer, MaxBodyBytes
		op.Errors = append([]int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusUnprocessableEntity}, op.Errors...)
		return op
	}
	huma.Register(a.huma, reg(huma.Operation{
		OperationID: "create-webhook", Method: http.MethodPost, Path: "/api/v1/webhooks",
		Summary: "Create a webhook", DefaultStatus: http.StatusCreated, Errors: []int{http.StatusConflict},
		Description: "Registers a destination for the given event types. The response is the only one, " +
			"besides rotate-secret, that contains the signing secret.",
	}), a.createWebhook)
	huma.Register(a.huma, reg(huma.Operation{
		OperationID: "list-webhooks", Method: http.MethodGet, Path: "/api/v1/webhooks",
		Summary: "List webhooks", Description: "Cursor-paginated, oldest first.",
	}), a.listWebhooks)
	huma.Register(a.huma, reg(huma.Operation{
		OperationID: "get-webhook", Method: http.MethodGet, Path: "/api/v1/webhooks/{webhook_id}",
		Summary: "Get a webhook", Errors: []int{http.StatusNotFound},
	}), a.getWebhook)
	huma.Register(a.huma, reg(huma.Operation{
		OperationID: "replace-webhook", Method: http.MethodPut, Path: "/api/v1/webhooks/{webhook_id}",
		Summary:     "Replace a webhook's configuration",
		Description: "Fields left out take their defaults. Honours If-Match.",
		Errors:      []int{http.StatusNotFound, http.StatusConflict, http.StatusPreconditionFailed},
	}), a.replaceWebhook)
	huma.Register(a.huma, reg(huma.Operation{
		OperationID: "update-webhook", Method: http.MethodPatch, Path: "/api/v1/webhooks/{webhook_id}",
		Summary:     "Update some of a webhook's fields",
		Description: "Fields left out keep their values. Honours If-Match.",
		Errors:      []int{http.StatusNotFound, http.StatusConflict, http.StatusPreconditionFailed},
	}), a.patchWebhook)
	huma.Register(a.huma, reg(huma.Operation{
		OperationID: "delete-webhook", Method: http.MethodDelete, Path: "/api/v1/webhooks/{webhook_id}",
		Summary: "Delete a webhook", DefaultStatus: http.StatusNoContent,
		Errors: []int{http.StatusNotFound, http.StatusPreconditionFailed},
	}), a.deleteWebhook)
	for _, c := range []struct{ id, path, summary string }{
		{"pause-webhook", "pause", "Pause deliveries (they stay pending until resume)"},
		{"resume-webhook", "resume", "Resume a paused or inactive webhook"},
	} {
		huma.Register(a.huma, reg(huma.Operation{
			OperationID: c.id, Method: http.MethodPost, Path: "/api/v1/webhooks/{webhook_id}/" + c.path,
			Summary: c.summary, Errors: []int{http.StatusNotFound, http.StatusPreconditionFailed},
		}), a.statusCommand(c.path))
	}
	huma.Register(a.huma, reg(huma.Operation{
		OperationID: "rotate-webhook-secret", Method: http.MethodPost, Path: "/api/v1/webhooks/{webhook_id}/rotate-secret",
		Summary:     "Rotate the signing secret",
		Description: "The old secret keeps signing (a second webhook-signature entry) for the grace period.",
		Errors:      []int{http.StatusNotFound, http.StatusPreconditionFailed},
	}), a.rotateSecret)
}

// Resolve rejects text PostgreSQL cannot store.
func (in *createWebhookInput) Resolve(huma.Context) []error { return in.Body.unstorable() }

// Resolve rejects text PostgreSQL cannot store.
func (in *writeWebhookInput) Resolve(huma.Context) []error { return in.Body.unstorable() }

// Resolve rejects an event_type filter PostgreSQL cannot compare.
func (in *listWebhooksInput) Resolve(huma.Context) []error {
	if !storable(in.EventType) {
		return []error{&huma.ErrorDetail{Location: "query.event_type", Message: "must be valid UTF-8 without NUL characters"}}
	}
	return nil
}

// unstorable reports the fields holding text that PostgreSQL's text and
// jsonb types reject (NUL characters), which would otherwise fail the
// append with a 500. Other string fields are checked by domain validation.
func (f *WebhookFields) unstorable() []error {
	var errs []error
	if f.Name != nil && !storable(*f.Name) {
		errs = append(errs, &huma.ErrorDetail{Location: "body.name", Message: "must not contain NUL characters"})
	}
	if !storableJSON(f.Metadata) {
		errs = append(errs, &huma.ErrorDetail{Location: "body.metadata", Message: "keys and strings must not contain NUL characters"})
	}
	return errs
}

// storable reports whether s can be stored in or compared with a
// PostgreSQL text value: valid UTF-8 without NUL.
func storable(s string) bool { return utf8.ValidString(s) && !strings.ContainsRune(s, 0) }

// storableJSON reports whether every key and string of a decoded JSON value
// is storable.
func storableJSON(v any) bool {
	switch v := v.(type) {
	case string:
		return storable(v)
	case []any:
		for _, e := range v {
			if !storableJSON(e) {
				return false
			}
		}
	case map[string]any:
		for k, e := range v {
			if !storable(k) || !storableJSON(e) {
				return false
			}
		}
	}
	return true
}

// webhookID converts a path id. An id PostgreSQL cannot compare (NUL,
// invalid UTF-8) names no webhook: 404 instead of a query error.
func webhookID(s string) (domain.WebhookID, error) {
	if !storable(s) {
		return "", huma.Error404NotFound("no such webhook")
	}
	return domain.WebhookID(s), nil
}

func (a *API) createWebhook(ctx context.Context, in *createWebhookInput) (*webhookOutput, error) {
	spec := domain.DefaultWebhookSpec()
	in.Body.WebhookFields.applyTo(&spec)
	w, err := a.deps.Webhooks.CreateWebhook(ctx, spec, in.Body.Secret)
	if err != nil {
		return nil, a.problem(ctx, err)
	}
	out := a.webhookOutput(w, true)
	out.Location = "/api/v1/webhooks/" + string(w.ID)
	return out, nil
}

func (a *API) getWebhook(ctx context.Context, in *webhookIDInput) (*webhookOutput, error) {
	id, err := webhookID(in.ID)
	if err != nil {
		return nil, err
	}
	w, err := a.deps.Webhooks.GetWebhook(ctx, id)
	if err != nil {
		return nil, a.problem(ctx, err)
	}
	return a.webhookOutput(w, false), nil
}

func (a *API) listWebhooks(ctx context.Context, in *listWebhooksInput) (*listWebhooksOutput, error) {
	f := domain.WebhookFilter{Status: domain.WebhookStatus(in.Status), EventType: in.EventType, Limit: in.Limit + 1}
	if in.Cursor != "" {
		after, err := decodeCursor(in.Cursor, domain.WebhookIDPrefix)
		if err != nil {
			return nil, huma.Error400BadRequest("invalid cursor", &huma.ErrorDetail{Location: "query.cursor", Message: err.Error(), Value: in.Cursor})
		}
		f.After = domain.WebhookID(after)
	}
	ws, err := a.deps.Webhooks.ListWebhooks(ctx, f)
	if err != nil {
		return nil, a.problem(ctx, err)
	}
	out := &listWebhooksOutput{Body: WebhookList{Data: []Webhook{}}}
	if len(ws) > in.Limit {
		ws = ws[:in.Limit]
		out.Body.NextCursor = encodeCursor(string(ws[len(ws)-1].ID))
		q := url.Values{"cursor": {out.Body.NextCursor}, "limit": {strconv.Itoa(in.Limit)}}
		if in.Status != "" {
			q.Set("status", in.Status)
		}
		if in.EventType != "" {
			q.Set("event_type", in.EventType)
		}
		out.Link = nextLink("/api/v1/webhooks", q)
	}
	for i := range ws {
		out.Body.Data = append(out.Body.Data, toWebhook(&ws[i], false))
	}
	return out, nil
}

func (a *API) replaceWebhook(ctx context.Context, in *writeWebhookInput) (*webhookOutput, error) {
	return a.writeWebhook(ctx, in, func(current domain.WebhookSpec) domain.WebhookSpec {
		// PUT: absent fields take their defaults, except name, url and
		// event_types, which keep their values when absent.
		spec := domain.DefaultWebhookSpec()
		spec.Name, spec.URL, spec.EventTypes = current.Name, current.URL, current.EventTypes
		return spec
	})
}

func (a *API) patchWebhook(ctx context.Context, in *writeWebhookInput) (*webhookOutput, error) {
	return a.writeWebhook(ctx, in, func(current domain.WebhookSpec) domain.WebhookSpec { return current })
}

// writeWebhook applies the given fields on top of base(current) and updates.
func (a *API) writeWebhook(ctx context.Context, in *writeWebhookInput, base func(domain.WebhookSpec) domain.WebhookSpec) (*webhookOutput, error) {
	id, expected, err := commandTarget(in.ID, in.IfMatch)
	if err != nil {
		return nil, err
	}
	w, err := a.deps.Webhooks.UpdateWebhook(ctx, id, expected, func(current domain.WebhookSpec) domain.WebhookSpec {
		spec := base(current)
		in.Body.applyTo(&spec)
		return spec
	})
	if err != nil {
		return nil, a.problem(ctx, err)
	}
	return a.webhookOutput(w, false), nil
}

func (a *API) deleteWebhook(ctx context.Context, in *commandInput) (*noContentOutput, error) {
	id, expected, err := commandTarget(in.ID, in.IfMatch)
	if err != nil {
		return nil, err
	}
	if err := a.deps.Webhooks.DeleteWebhook(ctx, id, expected); err != nil {
		return nil, a.problem(ctx, err)
	}
	return &noContentOutput{}, nil
}

func (a *API) statusCommand(name string) func(context.Context, *commandInput) (*webhookOutput, error) {
	return func(ctx context.Context, in *commandInput) (*webhookOutput, error) {
		id, expected, err := commandTarget(in.ID, in.IfMatch)
		if err != nil {
			return nil, err
		}
		run := a.deps.Webhooks.PauseWebhook
		if name == "resume" {
			run = a.deps.Webhooks.ResumeWebhook
		}
		w, err := run(ctx, id, expected)
		if err != nil {
			return nil, a.problem(ctx, err)
		}
		return a.webhookOutput(w, false), nil
	}
}

func (a *API) rotateSecret(ctx context.Context, in *rotateSecretInput) (*webhookOutput, error) {
	var p domain.RotateSecretParams
	if in.Body != nil {
		p.Secret = in.Body.Secret
		if in.Body.GracePeriodSeconds != nil {
			p.GracePeriod = time.Duration(*in.Body.GracePeriodSeconds) * time.Second
			if p.GracePeriod == 0 {
				p.GracePeriod = -1 // explicit zero: the old secret stops signing now
			}
		}
	}
	id, expected, err := commandTarget(in.ID, in.IfMatch)
	if err != nil {
		return nil, err
	}
	w, err := a.deps.Webhooks.RotateWebhookSecret(ctx, id, expected, p)
	if err != nil {
		return nil, a.problem(ctx, err)
	}
	return a.webhookOutput(w, true), nil
}

// commandTarget parses a webhook id and an If-Match header; errors are
// already problems.
func commandTarget(rawID, ifMatch string) (domain.WebhookID, int64, error) {
	id, err := webhookID(rawID)
	if err != nil {
		return "", 0, err
	}
	expected, err := parseIfMatch(ifMatch)
	if err != nil {
		return "", 0, err
	}
	return id, expected, nil
}

func (a *API) webhookOutput(w *domain.Webhook, withSecret bool) *webhookOutput {
	return &webhookOutput{ETag: etag(w.Version), Body: toWebhook(w, withSecret)}
}

// applyTo copies the fields that are present onto spec.
func (f *WebhookFields) applyTo(spec *domain.WebhookSpec) {
	set(&spec.Name, f.Name)
	set(&spec.URL, f.URL)
	if f.EventTypes != nil {
		spec.EventTypes = f.EventTypes
	}
	if f.RetryStrategy != nil {
		spec.RetryStrategy = domain.RetryStrategy(*f.RetryStrategy)
	}
	set(&spec.MaxRetries, f.MaxRetries)
	set(&spec.RetryDelaySeconds, f.RetryDelaySeconds)
	set(&spec.MaxDelaySeconds, f.MaxDelaySeconds)
	set(&spec.BackoffMultiplier, f.BackoffMultiplier)
	set(&spec.JitterEnabled, f.JitterEnabled)
	set(&spec.TimeoutSeconds, f.TimeoutSeconds)
	set(&spec.RateLimitPerMinute, f.RateLimitPerMinute)
	set(&spec.RateLimitPerHour, f.RateLimitPerHour)
	if f.CustomHeaders != nil {
		spec.CustomHeaders = f.CustomHeaders
	}
	if f.Metadata != nil {
		spec.Metadata = f.Metadata
	}
}

func set[T any](dst *T, src *T) {
	if src != nil {
		*dst = *src
	}
}

func toWebhook(w *domain.Webhook, withSecret bool) Webhook {
	out := Webhook{
		ID: string(w.ID), Name: w.Spec.Name, URL: w.Spec.URL, Status: string(w.Status), StatusReason: w.StatusReason,
		EventTypes: w.Spec.EventTypes, RetryStrategy: string(w.Spec.RetryStrategy), MaxRetries: w.Spec.MaxRetries,
		RetryDelaySeconds: w.Spec.RetryDelaySeconds, MaxDelaySeconds: w.Spec.MaxDelaySeconds,
		BackoffMultiplier: w.Spec.BackoffMultiplier, JitterEnabled: w.Spec.JitterEnabled,
		TimeoutSeconds: w.Spec.TimeoutSeconds, RateLimitPerMinute: w.Spec.RateLimitPerMinute,
		RateLimitPerHour: w.Spec.RateLimitPerHour, CustomHeaders: w.Spec.CustomHeaders, Metadata: w.Spec.Metadata,
		CreatedAt: w.CreatedAt, UpdatedAt: w.UpdatedAt, LastTriggeredAt: w.LastTriggeredAt, Version: w.Version,
	}
	if out.CustomHeaders == nil {
		out.CustomHeaders = map[string]string{}
	}
	if out.Metadata == nil {
		out.Metadata = map[string]any{}
	}
	if withSecret {
		out.Secret = w.Secret
	}
	out.CircuitBreaker = toCircuitBreaker(w.Breaker)
	return out
}

func etag(version int64) string { return `"v` + strconv.FormatInt(version, 10) + `"` }

// parseIfMatch turns an If-Match header into an expected version: -1 when
// absent or "*" (any existing webhook), else the version of "v<n>".
func parseIfMatch(h string) (int64, error) {
	h = strings.TrimSpace(h)
	if h == "" || h == "*" {
		return -1, nil
	}
	tag := strings.Trim(strings.TrimPrefix(h, "W/"), `"`)
	n, err := strconv.ParseInt(strings.TrimPrefix(tag, "v"), 10, 64)
	if err != nil || !strings.HasPrefix(tag, "v") || n < 0 {
		return 0, huma.Error400BadRequest("invalid If-Match", &huma.ErrorDetail{
			Location: "header.If-Match", Message: `expected an ETag such as "v3"`, Value: h,
		})
	}
	return n, nil
}

func encodeCursor(id string) string { return base64.RawURLEncoding.EncodeToString([]byte(id)) }

func decodeCursor(c, prefix string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || !strings.HasPrefix(string(b), prefix) || !storable(string(b)) {
		return "", errNotCursor
	}
	return string(b), nil
}
