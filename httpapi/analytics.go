package httpapi

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/loki-interceptor/lokihooks/domain"
)

// Analytics are the analytics use cases (*app.Analytics).
type Analytics interface {
	// DestinationAnalytics returns a destination's statistics over r, or an
	// error matching domain.ErrNotFound for a destination that never
	// existed.
	DestinationAnalytics(ctx context.Context, id domain.DestinationID, r domain.AnalyticsRange) (*domain.DestinationAnalytics, error)
	AnalyticsOverview(ctx context.Context, r domain.AnalyticsRange) (*domain.AnalyticsOverview, error)
}

// AnalyticsErrors counts failed attempts by error category.
type AnalyticsErrors struct {
	HTTP3xx int64 `json:"3xx" doc:"Redirects (never followed)"`
	HTTP4xx int64 `json:"4xx"`
	HTTP5xx int64 `json:"5xx"`
	Timeout int64 `json:"timeout"`
	Network int64 `json:"network" doc:"DNS, connection, TLS and other network failures"`
	Blocked int64 `json:"blocked" doc:"Refused before connecting: the destination's address is not allowed"`
	Other   int64 `json:"other" doc:"Categories other than the above"`
}

// AnalyticsStats are delivery statistics over a period or range. Counters
// count what happened in it: a delivery created before the range whose
// attempt falls in it counts as an attempt, not as a delivery created.
type AnalyticsStats struct {
	TotalDeliveries   int64           `json:"total_deliveries" doc:"Deliveries created"`
	Delivered         int64           `json:"delivered" doc:"Deliveries that finished delivered"`
	Failed            int64           `json:"failed" doc:"Deliveries that finished failed: 410 Gone, or cancelled because the webhook stopped being active"`
	PermanentFailures int64           `json:"permanent_failures" doc:"Deliveries that used every retry (dead letters)"`
	Attempts          int64           `json:"attempts"`
	FailedAttempts    int64           `json:"failed_attempts" doc:"Attempts that did not deliver"`
	Retries           int64           `json:"retries" doc:"Retries scheduled after a failed attempt"`
	Postponed         int64           `json:"postponed" doc:"Attempts postponed by the rate limit"`
	Redriven          int64           `json:"redriven" doc:"Manual redrives"`
	SuccessRate       float64         `json:"success_rate" minimum:"0" maximum:"1" doc:"delivered / (delivered + failed + permanent_failures); 0 when none finished"`
	ResponseCount     int64           `json:"response_count" doc:"Attempts the response times describe: those that got a response or timed out"`
	AvgResponseMS     float64         `json:"avg_response_ms"`
	MinResponseMS     float64         `json:"min_response_ms"`
	MaxResponseMS     float64         `json:"max_response_ms"`
	P50ResponseMS     float64         `json:"p50_response_ms" doc:"Within 1% of the exact median"`
	P95ResponseMS     float64         `json:"p95_response_ms" doc:"Within 1% of the exact value"`
	P99ResponseMS     float64         `json:"p99_response_ms" doc:"Within 1% of the exact value"`
	Errors            AnalyticsErrors `json:"errors"`
}

// AnalyticsPoint is one period of a series.
type AnalyticsPoint struct {
	Start time.Time `json:"start" doc:"Start of the period (UTC)"`
	AnalyticsStats
}

// DestinationAnalytics is the answer of a per-destination analytics query.
type DestinationAnalytics struct {
	DestinationID string           `json:"destination_id" example:"wh_01JDZ8Q6V3N5T8W2X4Y6Z8A0BC"`
	From          time.Time        `json:"from" doc:"Start of the first period: the requested from, rounded down to the granularity"`
	To            time.Time        `json:"to" doc:"End of the last period (exclusive): the requested to, rounded up"`
	Granularity   string           `json:"granularity" enum:"hour,day"`
	Summary       AnalyticsStats   `json:"summary"` // the whole range, merged from its hours
	Series        []AnalyticsPoint `json:"series" doc:"One point per period, empty periods included as zeros"`
}

// DestinationStats are one destination's statistics over a range.
type DestinationStats struct {
	DestinationID string `json:"destination_id"`
	Kind          string `json:"kind" enum:"webhook,slack,teams,email,zapier"`
	AnalyticsStats
}

// AnalyticsOverview is the answer of the query over every destination.
type AnalyticsOverview struct {
	From          time.Time          `json:"from"`
	To            time.Time          `json:"to"`
	Destinations  int                `json:"destinations" doc:"Destinations with activity in the range"`
	Summary       AnalyticsStats     `json:"summary"`
	TopByFailures []DestinationStats `json:"top_by_failures" doc:"Up to 10 destinations with the most failed attempts"`
	TopByP99      []DestinationStats `json:"top_by_p99" doc:"Up to 10 destinations with the highest p99 response time"`
}

