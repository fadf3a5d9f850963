package domain

import (
	"fmt"
	"maps"
	"slices"
	"time"
)

// Stored type names of the re-encryption events (lokihooks
// rotate-secrets-key). They sit on the destination's own stream because
// they change what its replay yields: after one, every sealed value of
// the aggregate is the one the event carries, sealed under the new key,
// so the key that sealed the earlier events can be dropped.
const (
	TypeWebhookSecretsResealed         = "webhook.secrets_resealed.v1"
	TypeIntegrationCredentialsResealed = "integration.credentials_resealed.v1"
)

// WebhookSecretsResealed records a webhook's sealed values sealed again
// under the current secrets key. Nothing else changed: each field holds
// the same secret as before, in a new envelope.
type WebhookSecretsResealed struct {
	// Secret is the current signing secret.
	Secret string `json:"secret"`
	// PreviousSecrets are the rotated secrets, in the order the webhook
	// holds them.
	PreviousSecrets []string `json:"previous_secrets,omitempty"`
	// CustomHeaders are the values of custom headers that are sealed at
	// rest, by name; headers it does not name keep their value.
	CustomHeaders map[string]string `json:"custom_headers,omitempty"`
	At            time.Time         `json:"at"`
}

// IntegrationCredentialsResealed records an integration's credentials
// sealed again under the current secrets key.
type IntegrationCredentialsResealed struct {
	Credentials string    `json:"credentials"`
	At          time.Time `json:"at"`
}

// EventType implements Event.
func (WebhookSecretsResealed) EventType() string { return TypeWebhookSecretsResealed }

// EventType implements Event.
func (IntegrationCredentialsResealed) EventType() string { return TypeIntegrationCredentialsResealed }

// applyResealed replaces the webhook's sealed values with those of e.
func (w *Webhook) applyResealed(e WebhookSecretsResealed) {
	w.Secret = e.Secret
	prev := slices.Clone(w.PreviousSecrets)
	for i := range prev {
		if i < len(e.PreviousSecrets) {
			prev[i].Secret = e.PreviousSecrets[i]
		}
	}
	w.PreviousSecrets = prev
	if len(e.CustomHeaders) > 0 {
		headers := maps.Clone(w.Spec.CustomHeaders)
		for name, value := range e.CustomHeaders {
			if _, ok := headers[name]; ok {
				headers[name] = value
			}
		}
		w.Spec.CustomHeaders = headers
	}
}

// decodeResealEvent decodes the re-encryption events; any other type is
// ErrUnknownEventType.
func decodeResealEvent(typ string, data []byte) (Event, error) {
	var e Event
	var err error
	switch typ {
	case TypeWebhookSecretsResealed:
		e, err = decode[WebhookSecretsResealed](data)
	case TypeIntegrationCredentialsResealed:
		e, err = decode[IntegrationCredentialsResealed](data)
	default:
		return decodeRetentionEvent(typ, data)
	}
	if err != nil {
		return nil, fmt.Errorf("decode %s: %w", typ, err)
	}
	return e, nil
}
