package httpapi

import (
	"context"
	"net/http"

	"github.com/danielgtaylor/huma/v2"
)

// HealthBody is the body of /healthz and /readyz.
type HealthBody struct {
	Status string `json:"status" example:"ok" doc:"ok, or the reason the service is not ready"`
}

type healthOutput struct {
	Body HealthBody
}

// public marks an operation as open to anyone: one empty security
// requirement (an absent list would leave it undefined in the spec).
var public = []map[string][]string{{}}

func (a *API) registerHealth() {
	huma.Register(a.huma, huma.Operation{
		OperationID: "healthz", Method: http.MethodGet, Path: "/healthz",
		Summary: "Liveness: the process is up", Tags: []string{"Health"}, Security: public,
	}, func(context.Context, *struct{}) (*healthOutput, error) {
		return &healthOutput{Body: HealthBody{Status: "ok"}}, nil
	})
	huma.Register(a.huma, huma.Operation{
		OperationID: "readyz", Method: http.MethodGet, Path: "/readyz",
		Summary: "Readiness: database reachable and migrations current",
		Tags:    []string{"Health"}, Errors: []int{http.StatusServiceUnavailable}, Security: public,
	}, func(ctx context.Context, _ *struct{}) (*healthOutput, error) {
		if a.deps.Readiness != nil {
			if err := a.deps.Readiness.Ready(ctx); err != nil {
				return nil, huma.Error503ServiceUnavailable("not ready: " + err.Error())
			}
		}
		return &healthOutput{Body: HealthBody{Status: "ok"}}, nil
	})
}
