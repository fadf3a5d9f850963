package connectors

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"

	"github.com/loki-interceptor/lokihooks/domain"
)

// kinds lists every integration kind, in marketplace order. Adding a
// connector is its file (with its kindSpec), its two schema files in
// schemas/, and one entry here.
var kinds = []kindSpec{slackKind, teamsKind, emailKind, zapierKind}

// schemaFiles holds schemas/<kind>.credentials.json and
// schemas/<kind>.config.json for every kind.
//
//go:embed schemas/*.json
var schemaFiles embed.FS

// KindInfo describes an integration kind for the marketplace and the API.
type KindInfo struct {
	Kind        domain.DestinationKind `json:"kind"`
	Title       string                 `json:"title"`
	Description string                 `json:"description"`
	Features    []string               `json:"features"`
	// CredentialsSchema and ConfigSchema are JSON Schema (draft 2020-12)
	// documents for the integration's credentials and config.
	CredentialsSchema json.RawMessage `json:"credentials_schema"`
	ConfigSchema      json.RawMessage `json:"config_schema"`
	Defaults          KindDefaults    `json:"defaults"`
}

// KindDefaults are the delivery settings an integration of a kind starts
// with. Retry settings are the webhook defaults (domain.DefaultWebhookSpec)
// for every kind.
type KindDefaults struct {
	// RateLimitPerMinute is how many messages a destination of this kind
	// takes per minute (Slack allows about one per second).
	RateLimitPerMinute int `json:"rate_limit_per_minute"`
	// TimeoutSeconds bounds each attempt.
	TimeoutSeconds int `json:"timeout_seconds"`
	// BatchSize is config batch_size's default (1: no batching); 0 for
	// kinds that do not batch.
	BatchSize int `json:"batch_size,omitempty"`
	// BatchIntervalSeconds is config batch_interval_seconds's default.
	BatchIntervalSeconds int `json:"batch_interval_seconds,omitempty"`
}

// kindSpec is one kind's entry in the registry.
type kindSpec struct {
	kind        domain.DestinationKind
	title       string
	description string
	features    []string
	defaults    KindDefaults
	// check finds problems the schemas cannot express (fields that depend
	// on each other, templates that must parse); it runs only on input
	// the schemas accepted. Nil when there is nothing to check.
	check func(credentials, config json.RawMessage) []domain.FieldError
}

// Kinds returns every integration kind with its schemas and defaults, in
// marketplace order. Each call returns fresh values the caller may modify.
func Kinds() []KindInfo {
	out := make([]KindInfo, len(kinds))
	for i, k := range kinds {
		out[i] = KindInfo{
			Kind: k.kind, Title: k.title, Description: k.description,
			Features:          slices.Clone(k.features),
			CredentialsSchema: mustSchemaFile(k.kind, "credentials"),
			ConfigSchema:      mustSchemaFile(k.kind, "config"),
			Defaults:          k.defaults,
		}
	}
	return out
}

// LookupKind returns the KindInfo of kind, and false when it is not an
// integration kind.
func LookupKind(k domain.DestinationKind) (KindInfo, bool) {
	for _, info := range Kinds() {
		if info.Kind == k {
			return info, true
		}
	}
	return KindInfo{}, false
}

// ValidateIntegration checks an integration's credentials and config (JSON
// objects; nil or empty means {}) against its kind's schemas, then the
// rules the schemas cannot express. It returns nil when both are valid,
// and otherwise a *domain.ValidationError (matching domain.ErrInvalid)
// listing every problem, with fields "credentials.<path>" and
// "config.<path>"; an unknown kind is a problem of field
// "integration_type". Messages never repeat submitted values, so a
// credential is never echoed. Safe for concurrent use.
func ValidateIntegration(k domain.DestinationKind, credentials, config json.RawMessage) error {
	spec, ok := findKind(k)
	if !ok {
		names := make([]string, len(kinds))
		for i, s := range kinds {
			names[i] = string(s.kind)
		}
		return &domain.ValidationError{Fields: []domain.FieldError{{
			Field: "integration_type", Message: "must be one of " + strings.Join(names, ", "),
		}}}
	}
	schemas := compiledSchemas()[k]
	var fields []domain.FieldError
	fields = append(fields, validateDocument(schemas.credentials, "credentials", credentials)...)
	fields = append(fields, validateDocument(schemas.config, "config", config)...)
	if len(fields) == 0 && spec.check != nil {
		fields = spec.check(orEmpty(credentials), orEmpty(config))
	}
	if len(fields) == 0 {
		return nil
	}
	return &domain.ValidationError{Fields: fields}
}

func findKind(k domain.DestinationKind) (kindSpec, bool) {
	for _, s := range kinds {
		if s.kind == k {
			return s, true
		}
	}
	return kindSpec{}, false
}

func orEmpty(raw json.RawMessage) json.RawMessage {
	if len(bytes.TrimSpace(raw)) == 0 {
		return json.RawMessage("{}")
	}
	return raw
}

func mustSchemaFile(k domain.DestinationKind, part string) json.RawMessage {
	b, err := schemaFiles.ReadFile("schemas/" + string(k) + "." + part + ".json")
	if err != nil {
		panic(fmt.Sprintf("connectors: embedded %s schema of %s is missing: %v", part, k, err))
	}
	return b
}

