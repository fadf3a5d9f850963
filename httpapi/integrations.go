package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/loki-interceptor/lokihooks/domain"
)

// integrationsPath is the collection of integrations.
const integrationsPath = "/api/v1/integrations"

// IntegrationObject is an integration's config or credentials: a JSON
// object. Numbers decode as json.Number so they pass through unchanged.
type IntegrationObject map[string]any

// UnmarshalJSON decodes a JSON object, keeping numbers exact.
func (o *IntegrationObject) UnmarshalJSON(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return err
	}
	*o = m
	return nil
}

// Schema describes IntegrationObject as any JSON object.
func (IntegrationObject) Schema(huma.Registry) *huma.Schema {
	return &huma.Schema{
		Type: huma.TypeObject,
		Description: "A JSON object checked against the integration type's JSON Schema " +
			"(get-integrations-marketplace lists them)",
	}
}

// raw encodes the object; nil stays nil (absent).
func (o IntegrationObject) raw() (json.RawMessage, error) {
	if o == nil {
		return nil, nil
	}
	return json.Marshal(map[string]any(o))
}

// Integration is an integration as the API returns it. Its credentials are
// write-only and never returned.
type Integration struct {
	ID                 string          `json:"id" example:"int_01JDZ8Q6V3N5T8W2X4Y6Z8A0BC"`
	Name               string          `json:"name" example:"compliance-slack"`
	IntegrationType    string          `json:"integration_type" enum:"slack,teams,email,zapier"`
	Source             string          `json:"source" enum:"api,zapier_rest_hook" doc:"zapier_rest_hook: created by a Zapier app's subscribe call, deleted by its unsubscribe or a 410 from its target"`
	Status             string          `json:"status" enum:"active,inactive,paused,deleted"`
	StatusReason       string          `json:"status_reason,omitempty" doc:"Why the integration was deactivated"`
	Config             json.RawMessage `json:"config" doc:"The integration type's configuration"`
	EventSubscriptions []string        `json:"event_subscriptions" example:"[\"compliance.alert\"]"`
	RetryStrategy      string          `json:"retry_strategy" enum:"exponential_backoff,linear_backoff,fixed_interval,no_retry"`
	MaxRetries         int             `json:"max_retries"`
	RetryDelaySeconds  int             `json:"retry_delay_seconds"`
	MaxDelaySeconds    int             `json:"max_delay_seconds"`
	BackoffMultiplier  float64         `json:"backoff_multiplier"`
	JitterEnabled      bool            `json:"jitter_enabled"`
	TimeoutSeconds     int             `json:"timeout_seconds"`
	RateLimitPerMinute int             `json:"rate_limit_per_minute" doc:"0 means unlimited"`
	RateLimitPerHour   int             `json:"rate_limit_per_hour" doc:"0 means unlimited"`
	CreatedAt          time.Time       `json:"created_at"`
	UpdatedAt          time.Time       `json:"updated_at"`
	LastTriggeredAt    *time.Time      `json:"last_triggered_at" doc:"When a delivery was last attempted; null if never"`
	Version            int64           `json:"version" doc:"Incremented by every change; the ETag is \"v<version>\""`
	CircuitBreaker     *CircuitBreaker `json:"circuit_breaker,omitempty" doc:"The integration's circuit breaker, in single-integration answers once it has opened (absent: closed, never opened)"`
}

// TransformSchema documents config as an object.
func (Integration) TransformSchema(_ huma.Registry, s *huma.Schema) *huma.Schema {
	if c := s.Properties["config"]; c != nil {
		c.Type = huma.TypeObject
	}
	return s
}

// IntegrationFields are the configurable fields of create and PUT. On
// create an absent field takes the type's default; on PUT too, except
// name, config and event_subscriptions, which keep their values, and
// credentials, which are kept unless given.
type IntegrationFields struct {
	Name               *string           `json:"name,omitempty" maxLength:"100" example:"compliance-slack" doc:"Unique among integrations that are not deleted; letters, digits, '.', '_' and '-'"`
	Credentials        IntegrationObject `json:"credentials,omitempty" doc:"Write-only: webhook_url (Slack incoming webhook, Teams, Zapier), bot_token (Slack bot), smtp_host, smtp_port, smtp_username, smtp_password (email)"`
	Config             IntegrationObject `json:"config,omitempty" doc:"The type's configuration, e.g. channel for a Slack bot, default_recipients and html_format for email"`
	EventSubscriptions []string          `json:"event_subscriptions,omitempty" maxItems:"50" example:"[\"compliance.alert\"]" doc:"Event types to receive, or [\"*\"] for all; may be empty (then subscribe later)"`
	RetryStrategy      *string           `json:"retry_strategy,omitempty" enum:"exponential_backoff,linear_backoff,fixed_interval,no_retry" doc:"Default exponential_backoff"`
	MaxRetries         *int              `json:"max_retries,omitempty" minimum:"0" maximum:"50" doc:"Retries after the first attempt (default 5)"`
	RetryDelaySeconds  *int              `json:"retry_delay_seconds,omitempty" minimum:"0" doc:"Initial delay (default 60)"`
	MaxDelaySeconds    *int              `json:"max_delay_seconds,omitempty" minimum:"0" doc:"Cap on any delay (default 7200)"`
	BackoffMultiplier  *float64          `json:"backoff_multiplier,omitempty" doc:"Exponential growth factor, 1 to 10 (default 2)"`
	JitterEnabled      *bool             `json:"jitter_enabled,omitempty" doc:"Randomise delays by up to ±20% (default true)"`
	TimeoutSeconds     *int              `json:"timeout_seconds,omitempty" doc:"Per-attempt timeout, 1 to 120 (default per type)"`
	RateLimitPerMinute *int              `json:"rate_limit_per_minute,omitempty" minimum:"0" maximum:"2147483647" doc:"0 means unlimited (default per type: Slack 60, Teams 60, email 30, Zapier 600)"`
	RateLimitPerHour   *int              `json:"rate_limit_per_hour,omitempty" minimum:"0" maximum:"2147483647" doc:"0 means unlimited (default)"`
}

