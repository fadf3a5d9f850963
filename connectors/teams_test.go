package connectors_test

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/loki-interceptor/lokihooks/connectors"
	"github.com/loki-interceptor/lokihooks/domain"
)

const testTeamsPath = "/workflows/abc/triggers/manual/paths/invoke"

func teamsRequest(rec *recorder, body []byte, config string) domain.AttemptRequest {
	return domain.AttemptRequest{
		Kind: domain.KindTeams, DestinationID: "int_teams", EventID: "evt_1", EventType: "x",
		DeliveryID: "dlv_1", Attempt: 1, Body: body, Timeout: 5 * time.Second, Now: time.Unix(testUnix, 0),
		Credentials: json.RawMessage(`{"webhook_url":"` + rec.server.URL + testTeamsPath + `?api-version=1&sig=s3cr3tS1g"}`),
		Config:      json.RawMessage(config),
	}
}

// accepted answers like a Workflows trigger: 202 with an empty body.
func accepted(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusAccepted) }

func TestTeams_AdaptiveCard(t *testing.T) {
	t.Parallel()
	rec := newRecorder(t, accepted)
	tm := connectors.NewTeams(testClient(t), connectors.TeamsConfig{})
	config := `{"header":"LOKI production","footer":"lokihooks","link_url":"https://loki.example.com/alerts/{id}?doc={data.affected_documents.0}","link_title":"Open alert"}`

	res := tm.Send(t.Context(), teamsRequest(rec, envelopeBody("evt_1", "compliance.alert", complianceHigh), config))

	require.True(t, res.Success, res.Detail)
	require.Equal(t, http.StatusAccepted, res.StatusCode)
	require.Empty(t, res.ResponseBody)
	got := rec.next(t)
	require.Equal(t, testTeamsPath, got.path)
	require.Equal(t, "application/json; charset=utf-8", got.header.Get("Content-Type"))
	require.JSONEq(t, `{
	  "type": "message",
	  "attachments": [{
	    "contentType": "application/vnd.microsoft.card.adaptive",
	    "contentUrl": null,
	    "content": {
	      "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
	      "type": "AdaptiveCard",
	      "version": "1.4",
	      "msteams": {"width": "Full"},
	      "body": [
	        {"type": "Container", "style": "attention", "bleed": true, "items": [
	          {"type": "TextBlock", "text": "LOKI production", "size": "Small", "isSubtle": true, "wrap": true},
	          {"type": "TextBlock", "text": "Compliance alert (high)", "weight": "Bolder", "size": "Large", "wrap": true}]},
	        {"type": "TextBlock", "text": "Financial promotion lacks a risk warning", "wrap": true},
	        {"type": "FactSet", "facts": [
	          {"title": "Alert level", "value": "high"},
	          {"title": "Affected documents", "value": "doc_456, doc_789"},
	          {"title": "Recommended actions", "value": "Add the standard risk warning, Re-run validation"}]},
	        {"type": "TextBlock", "text": "lokihooks · compliance.alert · evt_1 · 2026-01-02T03:04:05Z", "size": "Small", "isSubtle": true, "wrap": true}
	      ],
	      "actions": [{"type": "Action.OpenUrl", "title": "Open alert", "url": "https://loki.example.com/alerts/evt_1?doc=doc_456"}]
	    }
	  }]
	}`, string(got.body))
}

func TestTeams_StylesAndLinks(t *testing.T) {
	t.Parallel()
	tests := []struct {
		typ, data, style string
		actions          []string
	}{
		{"system.error", `{"severity":"low","message":"m"}`, "warning", nil},
		{"validation.completed", `{"document_id":"d","validation_status":"pass"}`, "good", nil},
		{
			"report.generated", `{"report_id":"r","url":"https://loki.example.com/r.pdf","summary_url":"https://loki.example.com/s"}`, "good",
			[]string{"Open summary|https://loki.example.com/s", "Open report|https://loki.example.com/r.pdf"},
		}, // by key
		{"webhook.test", `{"message":"hi","url":"javascript:alert(1)"}`, "emphasis", nil},
	}
	for _, tt := range tests {
		t.Run(tt.typ, func(t *testing.T) {
			t.Parallel()
			rec := newRecorder(t, accepted)

			res := connectors.NewTeams(testClient(t), connectors.TeamsConfig{}).Send(t.Context(), teamsRequest(rec, envelopeBody("evt_1", tt.typ, tt.data), `{}`))

			require.True(t, res.Success, res.Detail)
			card := decodeCard(t, rec.next(t).body)
			require.Equal(t, tt.style, card.Body[0].Style)
			var actions []string
			for _, a := range card.Actions {
				require.Equal(t, "Action.OpenUrl", a.Type)
				actions = append(actions, a.Title+"|"+a.URL)
			}
			require.Equal(t, tt.actions, actions)
		})
	}
}

