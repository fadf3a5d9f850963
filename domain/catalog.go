package domain

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
)

// Event types a LOKI service may publish. The strings are stored with every
// event and subscription, so they never change.
const (
	EventTypeBatchCompleted      = "batch.completed"
	EventTypeComplianceAlert     = "compliance.alert"
	EventTypeCorrectionApplied   = "correction.applied"
	EventTypeDocumentProcessed   = "document.processed"
	EventTypeReportGenerated     = "report.generated"
	EventTypeSystemError         = "system.error"
	EventTypeValidationCompleted = "validation.completed"
	EventTypeValidationFailed    = "validation.failed"
	EventTypeWebhookTest         = "webhook.test"
)

// EventTypeWildcard subscribes a webhook to every event type, including types
// added to the catalog later.
const EventTypeWildcard = "*"

// EventTypeInfo describes one catalog event type.
type EventTypeInfo struct {
	// Name is the stable event type, such as "validation.completed".
	Name string `json:"name"`
	// Description says when the event is published.
	Description string `json:"description"`
	// Schema is a JSON Schema (draft 2020-12) for the event's data object.
	Schema json.RawMessage `json:"schema"`
	// Example is a data object that satisfies Schema.
	Example json.RawMessage `json:"example"`
}

// Catalog returns every event type, sorted by name. Each call returns a fresh
// copy, so callers may modify the result.
func Catalog() []EventTypeInfo {
	es := catalogEntries()
	out := make([]EventTypeInfo, len(es))
	for i, e := range es {
		out[i] = e.info()
	}
	return out
}

// LookupEventType returns the catalog entry for name. An unknown name yields
// an error wrapping ErrUnknownEventType.
func LookupEventType(name string) (EventTypeInfo, error) {
	e, ok := findCatalogEntry(name)
	if !ok {
		return EventTypeInfo{}, unknownEventType(name)
	}
	return e.info(), nil
}

// IsKnownEventType reports whether name is in the catalog. The wildcard is
// not an event type.
func IsKnownEventType(name string) bool {
	_, ok := findCatalogEntry(name)
	return ok
}

// EventTypeNames returns the catalog's event type names, sorted. Each call
// returns a fresh slice.
func EventTypeNames() []string {
	es := catalogEntries()
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.name
	}
	return out
}

// ValidateEventTypeFilter checks a webhook's subscription list: it must be
// non-empty, and each entry must be a catalog name or EventTypeWildcard,
// listed once. The wildcard may sit beside explicit names; it already covers
// them. Every problem is reported in one *ValidationError (matching
// ErrInvalid) whose field is "event_types"; the result is nil when the list
// is valid.
func ValidateEventTypeFilter(types []string) error {
	const field = "event_types"
	ve := &ValidationError{}
	if len(types) == 0 {
		ve.add(field, "must list at least one event type or %q", EventTypeWildcard)
		return ve
	}
	seen := make(map[string]int, len(types))
	for i, t := range types {
		switch first, dup := seen[t]; {
		case t == "":
			ve.add(field, "entry %d is empty", i)
		case t != EventTypeWildcard && !IsKnownEventType(t):
			ve.add(field, "entry %d (%q) is not a known event type", i, t)
		case dup:
			ve.add(field, "entry %d (%q) repeats entry %d", i, t, first)
		default:
			seen[t] = i
		}
	}
	return ve.err()
}

// ValidateEventData checks data against the JSON Schema (draft 2020-12) of
// eventType, the same schema that Catalog publishes, so the API, the CLI and
// any standard validator agree. Keys a schema does not declare are allowed,
// since producers may add fields. "format" is an annotation, as draft 2020-12
// defines it by default, not an assertion.
//
// An unknown eventType yields an error wrapping ErrUnknownEventType. Invalid
// data yields a *ValidationError (matching ErrInvalid) listing every problem:
// a body that is not JSON, or not an object, is one problem on field "data";
// otherwise each problem names its value as "data.<key>" (nested values as
// "data.<key>.<index or key>…") and carries its RFC 6901 JSON pointer in
// FieldError.Pointer. Missing required keys come first, then the rest in
// pointer order; messages never echo data values. ValidateEventData panics
// only if an embedded catalog schema is corrupt, which the package tests rule
// out. It is safe for concurrent use.
func ValidateEventData(eventType string, data json.RawMessage) error {
	sch, ok := compiledSchemas()[eventType]
	if !ok {
		return unknownEventType(eventType)
	}
	ve := &ValidationError{}
	if !json.Valid(data) {
		ve.add("data", "must be valid JSON")
		return ve
	}
	// Numbers stay json.Number, so integers beyond 2^53 are judged exactly.
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		ve.add("data", "must be valid JSON")
		return ve
	}
	if _, isObject := v.(map[string]any); !isObject {
		ve.add("data", "must be a JSON object, got %s", jsonTypeName(v))
		return ve
	}
	err = sch.Validate(v)
	var se *jsonschema.ValidationError
	switch {
	case err == nil:
		return nil
	case !errors.As(err, &se):
		// Validate returns *ValidationError for every instance that
		// UnmarshalJSON produces; anything else is a library defect.
		ve.add("data", "could not be checked against the schema")
		return ve
	}
	var vs []violation
	collectViolations(se, &vs)
	slices.SortStableFunc(vs, func(a, b violation) int {
		if a.required != b.required {
			if a.required {
				return -1
			}
			return 1
		}
		return slices.Compare(a.location, b.location)
	})
	for _, x := range vs {
		ve.Fields = append(ve.Fields, FieldError{
			Field: fieldName(x.location), Message: x.message, Pointer: jsonPointer(x.location),
		})
	}
	if len(ve.Fields) == 0 { // a failure without a located cause
		ve.add("data", "does not match the schema of %s", eventType)
	}
	return ve
}

