package projections

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/loki-interceptor/lokihooks/domain"
)

// Integrations is the integrations read model. Like Webhooks it runs
// inline: the event store calls Project inside every append transaction to
// an integration stream, so an integration is readable as soon as its
// command returns, and names stay unique among integrations that are not
// deleted (a clash is a *FieldConflictError). Credentials are stored as the
// events carry them (sealed).
type Integrations struct{}

const (
	integrationColumns = `id, name, integration_type, source, credentials, config, event_types, status,
		status_reason, retry_strategy, max_retries, retry_delay_seconds, max_delay_seconds, backoff_multiplier,
		jitter_enabled, timeout_seconds, rate_limit_per_minute, rate_limit_per_hour, created_at, updated_at, version`
	// lastAttempt derives last_triggered_at from the attempts read model
	// (delivery_attempts_destination_time_idx), so the deliveries
	// projection needs to know nothing of integrations.
	lastAttempt = `(SELECT max(a.attempted_at) FROM delivery_attempts a WHERE a.destination_id = i.id)`

	selectIntegrations     = `SELECT ` + integrationColumns + `, ` + lastAttempt + ` FROM integrations i`
	selectIntegration      = selectIntegrations + ` WHERE id = $1`
	selectIntegrationName  = selectIntegrations + ` WHERE name = $1 AND status <> 'deleted'`
	selectIntegrationToFix = `SELECT ` + integrationColumns + `, NULL::timestamptz FROM integrations WHERE id = $1 FOR UPDATE`
	upsertIntegration      = `INSERT INTO integrations (` + integrationColumns + `)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21)
		ON CONFLICT (id) DO UPDATE SET
			name = excluded.name, integration_type = excluded.integration_type, source = excluded.source,
			credentials = excluded.credentials, config = excluded.config, event_types = excluded.event_types,
			status = excluded.status, status_reason = excluded.status_reason,
			retry_strategy = excluded.retry_strategy, max_retries = excluded.max_retries,
			retry_delay_seconds = excluded.retry_delay_seconds, max_delay_seconds = excluded.max_delay_seconds,
			backoff_multiplier = excluded.backoff_multiplier, jitter_enabled = excluded.jitter_enabled,
			timeout_seconds = excluded.timeout_seconds, rate_limit_per_minute = excluded.rate_limit_per_minute,
			rate_limit_per_hour = excluded.rate_limit_per_hour, created_at = excluded.created_at,
			updated_at = excluded.updated_at, version = excluded.version`
	// The listing pages by id, which sorts by creation time; $4 is the
	// cursor ('' on the first page).
	listIntegrationsFilter = selectIntegrations + `
		WHERE ($1 = '' AND status <> 'deleted' OR status = $1)
		  AND ($2 = '' OR integration_type = $2)
		  AND ($3 = '' OR $3 = ANY(event_types) OR '*' = ANY(event_types))`
	listIntegrationsAsc  = listIntegrationsFilter + ` AND id > $4 ORDER BY id LIMIT $5`
	listIntegrationsDesc = listIntegrationsFilter + ` AND ($4 = '' OR id < $4) ORDER BY id DESC LIMIT $5`
)

// Project implements the event store's inline projector.
func (Integrations) Project(ctx context.Context, tx pgx.Tx, events []domain.Recorded) error {
	for _, r := range events {
		if !strings.HasPrefix(r.Type, "integration.") {
			continue
		}
		if err := applyIntegration(ctx, tx, r); err != nil {
			return err
		}
	}
	return nil
}

// applyIntegration folds one event into its row, skipping events the row
// has already seen. A savepoint keeps a uniqueness violation from aborting
// the caller's transaction, so it can be reported as domain.ErrConflict.
func applyIntegration(ctx context.Context, tx pgx.Tx, r domain.Recorded) error {
	e, err := domain.DecodeEvent(r.Type, r.Data)
	if err != nil {
		return fmt.Errorf("project integration %s: %w", r.StreamID, err)
	}
	i, err := scanIntegration(tx.QueryRow(ctx, selectIntegrationToFix, r.StreamID))
	switch {
	case errors.Is(err, domain.ErrNotFound):
		i = &domain.Integration{}
	case err != nil:
		return fmt.Errorf("project integration %s: %w", r.StreamID, err)
	case r.Version <= i.Version:
		return nil
	}
	i.Apply(e, r.Version)
	return pgx.BeginFunc(ctx, tx, func(sp pgx.Tx) error {
		_, err := sp.Exec(ctx, upsertIntegration, integrationArgs(i)...)
		return integrationUniqueError(err, i)
	})
}

