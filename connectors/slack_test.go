package connectors_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/loki-interceptor/lokihooks/connectors"
	"github.com/loki-interceptor/lokihooks/domain"
)

const (
	testBotToken  = "xoxb-1111-2222-s3cr3tb0tt0k3n"
	testSlackPath = "/services/T000/B000/s3cr3tp4th"
)

const complianceHigh = `{"alert_level":"high","message":"Financial promotion lacks a risk warning","affected_documents":["doc_456","doc_789"],"recommended_actions":["Add the standard risk warning","Re-run validation"]}`

// slackWebhookRequest is an attempt for the incoming webhook of rec.
func slackWebhookRequest(rec *recorder, body []byte, config string) domain.AttemptRequest {
	return domain.AttemptRequest{
		Kind: domain.KindSlack, DestinationID: "int_slack", EventID: "evt_1", EventType: "compliance.alert",
		DeliveryID: "dlv_1", Attempt: 1, Body: body, Timeout: 5 * time.Second, Now: time.Unix(testUnix, 0),
		Credentials: json.RawMessage(`{"webhook_url":"` + rec.server.URL + testSlackPath + `"}`),
		Config:      json.RawMessage(config),
	}
}

// slackBotRequest is a bot-mode attempt (the API base comes from the
// sender's config).
func slackBotRequest(body []byte, config string) domain.AttemptRequest {
	return domain.AttemptRequest{
		Kind: domain.KindSlack, DestinationID: "int_slack", EventID: "evt_1", EventType: "x",
		DeliveryID: "dlv_1", Attempt: 1, Body: body, Timeout: 5 * time.Second, Now: time.Unix(testUnix, 0),
		Credentials: json.RawMessage(`{"bot_token":"` + testBotToken + `"}`),
		Config:      json.RawMessage(config),
	}
}

func newSlack(t *testing.T, baseURL string, threads connectors.ThreadStore) *connectors.Slack {
	t.Helper()
	return connectors.NewSlack(testClient(t), threads, connectors.SlackConfig{BaseURL: baseURL})
}

func TestSlack_BlockKitPayload(t *testing.T) {
	t.Parallel()
	rec := newRecorder(t, nil)
	s := newSlack(t, "", nil)

	res := s.Send(t.Context(), slackWebhookRequest(rec, envelopeBody("evt_1", "compliance.alert", complianceHigh), `{}`))

	require.True(t, res.Success, res.Detail)
	require.Equal(t, http.StatusOK, res.StatusCode)
	got := rec.next(t)
	require.Equal(t, testSlackPath, got.path)
	require.Equal(t, "application/json; charset=utf-8", got.header.Get("Content-Type"))
	date := fmt.Sprintf("<!date^%d^{date_short_pretty} {time}|%s>", testUnix, testTimestamp)
	require.JSONEq(t, `{
	  "text": "Compliance alert (high): Financial promotion lacks a risk warning",
	  "attachments": [{
	    "color": "#D00000",
	    "fallback": "Compliance alert (high): Financial promotion lacks a risk warning",
	    "blocks": [
	      {"type": "header", "text": {"type": "plain_text", "text": "Compliance alert (high)", "emoji": true}},
	      {"type": "section",
	       "text": {"type": "mrkdwn", "text": "Financial promotion lacks a risk warning"},
	       "fields": [
	         {"type": "mrkdwn", "text": "*Alert level*\nhigh"},
	         {"type": "mrkdwn", "text": "*Affected documents*\ndoc_456, doc_789"},
	         {"type": "mrkdwn", "text": "*Recommended actions*\nAdd the standard risk warning, Re-run validation"}
	       ]},
	      {"type": "context", "elements": [{"type": "mrkdwn", "text": "`+"`compliance.alert` · evt_1 · "+date+`"}]}
	    ]
	  }]
	}`, string(got.body))
}