// CreateIntegrationBody is the body of POST /api/v1/integrations.
type CreateIntegrationBody struct {
	IntegrationType string `json:"integration_type" enum:"slack,teams,email,zapier"`
	IntegrationFields
}

// ReplaceIntegrationBody is the body of PUT /api/v1/integrations/{name}.
type ReplaceIntegrationBody struct {
	IntegrationType string `json:"integration_type,omitempty" enum:"slack,teams,email,zapier" doc:"Cannot change; when given it must be the current type"`
	IntegrationFields
}

type createIntegrationInput struct {
	Body CreateIntegrationBody
}

type integrationOutput struct {
	ETag     string `header:"ETag"`
	Location string `header:"Location"`
	Body     Integration
}

type integrationNameInput struct {
	Name string `path:"name" maxLength:"100" example:"compliance-slack"`
}

type integrationCommandInput struct {
	Name string `path:"name" maxLength:"100" example:"compliance-slack"`
	Precondition
}

type replaceIntegrationInput struct {
	Name string `path:"name" maxLength:"100" example:"compliance-slack"`
	Precondition
	Body ReplaceIntegrationBody
}

type subscriptionInput struct {
	Name      string `path:"name" maxLength:"100" example:"compliance-slack"`
	EventType string `path:"event_type" maxLength:"100" example:"compliance.alert" doc:"An event type of the catalog, or * for all"`
	Precondition
}

type listIntegrationsInput struct {
	Status          string `query:"status" enum:"active,inactive,paused,deleted" doc:"Only integrations in this status (default: all but deleted)"`
	IntegrationType string `query:"integration_type" enum:"slack,teams,email,zapier" doc:"Only integrations of this type"`
	EventType       string `query:"event_type" maxLength:"100" doc:"Only integrations subscribed to this event type"`
	Cursor          string `query:"cursor" maxLength:"200" doc:"next_cursor of the previous page"`
	Limit           int    `query:"limit" minimum:"1" maximum:"100" default:"20"`
}

// IntegrationList is one page of integrations.
type IntegrationList struct {
	Data       []Integration `json:"data"`
	NextCursor string        `json:"next_cursor,omitempty" doc:"Pass as cursor to get the next page; absent on the last page"`
}

type listIntegrationsOutput struct {
	Link string `header:"Link"`
	Body IntegrationList
}

// Subscriptions are an integration's event subscriptions.
type Subscriptions struct {
	Integration        string   `json:"integration" example:"compliance-slack"`
	EventSubscriptions []string `json:"event_subscriptions" example:"[\"compliance.alert\"]"`
}

type subscriptionsOutput struct {
	ETag string `header:"ETag"`
	Body Subscriptions
}

// IntegrationTestResult is the outcome of test-integration's attempt.
type IntegrationTestResult struct {
	Outcome         string  `json:"outcome" enum:"delivered,retryable_failure,permanent_failure" doc:"What a real delivery would have become after this attempt (before retries)"`
	Success         bool    `json:"success"`
	StatusCode      int     `json:"status_code" doc:"HTTP status, or the SMTP reply code for email; 0 when no response arrived"`
	LatencyMS       float64 `json:"latency_ms"`
	ErrorCategory   string  `json:"error_category" doc:"http_3xx, http_4xx, http_5xx, timeout or network; empty on success"`
	ErrorDetail     string  `json:"error_detail"`
	ResponseExcerpt string  `json:"response_excerpt" doc:"The first 1 KiB of the response, as text"`
}

type integrationTestOutput struct {
	Body IntegrationTestResult
}

// IntegrationHealth is how one integration has been doing.
type IntegrationHealth struct {
	Name                  string     `json:"name" example:"compliance-slack"`
	ID                    string     `json:"id" example:"int_01JDZ8Q6V3N5T8W2X4Y6Z8A0BC"`
	IntegrationType       string     `json:"integration_type" enum:"slack,teams,email,zapier"`
	Status                string     `json:"status" enum:"active,inactive,paused"`
	StatusReason          string     `json:"status_reason,omitempty"`
	LastSuccessAt         *time.Time `json:"last_success_at" doc:"The latest successful attempt; null if none"`
	LastFailureAt         *time.Time `json:"last_failure_at" doc:"The latest failed attempt; null if none"`
	LastFailureReason     string     `json:"last_failure_reason,omitempty" doc:"Why that attempt failed"`
	LastFailureStatusCode int        `json:"last_failure_status_code,omitempty"`
	AttemptsLastHour      int        `json:"attempts_last_hour"`
	FailuresLastHour      int        `json:"failures_last_hour"`
	FailureRateLastHour   float64    `json:"failure_rate_last_hour" doc:"failures_last_hour / attempts_last_hour, 0 without attempts"`
}