// AnalyticsQuery is the range of an analytics query. (Exported because
// Huma only reads parameters of exported embedded structs.)
type AnalyticsQuery struct {
	From        string `query:"from" format:"date-time" doc:"RFC 3339 start, rounded down to the granularity (default: 24 hours before to)"`
	To          string `query:"to" format:"date-time" doc:"RFC 3339 end, rounded up to the granularity (default: now); at most 400 days after from"`
	Granularity string `query:"granularity" enum:"hour,day" default:"hour" doc:"Period of the series"`
}

// analyticsRange parses and checks the query; errors are 422 problems.
func (q *AnalyticsQuery) analyticsRange(now time.Time) (domain.AnalyticsRange, error) {
	from, err := parseTime("query.from", q.From)
	if err != nil {
		return domain.AnalyticsRange{}, err
	}
	to, err := parseTime("query.to", q.To)
	if err != nil {
		return domain.AnalyticsRange{}, err
	}
	r, err := domain.NewAnalyticsRange(from, to, domain.Granularity(q.Granularity), now)
	var ve *domain.ValidationError
	if errors.As(err, &ve) {
		details := make([]error, len(ve.Fields))
		for i, f := range ve.Fields {
			details[i] = &huma.ErrorDetail{Location: "query." + f.Field, Message: f.Message}
		}
		return r, huma.Error422UnprocessableEntity("invalid range", details...)
	}
	return r, err
}

// DestinationAnalyticsInput is the input of a per-destination analytics
// operation: a path parameter naming the destination, and the range.
type DestinationAnalyticsInput interface {
	// DestinationParam returns the path parameter.
	DestinationParam() string
	// Query returns the range parameters.
	Query() *AnalyticsQuery
}

type webhookAnalyticsInput struct {
	WebhookID string `path:"webhook_id" maxLength:"64" example:"wh_01JDZ8Q6V3N5T8W2X4Y6Z8A0BC"`
	AnalyticsQuery
}

func (in *webhookAnalyticsInput) DestinationParam() string { return in.WebhookID }
func (in *webhookAnalyticsInput) Query() *AnalyticsQuery   { return &in.AnalyticsQuery }

type destinationAnalyticsOutput struct {
	Body DestinationAnalytics
}

// integrationAnalyticsInput names an integration by its name.
type integrationAnalyticsInput struct {
	Name string `path:"name" maxLength:"100" example:"slack-alerts"`
	AnalyticsQuery
}

// DestinationParam implements the analytics input contract.
func (in *integrationAnalyticsInput) DestinationParam() string { return in.Name }

// Query implements the analytics input contract.
func (in *integrationAnalyticsInput) Query() *AnalyticsQuery { return &in.AnalyticsQuery }

type analyticsOverviewInput struct {
	From string `query:"from" format:"date-time" doc:"RFC 3339 start, rounded down to the hour (default: 24 hours before to)"`
	To   string `query:"to" format:"date-time" doc:"RFC 3339 end, rounded up to the hour (default: now); at most 400 days after from"`
}

type analyticsOverviewOutput struct {
	Body AnalyticsOverview
}

func (a *API) registerAnalytics() {
	op := func(o huma.Operation) huma.Operation {
		o.Tags, o.Security = []string{"Analytics"}, bearer
		o.Errors = append(slices.Clone(apiErrors), o.Errors...)
		return o
	}
	RegisterDestinationAnalytics[webhookAnalyticsInput](a, op(huma.Operation{
		OperationID: "get-webhook-analytics", Method: http.MethodGet, Path: "/api/v1/webhooks/{webhook_id}/analytics",
		Summary: "Delivery analytics of a webhook",
		Description: "Counts, success rate, error categories and response-time percentiles (within 1%) per hour " +
			"or day, merged from hourly sketches; the range is widened to whole periods.",
		Errors: []int{http.StatusNotFound},
	}), func(_ context.Context, param string) (domain.DestinationID, error) {
		id, err := webhookID(param)
		if err == nil && domain.KindOf(domain.DestinationID(id)) != domain.KindWebhook {
			err = huma.Error404NotFound("no such webhook: webhook ids start with " + domain.WebhookIDPrefix)
		}
		return domain.DestinationID(id), err
	})
	RegisterDestinationAnalytics[integrationAnalyticsInput](a, op(huma.Operation{
		OperationID: "get-integration-analytics", Method: http.MethodGet, Path: "/api/v1/integrations/{name}/analytics",
		Summary:     "Delivery analytics of an integration",
		Description: "The same statistics as a webhook's, for the integration's deliveries.",
		Errors:      []int{http.StatusNotFound},
	}), func(ctx context.Context, name string) (domain.DestinationID, error) {
		i, err := a.lookupIntegration(ctx, name)
		if err != nil {
			return "", err
		}
		return domain.DestinationID(i.ID), nil
	})
	huma.Register(a.huma, op(huma.Operation{
		OperationID: "get-analytics", Method: http.MethodGet, Path: "/api/v1/analytics",
		Summary:     "Delivery analytics over every destination",
		Description: "The summary over all webhooks and integrations, and the top 10 by failed attempts and by p99 response time.",
	}), a.analyticsOverview)
}