func TestSlack_HeaderFooterAndButtons(t *testing.T) {
	t.Parallel()
	rec := newRecorder(t, nil)
	s := newSlack(t, "", nil)
	body := envelopeBody("evt_2", "report.generated",
		`{"report_id":"rpt_789","report_type":"compliance_summary","url":"https://loki.example.com/reports/rpt_789.pdf","document_count":42}`)
	config := `{"header":"LOKI <prod> alerts","footer":"Sent by lokihooks & friends","link_url":"https://loki.example.com/r/{data.report_id}","link_title":"Open in LOKI"}`

	res := s.Send(t.Context(), slackWebhookRequest(rec, body, config))

	require.True(t, res.Success, res.Detail)
	var msg struct {
		Text        string `json:"text"`
		Attachments []struct {
			Color  string            `json:"color"`
			Blocks []json.RawMessage `json:"blocks"`
		} `json:"attachments"`
	}
	require.NoError(t, json.Unmarshal(rec.next(t).body, &msg))
	require.Len(t, msg.Attachments, 1)
	require.Equal(t, "#2EB67D", msg.Attachments[0].Color)
	blocks := msg.Attachments[0].Blocks
	require.Len(t, blocks, 4)
	// The header is plain text (no escaping); the title moves into the
	// section, where mrkdwn needs &, < and > escaped.
	require.JSONEq(t, `{"type":"header","text":{"type":"plain_text","text":"LOKI <prod> alerts","emoji":true}}`, string(blocks[0]))
	require.JSONEq(t, `{"type":"section","text":{"type":"mrkdwn","text":"*Report generated*"},"fields":[
		{"type":"mrkdwn","text":"*Report ID*\nrpt_789"},
		{"type":"mrkdwn","text":"*Report type*\ncompliance_summary"},
		{"type":"mrkdwn","text":"*Document count*\n42"}]}`, string(blocks[1]))
	require.JSONEq(t, `{"type":"actions","elements":[
		{"type":"button","action_id":"open_link_0","text":{"type":"plain_text","text":"Open report","emoji":true},"url":"https://loki.example.com/reports/rpt_789.pdf"},
		{"type":"button","action_id":"open_link_1","text":{"type":"plain_text","text":"Open in LOKI","emoji":true},"url":"https://loki.example.com/r/rpt_789"}]}`, string(blocks[2]))
	var footer struct {
		Elements []struct {
			Text string `json:"text"`
		} `json:"elements"`
	}
	require.NoError(t, json.Unmarshal(blocks[3], &footer))
	require.Len(t, footer.Elements, 2)
	require.Equal(t, "Sent by lokihooks &amp; friends", footer.Elements[0].Text)
}

func TestSlack_Colours(t *testing.T) {
	t.Parallel()
	tests := []struct {
		typ, data, want string
	}{
		{"compliance.alert", `{"alert_level":"critical","message":"m","affected_documents":[]}`, "#D00000"},
		{"compliance.alert", `{"alert_level":"high","message":"m","affected_documents":[]}`, "#D00000"},
		{"compliance.alert", `{"alert_level":"medium","message":"m","affected_documents":[]}`, "#F2840C"},
		{"compliance.alert", `{"alert_level":"low","message":"m","affected_documents":[]}`, "#9AA0A6"},
		{"validation.failed", `{"document_id":"d","error_code":"E","message":"m"}`, "#F2840C"},
		{"system.error", `{"error_code":"E","component":"c","severity":"high","message":"m"}`, "#F2840C"},
		{"system.error", `{"error_code":"E","component":"c","severity":"critical","message":"m"}`, "#D00000"},
		{"validation.completed", `{"validation_status":"pass"}`, "#2EB67D"},
		{"validation.completed", `{"validation_status":"fail"}`, "#F2840C"},
		{"batch.completed", `{"batch_id":"b"}`, "#2EB67D"},
		{"document.processed", `{"document_id":"d"}`, "#2EB67D"},
		{"report.generated", `{"report_id":"r"}`, "#2EB67D"},
		{"correction.applied", `{"document_id":"d","changes":[]}`, "#2EB67D"},
		{"webhook.test", `{"message":"hi"}`, "#9AA0A6"},
	}
	for _, tt := range tests {
		t.Run(tt.typ+tt.data, func(t *testing.T) {
			t.Parallel()
			rec := newRecorder(t, nil)

			res := newSlack(t, "", nil).Send(t.Context(), slackWebhookRequest(rec, envelopeBody("evt_1", tt.typ, tt.data), `{}`))

			require.True(t, res.Success, res.Detail)
			var msg struct {
				Attachments []struct {
					Color string `json:"color"`
				} `json:"attachments"`
			}
			require.NoError(t, json.Unmarshal(rec.next(t).body, &msg))
			require.Equal(t, tt.want, msg.Attachments[0].Color)
		})
	}
}

