package httpapi

import (
	"context"
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
	CustomHeaders      map[string]string `json:"custom_headers" doc:"Secret header values are masked (Bearer ****cret); send a masked value back unchanged to keep the stored one"`
	SecretHeaders      []string          `json:"secret_headers" doc:"The custom headers whose values are secret: those listed when written, plus Authorization, Proxy-Authorization and Cookie, which always are"`
	Metadata           map[string]any    `json:"metadata"`
	CreatedAt          time.Time         `json:"created_at"`
	UpdatedAt          time.Time         `json:"updated_at"`
	LastTriggeredAt    *time.Time        `json:"last_triggered_at" doc:"When a delivery was last attempted; null if never"`
	Version            int64             `json:"version" doc:"Incremented by every change; the ETag is \"v<version>\""`
	// RetrySchedulePreview is the retry policy worked out.
	CircuitBreaker       *CircuitBreaker  `json:"circuit_breaker,omitempty" doc:"The webhook's circuit breaker, in single-webhook answers once it has opened (absent: closed, never opened)"`
	RetrySchedulePreview []ScheduledRetry `json:"retry_schedule_preview" doc:"The retries a failing delivery gets, in order (empty for no_retry). A receiver's Retry-After on a 429 or 503 can lengthen a wait, up to an hour"`
}

// ScheduledRetry is one retry of a webhook's schedule, in seconds.
type ScheduledRetry struct {
	Retry           int     `json:"retry" doc:"1 is the first retry, which is the delivery's second attempt"`
	DelaySeconds    float64 `json:"delay_seconds" doc:"Wait after the previous attempt failed; with jitter, the middle of its range"`
	MinDelaySeconds float64 `json:"min_delay_seconds" doc:"Shortest wait jitter allows (equal to delay_seconds without jitter)"`
	MaxDelaySeconds float64 `json:"max_delay_seconds" doc:"Longest wait jitter allows (equal to delay_seconds without jitter)"`
	AfterSeconds    float64 `json:"after_seconds" doc:"When this retry starts, counted from the first attempt: the sum of the waits so far (the attempts' own durations come on top)"`
	AfterMinSeconds float64 `json:"after_min_seconds" doc:"Earliest start jitter allows"`
	AfterMaxSeconds float64 `json:"after_max_seconds" doc:"Latest start jitter allows"`
}

// retrySchedule presents a policy's schedule.
func retrySchedule(p domain.RetryPolicy) []ScheduledRetry {
	rs := p.Schedule()
	out := make([]ScheduledRetry, len(rs))
	for i, r := range rs {
		out[i] = ScheduledRetry{
			Retry: r.N, DelaySeconds: r.Delay.Seconds(), MinDelaySeconds: r.Min.Seconds(), MaxDelaySeconds: r.Max.Seconds(),
			AfterSeconds: r.Cumulative.Seconds(), AfterMinSeconds: r.CumulativeMin.Seconds(), AfterMaxSeconds: r.CumulativeMax.Seconds(),
		}
	}
	return out
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
	RetryDelaySeconds  *int              `json:"retry_delay_seconds,omitempty" minimum:"0" maximum:"2147483647" doc:"Initial delay, at most 604800 (7 days; default 60)"`
	MaxDelaySeconds    *int              `json:"max_delay_seconds,omitempty" minimum:"0" maximum:"2147483647" doc:"Cap on any delay, at most 604800 (7 days; default 7200)"`
	BackoffMultiplier  *float64          `json:"backoff_multiplier,omitempty" doc:"Exponential growth factor, 1 to 10 (default 2)"`
	JitterEnabled      *bool             `json:"jitter_enabled,omitempty" doc:"Randomise delays by up to ±20% (default true)"`
	TimeoutSeconds     *int              `json:"timeout_seconds,omitempty" minimum:"-2147483648" maximum:"2147483647" doc:"Per-attempt timeout, 1 to 120 (default 15)"`
	RateLimitPerMinute *int              `json:"rate_limit_per_minute,omitempty" minimum:"0" maximum:"2147483647" doc:"0 means unlimited (default)"`
	RateLimitPerHour   *int              `json:"rate_limit_per_hour,omitempty" minimum:"0" maximum:"2147483647" doc:"0 means unlimited (default)"`
	CustomHeaders      map[string]string `json:"custom_headers,omitempty" doc:"Extra request headers. Names lokihooks or HTTP itself sets are refused: the webhook-* and X-Webhook-* contract headers, Content-Type, Content-Length, Content-Encoding, Host, Connection, Keep-Alive, Transfer-Encoding, TE, Trailer, Upgrade, Expect, Proxy-Connection, User-Agent, traceparent, tracestate and baggage. Values are encrypted at rest"`
	SecretHeaders      []string          `json:"secret_headers,omitempty" maxItems:"32" example:"[\"X-Api-Key\"]" doc:"Custom headers whose values are credentials: masked in every answer and redacted in attempt records. Authorization, Proxy-Authorization and Cookie always are. When custom_headers is written without secret_headers, the secret headers that remain keep their mark"`
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
	// CacheControl is no-store on the answers that carry the signing secret
	// (every /api answer has it; these document it).
	CacheControl string `header:"Cache-Control"`
	Body         Webhook
}

