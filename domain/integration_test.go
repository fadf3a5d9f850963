package domain_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/loki-interceptor/lokihooks/domain"
)

const testIntegrationID = domain.IntegrationID("int_01JP2Q7X3M9K4R6T8V0W2Y4Z6A")

// acceptAll is an IntegrationValidator that accepts every kind and
// document.
func acceptAll(domain.DestinationKind, json.RawMessage, json.RawMessage) error { return nil }

// slackSpec is a valid Slack integration spec.
func slackSpec() domain.IntegrationSpec {
	s := domain.DefaultIntegrationSpec(domain.KindSlack)
	s.Name = "compliance-slack"
	s.Config = json.RawMessage(`{"header": "LOKI"}`)
	s.EventTypes = []string{domain.EventTypeComplianceAlert}
	return s
}

const slackCreds = `{"webhook_url":"https://hooks.slack.test/services/T/B/secret"}`

func integrationCreated() domain.IntegrationCreated {
	s := slackSpec()
	s.Config = json.RawMessage(`{"header":"LOKI"}`)
	return domain.IntegrationCreated{ID: testIntegrationID, Spec: s, Source: domain.SourceAPI, Credentials: slackCreds, At: testCreatedAt}
}

func restHookCreated() domain.IntegrationCreated {
	e := integrationCreated()
	e.Spec.Kind, e.Source = domain.KindZapier, domain.SourceZapierRESTHook
	return e
}

// givenIntegration rebuilds an integration from events through their
// stored form.
func givenIntegration(t *testing.T, events ...domain.Event) *domain.Integration {
	t.Helper()
	recs := record(t, events...)
	for i := range recs {
		recs[i].StreamID = string(testIntegrationID)
	}
	i, err := domain.ReplayIntegration(recs)
	require.NoError(t, err)
	return i
}

func TestCreateIntegration(t *testing.T) {
	t.Parallel()
	t.Run("Valid", func(t *testing.T) {
		t.Parallel()
		events, err := domain.CreateIntegration(domain.CreateIntegrationParams{
			ID: testIntegrationID, Spec: slackSpec(), Credentials: json.RawMessage(" " + slackCreds + " "),
		}, acceptAll, testNowCET)
		require.NoError(t, err)
		want := integrationCreated()
		want.At = testNow
		require.Equal(t, []domain.Event{want}, events, "config and credentials compacted, source api, time in UTC")
	})
	t.Run("EverythingWrongAtOnce", func(t *testing.T) {
		t.Parallel()
		s := slackSpec()
		s.Name, s.EventTypes, s.MaxRetries, s.TimeoutSeconds = "has space", []string{"nope", "nope"}, -1, 0
		s.Config = json.RawMessage(`[1]`)
		_, err := domain.CreateIntegration(domain.CreateIntegrationParams{
			ID: "wh_x", Spec: s, Credentials: json.RawMessage(`"x"`), Source: "elsewhere",
		}, acceptAll, testNow)
		requireInvalid(t, err, "name", "event_subscriptions", "event_subscriptions", "max_retries", "timeout_seconds",
			"config", "credentials", "id", "source")
	})
	t.Run("ReservedName", func(t *testing.T) {
		t.Parallel()
		s := slackSpec()
		s.Name = "Health"
		_, err := domain.CreateIntegration(domain.CreateIntegrationParams{ID: testIntegrationID, Spec: s}, acceptAll, testNow)
		requireInvalid(t, err, "name")
	})
	t.Run("ValidatorSeesKindCredentialsAndConfig", func(t *testing.T) {
		t.Parallel()
		var got []string
		validate := func(k domain.DestinationKind, creds, cfg json.RawMessage) error {
			got = append(got, string(k), string(creds), string(cfg))
			return &domain.ValidationError{Fields: []domain.FieldError{{Field: "credentials.webhook_url", Message: "is required"}}}
		}
		_, err := domain.CreateIntegration(domain.CreateIntegrationParams{
			ID: testIntegrationID, Spec: slackSpec(), Credentials: json.RawMessage(slackCreds),
		}, validate, testNow)
		requireInvalid(t, err, "credentials.webhook_url")
		require.Equal(t, []string{"slack", slackCreds, `{"header":"LOKI"}`}, got)
	})
	t.Run("ValidatorNotCalledOnBrokenSpec", func(t *testing.T) {
		t.Parallel()
		s := slackSpec()
		s.Name = ""
		_, err := domain.CreateIntegration(domain.CreateIntegrationParams{ID: testIntegrationID, Spec: s},
			func(domain.DestinationKind, json.RawMessage, json.RawMessage) error { panic("called") }, testNow)
		requireInvalid(t, err, "name")
	})
}

