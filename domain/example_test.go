package domain_test

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/loki-interceptor/lokihooks/domain"
)

// exampleStream is an in-memory event stream: what an event store holds for
// one webhook.
type exampleStream struct {
	id      domain.WebhookID
	history []domain.Recorded
}

// append records events after the stream's last version, as an event store
// would, and returns the webhook rebuilt from the whole history.
func (s *exampleStream) append(events []domain.Event) (*domain.Webhook, error) {
	for _, e := range events {
		data, err := json.Marshal(e)
		if err != nil {
			return nil, err
		}
		s.history = append(s.history, domain.Recorded{
			StreamID: string(s.id),
			Version:  int64(len(s.history) + 1),
			Type:     e.EventType(),
			Data:     data,
		})
	}
	return domain.ReplayWebhook(s.history)
}

// Example_webhookLifecycle shows the command flow: a command decides events
// from the current state, the events are appended to the webhook's stream,
// and the next command runs on the webhook replayed from that stream.
func Example_webhookLifecycle() {
	now := time.Date(2025, time.March, 14, 9, 0, 0, 0, time.UTC)
	stream := &exampleStream{id: "wh_01JP2Q7X3M9K4R6T8V0W2Y4Z6A"}

	spec := domain.DefaultWebhookSpec()
	spec.Name = "Orders"
	spec.URL = "https://hooks.example.com/lokihooks"
	spec.EventTypes = []string{domain.EventTypeValidationCompleted}

	// An empty Secret makes CreateWebhook generate one; it is never printed.
	events, err := domain.CreateWebhook(domain.CreateWebhookParams{ID: stream.id, Spec: spec}, domain.ValidationOpts{}, now)
	if err != nil {
		fmt.Println(err)
		return
	}
	w, err := stream.append(events)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%s: %s, version %d\n", events[0].EventType(), w.Status, w.Version)

	steps := []struct {
		name string
		run  func(w *domain.Webhook, now time.Time) ([]domain.Event, error)
	}{
		{"pause", (*domain.Webhook).Pause},
		{"pause again", (*domain.Webhook).Pause},
		{"resume", (*domain.Webhook).Resume},
	}
	for _, step := range steps {
		now = now.Add(time.Hour)
		events, err := step.run(w, now)
		if err != nil {
			fmt.Println(err)
			return
		}
		if w, err = stream.append(events); err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("%s: %d event(s) %v -> %s, version %d\n", step.name, len(events), eventTypes(events), w.Status, w.Version)
	}
	fmt.Println("selects validation.completed:", w.Selects(domain.EventTypeValidationCompleted))
	fmt.Println("last change:", w.UpdatedAt.Format(time.RFC3339))

	// Output:
	// webhook.created.v1: active, version 1
	// pause: 1 event(s) [webhook.paused.v1] -> paused, version 2
	// pause again: 0 event(s) [] -> paused, version 2
	// resume: 1 event(s) [webhook.resumed.v1] -> active, version 3
	// selects validation.completed: true
	// last change: 2025-03-14T12:00:00Z
}

func eventTypes(events []domain.Event) []string {
	out := make([]string, len(events))
	for i, e := range events {
		out[i] = e.EventType()
	}
	return out
}
