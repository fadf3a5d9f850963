package domain

// DestinationKind names what receives a delivery and so which connector
// renders and sends it. A webhook and the four integrations are all
// destinations: they share the fan-out, the jobs, the retry policy, rate
// limits, dead letters and analytics (DESIGN §3.10).
type DestinationKind string

// Destination kinds. The strings are stored in events and read models.
const (
	KindWebhook DestinationKind = "webhook"
	KindSlack   DestinationKind = "slack"
	KindTeams   DestinationKind = "teams"
	KindEmail   DestinationKind = "email"
	KindZapier  DestinationKind = "zapier"
)

// IntegrationKinds lists the integration kinds (every kind but webhook), in
// the order the marketplace shows them.
func IntegrationKinds() []DestinationKind {
	return []DestinationKind{KindSlack, KindTeams, KindEmail, KindZapier}
}

// IsIntegration reports whether k is one of the integration kinds.
func (k DestinationKind) IsIntegration() bool {
	switch k {
	case KindSlack, KindTeams, KindEmail, KindZapier:
		return true
	}
	return false
}

// DestinationID identifies a webhook (wh_…) or an integration (int_…).
type DestinationID string

// IntegrationIDPrefix starts every integration id.
const IntegrationIDPrefix = "int_"
