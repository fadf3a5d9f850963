package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/danielgtaylor/huma/v2"

	"github.com/loki-interceptor/lokihooks/domain"
)

// problem maps an error to an RFC 9457 problem. It is the one place where
// domain errors become HTTP statuses. Unknown errors become a 500 with a
// generic message; the details are logged, never returned.
func (a *API) problem(ctx context.Context, err error) error {
	var ve *domain.ValidationError
	var se huma.StatusError
	switch {
	case errors.As(err, &se):
		return err
	case errors.As(err, &ve):
		details := make([]error, len(ve.Fields))
		for i, f := range ve.Fields {
			details[i] = &huma.ErrorDetail{Location: "body." + f.Field, Message: f.Message}
		}
		return huma.Error422UnprocessableEntity("the request is not valid: errors lists each problem and where it is", details...)
	case errors.Is(err, domain.ErrInvalid):
		return huma.Error422UnprocessableEntity(err.Error())
	case errors.Is(err, domain.ErrNotFound):
		return huma.Error404NotFound(err.Error())
	case errors.Is(err, domain.ErrVersionConflict):
		return errPreconditionFailed()
	case errors.Is(err, domain.ErrBusy):
		return huma.Error409Conflict("the resource is being changed by several requests at once; retry the request")
	case errors.Is(err, domain.ErrStateTransition):
		return huma.Error409Conflict(err.Error() + "; GET the resource to see its current state")
	case errors.Is(err, domain.ErrIdempotencyKeyReused):
		return errIdempotencyKeyReused()
	case errors.Is(err, domain.ErrConflict):
		return huma.Error409Conflict(err.Error() + ": choose another value")
	case errors.Is(err, domain.ErrUnknownEventType):
		return huma.Error422UnprocessableEntity(err.Error())
	case errors.Is(err, context.Canceled):
		return huma.NewError(499, "client closed request")
	}
	a.cfg.Logger.ErrorContext(ctx, "request failed", slog.Any("error", err))
	return huma.NewError(http.StatusInternalServerError, errInternal)
}

// errInternal is the whole answer to an unexpected error: its details are
// logged, never returned.
const errInternal = "internal error: the server logged the details; retry later, and tell the operator if it persists"

// publishProblem is problem for create-event, whose conflicts name the
// request field at fault: a reused Idempotency-Key (422) and a reused event
// id (409) are told apart.
func (a *API) publishProblem(ctx context.Context, err error, body *PublishEventBody) error {
	switch {
	case errors.Is(err, domain.ErrIdempotencyKeyReused):
		return errIdempotencyKeyReused()
	case errors.Is(err, domain.ErrConflict):
		return huma.Error409Conflict("event id "+strconv.Quote(body.ID)+" was already published with different content",
			&huma.ErrorDetail{
				Location: "body.id",
				Message: "choose a new id for a new event, or send the same type, data and metadata " +
					"to repeat the publication (which answers with the first one)",
			})
	case errors.Is(err, domain.ErrUnknownEventType):
		if d := unknownEventTypeFilter("body.type", body.Type, false); d != nil {
			return huma.Error422UnprocessableEntity("unknown event type", d)
		}
	}
	return a.problem(ctx, err)
}

func errIdempotencyKeyReused() error {
	return huma.Error422UnprocessableEntity("Idempotency-Key was already used with a different request", &huma.ErrorDetail{
		Location: "header.Idempotency-Key",
		Message: "send a new key for a new request, or repeat the first request unchanged " +
			"(same body) to get its answer again",
	})
}

// commandProblem is problem for a webhook command. A version conflict is a
// 412, unless the webhook no longer exists: then it is a 404, since a
// precondition is not evaluated when the answer without it would not be a
// 2xx (RFC 9110 §13.2.1).
func (a *API) commandProblem(ctx context.Context, id domain.WebhookID, err error) error {
	if errors.Is(err, domain.ErrVersionConflict) {
		if _, gerr := a.deps.Webhooks.GetWebhook(ctx, id); gerr != nil {
			return a.problem(ctx, gerr)
		}
	}
	return a.problem(ctx, err)
}