type integrationHealthInput struct {
	Cursor string `query:"cursor" maxLength:"200" doc:"next_cursor of the previous page"`
	Limit  int    `query:"limit" minimum:"1" maximum:"100" default:"100"`
}

// healthCursorPrefix marks a health cursor (the last name of a page).
const healthCursorPrefix = "health:"

// IntegrationHealthList is one page of integration health, by name.
type IntegrationHealthList struct {
	Data       []IntegrationHealth `json:"data"`
	NextCursor string              `json:"next_cursor,omitempty"`
}

type integrationHealthOutput struct {
	Body IntegrationHealthList
}

// IntegrationKind is one type of the marketplace.
type IntegrationKind struct {
	IntegrationType   string          `json:"integration_type" enum:"slack,teams,email,zapier"`
	Title             string          `json:"title" example:"Slack"`
	Description       string          `json:"description"`
	Features          []string        `json:"features"`
	CredentialsSchema json.RawMessage `json:"credentials_schema" doc:"JSON Schema (draft 2020-12) of credentials"`
	ConfigSchema      json.RawMessage `json:"config_schema" doc:"JSON Schema (draft 2020-12) of config"`
	Defaults          KindDefaults    `json:"defaults"`
}

// TransformSchema documents the schemas as objects.
func (IntegrationKind) TransformSchema(_ huma.Registry, s *huma.Schema) *huma.Schema {
	for _, k := range []string{"credentials_schema", "config_schema"} {
		if p := s.Properties[k]; p != nil {
			p.Type = huma.TypeObject
		}
	}
	return s
}

// KindDefaults are the settings a new integration of a type starts with.
type KindDefaults struct {
	RetryStrategy        string  `json:"retry_strategy"`
	MaxRetries           int     `json:"max_retries"`
	RetryDelaySeconds    int     `json:"retry_delay_seconds"`
	MaxDelaySeconds      int     `json:"max_delay_seconds"`
	BackoffMultiplier    float64 `json:"backoff_multiplier"`
	JitterEnabled        bool    `json:"jitter_enabled"`
	TimeoutSeconds       int     `json:"timeout_seconds"`
	RateLimitPerMinute   int     `json:"rate_limit_per_minute"`
	RateLimitPerHour     int     `json:"rate_limit_per_hour"`
	BatchSize            int     `json:"batch_size,omitempty" doc:"Zapier: events per request (config batch_size)"`
	BatchIntervalSeconds int     `json:"batch_interval_seconds,omitempty" doc:"Zapier: longest wait for a batch to fill"`
}

// Marketplace lists the integration types.
type Marketplace struct {
	Data []IntegrationKind `json:"data"`
}

type marketplaceOutput struct {
	Body Marketplace
}

// ZapierSubscribeBody is what a Zapier app sends to subscribe (REST hooks).
type ZapierSubscribeBody struct {
	TargetURL string `json:"target_url" maxLength:"2048" example:"https://hooks.zapier.com/hooks/standard/123/abc/" doc:"Zapier's per-Zap URL (bundle.targetUrl)"`
	EventType string `json:"event_type" maxLength:"100" example:"compliance.alert" doc:"An event type of the catalog, or *"`
}

// ZapierSubscription is the answer to a subscribe: Zapier keeps id to
// unsubscribe.
type ZapierSubscription struct {
	ID        string `json:"id" example:"int_01JDZ8Q6V3N5T8W2X4Y6Z8A0BC"`
	Name      string `json:"name" example:"zapier-01jdz8q6v3n5t8w2x4y6z8a0bc"`
	EventType string `json:"event_type" example:"compliance.alert"`
}

type zapierSubscribeInput struct {
	Body ZapierSubscribeBody
}

type zapierSubscribeOutput struct {
	Location string `header:"Location"`
	Body     ZapierSubscription
}

type zapierUnsubscribeInput struct {
	ID string `path:"id" maxLength:"64" example:"int_01JDZ8Q6V3N5T8W2X4Y6Z8A0BC"`
}

type listIntegrationDeliveriesInput struct {
	Name string `path:"name" maxLength:"100" example:"compliance-slack"`
	DeliveryQuery
}

type integrationDeliveryInput struct {
	Name       string `path:"name" maxLength:"100" example:"compliance-slack"`
	DeliveryID string `path:"delivery_id" maxLength:"64" example:"dlv_01JDZ8Q6V3N5T8W2X4Y6Z8A0BC"`
}

type retryIntegrationDeliveriesInput struct {
	Name string `path:"name" maxLength:"100" example:"compliance-slack"`
	Body *RetryDeliveriesBody
}