func TestIntegration_Commands(t *testing.T) {
	t.Parallel()
	paused := domain.IntegrationPaused{At: at(1)}
	deactivated := domain.IntegrationDeactivated{Reason: testReason, At: at(2)}
	deletedEv := domain.IntegrationDeleted{At: at(3)}
	for _, tc := range []struct {
		name  string
		given []domain.Event
		when  func(*domain.Integration) ([]domain.Event, error)
		then  []domain.Event
		err   error
	}{
		{
			"PauseActive",
			[]domain.Event{integrationCreated()},
			func(i *domain.Integration) ([]domain.Event, error) { return i.Pause(testNow) },
			[]domain.Event{domain.IntegrationPaused{At: testNow}},
			nil,
		},
		{
			"PausePausedIsNoop",
			[]domain.Event{integrationCreated(), paused},
			func(i *domain.Integration) ([]domain.Event, error) { return i.Pause(testNow) },
			nil, nil,
		},
		{
			"ResumeInactive",
			[]domain.Event{integrationCreated(), deactivated},
			func(i *domain.Integration) ([]domain.Event, error) { return i.Resume(testNow) },
			[]domain.Event{domain.IntegrationResumed{At: testNow}},
			nil,
		},
		{
			"ResumeDeleted",
			[]domain.Event{integrationCreated(), deletedEv},
			func(i *domain.Integration) ([]domain.Event, error) { return i.Resume(testNow) },
			nil, domain.ErrNotFound,
		},
		{
			"ResumeNeverCreated", nil, func(i *domain.Integration) ([]domain.Event, error) { return i.Resume(testNow) },
			nil, domain.ErrNotFound,
		},
		{"Subscribe", []domain.Event{integrationCreated()}, func(i *domain.Integration) ([]domain.Event, error) {
			return i.Subscribe(domain.EventTypeValidationFailed, testNow)
		}, []domain.Event{domain.IntegrationSubscribed{Subscribed: domain.EventTypeValidationFailed, At: testNow}}, nil},
		{"SubscribeAgainIsNoop", []domain.Event{integrationCreated()}, func(i *domain.Integration) ([]domain.Event, error) {
			return i.Subscribe(domain.EventTypeComplianceAlert, testNow)
		}, nil, nil},
		{"SubscribeUnknown", []domain.Event{integrationCreated()}, func(i *domain.Integration) ([]domain.Event, error) {
			return i.Subscribe("order.shipped", testNow)
		}, nil, domain.ErrInvalid},
		{"Unsubscribe", []domain.Event{integrationCreated()}, func(i *domain.Integration) ([]domain.Event, error) {
			return i.Unsubscribe(domain.EventTypeComplianceAlert, testNow)
		}, []domain.Event{domain.IntegrationUnsubscribed{Unsubscribed: domain.EventTypeComplianceAlert, At: testNow}}, nil},
		{"UnsubscribeNotSubscribed", []domain.Event{integrationCreated()}, func(i *domain.Integration) ([]domain.Event, error) {
			return i.Unsubscribe(domain.EventTypeBatchCompleted, testNow)
		}, nil, domain.ErrNotFound},
		{"GoneDeactivates", []domain.Event{integrationCreated()}, func(i *domain.Integration) ([]domain.Event, error) {
			return i.Gone(testReason, testNow)
		}, []domain.Event{domain.IntegrationDeactivated{Reason: testReason, At: testNow}}, nil},
		{"GoneUnsubscribesRESTHook", []domain.Event{restHookCreated()}, func(i *domain.Integration) ([]domain.Event, error) {
			return i.Gone(testReason, testNow)
		}, []domain.Event{domain.IntegrationDeleted{Reason: testReason, At: testNow}}, nil},
		{"GoneOnDeletedIsNoop", []domain.Event{restHookCreated(), deletedEv}, func(i *domain.Integration) ([]domain.Event, error) {
			return i.Gone(testReason, testNow)
		}, nil, nil},
		{"UpdateKeepsCredentials", []domain.Event{integrationCreated()}, func(i *domain.Integration) ([]domain.Event, error) {
			s := slackSpec()
			s.Name = "renamed"
			return i.Update(s, nil, acceptAll, testNow)
		}, []domain.Event{domain.IntegrationUpdated{Spec: func() domain.IntegrationSpec {
			s := slackSpec()
			s.Name, s.Config = "renamed", json.RawMessage(`{"header":"LOKI"}`)
			return s
		}(), At: testNow}}, nil},
		{"UpdateCannotChangeType", []domain.Event{integrationCreated()}, func(i *domain.Integration) ([]domain.Event, error) {
			s := slackSpec()
			s.Kind = domain.KindTeams
			return i.Update(s, nil, acceptAll, testNow)
		}, nil, domain.ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			i := givenIntegration(t, tc.given...)
			got, err := tc.when(i)
			if tc.err != nil {
				require.ErrorIs(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.then, got)
		})
	}
}

