package httpapi

import (
	"context"
	"net/http"
	"slices"
	"time"

	"github.com/danielgtaylor/huma/v2"
)

// Status reads the operational summary of `lokihooks status` (cmd adapts
// telemetry.ReadStatus).
type Status interface {
	Status(ctx context.Context) (*StatusView, error)
}

// StatusView is the operational summary: how far the pipeline lags, what
// waits, and what holds deliveries back.
type StatusView struct {
	CheckedAt        time.Time `json:"checked_at" doc:"When the database was read."`
	OutboxLagEvents  int64     `json:"outbox_lag_events" doc:"Outbox events the fan-out has not consumed yet."`
	OutboxLagSeconds float64   `json:"outbox_lag_seconds" doc:"Age in seconds of the oldest of them; 0 when caught up."`
	// Projections, Jobs and OpenBreakers are never null.
	Projections                  []ProjectionLagView `json:"projections" doc:"How far each read model's projection is behind the event log."`
	Jobs                         []JobCountView      `json:"jobs" doc:"Delivery and breaker jobs by state (scheduled includes parked deliveries and waiting retries)."`
	OpenBreakers                 []OpenBreakersView  `json:"open_breakers" doc:"Circuit breakers holding deliveries, by destination kind and state."`
	FailingDestinations          int64               `json:"failing_destinations" doc:"Destinations whose latest attempt failed."`
	OldestTransactionSeconds     float64             `json:"oldest_transaction_seconds" doc:"Age in seconds of the oldest transaction of the database cluster holding a transaction id: it pauses the outbox until it ends; 0 when none."`
	OldestTransactionApplication string              `json:"oldest_transaction_application,omitempty" doc:"The application_name of that transaction's session."`
}

// ProjectionLagView is one projection's lag.
type ProjectionLagView struct {
	Projection string  `json:"projection" example:"deliveries"`
	Events     int64   `json:"events" doc:"Events not applied yet."`
	Seconds    float64 `json:"seconds" doc:"Age in seconds of the oldest of them; 0 when caught up."`
}

// JobCountView counts jobs of one kind in one state.
type JobCountView struct {
	Kind  string `json:"kind" example:"deliver"`
	State string `json:"state" enum:"available,discarded,retryable,running,scheduled"`
	Count int64  `json:"count"`
}

// OpenBreakersView counts the circuit breakers of one destination kind in
// one state.
type OpenBreakersView struct {
	Kind  string `json:"kind" enum:"webhook,slack,teams,email,zapier"`
	State string `json:"state" enum:"open,half_open"`
	Count int64  `json:"count"`
}

type statusOutput struct {
	Body *StatusView
}

func (a *API) registerStatus() {
	huma.Register(a.huma, huma.Operation{
		OperationID: "get-status", Method: http.MethodGet, Path: "/api/v1/status",
		Summary: "Operational status: outbox lag, queues, open circuit breakers",
		Description: "The summary `lokihooks status` prints, read from the database: the outbox fan-out's and the " +
			"projections' lag, jobs by state, open circuit breakers, failing destinations and the oldest " +
			"transaction holding back the outbox.",
		Tags: []string{"Health"}, Security: bearer, Errors: append(slices.Clone(apiErrors), http.StatusServiceUnavailable),
	}, func(ctx context.Context, _ *struct{}) (*statusOutput, error) {
		if a.deps.Status == nil {
			return nil, huma.Error503ServiceUnavailable("this server reads no status")
		}
		v, err := a.deps.Status.Status(ctx)
		if err != nil {
			return nil, a.problem(ctx, err)
		}
		return &statusOutput{Body: v}, nil
	})
}
