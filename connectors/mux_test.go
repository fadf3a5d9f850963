package connectors_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/loki-interceptor/lokihooks/connectors"
	"github.com/loki-interceptor/lokihooks/domain"
)

type fakeSender struct{ name string }

func (f fakeSender) Send(context.Context, domain.AttemptRequest) domain.AttemptResult {
	return domain.AttemptResult{Success: true, Detail: f.name}
}

func TestMux(t *testing.T) {
	t.Parallel()
	mux := connectors.NewMux(map[domain.DestinationKind]connectors.Sender{
		domain.KindWebhook: fakeSender{"webhook"},
		domain.KindSlack:   fakeSender{"slack"},
		domain.KindTeams:   nil, // ignored
	})

	require.Equal(t, "webhook", mux.Send(t.Context(), domain.AttemptRequest{}).Detail, "empty kind is a webhook")
	require.Equal(t, "webhook", mux.Send(t.Context(), domain.AttemptRequest{Kind: domain.KindWebhook}).Detail)
	require.Equal(t, "slack", mux.Send(t.Context(), domain.AttemptRequest{Kind: domain.KindSlack}).Detail)
	for _, k := range []domain.DestinationKind{domain.KindTeams, "fax"} {
		res := mux.Send(t.Context(), domain.AttemptRequest{Kind: k, DeliveryID: "dlv_1"})
		require.False(t, res.Success)
		require.True(t, res.Permanent)
		require.ErrorIs(t, res.Err, connectors.ErrUnsupportedKind)
		require.Equal(t, `other: no connector for destination kind "`+string(k)+`"`, res.Detail)
	}
}

func TestSample(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

	req := connectors.Sample(domain.KindTeams, now)

	require.Equal(t, domain.KindTeams, req.Kind)
	require.Equal(t, domain.EventTypeWebhookTest, req.EventType)
	require.True(t, strings.HasPrefix(req.EventID, domain.EventIDPrefix))
	require.True(t, strings.HasPrefix(req.DeliveryID, domain.DeliveryIDPrefix))
	require.Equal(t, 1, req.Attempt)
	require.Equal(t, now, req.Now)
	var env struct {
		ID, Type, Timestamp string
		Data                json.RawMessage
	}
	require.NoError(t, json.Unmarshal(req.Body, &env))
	require.Equal(t, req.EventID, env.ID)
	require.Equal(t, "webhook.test", env.Type)
	require.Equal(t, "2026-01-02T03:04:05Z", env.Timestamp)
	require.NoError(t, domain.ValidateEventData(env.Type, env.Data), "the sample satisfies the catalog schema")
	require.NotEqual(t, req.EventID, connectors.Sample(domain.KindTeams, now).EventID)

	t.Run("SentThroughTheMux", func(t *testing.T) {
		t.Parallel()
		rec := newRecorder(t, accepted)
		mux := connectors.NewMux(map[domain.DestinationKind]connectors.Sender{
			domain.KindTeams: connectors.NewTeams(testClient(t), connectors.TeamsConfig{}),
		})
		req := connectors.Sample(domain.KindTeams, now)
		req.Credentials = json.RawMessage(`{"webhook_url":"` + rec.server.URL + `/flow"}`)

		res := mux.Send(t.Context(), req)

		require.True(t, res.Success, res.Detail)
		require.Contains(t, string(rec.next(t).body), "Test message from lokihooks")
	})
}

// TestNoCredentialInResults sends through every connector, to services that
// accept and that refuse, and checks that no credential shows up anywhere
// in the result: not in Detail, headers, body or error text.
func TestNoCredentialInResults(t *testing.T) {
	t.Parallel()
	cert := newTestCert(t)
	secrets := []string{testBotToken, testSMTPPassword, testSlackPath, "s3cr3tp4th", "s3cr3tS1g", "s3cr3th00k", testTeamsPath}
	body := envelopeBody("evt_1", "compliance.alert", complianceHigh)

	var results []domain.AttemptResult
	for _, code := range []int{http.StatusOK, http.StatusBadRequest, http.StatusServiceUnavailable} {
		rec := newRecorder(t, status(code, "answer"))
		slackAPI := newRecorder(t, status(code, `{"ok":false,"error":"invalid_auth"}`))
		results = append(results,
			newSlack(t, "", nil).Send(t.Context(), slackWebhookRequest(rec, body, `{}`)),
			newSlack(t, slackAPI.server.URL, nil).Send(t.Context(), slackBotRequest(body, `{"channel":"C1"}`)),
			connectors.NewTeams(testClient(t), connectors.TeamsConfig{}).Send(t.Context(), teamsRequest(rec, body, `{}`)),
			connectors.NewZapier(testClient(t), connectors.ZapierConfig{}).Send(t.Context(), zapierRequest(rec, body, `{}`)),
		)
	}
	// Unreachable, refused and blocked destinations produce error texts.
	closed := "http://127.0.0.1:1"
	results = append(results,
		connectors.NewTeams(testClient(t), connectors.TeamsConfig{}).Send(t.Context(), teamsRequest(&recorder{server: &httptest.Server{URL: closed}}, body, `{}`)),
		connectors.NewZapier(nil, connectors.ZapierConfig{}).Send(t.Context(), zapierRequest(&recorder{server: &httptest.Server{URL: closed}}, body, `{}`)),
		connectors.NewSlack(nil, nil, connectors.SlackConfig{BaseURL: closed}).Send(t.Context(), slackBotRequest(body, `{"channel":"C1"}`)),
	)
	for _, opts := range []smtpOpts{
		{tls: cert.server, user: testSMTPUser, pass: testSMTPPassword},
		{tls: cert.server, user: testSMTPUser, pass: "other"},
		{},
	} {
		srv := newSMTPServer(t, opts)
		results = append(results, newEmail(t, cert.roots).Send(t.Context(),
			emailRequest(srv.credentials(testSMTPUser, testSMTPPassword), `{"from":"a@acme.test","default_recipients":["b@acme.test"]}`, body)))
	}

	require.Len(t, results, 18)
	for i, res := range results {
		text := fmt.Sprintf("%+v %v %s %s", res, res.RequestHeaders, res.ResponseBody, res.Detail)
		if res.Err != nil {
			text += res.Err.Error()
		}
		for _, s := range secrets {
			require.NotContains(t, text, s, "result %d", i)
		}
	}
}
