package httpapi_test

import (
	"encoding/base64"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/loki-interceptor/lokihooks/httpapi"
)

// malformedCase is one request the API must refuse with a problem.
type malformedCase struct {
	name     string
	req      request
	status   int
	location string // when set, the problem must list this error location
}

// validBody returns a valid create body with overrides applied (a nil
// override removes the field).
func validBody(overrides map[string]any) map[string]any {
	body := map[string]any{"name": "Malformed", "url": "https://example.com/malformed", "event_types": []string{"*"}}
	for k, v := range overrides {
		if v == nil {
			delete(body, k)
			continue
		}
		body[k] = v
	}
	return body
}

func malformedCases(id string) []malformedCase {
	hook := webhookPath(id)
	post := func(name string, body any, status int, location string) malformedCase {
		return malformedCase{name: name, req: request{method: http.MethodPost, path: webhooksPath, body: body}, status: status, location: location}
	}
	patch := func(name string, body any, status int, location string) malformedCase {
		return malformedCase{name: name, req: request{method: http.MethodPatch, path: hook, body: body}, status: status, location: location}
	}
	get := func(name, path string, status int, location string) malformedCase {
		return malformedCase{name: name, req: request{method: http.MethodGet, path: path}, status: status, location: location}
	}
	oversized := `{"name":"` + strings.Repeat("a", httpapi.MaxBodyBytes) + `"}`

	cases := []malformedCase{
		// Not JSON, or not a JSON object.
		post("BadJSON", `{name: "x"}`, http.StatusBadRequest, "body"),
		post("TruncatedJSON", `{"name": "x", "url": "https://exa`, http.StatusBadRequest, "body"),
		post("TrailingGarbage", `{"name": "x"} {"name": "y"}`, http.StatusBadRequest, "body"),
		post("EmptyBody", "", http.StatusBadRequest, ""),
		post("Null", "null", http.StatusUnprocessableEntity, "body"),
		post("Array", `[]`, http.StatusUnprocessableEntity, "body"),
		post("ArrayOfObject", `[{"name": "x", "url": "https://example.com", "event_types": ["*"]}]`, http.StatusUnprocessableEntity, "body"),
		post("String", `"webhook"`, http.StatusUnprocessableEntity, "body"),
		post("Number", `42`, http.StatusUnprocessableEntity, "body"),
		post("NumberOverflow", `{"name": "x", "url": "https://example.com", "event_types": ["*"], "backoff_multiplier": 1e400}`, http.StatusBadRequest, "body"),
		patch("PatchBadJSON", `{"max_retries": }`, http.StatusBadRequest, "body"),
		patch("PatchArray", `[{"max_retries": 1}]`, http.StatusUnprocessableEntity, "body"),
		{name: "PutTruncated", req: request{method: http.MethodPut, path: hook, body: `{"name": "x"`}, status: http.StatusBadRequest, location: "body"},
		{name: "RotateBadJSON", req: request{method: http.MethodPost, path: hook + "/rotate-secret", body: `{"secret"`}, status: http.StatusBadRequest, location: "body"},
		{name: "RotateArray", req: request{method: http.MethodPost, path: hook + "/rotate-secret", body: `["whsec_x"]`}, status: http.StatusUnprocessableEntity, location: "body"},
		{name: "RotateSecretNumber", req: request{method: http.MethodPost, path: hook + "/rotate-secret", body: `{"secret": 5}`}, status: http.StatusUnprocessableEntity, location: "body.secret"},
		{name: "RotateNegativeGrace", req: request{method: http.MethodPost, path: hook + "/rotate-secret", body: `{"grace_period_seconds": -1}`}, status: http.StatusUnprocessableEntity, location: "body.grace_period_seconds"},
		{name: "RotateBadSecret", req: request{method: http.MethodPost, path: hook + "/rotate-secret", body: `{"secret": "whsec_short"}`}, status: http.StatusUnprocessableEntity, location: "body.secret"},

		// Unknown fields and limits of the schema.
		post("UnknownField", validBody(map[string]any{"colour": "red"}), http.StatusUnprocessableEntity, "body.colour"),
		patch("PatchUnknownField", map[string]any{"id": "wh_other"}, http.StatusUnprocessableEntity, "body.id"),
		patch("PatchReadOnlyField", map[string]any{"status": "paused"}, http.StatusUnprocessableEntity, "body.status"),
		post("HugeName", validBody(map[string]any{"name": strings.Repeat("n", 300)}), http.StatusUnprocessableEntity, "body.name"),
		post("HugeURL", validBody(map[string]any{"url": "https://example.com/" + strings.Repeat("u", 3000)}), http.StatusUnprocessableEntity, "body.url"),
		post("HugeMetadata", validBody(map[string]any{"metadata": map[string]any{"blob": strings.Repeat("m", 20<<10)}}), http.StatusUnprocessableEntity, "body.metadata"),
		post("TooManyEventTypes", validBody(map[string]any{"event_types": slices.Repeat([]string{"compliance.alert"}, 51)}), http.StatusUnprocessableEntity, "body.event_types"),
		post("TooManyHeaders", validBody(map[string]any{"custom_headers": manyHeaders(33)}), http.StatusUnprocessableEntity, "body.custom_headers"),
		post("HugeHeaderValue", validBody(map[string]any{"custom_headers": map[string]string{"X-Big": strings.Repeat("v", 5000)}}), http.StatusUnprocessableEntity, "body.custom_headers.X-Big"),
		post("HeaderNameInvalid", validBody(map[string]any{"custom_headers": map[string]string{"X Bad": "v"}}), http.StatusUnprocessableEntity, "body.custom_headers.X Bad"),
		post("HeaderValueNewline", validBody(map[string]any{"custom_headers": map[string]string{"X-Inject": "a\r\nHost: evil"}}), http.StatusUnprocessableEntity, "body.custom_headers.X-Inject"),
		post("ReservedHeader", validBody(map[string]any{"custom_headers": map[string]string{"Content-Type": "text/plain"}}), http.StatusUnprocessableEntity, "body.custom_headers.Content-Type"),
		post("OversizedBody", oversized, http.StatusRequestEntityTooLarge, ""),
		patch("PatchOversizedBody", oversized, http.StatusRequestEntityTooLarge, ""),
		{name: "RotateOversizedBody", req: request{method: http.MethodPost, path: hook + "/rotate-secret", body: oversized}, status: http.StatusRequestEntityTooLarge},

		// Values PostgreSQL cannot store must be refused, not fail the insert.
		post("NameWithNUL", validBody(map[string]any{"name": "a\x00b"}), http.StatusUnprocessableEntity, "body.name"),
		post("MetadataValueWithNUL", validBody(map[string]any{"metadata": map[string]any{"k": "a\x00b"}}), http.StatusUnprocessableEntity, "body.metadata"),
		post("MetadataKeyWithNUL", validBody(map[string]any{"metadata": map[string]any{"a\x00b": 1}}), http.StatusUnprocessableEntity, "body.metadata"),
		post("NestedMetadataWithNUL", validBody(map[string]any{"metadata": map[string]any{"k": []any{map[string]any{"x": "\x00"}}}}), http.StatusUnprocessableEntity, "body.metadata"),
		patch("PatchNameWithNUL", map[string]any{"name": "\x00"}, http.StatusUnprocessableEntity, "body.name"),
		post("RateLimitPerMinuteOverflow", validBody(map[string]any{"rate_limit_per_minute": 1 << 31}), http.StatusUnprocessableEntity, "body.rate_limit_per_minute"),
		post("RateLimitPerHourOverflow", validBody(map[string]any{"rate_limit_per_hour": 1 << 40}), http.StatusUnprocessableEntity, "body.rate_limit_per_hour"),
		post("MaxRetriesHuge", validBody(map[string]any{"max_retries": 1e30}), http.StatusUnprocessableEntity, "body.max_retries"),
		post("RetryDelayOverflow", validBody(map[string]any{"retry_delay_seconds": 1 << 40, "max_delay_seconds": 1 << 40}), http.StatusUnprocessableEntity, "body.retry_delay_seconds"),

		// Bad URLs.
		post("URLNotAURL", validBody(map[string]any{"url": "not a url"}), http.StatusUnprocessableEntity, "body.url"),
		post("URLNoHost", validBody(map[string]any{"url": "https://"}), http.StatusUnprocessableEntity, "body.url"),
		post("URLUserInfo", validBody(map[string]any{"url": "https://user:pw@example.com/"}), http.StatusUnprocessableEntity, "body.url"),
		post("URLFragment", validBody(map[string]any{"url": "https://example.com/#frag"}), http.StatusUnprocessableEntity, "body.url"),
		post("URLJavascript", validBody(map[string]any{"url": "javascript:alert(1)"}), http.StatusUnprocessableEntity, "body.url"),
		post("URLBadPort", validBody(map[string]any{"url": "https://example.com:99999/"}), http.StatusUnprocessableEntity, "body.url"),
		post("URLFTP", validBody(map[string]any{"url": "ftp://example.com/"}), http.StatusUnprocessableEntity, "body.url"),
		post("URLRelative", validBody(map[string]any{"url": "/hooks"}), http.StatusUnprocessableEntity, "body.url"),
		post("URLControlChar", validBody(map[string]any{"url": "https://example.com/\x7f"}), http.StatusUnprocessableEntity, "body.url"),
		post("URLMissing", validBody(map[string]any{"url": nil}), http.StatusUnprocessableEntity, "body.url"),
		patch("PatchURLHTTP", map[string]any{"url": "http://example.com/plain"}, http.StatusUnprocessableEntity, "body.url"),

		// Invalid event types, negative numbers, bad enums.
		post("EventTypeUnknown", validBody(map[string]any{"event_types": []string{"nope.nothing"}}), http.StatusUnprocessableEntity, "body.event_types"),
		post("EventTypeEmpty", validBody(map[string]any{"event_types": []string{""}}), http.StatusUnprocessableEntity, "body.event_types"),
		post("EventTypesNone", validBody(map[string]any{"event_types": []string{}}), http.StatusUnprocessableEntity, "body.event_types"),
		post("EventTypeRepeated", validBody(map[string]any{"event_types": []string{"compliance.alert", "compliance.alert"}}), http.StatusUnprocessableEntity, "body.event_types"),
		post("EventTypeNull", validBody(map[string]any{"event_types": []any{nil}}), http.StatusUnprocessableEntity, "body.event_types[0]"),
		post("NegativeMaxRetries", validBody(map[string]any{"max_retries": -1}), http.StatusUnprocessableEntity, "body.max_retries"),
		post("NegativeRetryDelay", validBody(map[string]any{"retry_delay_seconds": -1}), http.StatusUnprocessableEntity, "body.retry_delay_seconds"),
		post("NegativeMaxDelay", validBody(map[string]any{"max_delay_seconds": -1}), http.StatusUnprocessableEntity, "body.max_delay_seconds"),
		post("NegativeTimeout", validBody(map[string]any{"timeout_seconds": -1}), http.StatusUnprocessableEntity, "body.timeout_seconds"),
		post("NegativeBackoff", validBody(map[string]any{"backoff_multiplier": -2}), http.StatusUnprocessableEntity, "body.backoff_multiplier"),
		post("NegativeRateLimit", validBody(map[string]any{"rate_limit_per_minute": -1}), http.StatusUnprocessableEntity, "body.rate_limit_per_minute"),
		post("TooManyRetries", validBody(map[string]any{"max_retries": 51}), http.StatusUnprocessableEntity, "body.max_retries"),
		post("BadRetryStrategy", validBody(map[string]any{"retry_strategy": "sometimes"}), http.StatusUnprocessableEntity, "body.retry_strategy"),
		post("BadSecret", validBody(map[string]any{"secret": "whsec_!!!"}), http.StatusUnprocessableEntity, "body.secret"),
		post("NameBlank", validBody(map[string]any{"name": "  "}), http.StatusUnprocessableEntity, "body.name"),

		// Path ids.
		get("IDTooLong", hook+strings.Repeat("x", 100), http.StatusUnprocessableEntity, "path.webhook_id"),
		get("IDNotAnID", webhooksPath+"/not-an-id", http.StatusNotFound, ""),
		get("IDWithNUL", webhooksPath+"/wh_%00", http.StatusNotFound, ""),
		get("IDInvalidUTF8", webhooksPath+"/wh_%FF%FE", http.StatusNotFound, ""),
		get("IDEncodedSlash", webhooksPath+"/wh_a%2Fb", http.StatusNotFound, ""),
		{name: "PatchIDWithNUL", req: request{method: http.MethodPatch, path: webhooksPath + "/wh_%00", body: map[string]any{"max_retries": 1}}, status: http.StatusNotFound},
		{name: "PauseIDInvalidUTF8", req: request{method: http.MethodPost, path: webhooksPath + "/%C3%28/pause"}, status: http.StatusNotFound},
		get("EventTypeTooLong", "/api/v1/event-types/"+strings.Repeat("e", 101), http.StatusUnprocessableEntity, "path.type"),
		get("EventTypeWithNUL", "/api/v1/event-types/a%00", http.StatusNotFound, ""),

		// Query parameters.
		get("LimitNotANumber", webhooksPath+"?limit=abc", http.StatusUnprocessableEntity, "query.limit"),
		get("LimitFraction", webhooksPath+"?limit=1.5", http.StatusUnprocessableEntity, "query.limit"),
		get("LimitZero", webhooksPath+"?limit=0", http.StatusUnprocessableEntity, "query.limit"),
		get("LimitTooLarge", webhooksPath+"?limit=101", http.StatusUnprocessableEntity, "query.limit"),
		get("StatusUnknown", webhooksPath+"?status=sleeping", http.StatusUnprocessableEntity, "query.status"),
		get("EventTypeFilterTooLong", webhooksPath+"?event_type="+strings.Repeat("e", 101), http.StatusUnprocessableEntity, "query.event_type"),
		get("EventTypeFilterNUL", webhooksPath+"?event_type=a%00b", http.StatusUnprocessableEntity, "query.event_type"),
		get("EventTypeFilterInvalidUTF8", webhooksPath+"?event_type=%FF", http.StatusUnprocessableEntity, "query.event_type"),
		get("CursorGarbage", webhooksPath+"?cursor=%21%21", http.StatusBadRequest, "query.cursor"),
		get("CursorTooLong", webhooksPath+"?cursor="+strings.Repeat("A", 201), http.StatusUnprocessableEntity, "query.cursor"),
		get("CursorForeignID", webhooksPath+"?cursor="+base64.RawURLEncoding.EncodeToString([]byte("dlv_1")), http.StatusBadRequest, "query.cursor"),
		get("CursorWithNUL", webhooksPath+"?cursor="+base64.RawURLEncoding.EncodeToString([]byte("wh_\x00")), http.StatusBadRequest, "query.cursor"),
		get("CursorInvalidUTF8", webhooksPath+"?cursor="+base64.RawURLEncoding.EncodeToString([]byte("wh_\xff")), http.StatusBadRequest, "query.cursor"),

		// Headers: content type, auth, preconditions.
		{name: "ContentTypeText", req: request{method: http.MethodPost, path: webhooksPath, body: validBody(nil), headers: map[string]string{"Content-Type": "text/plain"}}, status: http.StatusUnsupportedMediaType, location: "body"},
		{name: "ContentTypeXML", req: request{method: http.MethodPost, path: webhooksPath, body: `<webhook/>`, headers: map[string]string{"Content-Type": "application/xml"}}, status: http.StatusUnsupportedMediaType, location: "body"},
		{name: "ContentTypeForm", req: request{method: http.MethodPatch, path: hook, body: "max_retries=1", headers: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}}, status: http.StatusUnsupportedMediaType, location: "body"},
		{name: "ContentTypeYAML", req: request{method: http.MethodPatch, path: hook, body: "max_retries: 1\n", headers: map[string]string{"Content-Type": "application/yaml"}}, status: http.StatusUnsupportedMediaType, location: "body"},
		{name: "MissingAuth", req: request{method: http.MethodPost, path: webhooksPath, body: validBody(nil), headers: map[string]string{"Authorization": ""}}, status: http.StatusUnauthorized},
		{name: "MissingAuthBadBody", req: request{method: http.MethodPost, path: webhooksPath, body: "{", headers: map[string]string{"Authorization": ""}}, status: http.StatusUnauthorized},
		{name: "WrongAuthScheme", req: request{method: http.MethodGet, path: hook, headers: map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(testKey))}}, status: http.StatusUnauthorized},
		{name: "IfMatchGarbage", req: request{method: http.MethodPatch, path: hook, body: map[string]any{"max_retries": 1}, headers: map[string]string{"If-Match": "yesterday"}}, status: http.StatusBadRequest, location: "header.If-Match"},
		{name: "IfMatchStale", req: request{method: http.MethodPatch, path: hook, body: map[string]any{"max_retries": 1}, headers: map[string]string{"If-Match": `"v7"`}}, status: http.StatusPreconditionFailed},
		{name: "IfMatchDeleteGarbage", req: request{method: http.MethodDelete, path: hook, headers: map[string]string{"If-Match": `v1.5`}}, status: http.StatusBadRequest, location: "header.If-Match"},

		// Methods and paths.
		{name: "MethodPutCollection", req: request{method: http.MethodPut, path: webhooksPath, body: validBody(nil)}, status: http.StatusMethodNotAllowed},
		{name: "MethodDeleteCollection", req: request{method: http.MethodDelete, path: webhooksPath}, status: http.StatusMethodNotAllowed},
		{name: "MethodPostItem", req: request{method: http.MethodPost, path: hook, body: validBody(nil)}, status: http.StatusMethodNotAllowed},
		{name: "MethodGetPause", req: request{method: http.MethodGet, path: hook + "/pause"}, status: http.StatusMethodNotAllowed},
		{name: "MethodPostEventTypes", req: request{method: http.MethodPost, path: "/api/v1/event-types", body: "{}"}, status: http.StatusMethodNotAllowed},
		{name: "MethodPostHealthz", req: request{method: http.MethodPost, path: "/healthz"}, status: http.StatusMethodNotAllowed},
		{name: "MethodUnknown", req: request{method: "BREW", path: webhooksPath}, status: http.StatusMethodNotAllowed},
		get("UnknownPath", "/api/v1/nope", http.StatusNotFound, ""),
		get("UnknownCommand", hook+"/explode", http.StatusNotFound, ""),
		get("UnknownVersion", "/api/v9/webhooks", http.StatusNotFound, ""),
		get("TrailingSlash", webhooksPath+"/", http.StatusNotFound, ""),
		get("UnknownRoot", "/admin", http.StatusNotFound, ""),
	}

	// A value of the wrong JSON type for every field, on create and on PATCH.
	wrongTypes := map[string]any{
		"name": 1, "url": true, "event_types": "compliance.alert", "retry_strategy": 3,
		"max_retries": "5", "retry_delay_seconds": 1.5, "max_delay_seconds": false,
		"backoff_multiplier": "2", "jitter_enabled": "true", "timeout_seconds": []int{15},
		"rate_limit_per_minute": map[string]any{}, "rate_limit_per_hour": "0",
		"custom_headers": []string{"X-A: b"}, "metadata": "x", "secret": 123,
	}
	for _, field := range slices.Sorted(maps.Keys(wrongTypes)) {
		value := wrongTypes[field]
		cases = append(cases, post("WrongType/"+field, validBody(map[string]any{field: value}), http.StatusUnprocessableEntity, "body."+field))
		if field != "secret" {
			cases = append(cases, patch("PatchWrongType/"+field, map[string]any{field: value}, http.StatusUnprocessableEntity, "body."+field))
		}
	}
	cases = append(cases,
		post("WrongType/custom_headers.value", validBody(map[string]any{"custom_headers": map[string]any{"X-A": 1}}), http.StatusUnprocessableEntity, "body.custom_headers.X-A"),
		post("WrongType/event_types.item", validBody(map[string]any{"event_types": []any{1}}), http.StatusUnprocessableEntity, "body.event_types[0]"),
	)
	return cases
}