func unknownEventType(name string) error {
	return fmt.Errorf("event type %q: %w (GET /api/v1/event-types lists the catalog)", name, ErrUnknownEventType)
}

// violation is one schema problem at an instance location.
type violation struct {
	location []string
	message  string
	required bool
}

// collectViolations flattens the library's error tree into the problems a
// caller can act on. Containers (the whole schema, a group of keyword
// failures, a $ref) are replaced by their causes; a failed anyOf, oneOf or
// not is reported as itself, since listing every branch's failures would
// mislead.
func collectViolations(e *jsonschema.ValidationError, out *[]violation) {
	switch k := e.ErrorKind.(type) {
	case *kind.Required:
		for _, m := range k.Missing {
			*out = append(*out, violation{location: childLocation(e.InstanceLocation, m), message: "is required", required: true})
		}
		return
	case *kind.DependentRequired:
		for _, m := range k.Missing {
			*out = append(*out, violation{
				location: childLocation(e.InstanceLocation, m),
				message:  fmt.Sprintf("is required when %q is present", k.Prop), required: true,
			})
		}
		return
	case *kind.AdditionalProperties:
		for _, p := range k.Properties {
			*out = append(*out, violation{location: childLocation(e.InstanceLocation, p), message: "is not allowed"})
		}
		return
	case *kind.AnyOf, *kind.OneOf, *kind.Not:
	default:
		if len(e.Causes) > 0 {
			for _, c := range e.Causes {
				collectViolations(c, out)
			}
			return
		}
	}
	*out = append(*out, violation{location: e.InstanceLocation, message: violationMessage(e.ErrorKind)})
}

func childLocation(parent []string, key string) []string {
	return append(slices.Clip(parent), key)
}

// violationMessage describes a failed keyword without echoing the value
// that failed it: data may hold personal information, and the message ends
// up in logs and API responses.
func violationMessage(k jsonschema.ErrorKind) string {
	switch k := k.(type) {
	case *kind.Type:
		return fmt.Sprintf("must be %s, got %s", strings.Join(k.Want, " or "), k.Got)
	case *kind.Enum:
		return "must be one of " + formatSchemaValues(k.Want)
	case *kind.Const:
		return "must be " + formatSchemaValues([]any{k.Want})
	case *kind.Minimum:
		return "must be at least " + k.Want.FloatString(ratPrecision(k.Want))
	case *kind.Maximum:
		return "must be at most " + k.Want.FloatString(ratPrecision(k.Want))
	case *kind.ExclusiveMinimum:
		return "must be greater than " + k.Want.FloatString(ratPrecision(k.Want))
	case *kind.ExclusiveMaximum:
		return "must be less than " + k.Want.FloatString(ratPrecision(k.Want))
	case *kind.MultipleOf:
		return "must be a multiple of " + k.Want.FloatString(ratPrecision(k.Want))
	case *kind.MinLength:
		return fmt.Sprintf("must be at least %d characters long", k.Want)
	case *kind.MaxLength:
		return fmt.Sprintf("must be at most %d characters long", k.Want)
	case *kind.Pattern:
		return fmt.Sprintf("must match the pattern %s", k.Want)
	case *kind.Format:
		return "must be a valid " + k.Want
	case *kind.MinItems:
		return fmt.Sprintf("must have at least %d items", k.Want)
	case *kind.MaxItems:
		return fmt.Sprintf("must have at most %d items", k.Want)
	case *kind.UniqueItems:
		return fmt.Sprintf("must not repeat items (items %d and %d are equal)", k.Duplicates[0], k.Duplicates[1])
	case *kind.MinProperties:
		return fmt.Sprintf("must have at least %d properties", k.Want)
	case *kind.MaxProperties:
		return fmt.Sprintf("must have at most %d properties", k.Want)
	case *kind.FalseSchema:
		return "is not allowed"
	case *kind.AnyOf:
		return "must match at least one of the schema's alternatives (anyOf)"
	case *kind.OneOf:
		return "must match exactly one of the schema's alternatives (oneOf)"
	case *kind.Not:
		return "must not match the schema's \"not\" subschema"
	default:
		return fmt.Sprintf("does not satisfy the schema keyword %q", strings.Join(k.KeywordPath(), "/"))
	}
}