// fakeSlackAPI answers chat.postMessage with ok and a fresh ts per message.
func fakeSlackAPI(t *testing.T) *recorder {
	t.Helper()
	var n atomic.Int64
	return newRecorder(t, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = fmt.Fprintf(w, `{"ok":true,"channel":"C123","ts":"1700000000.%06d"}`, n.Add(1))
	})
}

func TestSlack_Threads(t *testing.T) {
	t.Parallel()
	api := fakeSlackAPI(t)
	threads := &connectors.MemoryThreadStore{}
	s := newSlack(t, api.server.URL, threads)
	send := func(id, typ, data string) map[string]any {
		t.Helper()
		res := s.Send(t.Context(), slackBotRequest(envelopeBody(id, typ, data), `{"channel":"C123"}`))
		require.True(t, res.Success, res.Detail)
		got := api.next(t)
		require.Equal(t, "/chat.postMessage", got.path)
		require.Equal(t, "Bearer "+testBotToken, got.header.Get("Authorization"))
		require.Equal(t, "[redacted]", res.RequestHeaders.Get("Authorization"))
		var body map[string]any
		require.NoError(t, json.Unmarshal(got.body, &body))
		require.Equal(t, "C123", body["channel"])
		require.Equal(t, false, body["unfurl_links"])
		return body
	}

	first := send("evt_1", "validation.completed", `{"document_id":"doc_456","validation_status":"fail"}`)
	require.NotContains(t, first, "thread_ts", "the first event of a document starts the thread")

	second := send("evt_2", "correction.applied", `{"document_id":"doc_456","changes":[{"before":"a","after":"b"}]}`)
	require.Equal(t, "1700000000.000001", second["thread_ts"], "a later event replies in the first one's thread")

	third := send("evt_3", "validation.completed", `{"document_id":"doc_999","validation_status":"pass"}`)
	require.NotContains(t, third, "thread_ts", "another document gets its own thread")

	fourth := send("evt_4", "document.processed", `{"document_id":"doc_456"}`)
	require.Equal(t, "1700000000.000001", fourth["thread_ts"], "the thread keeps its first parent")

	noKey := send("evt_5", "batch.completed", `{"batch_id":"b1"}`)
	require.NotContains(t, noKey, "thread_ts", "events without the key are not threaded")

	ts, err := threads.Thread(t.Context(), "int_slack", "data.document_id=doc_999")
	require.NoError(t, err)
	require.Equal(t, "1700000000.000003", ts)
}

func TestSlack_ThreadKeyAndThreadsOff(t *testing.T) {
	t.Parallel()
	api := fakeSlackAPI(t)
	s := newSlack(t, api.server.URL, &connectors.MemoryThreadStore{})
	send := func(config, data string) map[string]any {
		t.Helper()
		res := s.Send(t.Context(), slackBotRequest(envelopeBody("evt_1", "batch.completed", data), config))
		require.True(t, res.Success, res.Detail)
		var body map[string]any
		require.NoError(t, json.Unmarshal(api.next(t).body, &body))
		return body
	}

	send(`{"channel":"C1","thread_key":"data.batch_id"}`, `{"batch_id":"b1"}`)
	require.Equal(t, "1700000000.000001", send(`{"channel":"C1","thread_key":"data.batch_id"}`, `{"batch_id":"b1"}`)["thread_ts"])

	send(`{"channel":"C1","threads":false}`, `{"document_id":"d1"}`)
	require.NotContains(t, send(`{"channel":"C1","threads":false}`, `{"document_id":"d1"}`), "thread_ts")
}

