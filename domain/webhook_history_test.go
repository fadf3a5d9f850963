package domain_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/loki-interceptor/lokihooks/domain"
)

func TestWebhookHistory(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	spec := domain.DefaultWebhookSpec()
	spec.Name, spec.URL, spec.EventTypes = "h", "https://user:pw@example.com/in?token=abc", []string{"*"}
	spec.Metadata = map[string]any{"team": "ops", "settings": map[string]any{"client_secret": "s3", "region": "eu"}}
	changed := spec
	changed.URL, changed.MaxRetries, changed.EventTypes = "https://example.com/v2", 9, []string{"system.error"}
	changed.Metadata = map[string]any{"team": "billing"}
	var recs []domain.Recorded
	for i, e := range []domain.Event{
		domain.WebhookCreated{ID: "wh_h", Spec: spec, Secret: "whsec_never-shown", At: at},
		domain.WebhookUpdated{Spec: changed, At: at.Add(time.Minute)},
		domain.WebhookDeactivated{Reason: "receiver answered 410 Gone", At: at.Add(2 * time.Minute)},
		domain.WebhookDeleted{At: at.Add(3 * time.Minute)},
	} {
		data, err := json.Marshal(e)
		require.NoError(t, err)
		meta := map[string]string{domain.MetadataActor: "api_key:0123456789ab"}
		if i == 2 {
			meta = map[string]string{domain.MetadataActor: domain.ActorSystemRelay}
		}
		recs = append(recs, domain.Recorded{StreamID: "wh_h", Version: int64(i + 1), Type: e.EventType(), Data: data, Metadata: meta})
	}
	h, err := domain.WebhookHistory(recs)
	require.NoError(t, err)
	require.Len(t, h, 4)

	created := map[string]any{}
	for _, c := range h[0].Changes {
		require.Nil(t, c.Old)
		created[c.Field] = c.New
	}
	require.Equal(t, "https://user:REDACTED@example.com/in?token=REDACTED", created["url"])
	require.Equal(t, map[string]any{"client_secret": domain.Redacted, "region": "eu"}, created["metadata.settings"])
	require.NotContains(t, created, "secret")

	require.Equal(t, []domain.FieldChange{
		{Field: "url", Old: "https://user:REDACTED@example.com/in?token=REDACTED", New: "https://example.com/v2"},
		{Field: "event_types", Old: []string{"*"}, New: []string{"system.error"}},
		{Field: "max_retries", Old: 5, New: 9},
		{Field: "metadata.settings", Old: map[string]any{"client_secret": domain.Redacted, "region": "eu"}, New: nil},
		{Field: "metadata.team", Old: "ops", New: "billing"},
	}, h[1].Changes)
	require.Equal(t, domain.HistoryDeactivated, h[2].Kind)
	require.Equal(t, "receiver answered 410 Gone", h[2].Reason)
	require.Equal(t, domain.ActorSystemRelay, h[2].Actor)
	require.Equal(t, domain.HistoryDeleted, h[3].Kind)
	require.Equal(t, at.Add(3*time.Minute), h[3].At)
}