func TestIntegration_UpdateValidatesConfigWithStoredCredentials(t *testing.T) {
	t.Parallel()
	i := givenIntegration(t, integrationCreated())
	var seen []string
	validate := func(_ domain.DestinationKind, creds, _ json.RawMessage) error {
		seen = append(seen, string(creds))
		return nil
	}
	_, err := i.Update(slackSpec(), nil, validate, testNow)
	require.NoError(t, err)
	events, err := i.Update(slackSpec(), json.RawMessage(`{"bot_token": "xoxb-1"}`), validate, testNow)
	require.NoError(t, err)
	require.Equal(t, []string{slackCreds, `{"bot_token":"xoxb-1"}`}, seen)
	require.Equal(t, `{"bot_token":"xoxb-1"}`, events[0].(domain.IntegrationUpdated).Credentials)
}

func TestIntegration_ApplyAndDestination(t *testing.T) {
	t.Parallel()
	created := integrationCreated()
	created.Spec.Kind = domain.KindZapier
	created.Spec.Config = json.RawMessage(`{"batch_size":10}`)
	created.Spec.RateLimitPerMinute = 600
	i := givenIntegration(t, created,
		domain.IntegrationSubscribed{Subscribed: "*", At: at(1)},
		domain.IntegrationUnsubscribed{Unsubscribed: domain.EventTypeComplianceAlert, At: at(2)},
		domain.IntegrationUpdated{Spec: created.Spec, Credentials: `{"webhook_url":"https://new"}`, At: at(3)},
		domain.IntegrationPaused{At: at(4)},
	)
	require.Equal(t, domain.WebhookStatusPaused, i.Status)
	require.Equal(t, int64(5), i.Version)
	require.Equal(t, `{"webhook_url":"https://new"}`, i.Credentials)
	require.Equal(t, []string{domain.EventTypeComplianceAlert}, i.Spec.EventTypes, "the update replaced the subscriptions")
	d := i.Destination(testNow)
	require.Equal(t, domain.DestinationID(testIntegrationID), d.ID)
	require.Equal(t, domain.KindZapier, d.Kind)
	require.Equal(t, 10, d.BatchSize)
	require.Equal(t, time.Duration(domain.DefaultBatchIntervalSeconds)*time.Second, d.BatchInterval)
	require.Equal(t, 600, d.RateLimitPerMinute)
	require.JSONEq(t, `{"webhook_url":"https://new"}`, string(d.Credentials))

	slack := givenIntegration(t, integrationCreated())
	require.Zero(t, slack.Destination(testNow).BatchSize, "only Zapier batches")
	require.True(t, slack.Selects(domain.EventTypeComplianceAlert))
	require.False(t, slack.Selects(domain.EventTypeBatchCompleted))
}

func TestDecodeEvent_IntegrationEvents(t *testing.T) {
	t.Parallel()
	for _, e := range []domain.Event{
		integrationCreated(),
		domain.IntegrationUpdated{Spec: slackSpec(), At: at(1)},
		domain.IntegrationSubscribed{Subscribed: "*", At: at(1)},
		domain.IntegrationUnsubscribed{Unsubscribed: "*", At: at(1)},
		domain.IntegrationPaused{At: at(1)},
		domain.IntegrationResumed{At: at(1)},
		domain.IntegrationDeactivated{Reason: "x", At: at(1)},
		domain.IntegrationDeleted{At: at(1)},
	} {
		data, err := json.Marshal(e)
		require.NoError(t, err)
		got, err := domain.DecodeEvent(e.EventType(), data)
		require.NoError(t, err, e.EventType())
		require.Equal(t, e.EventType(), got.EventType())
	}
	_, err := domain.DecodeEvent("integration.renamed.v9", []byte(`{}`))
	require.ErrorIs(t, err, domain.ErrUnknownEventType)
}
