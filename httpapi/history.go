package httpapi

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/loki-interceptor/lokihooks/domain"
)

// WebhookHistory reads webhooks' audit history (*app.Webhooks).
type WebhookHistory interface {
	// WebhookHistory returns up to limit changes with a version below
	// before (all when before <= 0), newest first; a webhook that never
	// existed is domain.ErrNotFound.
	WebhookHistory(ctx context.Context, id domain.WebhookID, before int64, limit int) ([]domain.HistoryEntry, error)
}

// apiKeyActor names the API key a request authenticated with, for the
// audit history: "api_key:" and the first 12 hex digits of the key's
// SHA-256, never the key.
func apiKeyActor(key string) string {
	sum := sha256.Sum256([]byte(key))
	return "api_key:" + hex.EncodeToString(sum[:6])
}

// FieldChange is one field a change set or altered.
type FieldChange struct {
	Field string `json:"field" example:"max_retries" doc:"custom_headers.<name> and metadata.<key> for single entries"`
	Old   any    `json:"old" doc:"null when the field was set at creation or added"`
	New   any    `json:"new" doc:"null when the field was removed"`
}

// HistoryEntry is one change of a webhook.
type HistoryEntry struct {
	Version int64         `json:"version" doc:"The webhook's version after the change"`
	Type    string        `json:"type" enum:"created,updated,paused,resumed,secret_rotated,deactivated,deleted"`
	At      time.Time     `json:"at"`
	Actor   string        `json:"actor,omitempty" example:"api_key:3f2a9c1b7d4e" doc:"Who made the change: api_key:<first 12 hex digits of the key's SHA-256>, or system:relay (deactivated after 410 Gone); absent for changes recorded before actors were"`
	Changes []FieldChange `json:"changes,omitempty" doc:"created: the fields set; updated: the fields changed, old → new. Secrets never appear; custom header values and credential-like URL and metadata parts are [redacted]"`
	Reason  string        `json:"reason,omitempty" doc:"Why the webhook was deactivated"`
	// PreviousSecretExpiresAt is set on secret_rotated.
	PreviousSecretExpiresAt *time.Time `json:"previous_secret_expires_at,omitempty" doc:"secret_rotated: when the replaced secret stops signing"`
}

// HistoryList is one page of a webhook's history.
type HistoryList struct {
	Data       []HistoryEntry `json:"data"`
	NextCursor string         `json:"next_cursor,omitempty" doc:"Pass as cursor to get the next (older) page; absent on the last page"`
}

type historyInput struct {
	WebhookID string `path:"webhook_id" maxLength:"64" example:"wh_01JDZ8Q6V3N5T8W2X4Y6Z8A0BC"`
	Cursor    string `query:"cursor" maxLength:"100" doc:"next_cursor of the previous page"`
	Limit     int    `query:"limit" minimum:"1" maximum:"100" default:"20"`
}

type historyOutput struct {
	Link string `header:"Link"`
	Body HistoryList
}

func (a *API) registerHistory() {
	huma.Register(a.huma, huma.Operation{
		OperationID: "get-webhook-history", Method: http.MethodGet, Path: "/api/v1/webhooks/{webhook_id}/history",
		Summary: "A webhook's audit history",
		Description: "Every change of the webhook, newest first, from its event stream: created, updated (field by " +
			"field, old → new), paused, resumed, secret rotated, deactivated (with the reason), deleted, with the " +
			"API key that made it. Deleted webhooks keep their history.",
		Tags: []string{"Webhooks"}, Security: bearer,
		Errors: append(slices.Clone(apiErrors), http.StatusNotFound),
	}, a.webhookHistory)
}

func (a *API) webhookHistory(ctx context.Context, in *historyInput) (*historyOutput, error) {
	id, err := webhookID(in.WebhookID)
	if err != nil {
		return nil, err
	}
	var before int64
	if in.Cursor != "" {
		v, err := decodeCursor(in.Cursor, "v")
		if err == nil {
			before, err = strconv.ParseInt(strings.TrimPrefix(v, "v"), 10, 64)
		}
		if err != nil || before < 1 {
			return nil, huma.Error400BadRequest("invalid cursor", &huma.ErrorDetail{Location: "query.cursor", Message: errNotCursor.Error(), Value: in.Cursor})
		}
	}
	entries, err := a.deps.History.WebhookHistory(ctx, id, before, in.Limit+1)
	if err != nil {
		return nil, a.problem(ctx, err)
	}
	out := &historyOutput{Body: HistoryList{Data: make([]HistoryEntry, 0, min(len(entries), in.Limit))}}
	if len(entries) > in.Limit {
		entries = entries[:in.Limit]
		out.Body.NextCursor = encodeCursor("v" + strconv.FormatInt(entries[len(entries)-1].Version, 10))
		out.Link = nextLink("/api/v1/webhooks/"+url.PathEscape(in.WebhookID)+"/history",
			url.Values{"cursor": {out.Body.NextCursor}, "limit": {strconv.Itoa(in.Limit)}})
	}
	for _, e := range entries {
		h := HistoryEntry{
			Version: e.Version, Type: e.Kind, At: e.At.UTC(), Actor: e.Actor, Reason: e.Reason,
			PreviousSecretExpiresAt: utcPtr(e.PreviousSecretExpiresAt),
		}
		for _, c := range e.Changes {
			h.Changes = append(h.Changes, FieldChange{Field: c.Field, Old: c.Old, New: c.New})
		}
		out.Body.Data = append(out.Body.Data, h)
	}
	return out, nil
}
