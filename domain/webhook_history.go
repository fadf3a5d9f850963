package domain

import (
	"fmt"
	"maps"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"time"
)

// Redacted replaces a value the audit history never shows.
const Redacted = "[redacted]"

// History entry kinds, one per webhook event type.
const (
	HistoryCreated       = "created"
	HistoryUpdated       = "updated"
	HistoryPaused        = "paused"
	HistoryResumed       = "resumed"
	HistorySecretRotated = "secret_rotated"
	HistoryDeactivated   = "deactivated"
	HistoryDeleted       = "deleted"
)

// FieldChange is one configuration field a change set or altered. Old is
// nil for a field set at creation or added; New is nil for one removed.
type FieldChange struct {
	// Field is the API's field name; custom headers and metadata keys are
	// "custom_headers.<name>" and "metadata.<key>".
	Field string
	Old   any
	New   any
}

// HistoryEntry is one change of a webhook's configuration or status, read
// from its stream.
type HistoryEntry struct {
	// Version is the stream version of the change (1 = created).
	Version int64
	Kind    string
	At      time.Time
	// Actor names who made the change (MetadataActor); "" when the event
	// does not say (it was recorded before actors were).
	Actor string
	// Changes lists the fields set (created) or changed (updated), in field
	// order. Secrets never appear; custom header values and the
	// credential-like parts of URLs and metadata are Redacted.
	Changes []FieldChange
	// Reason says why the webhook was deactivated.
	Reason string
	// PreviousSecretExpiresAt is when the replaced secret stops signing
	// (secret_rotated).
	PreviousSecretExpiresAt *time.Time
}

// WebhookHistory turns a webhook stream, in version order, into its audit
// history, oldest first.
func WebhookHistory(history []Recorded) ([]HistoryEntry, error) {
	out := make([]HistoryEntry, 0, len(history))
	var spec WebhookSpec
	for _, r := range history {
		e, err := DecodeEvent(r.Type, r.Data)
		if err != nil {
			return nil, fmt.Errorf("history of webhook %s at version %d: %w", r.StreamID, r.Version, err)
		}
		h := HistoryEntry{Version: r.Version, Actor: r.Metadata[MetadataActor], At: r.RecordedAt}
		switch e := e.(type) {
		case WebhookCreated:
			h.Kind, h.At, h.Changes = HistoryCreated, e.At, SpecChanges(WebhookSpec{}, e.Spec)
			spec = e.Spec
		case WebhookUpdated:
			h.Kind, h.At, h.Changes = HistoryUpdated, e.At, SpecChanges(spec, e.Spec)
			spec = e.Spec
		case WebhookPaused:
			h.Kind, h.At = HistoryPaused, e.At
		case WebhookResumed:
			h.Kind, h.At = HistoryResumed, e.At
		case WebhookDeactivated:
			h.Kind, h.At, h.Reason = HistoryDeactivated, e.At, e.Reason
		case WebhookDeleted:
			h.Kind, h.At = HistoryDeleted, e.At
		case WebhookSecretRotated:
			expires := e.PreviousExpiresAt
			h.Kind, h.At, h.PreviousSecretExpiresAt = HistorySecretRotated, e.At, &expires
		default:
			continue
		}
		out = append(out, h)
	}
	return out, nil
}

// SpecChanges lists the fields whose values differ between two specs, with
// credential-like values redacted (see HistoryEntry.Changes). Against the
// zero spec it lists every field that is set.
func SpecChanges(old, new WebhookSpec) []FieldChange {
	var out []FieldChange
	add := func(field string, o, n any, zero bool) {
		if !reflect.DeepEqual(o, n) {
			if zero {
				o = nil
			}
			out = append(out, FieldChange{Field: field, Old: o, New: n})
		}
	}
	first := old.Name == "" && old.URL == "" // the zero spec: creation
	add("name", old.Name, new.Name, first)
	add("url", redactURL(old.URL), redactURL(new.URL), first)
	add("event_types", slices.Clone(old.EventTypes), slices.Clone(new.EventTypes), first)
	add("retry_strategy", string(old.RetryStrategy), string(new.RetryStrategy), first)
	add("max_retries", old.MaxRetries, new.MaxRetries, first)
	add("retry_delay_seconds", old.RetryDelaySeconds, new.RetryDelaySeconds, first)
	add("max_delay_seconds", old.MaxDelaySeconds, new.MaxDelaySeconds, first)
	add("backoff_multiplier", old.BackoffMultiplier, new.BackoffMultiplier, first)
	add("jitter_enabled", old.JitterEnabled, new.JitterEnabled, first)
	add("timeout_seconds", old.TimeoutSeconds, new.TimeoutSeconds, first)
	add("rate_limit_per_minute", old.RateLimitPerMinute, new.RateLimitPerMinute, first)
	add("rate_limit_per_hour", old.RateLimitPerHour, new.RateLimitPerHour, first)
	out = append(out, mapChanges("custom_headers", old.CustomHeaders, new.CustomHeaders, func(string, string) any { return Redacted })...)
	out = append(out, mapChanges("metadata", old.Metadata, new.Metadata, redactMetadata)...)
	return out
}

// mapChanges diffs two maps key by key, in key order, showing values
// through show.
func mapChanges[V any](field string, old, new map[string]V, show func(key string, v V) any) []FieldChange {
	var out []FieldChange
	keys := slices.Sorted(maps.Keys(old))
	for k := range new {
		if _, ok := old[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		o, inOld := old[k]
		n, inNew := new[k]
		c := FieldChange{Field: field + "." + k}
		switch {
		case inOld && inNew && reflect.DeepEqual(o, n):
			continue
		case inOld && inNew && reflect.DeepEqual(show(k, o), show(k, n)):
			// Redacted values differ: say so without showing them.
			c.Old, c.New = Redacted+" (old)", Redacted+" (new)"
		default:
			if inOld {
				c.Old = show(k, o)
			}
			if inNew {
				c.New = show(k, n)
			}
		}
		out = append(out, c)
	}
	return out
}

// credentialWords mark a metadata key or URL query parameter whose value
// the history hides.
var credentialWords = []string{"secret", "token", "password", "passwd", "key", "auth", "credential", "signature", "cookie", "session"}

func looksSecret(name string) bool {
	n := strings.ToLower(name)
	for _, w := range credentialWords {
		if strings.Contains(n, w) {
			return true
		}
	}
	return false
}

// redactMetadata hides the values of credential-like metadata keys, and of
// nested objects' credential-like keys.
func redactMetadata(key string, v any) any {
	if looksSecret(key) {
		return Redacted
	}
	m, ok := v.(map[string]any)
	if !ok {
		return v
	}
	out := make(map[string]any, len(m))
	for k, x := range m {
		out[k] = redactMetadata(k, x)
	}
	return out
}

// redactURL hides a URL's password and the values of its query parameters
// (a token in the query string is common).
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || s == "" {
		return s
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "REDACTED")
	}
	if u.RawQuery != "" {
		q := u.Query()
		for k := range q {
			q[k] = []string{"REDACTED"}
		}
		u.RawQuery = q.Encode()
	}
	return u.String()
}
