package connectors

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/loki-interceptor/lokihooks/domain"
)

// Zapier limits.
const (
	// MaxZapierBatch is the most events one Zapier request may carry (config
	// batch_size is at most this).
	MaxZapierBatch = 100
	// zapierSeparator joins the keys of nested data fields.
	zapierSeparator = "_"
	// zapierCollisionPrefix makes a data field that clashes with another
	// key unique.
	zapierCollisionPrefix = "data_"
)

// ZapierConfig configures NewZapier.
type ZapierConfig struct {
	HTTPConfig
}

func (c ZapierConfig) withDefaults() ZapierConfig {
	c.HTTPConfig = c.HTTPConfig.withDefaults()
	return c
}

// Zapier posts events to a Zapier catch hook (credential webhook_url) as
// flat JSON, which Zapier's editor shows as one field per key:
//
//   - event_id, event_type and occurred_at (the envelope's id, type and
//     timestamp) come first;
//   - then the data fields in key order. A nested object's fields are
//     joined to their parent's key with "_" (results.validation_status
//     becomes results_validation_status); a list of scalars becomes one
//     string joined with ", "; a list of objects is numbered from 1
//     (changes_1_before, changes_2_before). A data key that clashes with a
//     key already written gets the prefix "data_" (data.event_id becomes
//     data_event_id). Numbers are kept exactly as the producer wrote them.
//
// Config transformations, applied in this order: flatten (default true;
// false keeps the data fields at the top level with their values as they
// are), select (keep only these keys, in this order; a selected key the
// event lacks is null, so a Zap's field mapping stays stable), rename
// (old key → new key; a renamed key replaces any key of the same name).
//
// When the request carries a batch (len(req.Batch) > 1, at most
// MaxZapierBatch) the body is a JSON array of such objects, one per event,
// in batch order. A 410 Gone comes back as StatusCode 410, on which the
// relay deactivates the integration; every other failure is retried.
// Zapier is safe for concurrent use.
type Zapier struct {
	client *http.Client
	cfg    ZapierConfig
}

// NewZapier returns the Zapier connector. client should come from
// NewClient; nil means NewClient(ClientConfig{}), the production guard.
func NewZapier(client *http.Client, cfg ZapierConfig) *Zapier {
	if client == nil {
		client = NewClient(ClientConfig{})
	}
	return &Zapier{client: client, cfg: cfg.withDefaults()}
}

// zapierCredentials are the Zapier credentials
// (connectors/schemas/zapier.credentials.json).
type zapierCredentials struct {
	WebhookURL string `json:"webhook_url"`
}

// zapierSettings is the Zapier config (connectors/schemas/zapier.config.json).
// batch_size and batch_interval_seconds are the relay's business.
type zapierSettings struct {
	Flatten *bool             `json:"flatten"`
	Select  []string          `json:"select"`
	Rename  map[string]string `json:"rename"`
}

// Send posts one event, or the batch req.Batch when it holds more than one
// event. It never returns an error: every outcome is a
// domain.AttemptResult, bounded by req.Timeout. Undecodable credentials or
// config, a body that is not an event envelope, or a batch over
// MaxZapierBatch are Permanent failures matching domain.ErrInvalid. No
// credential appears in the result.
func (z *Zapier) Send(ctx context.Context, req domain.AttemptRequest) domain.AttemptResult {
	var (
		creds zapierCredentials
		set   zapierSettings
	)
	if err := decodeSettings(req.Credentials, &creds, "zapier credentials"); err != nil {
		return invalidAttempt("zapier credentials do not match the schema", err)
	}
	if creds.WebhookURL == "" {
		return invalidAttempt("zapier credentials need webhook_url", errUndecodable)
	}
	if err := decodeSettings(req.Config, &set, "zapier config"); err != nil {
		return invalidAttempt("zapier config does not match the schema", err)
	}
	body, err := zapierBody(&req, &set)
	if err != nil {
		return invalidAttempt("zapier payload cannot be built", err)
	}
	h := http.Header{}
	h.Set("Content-Type", contentTypeJSON)
	h.Set("User-Agent", z.cfg.UserAgent)
	if len(req.Batch) <= 1 {
		h.Set(HeaderWebhookID, req.EventID)
		h.Set(HeaderEventType, req.EventType)
	}
	return roundTrip(ctx, z.client, &post{
		url: creds.WebhookURL, header: h, body: body, now: attemptNow(&req),
		timeout:          attemptTimeout(&req, z.cfg.DefaultTimeout),
		maxResponseBytes: z.cfg.MaxResponseBytes,
		what:             "zapier hook for delivery " + req.DeliveryID,
	})
}

// zapierBody is the request body: one flat object, or an array of them for
// a batch.
func zapierBody(req *domain.AttemptRequest, set *zapierSettings) ([]byte, error) {
	if len(req.Batch) <= 1 {
		obj, err := zapierObject(req.Body, set)
		if err != nil {
			return nil, err
		}
		return obj.MarshalJSON()
	}
	if len(req.Batch) > MaxZapierBatch {
		return nil, fmt.Errorf("%w: batch of %d events is over %d", domain.ErrInvalid, len(req.Batch), MaxZapierBatch)
	}
	var b bytes.Buffer
	b.WriteByte('[')
	for i, item := range req.Batch {
		obj, err := zapierObject(item.Body, set)
		if err != nil {
			return nil, fmt.Errorf("batch item %d: %w", i, err)
		}
		if i > 0 {
			b.WriteByte(',')
		}
		enc, err := obj.MarshalJSON()
		if err != nil {
			return nil, err
		}
		b.Write(enc)
	}
	b.WriteByte(']')
	return b.Bytes(), nil
}

