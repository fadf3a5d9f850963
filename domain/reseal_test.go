package domain_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/loki-interceptor/lokihooks/domain"
)

// TestResealed: a re-encryption event replaces exactly the sealed values
// it carries, and nothing else.
func TestResealed(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

	t.Run("Webhook", func(t *testing.T) {
		t.Parallel()
		spec := domain.DefaultWebhookSpec()
		spec.CustomHeaders = map[string]string{"Authorization": "old-h", "X-Plain": "p"}
		w := &domain.Webhook{}
		w.Apply(domain.WebhookCreated{ID: "wh_1", Spec: spec, Secret: "old-1", At: at}, 1)
		w.Apply(domain.WebhookSecretRotated{Secret: "old-2", PreviousExpiresAt: at.Add(time.Hour), At: at}, 2)
		before := *w
		w.Apply(domain.WebhookSecretsResealed{
			Secret: "new-2", PreviousSecrets: []string{"new-1"}, CustomHeaders: map[string]string{"Authorization": "new-h", "Gone": "x"},
			At: at.Add(time.Minute),
		}, 3)
		require.Equal(t, "new-2", w.Secret)
		require.Equal(t, []domain.PreviousSecret{{Secret: "new-1", ExpiresAt: at.Add(time.Hour)}}, w.PreviousSecrets)
		require.Equal(t, map[string]string{"Authorization": "new-h", "X-Plain": "p"}, w.Spec.CustomHeaders)
		require.Equal(t, "old-1", before.PreviousSecrets[0].Secret, "the state before is not changed in place")
		require.Equal(t, "old-h", before.Spec.CustomHeaders["Authorization"], "the state before is not changed in place")
		require.Equal(t, at, w.UpdatedAt, "re-encryption is not a change of the configuration")
		require.Equal(t, int64(3), w.Version)
	})

	t.Run("Integration", func(t *testing.T) {
		t.Parallel()
		i := &domain.Integration{}
		i.Apply(domain.IntegrationCreated{ID: "int_1", Credentials: "old", At: at}, 1)
		i.Apply(domain.IntegrationCredentialsResealed{Credentials: "new", At: at.Add(time.Minute)}, 2)
		require.Equal(t, "new", i.Credentials)
		require.Equal(t, at, i.UpdatedAt)
	})
}