func (a *API) registerIntegrations() {
	reg := func(op huma.Operation) huma.Operation {
		if op.Tags == nil {
			op.Tags = []string{"Integrations"}
		}
		op.Security, op.MaxBodyBytes = bearer, MaxBodyBytes
		op.Errors = append(slices.Clone(apiErrors), op.Errors...)
		return op
	}
	byName := integrationsPath + "/{name}"
	notFound := []int{http.StatusNotFound}
	writes := []int{http.StatusNotFound, http.StatusConflict, http.StatusPreconditionFailed}
	// The literal paths (health, marketplace, zapier/subscriptions) are
	// more specific than {name}, so ServeMux routes them first; health and
	// marketplace are reserved names.
	huma.Register(a.huma, reg(huma.Operation{
		OperationID: "create-integration", Method: http.MethodPost, Path: integrationsPath,
		Summary: "Create an integration", DefaultStatus: http.StatusCreated, Errors: []int{http.StatusConflict},
		Description: "Creates a Slack, Microsoft Teams, email or Zapier destination. Credentials are " +
			"encrypted at rest and never returned. Fields left out take the type's defaults.",
	}), a.createIntegration)
	huma.Register(a.huma, reg(huma.Operation{
		OperationID: "list-integrations", Method: http.MethodGet, Path: integrationsPath,
		Summary: "List integrations", Description: "Cursor-paginated, newest first.",
	}), a.listIntegrations)
	huma.Register(a.huma, reg(huma.Operation{
		OperationID: "get-integrations-health", Method: http.MethodGet, Path: integrationsPath + "/health",
		Summary: "Health of every integration",
		Description: "Per integration that is not deleted: the latest success, the latest failure with its " +
			"reason, the failure rate over the last hour, and the status.",
	}), a.integrationsHealth)
	huma.Register(a.huma, reg(huma.Operation{
		OperationID: "get-integrations-marketplace", Method: http.MethodGet, Path: integrationsPath + "/marketplace",
		Summary:     "Integration types",
		Description: "Each type with its description, features, defaults and the JSON Schemas of its credentials and config.",
	}), a.marketplace)
	huma.Register(a.huma, reg(huma.Operation{
		OperationID: "get-integration", Method: http.MethodGet, Path: byName,
		Summary: "Get an integration", Errors: notFound,
	}), a.getIntegration)
	huma.Register(a.huma, reg(huma.Operation{
		OperationID: "replace-integration", Method: http.MethodPut, Path: byName,
		Summary: "Replace an integration's configuration",
		Description: "Fields left out take the type's defaults, except name, config and event_subscriptions, " +
			"which keep their values, and credentials, which are kept unless given. Honours If-Match.",
		Errors: writes,
	}), a.replaceIntegration)
	huma.Register(a.huma, reg(huma.Operation{
		OperationID: "delete-integration", Method: http.MethodDelete, Path: byName,
		Summary: "Delete an integration", DefaultStatus: http.StatusNoContent,
		Errors: []int{http.StatusNotFound, http.StatusPreconditionFailed},
	}), a.deleteIntegration)
	for _, c := range []struct{ id, path, summary string }{
		{"pause-integration", "pause", "Pause deliveries (they stay pending until resume)"},
		{"resume-integration", "resume", "Resume a paused or inactive integration"},
	} {
		huma.Register(a.huma, reg(huma.Operation{
			OperationID: c.id, Method: http.MethodPost, Path: byName + "/" + c.path,
			Summary: c.summary, Errors: []int{http.StatusNotFound, http.StatusPreconditionFailed},
		}), a.integrationStatusCommand(c.path))
	}
	huma.Register(a.huma, reg(huma.Operation{
		OperationID: "test-integration", Method: http.MethodPost, Path: byName + "/test",
		Summary:     "Send a test message",
		Description: "Sends a sample webhook.test event through the integration now and reports the outcome, status and latency; nothing is retried.",
		Errors:      notFound,
	}), a.testIntegration)
	huma.Register(a.huma, reg(huma.Operation{
		OperationID: "subscribe-integration", Method: http.MethodPost, Path: byName + "/subscribe/{event_type}",
		Summary: "Subscribe to an event type", Description: "Subscribing again changes nothing.",
		Errors: []int{http.StatusNotFound, http.StatusPreconditionFailed},
	}), a.subscribe)
	huma.Register(a.huma, reg(huma.Operation{
		OperationID: "unsubscribe-integration", Method: http.MethodDelete, Path: byName + "/subscribe/{event_type}",
		Summary: "Unsubscribe from an event type", Description: "404 when the event type is not subscribed.",
		Errors: []int{http.StatusNotFound, http.StatusPreconditionFailed},
	}), a.unsubscribe)
	huma.Register(a.huma, reg(huma.Operation{
		OperationID: "list-integration-subscriptions", Method: http.MethodGet, Path: byName + "/subscriptions",
		Summary: "List an integration's event subscriptions", Errors: notFound,
	}), a.subscriptions)
	huma.Register(a.huma, reg(huma.Operation{
		Tags: []string{"Deliveries"}, OperationID: "list-integration-deliveries", Method: http.MethodGet, Path: byName + "/deliveries",
		Summary: "List an integration's deliveries", Description: "Cursor-paginated, newest first.", Errors: notFound,
	}), a.listIntegrationDeliveries)
	huma.Register(a.huma, reg(huma.Operation{
		Tags: []string{"Deliveries"}, OperationID: "get-integration-delivery", Method: http.MethodGet, Path: byName + "/deliveries/{delivery_id}",
		Summary: "Get a delivery and its attempts", Errors: notFound,
	}), a.getIntegrationDelivery)
	huma.Register(a.huma, reg(huma.Operation{
		Tags: []string{"Deliveries"}, OperationID: "retry-integration-deliveries", Method: http.MethodPost, Path: byName + "/retry",
		Summary: "Redrive failed deliveries",
		Description: "Schedules a new attempt, with a fresh retry budget, for the integration's failed and " +
			"permanent_failure deliveries that match the filter.",
		Errors: []int{http.StatusNotFound, http.StatusRequestEntityTooLarge},
	}), a.retryIntegrationDeliveries)
	huma.Register(a.huma, reg(huma.Operation{
		Tags: []string{"Zapier"}, OperationID: "create-zapier-subscription", Method: http.MethodPost, Path: integrationsPath + "/zapier/subscriptions",
		Summary: "Subscribe a Zapier REST hook", DefaultStatus: http.StatusCreated,
		Description: "Called by a Zapier app when a Zap is turned on: creates a Zapier integration that posts " +
			"event_type events to target_url. A 410 Gone from target_url unsubscribes it.",
	}), a.zapierSubscribe)
	huma.Register(a.huma, reg(huma.Operation{
		Tags: []string{"Zapier"}, OperationID: "delete-zapier-subscription", Method: http.MethodDelete, Path: integrationsPath + "/zapier/subscriptions/{id}",
		Summary: "Unsubscribe a Zapier REST hook", DefaultStatus: http.StatusNoContent, Errors: notFound,
	}), a.zapierUnsubscribe)
}