// ratPrecision is the number of decimals that shows r exactly when it has a
// short decimal expansion (limits in schemas do), and at most 6 otherwise.
func ratPrecision(r *big.Rat) int {
	for prec := 0; prec < 6; prec++ {
		s := r.FloatString(prec)
		if back, ok := new(big.Rat).SetString(s); ok && back.Cmp(r) == 0 {
			return prec
		}
	}
	return 6
}

// formatSchemaValues lists values taken from a schema (never from data) as
// JSON.
func formatSchemaValues(vs []any) string {
	parts := make([]string, len(vs))
	for i, v := range vs {
		b, err := json.Marshal(v)
		if err != nil {
			b = []byte(fmt.Sprint(v))
		}
		parts[i] = string(b)
	}
	return strings.Join(parts, ", ")
}

// jsonTypeName names the JSON type of a value decoded by
// jsonschema.UnmarshalJSON.
func jsonTypeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case json.Number:
		return "number"
	case string:
		return "string"
	case []any:
		return "array"
	default:
		return "object"
	}
}

// fieldName is the ValidationError field of an instance location inside
// data: "data" followed by each token, dot-separated.
func fieldName(location []string) string {
	return strings.Join(append([]string{"data"}, location...), ".")
}

// jsonPointer is the RFC 6901 pointer of an instance location.
func jsonPointer(location []string) string {
	var b strings.Builder
	for _, tok := range location {
		b.WriteByte('/')
		b.WriteString(strings.ReplaceAll(strings.ReplaceAll(tok, "~", "~0"), "/", "~1"))
	}
	return b.String()
}

// catalogEntry is one event type. Its schema and example live in
// schemas/<name>.schema.json and schemas/<name>.example.json.
type catalogEntry struct {
	name, description string
}

//go:embed schemas/*.json
var schemaFiles embed.FS

// readSchemaFile returns a fresh copy of an embedded catalog file. The files
// are part of the binary and checked by the package tests, so a missing one
// is an impossible state.
func readSchemaFile(name string) []byte {
	b, err := schemaFiles.ReadFile("schemas/" + name)
	if err != nil {
		panic(fmt.Sprintf("domain: catalog file %s is missing: %v", name, err))
	}
	return bytes.TrimRight(b, "\n")
}

func (e catalogEntry) info() EventTypeInfo {
	return EventTypeInfo{
		Name:        e.name,
		Description: e.description,
		Schema:      readSchemaFile(e.name + ".schema.json"),
		Example:     readSchemaFile(e.name + ".example.json"),
	}
}

// schemaURLPrefix names the catalog schemas inside the compiler. It is not
// fetched: the compiler loads nothing but the embedded files and the
// library's own copies of the draft 2020-12 meta-schemas.
const schemaURLPrefix = "urn:lokihooks:schema:"

// compiledSchemas compiles every catalog schema once per process. It is a
// cache of constant data, not mutable state: the result depends only on the
// embedded files.
var compiledSchemas = sync.OnceValue(func() map[string]*jsonschema.Schema {
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.UseLoader(noRemoteLoader{})
	out := make(map[string]*jsonschema.Schema)
	for _, e := range catalogEntries() {
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(readSchemaFile(e.name + ".schema.json")))
		if err == nil {
			err = c.AddResource(schemaURLPrefix+e.name, doc)
		}
		var sch *jsonschema.Schema
		if err == nil {
			sch, err = c.Compile(schemaURLPrefix + e.name)
		}
		if err != nil {
			panic(fmt.Sprintf("domain: schema of event type %s is corrupt: %v", e.name, err))
		}
		out[e.name] = sch
	}
	return out
})

// noRemoteLoader refuses every $ref outside the catalog: schemas are
// compiled from embedded files only, never from the network or disk.
type noRemoteLoader struct{}

func (noRemoteLoader) Load(url string) (any, error) {
	return nil, fmt.Errorf("loading %s: catalog schemas may only reference each other", url)
}

func findCatalogEntry(name string) (catalogEntry, bool) {
	for _, e := range catalogEntries() {
		if e.name == name {
			return e, true
		}
	}
	return catalogEntry{}, false
}

// catalogEntries lists the catalog sorted by name (a test enforces the order).
// Descriptions are also seeded into the event_types table by a migration;
// change both together. Every schema in schemas/ allows additional
// properties: producers may add fields, and receivers must ignore the ones
// they do not know.
func catalogEntries() []catalogEntry {
	return []catalogEntry{
		{EventTypeBatchCompleted, "Batch processing finished."},
		{EventTypeComplianceAlert, "Compliance violations were detected."},
		{EventTypeCorrectionApplied, "Corrections were applied to a document."},
		{EventTypeDocumentProcessed, "Full processing of a document is complete."},
		{EventTypeReportGenerated, "A report was created."},
		{EventTypeSystemError, "A system error occurred."},
		{EventTypeValidationCompleted, "Document validation finished, whether it passed, failed or raised warnings."},
		{EventTypeValidationFailed, "Validation could not complete because of an error."},
		{EventTypeWebhookTest, "Test event sent on request to check that an endpoint receives deliveries."},
	}
}
