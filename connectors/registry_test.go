package connectors_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/loki-interceptor/lokihooks/connectors"
	"github.com/loki-interceptor/lokihooks/domain"
)

func TestKinds(t *testing.T) {
	t.Parallel()
	kinds := connectors.Kinds()

	require.Len(t, kinds, 4)
	want := map[domain.DestinationKind][]string{
		domain.KindSlack:  {"channels and threads", "Block Kit", "colour-coded alerts", "custom header and footer"},
		domain.KindTeams:  {"Adaptive Cards", "sections", "deep links", "colour-coded severity", "direct messages"},
		domain.KindEmail:  {"SMTP (Gmail, Outlook, custom)", "HTML templates", "attachments", "distribution lists", "automatic retry"},
		domain.KindZapier: {"workflow automation", "event batching", "custom transformations", "error handling"},
	}
	for i, k := range kinds {
		require.Equal(t, domain.IntegrationKinds()[i], k.Kind, "marketplace order")
		require.Equal(t, want[k.Kind], k.Features)
		require.NotEmpty(t, k.Title)
		require.NotEmpty(t, k.Description)
		require.Positive(t, k.Defaults.RateLimitPerMinute)
		require.Positive(t, k.Defaults.TimeoutSeconds)
		for _, schema := range []json.RawMessage{k.CredentialsSchema, k.ConfigSchema} {
			var doc map[string]any
			require.NoError(t, json.Unmarshal(schema, &doc))
			require.Equal(t, "https://json-schema.org/draft/2020-12/schema", doc["$schema"])
			require.Equal(t, "object", doc["type"])
		}
		info, ok := connectors.LookupKind(k.Kind)
		require.True(t, ok)
		require.Equal(t, k.Title, info.Title)
	}
	require.Equal(t, 60, kinds[0].Defaults.RateLimitPerMinute, "Slack: about one message per second")
	require.Equal(t, connectors.KindDefaults{RateLimitPerMinute: 600, TimeoutSeconds: 15, BatchSize: 1, BatchIntervalSeconds: 60}, kinds[3].Defaults)

	kinds[0].Features[0] = "mutated"
	require.Equal(t, "channels and threads", connectors.Kinds()[0].Features[0], "callers get copies")
	_, ok := connectors.LookupKind(domain.KindWebhook)
	require.False(t, ok)
}