// Resolve rejects names and text PostgreSQL cannot store.
func (in *createIntegrationInput) Resolve(huma.Context) []error { return in.Body.unstorable() }

// Resolve rejects names and text PostgreSQL cannot store.
func (in *replaceIntegrationInput) Resolve(ctx huma.Context) []error {
	return append(in.Precondition.Resolve(ctx), in.Body.unstorable()...)
}

// Resolve rejects an event_type filter PostgreSQL cannot compare.
func (in *listIntegrationsInput) Resolve(huma.Context) []error {
	if err := unknownEventTypeFilter("query.event_type", in.EventType, true); err != nil {
		return []error{err}
	}
	return nil
}

func (f *IntegrationFields) unstorable() []error {
	var errs []error
	if f.Name != nil && !storable(*f.Name) {
		errs = append(errs, &huma.ErrorDetail{Location: "body.name", Message: "must not contain NUL characters"})
	}
	if !storableJSON(map[string]any(f.Config)) {
		errs = append(errs, &huma.ErrorDetail{Location: "body.config", Message: "keys and strings must not contain NUL characters"})
	}
	if !storableJSON(map[string]any(f.Credentials)) {
		errs = append(errs, &huma.ErrorDetail{Location: "body.credentials", Message: "keys and strings must not contain NUL characters"})
	}
	for _, t := range f.EventSubscriptions {
		if !storable(t) {
			errs = append(errs, &huma.ErrorDetail{Location: "body.event_subscriptions", Message: "must not contain NUL characters"})
			break
		}
	}
	return errs
}

// integrationName checks a path name: one PostgreSQL cannot compare names
// no integration (404 instead of a query error).
func integrationName(s string) (string, error) {
	if !storable(s) {
		return "", huma.Error404NotFound("no such integration")
	}
	return s, nil
}

// integrationTarget parses a path name and an If-Match header (RFC 9110,
// as for webhooks); errors are already problems.
func (a *API) integrationTarget(ctx context.Context, rawName string, p *Precondition) (string, int64, error) {
	name, err := integrationName(rawName)
	if err != nil {
		return "", 0, err
	}
	expected, err := a.expectedVersionOf(ctx, p, func(ctx context.Context) (int64, error) {
		i, err := a.deps.Integrations.GetIntegration(ctx, name)
		if err != nil {
			return 0, err
		}
		return i.Version, nil
	})
	if err != nil {
		return "", 0, err
	}
	return name, expected, nil
}

func (a *API) createIntegration(ctx context.Context, in *createIntegrationInput) (*integrationOutput, error) {
	b := &in.Body
	credentials, config, err := b.documents()
	if err != nil {
		return nil, err
	}
	if credentials == nil {
		credentials = json.RawMessage(`{}`)
	}
	i, err := a.deps.Integrations.CreateIntegration(ctx, domain.DestinationKind(b.IntegrationType), credentials,
		func(spec domain.IntegrationSpec) domain.IntegrationSpec {
			b.applyTo(&spec, config)
			return spec
		})
	if err != nil {
		return nil, a.problem(ctx, err)
	}
	out := integrationResponse(i)
	out.Location = integrationsPath + "/" + url.PathEscape(i.Spec.Name)
	return out, nil
}

func (a *API) replaceIntegration(ctx context.Context, in *replaceIntegrationInput) (*integrationOutput, error) {
	name, expected, err := a.integrationTarget(ctx, in.Name, &in.Precondition)
	if err != nil {
		return nil, err
	}
	b := &in.Body
	credentials, config, err := b.documents()
	if err != nil {
		return nil, err
	}
	i, err := a.deps.Integrations.UpdateIntegration(ctx, name, expected, credentials,
		func(current, defaults domain.IntegrationSpec) domain.IntegrationSpec {
			spec := defaults
			spec.Name, spec.Kind, spec.Config, spec.EventTypes = current.Name, current.Kind, current.Config, current.EventTypes
			if b.IntegrationType != "" {
				spec.Kind = domain.DestinationKind(b.IntegrationType)
			}
			b.applyTo(&spec, config)
			return spec
		})
	if err != nil {
		return nil, a.problem(ctx, err)
	}
	out := integrationResponse(i)
	if i.Spec.Name != name {
		out.Location = integrationsPath + "/" + url.PathEscape(i.Spec.Name)
	}
	return out, nil
}

