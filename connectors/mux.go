package connectors

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/loki-interceptor/lokihooks/domain"
)

// Sender makes one delivery attempt. *Webhook, *Slack, *Teams, *Email,
// *Zapier and *Mux implement it; the Mux is its consumer.
type Sender interface {
	Send(ctx context.Context, req domain.AttemptRequest) domain.AttemptResult
}

// ErrUnsupportedKind reports an attempt for a destination kind the Mux has
// no connector for.
var ErrUnsupportedKind = errors.New("no connector for this destination kind")

// Mux sends each attempt through the connector of its destination kind. It
// is safe for concurrent use when its senders are.
type Mux struct {
	senders map[domain.DestinationKind]Sender
}

// NewMux returns a Sender that dispatches on domain.AttemptRequest.Kind (an
// empty Kind is domain.KindWebhook) to the sender registered for it, e.g.
//
//	connectors.NewMux(map[domain.DestinationKind]connectors.Sender{
//		domain.KindWebhook: webhook, domain.KindSlack: slack, domain.KindTeams: teams,
//		domain.KindEmail: email, domain.KindZapier: zapier,
//	})
//
// The map is copied; nil senders are ignored.
func NewMux(senders map[domain.DestinationKind]Sender) *Mux {
	m := &Mux{senders: maps.Clone(senders)}
	maps.DeleteFunc(m.senders, func(_ domain.DestinationKind, s Sender) bool { return s == nil })
	return m
}

// Send hands req to the sender of req.Kind. A kind with no sender is a
// Permanent failure whose Err matches ErrUnsupportedKind; nothing is sent.
func (m *Mux) Send(ctx context.Context, req domain.AttemptRequest) domain.AttemptResult {
	k := req.Kind
	if k == "" {
		k = domain.KindWebhook
	}
	s, ok := m.senders[k]
	if !ok {
		return domain.AttemptResult{
			Category:  domain.ErrorCategoryNetwork,
			Detail:    domain.NetworkDetailOther + ": no connector for destination kind " + fmt.Sprintf("%q", k),
			Permanent: true,
			Err:       fmt.Errorf("send delivery %s: %w: %q", req.DeliveryID, ErrUnsupportedKind, k),
		}
	}
	return s.Send(ctx, req)
}

// SampleMessage is the data.message of a Sample event.
const SampleMessage = "Test event from lokihooks"

// Sample returns an attempt that carries a webhook.test event, the same
// envelope POST /webhooks/{id}/test sends: {"id","type":"webhook.test",
// "timestamp","data":{"message","sent_at"}}, with a fresh event id and
// delivery id taken at now. It is what POST /integrations/{name}/test
// sends: the caller sets DestinationID, Config and Credentials (Secrets,
// URL and Headers for a webhook) and Timeout, then calls a Sender.
func Sample(k domain.DestinationKind, now time.Time) domain.AttemptRequest {
	now = now.UTC()
	id := domain.NewID(domain.EventIDPrefix, now)
	ts := now.Format(time.RFC3339Nano)
	body, err := json.Marshal(map[string]any{
		"id": id, "type": domain.EventTypeWebhookTest, "timestamp": ts,
		"data": map[string]any{"message": SampleMessage, "sent_at": ts},
	})
	if err != nil {
		panic(fmt.Sprintf("connectors: sample envelope: %v", err)) // maps of strings always encode
	}
	return domain.AttemptRequest{
		Kind: k, EventID: id, EventType: domain.EventTypeWebhookTest,
		DeliveryID: domain.NewID(domain.DeliveryIDPrefix, now), Attempt: 1, Body: body, Now: now,
	}
}
