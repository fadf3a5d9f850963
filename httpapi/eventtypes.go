package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"

	"github.com/danielgtaylor/huma/v2"

	"github.com/loki-interceptor/lokihooks/domain"
)

// EventType describes one event type of the catalog.
type EventType struct {
	Name        string         `json:"name" example:"validation.completed"`
	Description string         `json:"description"`
	Schema      map[string]any `json:"schema" doc:"JSON Schema of the event's data object"`
	Example     map[string]any `json:"example" doc:"An example data object"`
}

// EventTypeList is the body of GET /api/v1/event-types.
type EventTypeList struct {
	Data []EventType `json:"data"`
}

type eventTypeListOutput struct{ Body EventTypeList }

type eventTypeInput struct {
	Type string `path:"type" maxLength:"100" example:"compliance.alert"`
}

type eventTypeOutput struct{ Body EventType }

func toEventType(info domain.EventTypeInfo) (EventType, error) {
	out := EventType{Name: info.Name, Description: info.Description}
	if err := json.Unmarshal(info.Schema, &out.Schema); err != nil {
		return out, err
	}
	return out, json.Unmarshal(info.Example, &out.Example)
}

func (a *API) registerEventTypes() {
	huma.Register(a.huma, huma.Operation{
		OperationID: "list-event-types", Method: http.MethodGet, Path: "/api/v1/event-types",
		Summary: "List the event catalog", Tags: []string{"Event types"}, Security: bearer,
		Errors: slices.Clone(apiErrors),
	}, func(ctx context.Context, _ *struct{}) (*eventTypeListOutput, error) {
		out := &eventTypeListOutput{Body: EventTypeList{Data: []EventType{}}}
		for _, info := range domain.Catalog() {
			et, err := toEventType(info)
			if err != nil {
				return nil, a.problem(ctx, err)
			}
			out.Body.Data = append(out.Body.Data, et)
		}
		return out, nil
	})
	huma.Register(a.huma, huma.Operation{
		OperationID: "get-event-type", Method: http.MethodGet, Path: "/api/v1/event-types/{type}",
		Summary: "Get an event type's schema and example", Tags: []string{"Event types"}, Security: bearer,
		Errors: append(slices.Clone(apiErrors), http.StatusNotFound),
	}, func(ctx context.Context, in *eventTypeInput) (*eventTypeOutput, error) {
		info, err := domain.LookupEventType(in.Type)
		if err != nil {
			return nil, huma.Error404NotFound(err.Error())
		}
		et, err := toEventType(info)
		if err != nil {
			return nil, a.problem(ctx, err)
		}
		return &eventTypeOutput{Body: et}, nil
	})
}