// documents encodes credentials and config; absent ones are nil.
func (f *IntegrationFields) documents() (credentials, config json.RawMessage, err error) {
	if credentials, err = f.Credentials.raw(); err == nil {
		config, err = f.Config.raw()
	}
	if err != nil {
		return nil, nil, huma.Error400BadRequest("credentials and config must be JSON objects")
	}
	return credentials, config, nil
}

// applyTo copies the fields that are present onto spec.
func (f *IntegrationFields) applyTo(spec *domain.IntegrationSpec, config json.RawMessage) {
	set(&spec.Name, f.Name)
	if config != nil {
		spec.Config = config
	}
	if f.EventSubscriptions != nil {
		spec.EventTypes = f.EventSubscriptions
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
}

func (a *API) getIntegration(ctx context.Context, in *integrationNameInput) (*integrationOutput, error) {
	i, err := a.lookupIntegration(ctx, in.Name)
	if err != nil {
		return nil, err
	}
	return integrationResponse(i), nil
}

// lookupIntegration reads the integration a path names; errors are
// problems.
func (a *API) lookupIntegration(ctx context.Context, rawName string) (*domain.Integration, error) {
	name, err := integrationName(rawName)
	if err != nil {
		return nil, err
	}
	i, err := a.deps.Integrations.GetIntegration(ctx, name)
	if err != nil {
		return nil, a.problem(ctx, err)
	}
	return i, nil
}

func (a *API) listIntegrations(ctx context.Context, in *listIntegrationsInput) (*listIntegrationsOutput, error) {
	f := domain.IntegrationFilter{
		Status: domain.WebhookStatus(in.Status), Kind: domain.DestinationKind(in.IntegrationType),
		EventType: in.EventType, Limit: in.Limit + 1,
	}
	if in.Cursor != "" {
		after, err := decodeCursor(in.Cursor, domain.IntegrationIDPrefix)
		if err != nil {
			return nil, huma.Error400BadRequest("invalid cursor", &huma.ErrorDetail{Location: "query.cursor", Message: err.Error(), Value: in.Cursor})
		}
		f.After = domain.IntegrationID(after)
	}
	is, err := a.deps.Integrations.ListIntegrations(ctx, f)
	if err != nil {
		return nil, a.problem(ctx, err)
	}
	out := &listIntegrationsOutput{Body: IntegrationList{Data: []Integration{}}}
	if len(is) > in.Limit {
		is = is[:in.Limit]
		out.Body.NextCursor = encodeCursor(string(is[len(is)-1].ID))
		q := url.Values{"cursor": {out.Body.NextCursor}, "limit": {strconv.Itoa(in.Limit)}}
		for k, v := range map[string]string{"status": in.Status, "integration_type": in.IntegrationType, "event_type": in.EventType} {
			if v != "" {
				q.Set(k, v)
			}
		}
		out.Link = nextLink(integrationsPath, q)
	}
	for i := range is {
		out.Body.Data = append(out.Body.Data, toIntegration(&is[i]))
	}
	return out, nil
}

func (a *API) deleteIntegration(ctx context.Context, in *integrationCommandInput) (*noContentOutput, error) {
	name, expected, err := a.integrationTarget(ctx, in.Name, &in.Precondition)
	if err != nil {
		return nil, err
	}
	if err := a.deps.Integrations.DeleteIntegration(ctx, name, expected); err != nil {
		return nil, a.problem(ctx, err)
	}
	return &noContentOutput{}, nil
}

func (a *API) integrationStatusCommand(command string) func(context.Context, *integrationCommandInput) (*integrationOutput, error) {
	return func(ctx context.Context, in *integrationCommandInput) (*integrationOutput, error) {
		name, expected, err := a.integrationTarget(ctx, in.Name, &in.Precondition)
		if err != nil {
			return nil, err
		}
		run := a.deps.Integrations.PauseIntegration
		if command == "resume" {
			run = a.deps.Integrations.ResumeIntegration
		}
		i, err := run(ctx, name, expected)
		if err != nil {
			return nil, a.problem(ctx, err)
		}
		return integrationResponse(i), nil
	}
}

func (a *API) testIntegration(ctx context.Context, in *integrationNameInput) (*integrationTestOutput, error) {
	name, err := integrationName(in.Name)
	if err != nil {
		return nil, err
	}
	r, err := a.deps.Integrations.TestIntegration(ctx, name)
	if err != nil {
		return nil, a.problem(ctx, err)
	}
	outcome := "retryable_failure"
	switch {
	case r.Success:
		outcome = "delivered"
	case r.Permanent || r.StatusCode == http.StatusGone:
		outcome = "permanent_failure"
	}
	return &integrationTestOutput{Body: IntegrationTestResult{
		Outcome: outcome, Success: r.Success, StatusCode: r.StatusCode, LatencyMS: durationMS(r.Duration),
		ErrorCategory: string(r.Category), ErrorDetail: r.Detail, ResponseExcerpt: excerpt(r.ResponseBody, responseExcerptBytes),
	}}, nil
}

func (a *API) subscribe(ctx context.Context, in *subscriptionInput) (*subscriptionsOutput, error) {
	return a.subscriptionCommand(ctx, in, a.deps.Integrations.SubscribeIntegration)
}

func (a *API) unsubscribe(ctx context.Context, in *subscriptionInput) (*subscriptionsOutput, error) {
	return a.subscriptionCommand(ctx, in, a.deps.Integrations.UnsubscribeIntegration)
}

func (a *API) subscriptionCommand(ctx context.Context, in *subscriptionInput,
	run func(ctx context.Context, name string, expected int64, eventType string) (*domain.Integration, error),
) (*subscriptionsOutput, error) {
	name, expected, err := a.integrationTarget(ctx, in.Name, &in.Precondition)
	if err != nil {
		return nil, err
	}
	if !storable(in.EventType) {
		return nil, huma.Error404NotFound("no such subscription")
	}
	i, err := run(ctx, name, expected, in.EventType)
	var ve *domain.ValidationError
	if errors.As(err, &ve) {
		// The event type is a path parameter.
		details := make([]error, len(ve.Fields))
		for n, f := range ve.Fields {
			details[n] = &huma.ErrorDetail{Location: "path." + f.Field, Message: f.Message}
		}
		return nil, huma.Error422UnprocessableEntity("validation failed", details...)
	}
	if err != nil {
		return nil, a.problem(ctx, err)
	}
	return subscriptionsResponse(i), nil
}

func (a *API) subscriptions(ctx context.Context, in *integrationNameInput) (*subscriptionsOutput, error) {
	i, err := a.lookupIntegration(ctx, in.Name)
	if err != nil {
		return nil, err
	}
	return subscriptionsResponse(i), nil
}

func subscriptionsResponse(i *domain.Integration) *subscriptionsOutput {
	types := i.Spec.EventTypes
	if types == nil {
		types = []string{}
	}
	return &subscriptionsOutput{ETag: etag(i.Version), Body: Subscriptions{Integration: i.Spec.Name, EventSubscriptions: types}}
}

func (a *API) integrationsHealth(ctx context.Context, in *integrationHealthInput) (*integrationHealthOutput, error) {
	var after string
	if in.Cursor != "" {
		name, err := decodeCursor(in.Cursor, healthCursorPrefix)
		if err != nil {
			return nil, huma.Error400BadRequest("invalid cursor", &huma.ErrorDetail{Location: "query.cursor", Message: err.Error(), Value: in.Cursor})
		}
		after = strings.TrimPrefix(name, healthCursorPrefix)
	}
	hs, err := a.deps.Integrations.Health(ctx, after, in.Limit+1)
	if err != nil {
		return nil, a.problem(ctx, err)
	}
	out := &integrationHealthOutput{Body: IntegrationHealthList{Data: make([]IntegrationHealth, 0, len(hs))}}
	if len(hs) > in.Limit {
		hs = hs[:in.Limit]
		out.Body.NextCursor = encodeCursor(healthCursorPrefix + hs[len(hs)-1].Name)
	}
	for _, h := range hs {
		out.Body.Data = append(out.Body.Data, IntegrationHealth{
			Name: h.Name, ID: string(h.ID), IntegrationType: string(h.Kind), Status: string(h.Status),
			StatusReason: h.StatusReason, LastSuccessAt: utcPtr(h.LastSuccessAt), LastFailureAt: utcPtr(h.LastFailureAt),
			LastFailureReason: h.LastFailureReason, LastFailureStatusCode: h.LastFailureStatusCode,
			AttemptsLastHour: h.AttemptsInWindow, FailuresLastHour: h.FailuresInWindow, FailureRateLastHour: h.FailureRate(),
		})
	}
	return out, nil
}

func (a *API) marketplace(context.Context, *struct{}) (*marketplaceOutput, error) {
	kinds := a.deps.Integrations.Marketplace()
	out := &marketplaceOutput{Body: Marketplace{Data: make([]IntegrationKind, 0, len(kinds))}}
	for _, k := range kinds {
		d := k.Defaults
		out.Body.Data = append(out.Body.Data, IntegrationKind{
			IntegrationType: string(k.Kind), Title: k.Title, Description: k.Description, Features: k.Features,
			CredentialsSchema: k.CredentialsSchema, ConfigSchema: k.ConfigSchema,
			Defaults: KindDefaults{
				RetryStrategy: string(d.RetryStrategy), MaxRetries: d.MaxRetries, RetryDelaySeconds: d.RetryDelaySeconds,
				MaxDelaySeconds: d.MaxDelaySeconds, BackoffMultiplier: d.BackoffMultiplier, JitterEnabled: d.JitterEnabled,
				TimeoutSeconds: d.TimeoutSeconds, RateLimitPerMinute: d.RateLimitPerMinute, RateLimitPerHour: d.RateLimitPerHour,
				BatchSize: k.BatchSize, BatchIntervalSeconds: k.BatchIntervalSeconds,
			},
		})
	}
	return out, nil
}

func (a *API) listIntegrationDeliveries(ctx context.Context, in *listIntegrationDeliveriesInput) (*listDeliveriesOutput, error) {
	i, err := a.lookupIntegration(ctx, in.Name)
	if err != nil {
		return nil, err
	}
	f, err := in.filter(domain.DestinationID(i.ID))
	if err != nil {
		return nil, err
	}
	return a.deliveryPage(ctx, integrationsPath+"/"+url.PathEscape(in.Name)+"/deliveries", f, &in.DeliveryQuery, url.Values{})
}

func (a *API) getIntegrationDelivery(ctx context.Context, in *integrationDeliveryInput) (*deliveryOutput, error) {
	i, err := a.lookupIntegration(ctx, in.Name)
	if err != nil {
		return nil, err
	}
	if !storable(in.DeliveryID) {
		return nil, huma.Error404NotFound("no such delivery")
	}
	d, attempts, err := a.deps.Deliveries.GetDelivery(ctx, domain.DeliveryID(in.DeliveryID))
	if err != nil {
		return nil, a.problem(ctx, err)
	}
	if d.DestinationID != domain.DestinationID(i.ID) {
		return nil, huma.Error404NotFound("no such delivery")
	}
	out := &deliveryOutput{Body: DeliveryWithAttempts{Delivery: toDelivery(d), AttemptHistory: make([]Attempt, 0, len(attempts))}}
	none := &domain.WebhookSpec{} // integrations have no custom headers; credential headers are redacted when sent
	for n := range attempts {
		out.Body.AttemptHistory = append(out.Body.AttemptHistory, toAttempt(&attempts[n], none))
	}
	return out, nil
}

func (a *API) retryIntegrationDeliveries(ctx context.Context, in *retryIntegrationDeliveriesInput) (*retryDeliveriesOutput, error) {
	i, err := a.lookupIntegration(ctx, in.Name)
	if err != nil {
		return nil, err
	}
	dest := domain.DestinationID(i.ID)
	f, err := in.Body.filter(dest)
	if err != nil {
		return nil, err
	}
	n, err := a.deps.Deliveries.Redrive(ctx, dest, f)
	if err != nil {
		return nil, a.problem(ctx, err)
	}
	return &retryDeliveriesOutput{Body: RetryDeliveriesResult{Redriven: n}}, nil
}

// Resolve rejects text PostgreSQL cannot store.
func (in *zapierSubscribeInput) Resolve(huma.Context) []error {
	if !storable(in.Body.TargetURL) || !storable(in.Body.EventType) {
		return []error{&huma.ErrorDetail{Location: "body", Message: "target_url and event_type must not contain NUL characters"}}
	}
	return nil
}

func (a *API) zapierSubscribe(ctx context.Context, in *zapierSubscribeInput) (*zapierSubscribeOutput, error) {
	i, err := a.deps.Integrations.SubscribeZapier(ctx, in.Body.TargetURL, in.Body.EventType)
	if err != nil {
		// Name the fields of this body, not those of an integration.
		return nil, a.problem(ctx, renameFields(err, map[string]string{
			"credentials.webhook_url": "target_url", "event_subscriptions": "event_type",
		}))
	}
	return &zapierSubscribeOutput{
		Location: integrationsPath + "/" + url.PathEscape(i.Spec.Name),
		Body:     ZapierSubscription{ID: string(i.ID), Name: i.Spec.Name, EventType: in.Body.EventType},
	}, nil
}

func (a *API) zapierUnsubscribe(ctx context.Context, in *zapierUnsubscribeInput) (*noContentOutput, error) {
	if !storable(in.ID) || !strings.HasPrefix(in.ID, domain.IntegrationIDPrefix) {
		return nil, huma.Error404NotFound("no such subscription")
	}
	if err := a.deps.Integrations.UnsubscribeZapier(ctx, domain.IntegrationID(in.ID)); err != nil {
		return nil, a.problem(ctx, err)
	}
	return &noContentOutput{}, nil
}

// renameFields renames the fields of a *domain.ValidationError (other
// errors pass through).
func renameFields(err error, names map[string]string) error {
	ve, ok := err.(*domain.ValidationError) //nolint:errorlint // app returns it unwrapped; a wrapped one keeps its names
	if !ok {
		return err
	}
	out := &domain.ValidationError{Fields: make([]domain.FieldError, len(ve.Fields))}
	for n, f := range ve.Fields {
		if to, ok := names[f.Field]; ok {
			f.Field = to
		}
		out.Fields[n] = f
	}
	return out
}

func integrationResponse(i *domain.Integration) *integrationOutput {
	return &integrationOutput{ETag: etag(i.Version), Body: toIntegration(i)}
}

func toIntegration(i *domain.Integration) Integration {
	config := i.Spec.Config
	if len(config) == 0 {
		config = json.RawMessage(`{}`)
	}
	types := i.Spec.EventTypes
	if types == nil {
		types = []string{}
	}
	s := i.Spec
	return Integration{
		ID: string(i.ID), Name: s.Name, IntegrationType: string(s.Kind), Source: string(i.Source),
		Status: string(i.Status), StatusReason: i.StatusReason, Config: config, EventSubscriptions: types,
		RetryStrategy: string(s.RetryStrategy), MaxRetries: s.MaxRetries, RetryDelaySeconds: s.RetryDelaySeconds,
		MaxDelaySeconds: s.MaxDelaySeconds, BackoffMultiplier: s.BackoffMultiplier, JitterEnabled: s.JitterEnabled,
		TimeoutSeconds: s.TimeoutSeconds, RateLimitPerMinute: s.RateLimitPerMinute, RateLimitPerHour: s.RateLimitPerHour,
		CreatedAt: i.CreatedAt, UpdatedAt: i.UpdatedAt, LastTriggeredAt: utcPtr(i.LastTriggeredAt), Version: i.Version,
		CircuitBreaker: toCircuitBreaker(i.Breaker),
	}
}