// errPreconditionFailed is the 412 of an If-Match that no longer matches,
// in user terms: no versions or stream names.
func errPreconditionFailed() error {
	return huma.Error412PreconditionFailed("the resource changed since you read it: If-Match does not match its current ETag; " +
		"GET it again for the current ETag, reapply your change and retry")
}

// Limits on what an error body echoes of the request.
const (
	// maxEchoBytes caps an echoed string value.
	maxEchoBytes = 200
	// maxErrorDetails caps the details of one error body, so that a body
	// with thousands of mistakes gets a bounded answer.
	maxErrorDetails = 50
)

// secretFields are the body fields whose values an error never echoes:
// signing secrets, custom header values (often credentials) and
// integration credentials.
var secretFields = []string{"secret", "custom_headers", "secret_headers", "credentials", "password", "token", "authorization"}

// sanitizeProblem is a Huma transformer for error bodies. An error detail
// echoes the value at its location to help a client find its mistake, but
// never the whole body (a JSON parse error), never an object or a list (an
// unknown property echoes its parent object, secrets included), never the
// value of a secret field, and at most maxEchoBytes of a string; it lists
// at most maxErrorDetails problems. Messages that name Go types (a number
// that does not fit its field) are rewritten in the API's terms.
func sanitizeProblem(_ huma.Context, _ string, v any) (any, error) {
	em, ok := v.(*huma.ErrorModel)
	if !ok {
		return v, nil
	}
	em.Detail = problemDetail(em)
	if n := len(em.Errors); n > maxErrorDetails {
		em.Errors = append(em.Errors[:maxErrorDetails-1], &huma.ErrorDetail{
			Message: strconv.Itoa(n-maxErrorDetails+1) + " more problems not listed: fix these and send the request again",
		})
	}
	for _, d := range em.Errors {
		if d == nil {
			continue
		}
		d.Value = echoValue(d.Location, d.Value)
		d.Message = apiMessage(d.Message)
	}
	return em, nil
}

func echoValue(location string, v any) any {
	if location == "body" || isSecretLocation(location) {
		return nil
	}
	switch v := v.(type) {
	case string:
		return truncate(v, maxEchoBytes)
	case bool, float64, float32, int, int64, int32, json.Number:
		return v
	}
	return nil
}

// isSecretLocation reports whether a location such as
// "body.custom_headers.Authorization" or "body.credentials.token" lies in
// a secret field.
func isSecretLocation(location string) bool {
	for _, part := range strings.FieldsFunc(strings.ToLower(location), func(r rune) bool { return r == '.' || r == '[' }) {
		if slices.Contains(secretFields, part) {
			return true
		}
	}
	return false
}

// truncate cuts s to at most n bytes at a character boundary and marks the
// cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// problemDetail rewrites the details Huma writes itself, which name the
// problem but not what to do about it.
func problemDetail(em *huma.ErrorModel) string {
	switch {
	case em.Status == http.StatusRequestEntityTooLarge:
		return "the request body is larger than " + strconv.Itoa(MaxBodyBytes>>10) + " KiB: send a smaller one"
	case em.Status == http.StatusUnsupportedMediaType:
		return "the request body must be JSON: send it with Content-Type: application/json"
	case em.Status == http.StatusRequestTimeout:
		return "the request body arrived too slowly: send it at once"
	case em.Detail == "request body is required":
		return "this operation needs a JSON request body"
	case em.Detail == "validation failed":
		return "the request is not valid: errors lists each problem and where it is"
	}
	return em.Detail
}

// apiMessage rewrites encoding/json's messages, which name Go types, in the
// API's terms.
func apiMessage(msg string) string {
	if strings.Contains(msg, " into Go ") {
		return "a value does not fit its field: a number out of range, or a value of the wrong type"
	}
	return strings.TrimPrefix(msg, "json: ")
}