func integrationUniqueError(err error, i *domain.Integration) error {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "23505" {
		if err != nil {
			return fmt.Errorf("upsert integration %s: %w", i.ID, err)
		}
		return nil
	}
	if pgErr.ConstraintName == "integrations_name_key" {
		return &FieldConflictError{Field: "name", Value: i.Spec.Name, Of: "integration"}
	}
	return fmt.Errorf("upsert integration %s: %w", i.ID, domain.ErrConflict)
}

func integrationArgs(i *domain.Integration) []any {
	types := i.Spec.EventTypes
	if types == nil {
		types = []string{}
	}
	config := i.Spec.Config
	if len(config) == 0 {
		config = json.RawMessage(`{}`)
	}
	return []any{
		string(i.ID), i.Spec.Name, string(i.Spec.Kind), string(i.Source), i.Credentials, string(config), types,
		string(i.Status), i.StatusReason, string(i.Spec.RetryStrategy), i.Spec.MaxRetries, i.Spec.RetryDelaySeconds,
		i.Spec.MaxDelaySeconds, i.Spec.BackoffMultiplier, i.Spec.JitterEnabled, i.Spec.TimeoutSeconds,
		i.Spec.RateLimitPerMinute, i.Spec.RateLimitPerHour, i.CreatedAt, i.UpdatedAt, i.Version,
	}
}