type webhookIDInput struct {
	ID string `path:"webhook_id" maxLength:"64" example:"wh_01JDZ8Q6V3N5T8W2X4Y6Z8A0BC"`
}

type writeWebhookInput struct {
	ID string `path:"webhook_id" maxLength:"64"`
	Precondition
	Body WebhookFields
}

type commandInput struct {
	ID string `path:"webhook_id" maxLength:"64"`
	Precondition
}

// RotateSecretBody is the optional body of rotate-secret.
type RotateSecretBody struct {
	Secret             string `json:"secret,omitempty" doc:"The new secret; generated when absent"`
	GracePeriodSeconds *int   `json:"grace_period_seconds,omitempty" minimum:"0" maximum:"604800" doc:"How long the old secret keeps signing (default 86400)"`
}

type rotateSecretInput struct {
	ID string `path:"webhook_id" maxLength:"64"`
	Precondition
	Body *RotateSecretBody
}

type listWebhooksInput struct {
	Status    string `query:"status" enum:"active,inactive,paused,deleted" doc:"Only webhooks in this status (default: all but deleted)"`
	EventType string `query:"event_type" maxLength:"100" doc:"Only webhooks subscribed to this event type (directly or through *); * selects the webhooks subscribed to every type"`
	Cursor    string `query:"cursor" maxLength:"200" doc:"next_cursor of the previous page"`
	Limit     int    `query:"limit" minimum:"1" maximum:"100" default:"20"`
	Ordering
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
		op.Errors = append(slices.Clone(apiErrors), op.Errors...)
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
		Summary: "List webhooks", Description: listDescription,
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

// Resolve rejects text PostgreSQL cannot store and records If-Match. It
// shadows the embedded Precondition's Resolve, so it calls it.
func (in *writeWebhookInput) Resolve(ctx huma.Context) []error {
	return append(in.Precondition.Resolve(ctx), in.Body.unstorable()...)
}

// Resolve rejects an event_type filter outside the catalog.
func (in *listWebhooksInput) Resolve(huma.Context) []error {
	if err := unknownEventTypeFilter("query.event_type", in.EventType, true); err != nil {
		return []error{err}
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
		return "", huma.Error404NotFound("no webhook with this id: GET /api/v1/webhooks lists the webhooks")
	}
	return domain.WebhookID(s), nil
}

// webhook returns a webhook that exists and is not deleted; anything else
// is a problem (404 for one that does not exist).
func (a *API) webhook(ctx context.Context, id domain.WebhookID) (*domain.Webhook, error) {
	w, err := a.deps.Webhooks.GetWebhook(ctx, id)
	if err != nil {
		return nil, a.problem(ctx, err)
	}
	return w, nil
}

func (a *API) createWebhook(ctx context.Context, in *createWebhookInput) (*webhookOutput, error) {
	spec := domain.DefaultWebhookSpec()
	in.Body.applyTo(&spec, nil)
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
	f := domain.WebhookFilter{
		Status: domain.WebhookStatus(in.Status), EventType: in.EventType, Ascending: in.ascending(), Limit: in.Limit + 1,
	}
	if in.Cursor != "" {
		after, err := decodeCursor(in.Cursor, domain.WebhookIDPrefix)
		if err != nil {
			return nil, invalidCursor(in.Cursor)
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
		in.setLink(q)
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
	id, expected, err := a.commandTarget(ctx, in.ID, &in.Precondition)
	if err != nil {
		return nil, err
	}
	w, err := a.deps.Webhooks.UpdateWebhook(ctx, id, expected, func(current domain.WebhookSpec) domain.WebhookSpec {
		spec := base(current)
		in.Body.applyTo(&spec, &current)
		return spec
	})
	if err != nil {
		return nil, a.commandProblem(ctx, id, err)
	}
	return a.webhookOutput(w, false), nil
}

func (a *API) deleteWebhook(ctx context.Context, in *commandInput) (*noContentOutput, error) {
	id, expected, err := a.commandTarget(ctx, in.ID, &in.Precondition)
	if err != nil {
		return nil, err
	}
	if err := a.deps.Webhooks.DeleteWebhook(ctx, id, expected); err != nil {
		return nil, a.commandProblem(ctx, id, err)
	}
	return &noContentOutput{}, nil
}

func (a *API) statusCommand(name string) func(context.Context, *commandInput) (*webhookOutput, error) {
	return func(ctx context.Context, in *commandInput) (*webhookOutput, error) {
		id, expected, err := a.commandTarget(ctx, in.ID, &in.Precondition)
		if err != nil {
			return nil, err
		}
		run := a.deps.Webhooks.PauseWebhook
		if name == "resume" {
			run = a.deps.Webhooks.ResumeWebhook
		}
		w, err := run(ctx, id, expected)
		if err != nil {
			return nil, a.commandProblem(ctx, id, err)
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
	id, expected, err := a.commandTarget(ctx, in.ID, &in.Precondition)
	if err != nil {
		return nil, err
	}
	w, err := a.deps.Webhooks.RotateWebhookSecret(ctx, id, expected, p)
	if err != nil {
		return nil, a.commandProblem(ctx, id, err)
	}
	return a.webhookOutput(w, true), nil
}

// commandTarget parses a webhook id and its If-Match header into the
// version the command expects; errors are already problems.
func (a *API) commandTarget(ctx context.Context, rawID string, p *Precondition) (domain.WebhookID, int64, error) {
	id, err := webhookID(rawID)
	if err != nil {
		return "", 0, err
	}
	expected, err := a.expectedVersion(ctx, id, p)
	if err != nil {
		return "", 0, err
	}
	return id, expected, nil
}

func (a *API) webhookOutput(w *domain.Webhook, withSecret bool) *webhookOutput {
	out := &webhookOutput{ETag: etag(w.Version), Body: toWebhook(w, withSecret)}
	if withSecret {
		out.CacheControl = "no-store"
	}
	return out
}

// applyTo copies the fields that are present onto spec. current is the
// webhook's configuration before the write (nil on create): a masked
// secret header value sent back unchanged keeps the current value, and
// stays secret.
func (f *WebhookFields) applyTo(spec *domain.WebhookSpec, current *domain.WebhookSpec) {
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
		f.applyHeaders(spec, current)
	} else if f.SecretHeaders != nil {
		spec.SecretHeaders = f.SecretHeaders
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

// applyHeaders sets custom_headers and secret_headers. Without
// secret_headers, the headers marked secret in current that remain keep
// their mark. A value equal to the mask of a current secret value is that
// value, sent back from a GET.
func (f *WebhookFields) applyHeaders(spec *domain.WebhookSpec, current *domain.WebhookSpec) {
	headers := make(map[string]string, len(f.CustomHeaders))
	secret := f.SecretHeaders
	if secret == nil && current != nil {
		for name := range f.CustomHeaders {
			if slices.ContainsFunc(current.SecretHeaders, func(s string) bool { return strings.EqualFold(s, name) }) {
				secret = append(secret, name)
			}
		}
	}
	for name, value := range f.CustomHeaders {
		headers[name] = value
		if current == nil {
			continue
		}
		for cname, cvalue := range current.CustomHeaders {
			if strings.EqualFold(cname, name) && current.IsSecretHeader(cname) && value == maskSecret(cvalue) {
				headers[name] = cvalue
				if !domain.IsSecretHeader(name, secret) {
					secret = append(secret, name)
				}
			}
		}
	}
	spec.CustomHeaders, spec.SecretHeaders = headers, secret
}

// maskSecret shows enough of a secret value to recognise it: an
// authentication scheme ("Bearer ") and, for values of at least 10
// characters, the last 4.
func maskSecret(v string) string {
	prefix, rest := "", v
	if scheme, token, ok := strings.Cut(v, " "); ok && isToken(scheme) && token != "" {
		prefix, rest = scheme+" ", token
	}
	if r := []rune(rest); len(r) >= 10 {
		return prefix + "****" + string(r[len(r)-4:])
	}
	return prefix + "****"
}

func toWebhook(w *domain.Webhook, withSecret bool) Webhook {
	out := Webhook{
		ID: string(w.ID), Name: w.Spec.Name, URL: w.Spec.URL, Status: string(w.Status), StatusReason: w.StatusReason,
		EventTypes: w.Spec.EventTypes, RetryStrategy: string(w.Spec.RetryStrategy), MaxRetries: w.Spec.MaxRetries,
		RetryDelaySeconds: w.Spec.RetryDelaySeconds, MaxDelaySeconds: w.Spec.MaxDelaySeconds,
		BackoffMultiplier: w.Spec.BackoffMultiplier, JitterEnabled: w.Spec.JitterEnabled,
		TimeoutSeconds: w.Spec.TimeoutSeconds, RateLimitPerMinute: w.Spec.RateLimitPerMinute,
		RateLimitPerHour: w.Spec.RateLimitPerHour, Metadata: w.Spec.Metadata,
		CreatedAt: w.CreatedAt, UpdatedAt: w.UpdatedAt, LastTriggeredAt: w.LastTriggeredAt, Version: w.Version,
		RetrySchedulePreview: retrySchedule(w.Spec.RetryPolicy()),
	}
	out.CustomHeaders = make(map[string]string, len(w.Spec.CustomHeaders))
	for name, value := range w.Spec.CustomHeaders {
		if w.Spec.IsSecretHeader(name) {
			value = maskSecret(value)
		}
		out.CustomHeaders[name] = value
	}
	out.SecretHeaders = w.Spec.SecretHeaderNames()
	if out.Metadata == nil {
		out.Metadata = map[string]any{}
	}
	if withSecret {
		out.Secret = w.Secret
	}
	out.CircuitBreaker = toCircuitBreaker(w.Breaker)
	return out
}
