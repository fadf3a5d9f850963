package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/loki-interceptor/lokihooks/domain"
	"github.com/loki-interceptor/lokihooks/eventstore"
	"github.com/loki-interceptor/lokihooks/internal/secretbox"
	"github.com/loki-interceptor/lokihooks/projections"
)

// rotationPage is how many destinations RotateSecretsKey lists at once;
// each is re-sealed in its own short transaction.
const rotationPage = 500

// RotationResult counts what RotateSecretsKey did.
type RotationResult struct {
	// Checked is how many webhooks and integrations were looked at.
	Checked int
	// Webhooks and Integrations are how many had values re-sealed.
	Webhooks, Integrations int
}

// RotateSecretsKey seals again, under the current key of cfg.Secrets,
// every value at rest that a previous key sealed (or that is still plain
// text): the signing secrets of every webhook and the credentials of
// every integration, deleted ones included. Each destination whose values
// change gets a re-encryption event on its own stream, in a transaction
// of its own, and the read models follow; its replay then yields only
// values sealed under the current key, so the previous keys can be
// removed once every process runs with the current one. Running it again
// re-seals nothing. A destination that no configured key opens is
// reported in the error after every other one was done.
//
// events must project webhook and integration streams inline.
func RotateSecretsKey(ctx context.Context, pool *pgxpool.Pool, events *eventstore.Store, cfg Config) (RotationResult, error) {
	var res RotationResult
	if cfg.Secrets == nil {
		return res, errors.New("rotate secrets key: no secrets key configured")
	}
	var failed []error
	after := ""
	for {
		ids, err := projections.DestinationIDs(ctx, pool, after, rotationPage)
		if err != nil {
			return res, err
		}
		for _, id := range ids {
			res.Checked++
			changed, err := resealDestination(ctx, events, cfg, id)
			switch {
			case err != nil:
				failed = append(failed, err)
			case changed && domain.KindOf(id) == domain.KindWebhook:
				res.Webhooks++
			case changed:
				res.Integrations++
			}
		}
		if len(ids) < rotationPage {
			break
		}
		after = string(ids[len(ids)-1])
	}
	if len(failed) > 0 {
		return res, fmt.Errorf("%d destinations not re-sealed: %w", len(failed), errors.Join(failed...))
	}
	return res, nil
}

// resealDestination re-seals one destination's values, deciding again if
// a command changed it meanwhile. It reports whether anything changed.
func resealDestination(ctx context.Context, events *eventstore.Store, cfg Config, id domain.DestinationID) (bool, error) {
	streamType, decide := domain.IntegrationStreamType, resealIntegration
	if domain.KindOf(id) == domain.KindWebhook {
		streamType, decide = domain.WebhookStreamType, resealWebhook
	}
	for attempt := 1; ; attempt++ {
		res, err := events.Execute(ctx, eventstore.ExecuteParams{
			StreamID: string(id), StreamType: streamType, ExpectedVersion: domain.ExpectAny,
			Decide: func(history []domain.Recorded) ([]domain.Event, error) { return decide(cfg, history) },
		})
		if err == nil {
			return len(res.Events) > 0, nil
		}
		if !errors.Is(err, domain.ErrVersionConflict) || attempt == maxCommandAttempts {
			return false, fmt.Errorf("re-seal %s: %w", id, err)
		}
	}
}

// resealer re-seals values under the current key and remembers whether
// any changed and the first error.
type resealer struct {
	box     *secretbox.Box
	changed bool
	err     error
}

func (r *resealer) reseal(v string) string {
	out, changed, err := r.box.Reseal(v)
	if err != nil {
		r.err = errors.Join(r.err, err)
		return v
	}
	r.changed = r.changed || changed
	return out
}

// resealWebhook decides a webhook's re-encryption event. Every value the
// application seals at rest (sealEvents) must be listed here, so that no
// value keeps needing a previous key: the signing secret, the rotated
// secrets and the custom header values.
func resealWebhook(cfg Config, history []domain.Recorded) ([]domain.Event, error) {
	w, err := domain.ReplayWebhook(history)
	if err != nil || !w.Exists() {
		return nil, err
	}
	r := &resealer{box: cfg.Secrets}
	e := domain.WebhookSecretsResealed{Secret: r.reseal(w.Secret), At: cfg.now()}
	for _, p := range w.PreviousSecrets {
		e.PreviousSecrets = append(e.PreviousSecrets, r.reseal(p.Secret))
	}
	if len(w.Spec.CustomHeaders) > 0 { // every value is sealed (sealHeaders)
		e.CustomHeaders = make(map[string]string, len(w.Spec.CustomHeaders))
		for name, v := range w.Spec.CustomHeaders {
			e.CustomHeaders[name] = r.reseal(v)
		}
	}
	if r.err != nil {
		return nil, fmt.Errorf("webhook %s: %w", w.ID, r.err)
	}
	if !r.changed {
		return nil, nil
	}
	return []domain.Event{e}, nil
}

// resealIntegration decides an integration's re-encryption event (its
// credentials are its one sealed value; see sealIntegrationEvents).
func resealIntegration(cfg Config, history []domain.Recorded) ([]domain.Event, error) {
	i, err := domain.ReplayIntegration(history)
	if err != nil || !i.Exists() {
		return nil, err
	}
	r := &resealer{box: cfg.Secrets}
	e := domain.IntegrationCredentialsResealed{Credentials: r.reseal(i.Credentials), At: cfg.now()}
	if r.err != nil {
		return nil, fmt.Errorf("integration %s: %w", i.ID, r.err)
	}
	if !r.changed {
		return nil, nil
	}
	return []domain.Event{e}, nil
}