type failingThreads struct{ saved atomic.Int64 }

func (f *failingThreads) Thread(context.Context, domain.DestinationID, string) (string, error) {
	return "", errors.New("database is down")
}

func (f *failingThreads) SaveThread(context.Context, domain.DestinationID, string, string) error {
	f.saved.Add(1)
	return nil
}

func TestSlack_ThreadLookupFailureIsRetryable(t *testing.T) {
	t.Parallel()
	api := fakeSlackAPI(t)
	s := newSlack(t, api.server.URL, &failingThreads{})

	res := s.Send(t.Context(), slackBotRequest(envelopeBody("evt_1", "document.processed", `{"document_id":"d"}`), `{"channel":"C1"}`))

	require.False(t, res.Success)
	require.False(t, res.Permanent)
	require.Equal(t, "other: slack thread lookup failed", res.Detail)
	api.requireNone(t)
}

func TestSlack_Errors(t *testing.T) {
	t.Parallel()

	t.Run("Webhook", func(t *testing.T) {
		t.Parallel()
		tests := []struct {
			status    int
			body      string
			permanent bool
			category  domain.ErrorCategory
		}{
			{http.StatusBadRequest, "invalid_payload", true, domain.ErrorCategoryHTTP4xx},
			{http.StatusForbidden, "action_prohibited", true, domain.ErrorCategoryHTTP4xx},
			{http.StatusNotFound, "channel_not_found", true, domain.ErrorCategoryHTTP4xx},
			{http.StatusNotFound, "no_service", true, domain.ErrorCategoryHTTP4xx},
			{http.StatusGone, "channel_is_archived", true, domain.ErrorCategoryHTTP4xx},
			{http.StatusBadRequest, "too_many_attachments", true, domain.ErrorCategoryHTTP4xx},
			{http.StatusForbidden, "invalid_token", true, domain.ErrorCategoryHTTP4xx},
			{http.StatusForbidden, "posting_to_general_channel_denied", true, domain.ErrorCategoryHTTP4xx},
			{http.StatusInternalServerError, "rollup_error", false, domain.ErrorCategoryHTTP5xx},
			{http.StatusServiceUnavailable, "", false, domain.ErrorCategoryHTTP5xx},
			{http.StatusBadRequest, "Something <html> went wrong", false, domain.ErrorCategoryHTTP4xx},
		}
		for _, tt := range tests {
			t.Run(strconv.Itoa(tt.status)+tt.body, func(t *testing.T) {
				t.Parallel()
				rec := newRecorder(t, func(w http.ResponseWriter, _ *http.Request) {
					w.WriteHeader(tt.status)
					_, _ = io.WriteString(w, tt.body)
				})

				res := newSlack(t, "", nil).Send(t.Context(), slackWebhookRequest(rec, envelopeBody("evt_1", "webhook.test", `{"message":"x"}`), `{}`))

				require.False(t, res.Success)
				require.Equal(t, tt.status, res.StatusCode)
				require.Equal(t, tt.permanent, res.Permanent)
				require.Equal(t, tt.category, res.Category)
				if slackCode := tt.body; tt.permanent || slackCode == "rollup_error" {
					require.Equal(t, "slack: "+slackCode+" ("+fmt.Sprintf("HTTP %d %s", tt.status, http.StatusText(tt.status))+")", res.Detail)
				}
			})
		}
	})

	t.Run("WebAPI", func(t *testing.T) {
		t.Parallel()
		tests := []struct {
			code      string
			permanent bool
			category  domain.ErrorCategory
		}{
			{"channel_not_found", true, domain.ErrorCategoryHTTP4xx},
			{"not_authed", true, domain.ErrorCategoryHTTP4xx},
			{"account_inactive", true, domain.ErrorCategoryHTTP4xx},
			{"invalid_auth", true, domain.ErrorCategoryHTTP4xx},
			{"not_in_channel", true, domain.ErrorCategoryHTTP4xx},
			{"internal_error", false, domain.ErrorCategoryHTTP5xx},
			{"fatal_error", false, domain.ErrorCategoryHTTP5xx},
			{"ratelimited", false, domain.ErrorCategoryHTTP4xx},
		}
		for _, tt := range tests {
			t.Run(tt.code, func(t *testing.T) {
				t.Parallel()
				api := newRecorder(t, func(w http.ResponseWriter, _ *http.Request) {
					_, _ = io.WriteString(w, `{"ok":false,"error":"`+tt.code+`"}`)
				})

				res := newSlack(t, api.server.URL, nil).Send(t.Context(), slackBotRequest(envelopeBody("evt_1", "webhook.test", `{"message":"x"}`), `{"channel":"C1"}`))

				require.False(t, res.Success)
				require.Equal(t, http.StatusOK, res.StatusCode)
				require.Equal(t, tt.permanent, res.Permanent)
				require.Equal(t, tt.category, res.Category)
				require.Equal(t, "slack: "+tt.code+" (HTTP 200 OK)", res.Detail)
			})
		}
	})

	t.Run("RateLimited", func(t *testing.T) {
		t.Parallel()
		for _, bot := range []bool{false, true} {
			t.Run(strconv.FormatBool(bot), func(t *testing.T) {
				t.Parallel()
				rec := newRecorder(t, func(w http.ResponseWriter, _ *http.Request) {
					w.Header().Set("Retry-After", "600")
					w.WriteHeader(http.StatusTooManyRequests)
					if bot {
						_, _ = io.WriteString(w, `{"ok":false,"error":"ratelimited"}`)
						return
					}
					_, _ = io.WriteString(w, "rate_limited")
				})
				body := envelopeBody("evt_1", "webhook.test", `{"message":"x"}`)
				req := slackWebhookRequest(rec, body, `{}`)
				if bot {
					req = slackBotRequest(body, `{"channel":"C1"}`)
				}

				res := newSlack(t, rec.server.URL, nil).Send(t.Context(), req)

				require.False(t, res.Success)
				require.False(t, res.Permanent)
				require.Equal(t, http.StatusTooManyRequests, res.StatusCode)
				require.Equal(t, 10*time.Minute, res.RetryAfter)
				out := domain.DecideAttempt(domain.DefaultWebhookSpec().RetryPolicy(), 1, res, req.Now, 0)
				require.Equal(t, domain.DeliveryRetrying, out.Status)
				require.Equal(t, req.Now.Add(10*time.Minute).UTC(), *out.NextAttemptAt) // Retry-After beats the 48-72s backoff
			})
		}
	})

	t.Run("InvalidInput", func(t *testing.T) {
		t.Parallel()
		rec := newRecorder(t, nil)
		s := newSlack(t, "", nil)
		tests := map[string]func(*domain.AttemptRequest){
			"BodyNotEnvelope":    func(r *domain.AttemptRequest) { r.Body = []byte(`[1,2]`) },
			"CredentialsNotJSON": func(r *domain.AttemptRequest) { r.Credentials = []byte(`{"webhook_url":7}`) },
			"NoCredentials":      func(r *domain.AttemptRequest) { r.Credentials = nil },
			"BotWithoutChannel":  func(r *domain.AttemptRequest) { r.Credentials = []byte(`{"bot_token":"` + testBotToken + `"}`) },
		}
		for name, mutate := range tests {
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				req := slackWebhookRequest(rec, envelopeBody("evt_1", "webhook.test", `{"message":"x"}`), `{}`)
				mutate(&req)

				res := s.Send(t.Context(), req)

				require.False(t, res.Success)
				require.True(t, res.Permanent)
				require.ErrorIs(t, res.Err, domain.ErrInvalid)
				requireDetail(t, domain.NetworkDetailOther, res.Detail)
			})
		}
		rec.requireNone(t)
	})
}