// zapierObject renders one envelope with the config's transformations.
func zapierObject(body []byte, set *zapierSettings) (orderedObject, error) {
	env, err := parseEnvelope(body)
	if err != nil {
		return nil, err
	}
	obj := orderedObject{
		{"event_id", env.ID}, {"event_type", env.Type}, {"occurred_at", env.Timestamp},
	}
	flatten := set.Flatten == nil || *set.Flatten
	for _, k := range slices.Sorted(maps.Keys(env.Data)) {
		if flatten {
			obj = flattenInto(obj, k, env.Data[k])
		} else {
			obj = obj.add(k, env.Data[k])
		}
	}
	if len(set.Select) > 0 {
		selected := make(orderedObject, 0, len(set.Select))
		for _, k := range set.Select {
			v, _ := obj.get(k)
			selected = append(selected, kv{k, v})
		}
		obj = selected
	}
	if len(set.Rename) > 0 {
		obj = obj.rename(set.Rename)
	}
	return obj, nil
}

// flattenInto adds v under key, flattening objects and lists (see Zapier).
func flattenInto(obj orderedObject, key string, v any) orderedObject {
	switch v := v.(type) {
	case map[string]any:
		for _, k := range slices.Sorted(maps.Keys(v)) {
			obj = flattenInto(obj, key+zapierSeparator+k, v[k])
		}
		return obj
	case []any:
		if !hasObject(v) {
			parts := make([]string, len(v))
			for i, item := range v {
				parts[i] = formatValue("", item)
			}
			return obj.add(key, strings.Join(parts, ", "))
		}
		for i, item := range v {
			obj = flattenInto(obj, key+zapierSeparator+strconv.Itoa(i+1), item)
		}
		return obj
	default:
		return obj.add(key, v)
	}
}

func hasObject(list []any) bool {
	for _, item := range list {
		switch item.(type) {
		case map[string]any, []any:
			return true
		}
	}
	return false
}

// kv is one key of an orderedObject.
type kv struct {
	key string
	val any
}

// orderedObject is a JSON object that keeps its keys in insertion order.
type orderedObject []kv

// add appends key, prefixing it with zapierCollisionPrefix until it is
// unique.
func (o orderedObject) add(key string, v any) orderedObject {
	for o.has(key) {
		key = zapierCollisionPrefix + key
	}
	return append(o, kv{key, v})
}

func (o orderedObject) has(key string) bool {
	_, ok := o.get(key)
	return ok
}

func (o orderedObject) get(key string) (any, bool) {
	for _, e := range o {
		if e.key == key {
			return e.val, true
		}
	}
	return nil, false
}

// rename renames keys by names; a renamed key replaces an existing key of
// the new name.
func (o orderedObject) rename(names map[string]string) orderedObject {
	targets := make(map[string]bool, len(names))
	for from, to := range names {
		if o.has(from) {
			targets[to] = true
		}
	}
	out := make(orderedObject, 0, len(o))
	for _, e := range o {
		n, renamed := names[e.key]
		switch {
		case renamed:
			e.key = n
			out = slices.DeleteFunc(out, func(x kv) bool { return x.key == n })
		case targets[e.key]:
			continue // replaced by the key renamed to it
		}
		out = append(out, e)
	}
	return out
}

// MarshalJSON writes the keys in order.
func (o orderedObject) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, e := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, err := marshalJSON(e.key)
		if err != nil {
			return nil, err
		}
		v, err := marshalJSON(e.val)
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

var _ json.Marshaler = orderedObject(nil)

// zapierKind registers Zapier.
var zapierKind = kindSpec{
	kind:        domain.KindZapier,
	title:       "Zapier",
	description: "Send events to a Zapier catch hook as flat JSON, one by one or in batches.",
	features:    []string{"workflow automation", "event batching", "custom transformations", "error handling"},
	defaults:    KindDefaults{RateLimitPerMinute: 600, TimeoutSeconds: 15, BatchSize: 1, BatchIntervalSeconds: 60},
	check:       checkZapier,
}

// checkZapier refuses two keys renamed to one name.
func checkZapier(_, config json.RawMessage) []domain.FieldError {
	var set zapierSettings
	if decodeSettings(config, &set, "") != nil {
		return []domain.FieldError{{Field: "config", Message: "does not match the schema"}}
	}
	var out []domain.FieldError
	seen := map[string]string{}
	for _, from := range slices.Sorted(maps.Keys(set.Rename)) {
		to := set.Rename[from]
		if other, dup := seen[to]; dup {
			out = append(out, domain.FieldError{Field: "config.rename." + from, Message: fmt.Sprintf("renames to %q like %s", to, other)})
			continue
		}
		seen[to] = from
	}
	return out
}