// kindSchemas are one kind's compiled schemas.
type kindSchemas struct {
	credentials, config *jsonschema.Schema
}

// compiledSchemas compiles every embedded schema once. The schemas ship
// with the binary and a test compiles them, so a failure is an impossible
// state.
var compiledSchemas = sync.OnceValue(func() map[domain.DestinationKind]kindSchemas {
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	c.UseLoader(noRemoteLoader{})
	out := make(map[domain.DestinationKind]kindSchemas, len(kinds))
	for _, k := range kinds {
		var ks kindSchemas
		for _, part := range []string{"credentials", "config"} {
			doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(mustSchemaFile(k.kind, part)))
			if err != nil {
				panic(fmt.Sprintf("connectors: %s schema of %s is not JSON: %v", part, k.kind, err))
			}
			loc := "mem:///" + string(k.kind) + "." + part + ".json"
			if err := c.AddResource(loc, doc); err != nil {
				panic(fmt.Sprintf("connectors: %s schema of %s: %v", part, k.kind, err))
			}
			s, err := c.Compile(loc)
			if err != nil {
				panic(fmt.Sprintf("connectors: %s schema of %s does not compile: %v", part, k.kind, err))
			}
			if part == "credentials" {
				ks.credentials = s
			} else {
				ks.config = s
			}
		}
		out[k.kind] = ks
	}
	return out
})

// noRemoteLoader refuses every $ref outside the embedded schemas: nothing
// is read from the network or the file system.
type noRemoteLoader struct{}

func (noRemoteLoader) Load(url string) (any, error) {
	return nil, fmt.Errorf("schema %s is not embedded: %w", url, errors.ErrUnsupported)
}

// validateDocument validates raw against s and names each problem under
// prefix.
func validateDocument(s *jsonschema.Schema, prefix string, raw json.RawMessage) []domain.FieldError {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(orEmpty(raw)))
	if err != nil {
		return []domain.FieldError{{Field: prefix, Message: "must be a JSON object"}}
	}
	err = s.Validate(doc)
	if err == nil {
		return nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return []domain.FieldError{{Field: prefix, Message: "is invalid"}}
	}
	var out []domain.FieldError
	collectFieldErrors(ve, prefix, &out)
	slices.SortStableFunc(out, func(a, b domain.FieldError) int { return strings.Compare(a.Field, b.Field) })
	return slices.CompactFunc(out, func(a, b domain.FieldError) bool { return a == b })
}

// collectFieldErrors turns the leaves of a validation error tree into field
// errors whose messages hold no submitted value.
//
// The schemas use patternProperties, never propertyNames: jsonschema v6.0.3
// records a propertyNames error with a location slice it goes on
// overwriting, so the error's field would be wrong.
func collectFieldErrors(ve *jsonschema.ValidationError, prefix string, out *[]domain.FieldError) {
	if len(ve.Causes) > 0 {
		for _, c := range ve.Causes {
			collectFieldErrors(c, prefix, out)
		}
		return
	}
	field := strings.Join(append([]string{prefix}, ve.InstanceLocation...), ".")
	add := func(f, msg string) { *out = append(*out, domain.FieldError{Field: f, Message: msg}) }
	switch k := ve.ErrorKind.(type) {
	case *kind.Required:
		for _, m := range k.Missing {
			add(field+"."+m, "is required")
		}
	case *kind.DependentRequired:
		for _, m := range k.Missing {
			add(field+"."+m, "is required with "+k.Prop)
		}
	case *kind.AdditionalProperties:
		for _, p := range k.Properties {
			add(field+"."+p, "is not allowed")
		}
	default:
		add(field, schemaMessage(ve.ErrorKind))
	}
}

// schemaMessage explains a failed keyword in words taken from the schema,
// never from the submitted value.
func schemaMessage(k jsonschema.ErrorKind) string {
	switch k := k.(type) {
	case *kind.Type:
		return "must be " + strings.Join(k.Want, " or ")
	case *kind.Enum:
		want := make([]string, len(k.Want))
		for i, w := range k.Want {
			want[i] = fmt.Sprintf("%q", fmt.Sprint(w))
		}
		return "must be one of " + strings.Join(want, ", ")
	case *kind.Const:
		return "has a value that is not allowed"
	case *kind.Format:
		return "must be a valid " + k.Want
	case *kind.Pattern:
		return "has an invalid format"
	case *kind.MinLength:
		return fmt.Sprintf("must be at least %d characters long", k.Want)
	case *kind.MaxLength:
		return fmt.Sprintf("must be at most %d characters long", k.Want)
	case *kind.Minimum:
		return "must be at least " + k.Want.RatString()
	case *kind.Maximum:
		return "must be at most " + k.Want.RatString()
	case *kind.MinItems:
		return fmt.Sprintf("must have at least %d items", k.Want)
	case *kind.MaxItems:
		return fmt.Sprintf("must have at most %d items", k.Want)
	case *kind.UniqueItems:
		return "must not repeat an item"
	case *kind.MinProperties:
		return fmt.Sprintf("must have at least %d properties", k.Want)
	case *kind.MaxProperties:
		return fmt.Sprintf("must have at most %d properties", k.Want)
	case *kind.FalseSchema:
		return "is not allowed"
	}
	return "is invalid"
}