// RegisterDestinationAnalytics registers a per-destination analytics
// operation, GET op.Path, whose input type I names the destination in its
// path (through resolve, which turns the parameter into a destination id
// or returns a problem) and the range in its embedded AnalyticsQuery. The
// webhook operation is one; an integration's is
//
//	type integrationAnalyticsInput struct {
//		Name string `path:"name"`
//		httpapi.AnalyticsQuery
//	}
//	func (in *integrationAnalyticsInput) DestinationParam() string { return in.Name }
//	func (in *integrationAnalyticsInput) Query() *httpapi.AnalyticsQuery { return &in.AnalyticsQuery }
//
//	RegisterDestinationAnalytics[integrationAnalyticsInput](a, huma.Operation{
//		OperationID: "get-integration-analytics", Method: http.MethodGet,
//		Path: "/api/v1/integrations/{name}/analytics", ...}, a.integrationID)
func RegisterDestinationAnalytics[I any, P interface {
	*I
	DestinationAnalyticsInput
}](a *API, op huma.Operation, resolve func(ctx context.Context, param string) (domain.DestinationID, error)) {
	huma.Register(a.huma, op, func(ctx context.Context, in *I) (*destinationAnalyticsOutput, error) {
		p := P(in)
		r, err := p.Query().analyticsRange(time.Now())
		if err != nil {
			return nil, err
		}
		id, err := resolve(ctx, p.DestinationParam())
		if err != nil {
			return nil, err
		}
		res, err := a.deps.Analytics.DestinationAnalytics(ctx, id, r)
		if err != nil {
			return nil, a.problem(ctx, err)
		}
		out := &destinationAnalyticsOutput{Body: DestinationAnalytics{
			DestinationID: string(res.DestinationID), From: res.Range.From, To: res.Range.To,
			Granularity: string(res.Range.Granularity), Summary: toAnalyticsStats(res.Summary),
			Series: make([]AnalyticsPoint, len(res.Series)),
		}}
		for i, s := range res.Series {
			out.Body.Series[i] = AnalyticsPoint{Start: s.Start, AnalyticsStats: toAnalyticsStats(s.AnalyticsStats)}
		}
		return out, nil
	})
}

func (a *API) analyticsOverview(ctx context.Context, in *analyticsOverviewInput) (*analyticsOverviewOutput, error) {
	q := AnalyticsQuery{From: in.From, To: in.To, Granularity: string(domain.GranularityHour)}
	r, err := q.analyticsRange(time.Now())
	if err != nil {
		return nil, err
	}
	res, err := a.deps.Analytics.AnalyticsOverview(ctx, r)
	if err != nil {
		return nil, a.problem(ctx, err)
	}
	return &analyticsOverviewOutput{Body: AnalyticsOverview{
		From: res.Range.From, To: res.Range.To, Destinations: res.Destinations, Summary: toAnalyticsStats(res.Summary),
		TopByFailures: toDestinationStats(res.TopByFailures), TopByP99: toDestinationStats(res.TopByP99),
	}}, nil
}

func toDestinationStats(in []domain.DestinationStats) []DestinationStats {
	out := make([]DestinationStats, len(in))
	for i, s := range in {
		out[i] = DestinationStats{DestinationID: string(s.DestinationID), Kind: string(s.Kind), AnalyticsStats: toAnalyticsStats(s.AnalyticsStats)}
	}
	return out
}

func toAnalyticsStats(s domain.AnalyticsStats) AnalyticsStats {
	return AnalyticsStats{
		TotalDeliveries: s.TotalDeliveries, Delivered: s.Delivered, Failed: s.Failed,
		PermanentFailures: s.PermanentFailures, Attempts: s.Attempts, FailedAttempts: s.FailedAttempts,
		Retries: s.Retries, Postponed: s.Postponed, Redriven: s.Redriven, SuccessRate: s.SuccessRate(),
		ResponseCount: s.ResponseCount, AvgResponseMS: s.AvgResponseMS(), MinResponseMS: s.MinResponseMS,
		MaxResponseMS: s.MaxResponseMS, P50ResponseMS: s.P50ResponseMS, P95ResponseMS: s.P95ResponseMS,
		P99ResponseMS: s.P99ResponseMS,
		Errors: AnalyticsErrors{
			HTTP3xx: s.Errors.HTTP3xx, HTTP4xx: s.Errors.HTTP4xx, HTTP5xx: s.Errors.HTTP5xx, Timeout: s.Errors.Timeout,
			Network: s.Errors.Network, Blocked: s.Errors.Blocked, Other: s.Errors.Other,
		},
	}
}