func TestValidateIntegration(t *testing.T) {
	t.Parallel()
	const secret = "xoxb-123-456-sup3rs3cr3t"

	valid := []struct {
		kind         domain.DestinationKind
		creds, confg string
	}{
		{domain.KindSlack, `{"webhook_url":"https://hooks.slack.com/services/T/B/x"}`, ``},
		{domain.KindSlack, `{"bot_token":"` + secret + `"}`, `{"channel":"#alerts","header":"LOKI","footer":"f","threads":true,"thread_key":"data.batch_id","link_url":"https://l.example.com/{data.document_id}"}`},
		{domain.KindTeams, `{"webhook_url":"https://prod-1.westus.logic.azure.com/workflows/x?sig=y"}`, `{"link_url":"https://l.example.com/{id}","link_title":"Open"}`},
		{domain.KindEmail, `{"smtp_host":"smtp.gmail.com","smtp_port":587,"smtp_username":"u@acme.test","smtp_password":"p"}`, emailConfig},
		{domain.KindEmail, `{"smtp_host":"127.0.0.1"}`, `{"from":"a@acme.test","tls":"none","auth":"login","html_format":false,
			"subject_template":"{{.Title}}","templates":{"compliance.alert":{"html":"<b>{{.Title}}</b>"}},
			"distribution_lists":{"lists":{"x":["x@acme.test"]},"routes":{"severity:critical":["x"],"*":["x"]}}}`},
		{domain.KindZapier, `{"webhook_url":"https://hooks.zapier.com/hooks/catch/1/a/"}`, `{"flatten":false,"select":["event_id"],"rename":{"event_id":"id"},"batch_size":100,"batch_interval_seconds":30}`},
	}
	for _, tt := range valid {
		t.Run("Valid"+string(tt.kind), func(t *testing.T) {
			t.Parallel()
			require.NoError(t, connectors.ValidateIntegration(tt.kind, json.RawMessage(tt.creds), json.RawMessage(tt.confg)))
		})
	}

	invalid := []struct {
		name         string
		kind         domain.DestinationKind
		creds, confg string
		want         []domain.FieldError
	}{
		{
			name: "UnknownKind", kind: "pager", want: []domain.FieldError{{Field: "integration_type", Message: "must be one of slack, teams, email, zapier"}},
		},
		{
			name: "WebhookIsNotAnIntegration", kind: domain.KindWebhook, want: []domain.FieldError{{Field: "integration_type", Message: "must be one of slack, teams, email, zapier"}},
		},
		{
			name: "NotJSON", kind: domain.KindTeams, creds: `{"webhook_url":`, confg: `[]`,
			want: []domain.FieldError{{Field: "credentials", Message: "must be a JSON object"}, {Field: "config", Message: "must be object"}},
		},
		{
			name: "SlackTokenMalformed", kind: domain.KindSlack, creds: `{"bot_token":"` + secret + ` x","extra":1}`, confg: `{"channel":"C1","threads":"yes"}`,
			want: []domain.FieldError{
				{Field: "credentials.bot_token", Message: "has an invalid format"},
				{Field: "credentials.extra", Message: "is not allowed"},
				{Field: "config.threads", Message: "must be boolean"},
			},
		},
		{
			name: "SlackBotWithoutChannel", kind: domain.KindSlack, creds: `{"bot_token":"` + secret + `"}`,
			want: []domain.FieldError{{Field: "config.channel", Message: "is required with credentials bot_token"}},
		},
		{
			name: "SlackBoth", kind: domain.KindSlack, creds: `{"bot_token":"` + secret + `","webhook_url":"https://h.example.com/x"}`,
			want: []domain.FieldError{{Field: "credentials", Message: "needs only one of webhook_url and bot_token"}},
		},
		{
			name: "SlackNone", kind: domain.KindSlack, creds: `{}`,
			want: []domain.FieldError{{Field: "credentials", Message: "needs webhook_url or bot_token"}},
		},
		{
			name: "SlackWebhookWithChannel", kind: domain.KindSlack, creds: `{"webhook_url":"https://h.example.com/x"}`, confg: `{"channel":"C1","link_url":"https://x.example.com/{data.id"}`,
			want: []domain.FieldError{
				{Field: "config.channel", Message: "is not allowed with credentials webhook_url (Slack fixes the webhook's channel)"},
				{Field: "config.link_url", Message: "has unbalanced or empty {placeholders}"},
			},
		},
		{
			name: "TeamsMissingURL", kind: domain.KindTeams, creds: `{}`, confg: `{"link_url":"ftp://x"}`,
			want: []domain.FieldError{
				{Field: "credentials.webhook_url", Message: "is required"},
				{Field: "config.link_url", Message: "has an invalid format"},
			},
		},
		{
			name: "EmailSchema", kind: domain.KindEmail, creds: `{"smtp_host":"smtp.acme.test","smtp_port":70000,"smtp_username":"u"}`,
			confg: `{"default_recipients":["not-an-email"],"tls":"ssl","templates":{"Bad Type":{"text":"x"}}}`,
			want: []domain.FieldError{
				{Field: "credentials.smtp_password", Message: "is required with smtp_username"},
				{Field: "credentials.smtp_port", Message: "must be at most 65535"},
				{Field: "config.default_recipients.0", Message: "must be a valid email"},
				{Field: "config.from", Message: "is required"},
				{Field: "config.templates.Bad Type", Message: "is not allowed"},
				{Field: "config.tls", Message: `must be one of "starttls", "implicit", "none"`},
			},
		},
		{
			name: "EmailRules", kind: domain.KindEmail, creds: `{"smtp_host":"smtp.acme.test"}`,
			confg: `{"from":"a@acme.test","templates":{"order.paid":{"html":"{{.Title}}"}},
				"distribution_lists":{"lists":{"a":["a@acme.test"]},"routes":{"compliance.alert":["a","b"],"made.up":["a"]}}}`,
			want: []domain.FieldError{
				{Field: "config.distribution_lists.routes.compliance.alert", Message: `names list "b", which is not in distribution_lists.lists`},
				{Field: "config.distribution_lists.routes.made.up", Message: "is not a known event type"},
				{Field: "config.templates.order.paid", Message: "is not a known event type"},
			},
		},
		{
			name: "ZapierLimits", kind: domain.KindZapier, creds: `{"webhook_url":"not a url"}`, confg: `{"batch_size":101,"batch_interval_seconds":0,"select":["a","a"]}`,
			want: []domain.FieldError{
				{Field: "credentials.webhook_url", Message: "must be a valid uri"},
				{Field: "config.batch_interval_seconds", Message: "must be at least 1"},
				{Field: "config.batch_size", Message: "must be at most 100"},
				{Field: "config.select", Message: "must not repeat an item"},
			},
		},
		{
			name: "ZapierRenameClash", kind: domain.KindZapier, creds: `{"webhook_url":"https://h.example.com/x"}`, confg: `{"rename":{"a":"x","b":"x"}}`,
			want: []domain.FieldError{{Field: "config.rename.b", Message: `renames to "x" like a`}},
		},
	}
	for _, tt := range invalid {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := connectors.ValidateIntegration(tt.kind, json.RawMessage(tt.creds), json.RawMessage(tt.confg))

			require.ErrorIs(t, err, domain.ErrInvalid)
			var ve *domain.ValidationError
			require.ErrorAs(t, err, &ve)
			require.Equal(t, tt.want, ve.Fields)
			require.NotContains(t, err.Error(), "sup3rs3cr3t", "credentials are never echoed")
		})
	}

	t.Run("TemplatesThatDoNotParse", func(t *testing.T) {
		t.Parallel()
		err := connectors.ValidateIntegration(domain.KindEmail, json.RawMessage(`{"smtp_host":"h.acme.test"}`),
			json.RawMessage(`{"from":"a@acme.test","subject_template":"{{.Title","templates":{"compliance.alert":{"html":"{{if}}","text":"ok"}}}`))

		var ve *domain.ValidationError
		require.ErrorAs(t, err, &ve)
		require.Len(t, ve.Fields, 2)
		require.Equal(t, "config.subject_template", ve.Fields[0].Field)
		require.True(t, strings.HasPrefix(ve.Fields[0].Message, "is not a valid template: "))
		require.Equal(t, "config.templates.compliance.alert.html", ve.Fields[1].Field)
	})
}
