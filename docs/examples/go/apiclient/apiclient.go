// Package apiclient shows the generated Go client of the lokihooks API
// (github.com/loki-interceptor/lokihooks/client): create a webhook, publish
// an event, follow its delivery, and read a refusal.
package apiclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/loki-interceptor/lokihooks/client"
)

// Tour creates a webhook for compliance.alert at receiverURL, publishes one
// alert, and returns its delivery once delivered. server is the API's base
// URL, without /api/v1 (http://127.0.0.1:8080).
func Tour(ctx context.Context, server, apiKey, receiverURL string) (*client.Delivery, error) {
	c, err := client.NewClientWithResponses(server, client.WithAPIKey(apiKey))
	if err != nil {
		return nil, err
	}
	created, err := c.CreateWebhookWithResponse(ctx, client.CreateWebhookJSONRequestBody{
		Name: ptr("compliance alerts"), Url: &receiverURL, EventTypes: &[]string{"compliance.alert"},
	})
	if err != nil {
		return nil, err // the request did not complete
	}
	if err := client.Check(created); err != nil {
		return nil, err // a *client.Problem: the API refused
	}
	hook := created.JSON201 // hook.Secret is shown in this answer only: keep it

	published, err := c.CreateEventWithResponse(ctx,
		&client.CreateEventParams{IdempotencyKey: ptr("alert-doc_456")}, // a retry publishes once
		client.CreateEventJSONRequestBody{Type: "compliance.alert", Data: map[string]any{
			"alert_level": "high", "message": "Risk warning missing", "affected_documents": []string{"doc_456"},
		}})
	if err != nil {
		return nil, err
	}
	if err := client.Check(published); err != nil {
		return nil, err
	}

	// Deliveries are asynchronous: follow this one until it is delivered.
	for {
		list, err := c.ListWebhookDeliveriesWithResponse(ctx, hook.Id,
			&client.ListWebhookDeliveriesParams{EventId: &published.JSON202.Id})
		if err != nil {
			return nil, err
		}
		if err := client.Check(list); err != nil {
			return nil, err
		}
		if ds := *list.JSON200.Data; len(ds) > 0 && ds[0].Status == client.DeliveryStatusDelivered {
			return &ds[0], nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Refusal tries to subscribe a webhook to an event type that does not
// exist and prints what the API's problem document says: the status, its
// detail, and where each problem is.
func Refusal(ctx context.Context, server, apiKey string, w io.Writer) error {
	c, err := client.NewClientWithResponses(server, client.WithAPIKey(apiKey))
	if err != nil {
		return err
	}
	resp, err := c.CreateWebhookWithResponse(ctx, client.CreateWebhookJSONRequestBody{
		Name: ptr("typo"), Url: ptr("https://example.com/hooks"), EventTypes: &[]string{"compliance.alrt"},
	})
	if err != nil {
		return err
	}
	var problem *client.Problem
	if err := client.Check(resp); !errors.As(err, &problem) || problem.StatusCode != http.StatusUnprocessableEntity {
		return fmt.Errorf("expected a 422, got %w", err)
	}
	fmt.Fprintf(w, "%d %s\n", problem.StatusCode, *problem.Detail)
	for _, d := range problem.Details() {
		fmt.Fprintf(w, "  %s: %s\n", *d.Location, *d.Message)
	}
	return nil
}

func ptr[T any](v T) *T { return &v }