func scanIntegration(row pgx.Row) (*domain.Integration, error) {
	var i domain.Integration
	var id, kind, source, status, strategy, config string
	err := row.Scan(&id, &i.Spec.Name, &kind, &source, &i.Credentials, &config, &i.Spec.EventTypes, &status,
		&i.StatusReason, &strategy, &i.Spec.MaxRetries, &i.Spec.RetryDelaySeconds, &i.Spec.MaxDelaySeconds,
		&i.Spec.BackoffMultiplier, &i.Spec.JitterEnabled, &i.Spec.TimeoutSeconds, &i.Spec.RateLimitPerMinute,
		&i.Spec.RateLimitPerHour, &i.CreatedAt, &i.UpdatedAt, &i.Version, &i.LastTriggeredAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, domain.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	i.ID, i.Spec.Kind, i.Source = domain.IntegrationID(id), domain.DestinationKind(kind), domain.IntegrationSource(source)
	i.Status, i.Spec.RetryStrategy = domain.WebhookStatus(status), domain.RetryStrategy(strategy)
	i.Spec.Config = json.RawMessage(config)
	i.CreatedAt, i.UpdatedAt = i.CreatedAt.UTC(), i.UpdatedAt.UTC()
	i.LastTriggeredAt = utcPtr(i.LastTriggeredAt)
	return &i, nil
}

// IntegrationAnyStatus returns an integration whatever its status, deleted
// ones included (the delivery worker must see a deletion to cancel), with
// its credentials as stored (sealed when a secrets key is configured).
func IntegrationAnyStatus(ctx context.Context, db DB, id domain.IntegrationID) (*domain.Integration, error) {
	i, err := scanIntegration(db.QueryRow(ctx, selectIntegration, string(id)))
	if errors.Is(err, domain.ErrNotFound) {
		return nil, fmt.Errorf("integration %s: %w", id, domain.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get integration %s: %w", id, err)
	}
	return i, nil
}

// GetIntegrationByName returns the integration that is not deleted and
// has this name, or an error matching domain.ErrNotFound. Its credentials
// are as stored.
func GetIntegrationByName(ctx context.Context, db DB, name string) (*domain.Integration, error) {
	i, err := scanIntegration(db.QueryRow(ctx, selectIntegrationName, name))
	if errors.Is(err, domain.ErrNotFound) {
		return nil, fmt.Errorf("integration %q: %w", name, domain.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get integration %q: %w", name, err)
	}
	return i, nil
}

// ListIntegrations returns one page of integrations, newest first (or
// oldest first when f.Ascending) by id, which sorts by creation time.
// Credentials are as stored.
func ListIntegrations(ctx context.Context, db DB, f domain.IntegrationFilter) ([]domain.Integration, error) {
	q := listIntegrationsDesc
	if f.Ascending {
		q = listIntegrationsAsc
	}
	rows, err := db.Query(ctx, q, string(f.Status), string(f.Kind), f.EventType, string(f.After), f.Limit)
	if err != nil {
		return nil, fmt.Errorf("list integrations: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (domain.Integration, error) {
		i, err := scanIntegration(row)
		if err != nil {
			return domain.Integration{}, err
		}
		return *i, nil
	})
	if err != nil {
		return nil, fmt.Errorf("list integrations: %w", err)
	}
	return out, nil
}

// integrationHealth reads, per integration of a page, its latest success,
// its latest failure and its attempts since $1, each walking
// delivery_attempts_destination_time_idx backwards from the newest attempt.
// A "failure" is an attempt after which the delivery was not delivered.
const integrationHealth = `SELECT i.id, i.name, i.integration_type, i.status, i.status_reason,
		s.at, f.at, coalesce(f.status_code, 0), coalesce(f.error_category, ''), coalesce(f.error_detail, ''),
		coalesce(w.total, 0), coalesce(w.failed, 0)
	FROM integrations i
	LEFT JOIN LATERAL (SELECT a.attempted_at AS at FROM delivery_attempts a
		WHERE a.destination_id = i.id AND a.status = 'delivered'
		ORDER BY a.attempted_at DESC LIMIT 1) s ON true
	LEFT JOIN LATERAL (SELECT a.attempted_at AS at, a.status_code, a.error_category, a.error_detail
		FROM delivery_attempts a
		WHERE a.destination_id = i.id AND a.status <> 'delivered'
		ORDER BY a.attempted_at DESC LIMIT 1) f ON true
	LEFT JOIN LATERAL (SELECT count(*) AS total, count(*) FILTER (WHERE a.status <> 'delivered') AS failed
		FROM delivery_attempts a
		WHERE a.destination_id = i.id AND a.attempted_at >= $1) w ON true
	WHERE i.status <> 'deleted' AND i.name > $2
	ORDER BY i.name
	LIMIT $3`

// IntegrationHealth returns how each integration that is not deleted has
// been doing: its latest success and failure, and its attempts and
// failures since since. It pages by name: after is the last name of the
// previous page ("" for the first), limit the page size.
func IntegrationHealth(ctx context.Context, db DB, since time.Time, after string, limit int) ([]domain.IntegrationHealth, error) {
	rows, err := db.Query(ctx, integrationHealth, since, after, limit)
	if err != nil {
		return nil, fmt.Errorf("integration health: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (domain.IntegrationHealth, error) {
		var h domain.IntegrationHealth
		err := row.Scan(&h.ID, &h.Name, &h.Kind, &h.Status, &h.StatusReason, &h.LastSuccessAt, &h.LastFailureAt,
			&h.LastFailureStatusCode, &h.LastFailureCategory, &h.LastFailureReason, &h.AttemptsInWindow, &h.FailuresInWindow)
		h.LastSuccessAt, h.LastFailureAt = utcPtr(h.LastSuccessAt), utcPtr(h.LastFailureAt)
		return h, err
	})
	if err != nil {
		return nil, fmt.Errorf("integration health: %w", err)
	}
	return out, nil
}

// RebuildIntegrations throws the integrations read model away and rebuilds
// it from the integration streams, in one transaction, and returns the
// number of events read. It works like RebuildWebhooks: an exclusive lock
// on integrations for as long as reading their (few, small) streams takes;
// each stream is folded to its final state before it is written, so names
// stay unique at every step.
func RebuildIntegrations(ctx context.Context, tx pgx.Tx, read StreamReadFunc) (int, error) {
	if _, err := tx.Exec(ctx, `LOCK TABLE integrations IN ACCESS EXCLUSIVE MODE`); err != nil {
		return 0, fmt.Errorf("lock integrations: %w", err)
	}
	if _, err := tx.Exec(ctx, `TRUNCATE integrations`); err != nil {
		return 0, fmt.Errorf("reset integrations: %w", err)
	}
	return foldStreams(ctx, tx, read, domain.IntegrationStreamType, func(stream []domain.Recorded) error {
		i, err := domain.ReplayIntegration(stream)
		if err != nil || !i.Exists() {
			return err
		}
		_, err = tx.Exec(ctx, upsertIntegration, integrationArgs(i)...)
		return integrationUniqueError(err, i)
	})
}