type decodedCard struct {
	Version string `json:"version"`
	Body    []struct {
		Type  string `json:"type"`
		Style string `json:"style"`
		Text  string `json:"text"`
		Facts []struct {
			Title string `json:"title"`
			Value string `json:"value"`
		} `json:"facts"`
	} `json:"body"`
	Actions []struct {
		Type  string `json:"type"`
		Title string `json:"title"`
		URL   string `json:"url"`
	} `json:"actions"`
}

func decodeCard(t *testing.T, body []byte) decodedCard {
	t.Helper()
	var msg struct {
		Attachments []struct {
			Content decodedCard `json:"content"`
		} `json:"attachments"`
	}
	require.NoError(t, json.Unmarshal(body, &msg))
	require.Len(t, msg.Attachments, 1)
	require.Equal(t, "1.4", msg.Attachments[0].Content.Version)
	return msg.Attachments[0].Content
}

func TestTeams_SizeCap(t *testing.T) {
	t.Parallel()

	t.Run("LongFieldsTruncated", func(t *testing.T) {
		t.Parallel()
		rec := newRecorder(t, accepted)
		long := strings.Repeat("é", 50_000) // 100 KB of UTF-8
		data := mustJSON(t, map[string]any{
			"document_id": "doc_1", "error_code": "E", "message": long, "stack_trace": long,
		})

		res := connectors.NewTeams(testClient(t), connectors.TeamsConfig{}).Send(t.Context(), teamsRequest(rec, envelopeBody("evt_1", "validation.failed", string(data)), `{}`))

		require.True(t, res.Success, res.Detail)
		body := rec.next(t).body
		require.LessOrEqual(t, len(body), connectors.DefaultTeamsMaxCardBytes)
		card := decodeCard(t, body)
		last := card.Body[len(card.Body)-1]
		require.Equal(t, "… truncated: the event is too large for a Teams card", last.Text)
		require.Equal(t, "Document ID", card.Body[2].Facts[0].Title, "short facts survive")
	})

	t.Run("ManyFieldsDropped", func(t *testing.T) {
		t.Parallel()
		rec := newRecorder(t, accepted)
		data := map[string]any{}
		for i := range 2000 {
			data["field_"+strconv.Itoa(i)] = strings.Repeat("v", 40)
		}

		res := connectors.NewTeams(testClient(t), connectors.TeamsConfig{MaxCardBytes: 8000}).Send(t.Context(),
			teamsRequest(rec, envelopeBody("evt_1", "document.processed", string(mustJSON(t, data))), `{}`))

		require.True(t, res.Success, res.Detail)
		body := rec.next(t).body
		require.LessOrEqual(t, len(body), 8000)
		card := decodeCard(t, body)
		require.Equal(t, "… truncated: the event is too large for a Teams card", card.Body[len(card.Body)-1].Text)
	})

	t.Run("SmallCardUntouched", func(t *testing.T) {
		t.Parallel()
		rec := newRecorder(t, accepted)

		res := connectors.NewTeams(testClient(t), connectors.TeamsConfig{}).Send(t.Context(), teamsRequest(rec, envelopeBody("evt_1", "webhook.test", `{"message":"hi"}`), `{}`))

		require.True(t, res.Success)
		require.NotContains(t, string(rec.next(t).body), "truncated")
	})
}

func TestTeams_Statuses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		status             int
		success, permanent bool
	}{
		{http.StatusOK, true, false},
		{http.StatusAccepted, true, false},
		{http.StatusBadRequest, false, true},
		{http.StatusUnauthorized, false, true},
		{http.StatusForbidden, false, true},
		{http.StatusNotFound, false, true},
		{http.StatusRequestEntityTooLarge, false, true},
		{http.StatusGone, false, false}, // the relay deactivates on 410
		{http.StatusRequestTimeout, false, false},
		{http.StatusTooManyRequests, false, false},
		{http.StatusInternalServerError, false, false},
		{http.StatusBadGateway, false, false},
	}
	for _, tt := range tests {
		t.Run(strconv.Itoa(tt.status), func(t *testing.T) {
			t.Parallel()
			rec := newRecorder(t, func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Retry-After", "5")
				w.WriteHeader(tt.status)
			})

			res := connectors.NewTeams(testClient(t), connectors.TeamsConfig{}).Send(t.Context(), teamsRequest(rec, envelopeBody("evt_1", "webhook.test", `{"message":"hi"}`), `{}`))

			require.Equal(t, tt.status, res.StatusCode)
			require.Equal(t, tt.success, res.Success)
			require.Equal(t, tt.permanent, res.Permanent)
			if tt.status == http.StatusTooManyRequests {
				require.Equal(t, 5*time.Second, res.RetryAfter)
			}
		})
	}
}
