package httpapi

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/danielgtaylor/huma/v2"

	"github.com/loki-interceptor/lokihooks/domain"
)

// apiErrors are the statuses every /api operation may answer: a bad query
// string (400), no valid key (401), invalid input (422), the key's rate
// limit (429).
var apiErrors = []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusUnprocessableEntity, http.StatusTooManyRequests}

// listDescription is what every list operation says about its pages.
const listDescription = "Cursor-paginated, newest first; order=asc lists oldest first. " +
	"Pass next_cursor (also in the Link header) as cursor to get the next page, with the same filters and order."

// Ordering is the order parameter every list takes. It is exported because
// Huma reads the parameters of exported embedded structs only.
type Ordering struct {
	Order string `query:"order" enum:"asc,desc" default:"desc" doc:"desc (default): newest first; asc: oldest first"`
}

// ascending reports order=asc.
func (o Ordering) ascending() bool { return o.Order == "asc" }

// setLink adds the order to a next-page link when it is not the default.
func (o Ordering) setLink(q url.Values) {
	if o.ascending() {
		q.Set("order", "asc")
	}
}

// nextLink renders an RFC 8288 Link header to the next page.
func nextLink(path string, q url.Values) string {
	return "<" + path + "?" + q.Encode() + `>; rel="next"`
}

func encodeCursor(id string) string { return base64.RawURLEncoding.EncodeToString([]byte(id)) }

func decodeCursor(c, prefix string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || !strings.HasPrefix(string(b), prefix) || !storable(string(b)) {
		return "", errNotCursor
	}
	return string(b), nil
}

var errNotCursor = errors.New("not a cursor returned by this API")

// invalidCursor is the 400 of a cursor this API did not hand out.
func invalidCursor(cursor string) error {
	return huma.Error400BadRequest("invalid cursor: pass the next_cursor of the previous page unchanged, "+
		"or leave cursor out to start at the first page", &huma.ErrorDetail{
		Location: "query.cursor", Message: errNotCursor.Error(), Value: cursor,
	})
}

// unknownEventTypeFilter returns the 422 detail of a filter naming an event
// type outside the catalog, or nil. wildcard allows "*" (webhooks
// subscribed to every type).
func unknownEventTypeFilter(loc, value string, wildcard bool) error {
	if value == "" || domain.IsKnownEventType(value) || wildcard && value == domain.EventTypeWildcard {
		return nil
	}
	allowed := strings.Join(domain.EventTypeNames(), ", ")
	if wildcard {
		allowed += ", " + domain.EventTypeWildcard
	}
	return &huma.ErrorDetail{
		Location: loc,
		Message:  fmt.Sprintf("is not an event type of the catalog: use one of %s (GET /api/v1/event-types describes them)", allowed),
		Value:    value,
	}
}