func manyHeaders(n int) map[string]string {
	out := make(map[string]string, n)
	for i := range n {
		out[fmt.Sprintf("X-H%d", i)] = "v"
	}
	return out
}

func TestAPI_Malformed(t *testing.T) {
	t.Parallel()
	// The cases share one server and one webhook: none of them may change
	// anything, which the checks after the cases verify.
	_, b := setup(t, nil)
	existing := b.createWebhook(t, "Existing", "https://example.com/existing", []string{"*"}, nil)
	cases := malformedCases(existing.ID)
	require.GreaterOrEqual(t, len(cases), 50)

	// Not parallel itself: it returns only when its parallel cases are done,
	// so the checks below see their combined effect.
	t.Run("Cases", func(t *testing.T) {
		seen := map[string]bool{}
		for _, tc := range cases {
			require.False(t, seen[tc.name], "duplicate case %s", tc.name)
			seen[tc.name] = true
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				r := b.do(t, tc.req)
				require.GreaterOrEqual(t, r.status, 400, "body: %s", r.body)
				require.Less(t, r.status, 500, "body: %s", r.body)
				p := requireProblem(t, r, tc.status)
				if tc.location != "" {
					require.Contains(t, errorLocations(p), tc.location, "body: %s", r.body)
				}
			})
		}
	})

	r := b.get(t, webhookPath(existing.ID))
	require.Equal(t, withoutSecret(existing), decode[httpapi.Webhook](t, r, http.StatusOK))
	list := decode[httpapi.WebhookList](t, b.get(t, webhooksPath+"?limit=100"), http.StatusOK)
	require.Equal(t, []string{existing.ID}, ids(list.Data))
	deleted := decode[httpapi.WebhookList](t, b.get(t, webhooksPath+"?status=deleted"), http.StatusOK)
	require.Empty(t, deleted.Data)
}
