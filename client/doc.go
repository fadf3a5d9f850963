// Package client is the Go client of the lokihooks API, generated from the
// API's OpenAPI document (GET /openapi.json, or `lokihooks openapi --format
// json`) by oapi-codegen: client.gen.go is generated, `make generate`
// rewrites it, and a test fails when it is stale. The rest (this file,
// client.go) is written by hand: bearer-key authentication (WithAPIKey) and
// problem+json errors (Check, *Problem).
//
// NewClientWithResponses has one method per operation, named after its
// operationId (create-webhook → CreateWebhookWithResponse), that returns
// the decoded answer for each documented status (JSON201,
// ApplicationproblemJSON422, …). The server URL is the API's base, without
// /api/v1:
//
//	c, err := client.NewClientWithResponses("http://127.0.0.1:8080", client.WithAPIKey(key))
//	resp, err := c.GetWebhookWithResponse(ctx, "wh_01…")
//	if err != nil {
//		return err // the request did not complete
//	}
//	if err := client.Check(resp); err != nil {
//		return err // a *client.Problem: 404, 401, 429, …
//	}
//	fmt.Println(resp.JSON200.Status)
//
// The package imports nothing else of this module: it is what an
// integrator's service imports.
package client
