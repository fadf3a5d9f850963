package domain

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
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

// ValidateEventData checks data against the schema of eventType. It is a
// deliberately small structural check, not a JSON Schema implementation. It
// verifies that:
//
//   - data is valid JSON whose top-level value is an object (field "data");
//   - every key in the schema's "required" list is present (field
//     "data.<key>"), whatever its value, null included;
//   - every present top-level key that the schema's "properties" declares
//     has the declared JSON "type" (string, number, integer, boolean, array,
//     object or null, or a list of these), where integer means a number with
//     no fractional part, and, if the property has an "enum", equals one of
//     its scalar members.
//
// It ignores everything else: nested values (array items, sub-objects),
// format, minimum/maximum, lengths and patterns. Keys the schema does not
// declare are allowed, since producers may add fields.
//
// An unknown eventType yields an error wrapping ErrUnknownEventType. Invalid
// data yields a *ValidationError (matching ErrInvalid) listing every problem,
// required keys first, then the rest in key order; messages never echo data
// values. ValidateEventData panics only if a catalog schema is corrupt, which
// the package tests rule out.
func ValidateEventData(eventType string, data json.RawMessage) error {
	e, ok := findCatalogEntry(eventType)
	if !ok {
		return unknownEventType(eventType)
	}
	s := e.parseSchema()

	ve := &ValidationError{}
	if !json.Valid(data) {
		ve.add("data", "must be valid JSON")
		return ve
	}
	var obj map[string]any
	if err := json.Unmarshal(data, &obj); err != nil || obj == nil {
		// Valid JSON that does not decode into a map is some other type.
		ve.add("data", "must be a JSON object")
		return ve
	}
	for _, key := range s.Required {
		if _, ok := obj[key]; !ok {
			ve.add("data."+key, "is required")
		}
	}
	for _, key := range slices.Sorted(maps.Keys(obj)) {
		if p, ok := s.Properties[key]; ok {
			p.check(ve, "data."+key, obj[key])
		}
	}
	return ve.err()
}

func unknownEventType(name string) error {
	return fmt.Errorf("event type %q: %w", name, ErrUnknownEventType)
}

// dataSchema is the part of a catalog schema that ValidateEventData enforces.
type dataSchema struct {
	Required   []string                  `json:"required"`
	Properties map[string]propertySchema `json:"properties"`
}

// propertySchema is the part of a top-level property schema that
// ValidateEventData enforces.
type propertySchema struct {
	Type schemaTypes `json:"type"`
	Enum []any       `json:"enum"`
}

// check records on ve every way v breaks p.
func (p propertySchema) check(ve *ValidationError, field string, v any) {
	if len(p.Type) > 0 && !p.Type.match(v) {
		ve.add(field, "must be %s, got %s", p.Type, jsonTypeOf(v))
		return
	}
	if len(p.Enum) > 0 && !enumContains(p.Enum, v) {
		ve.add(field, "must be one of %s", formatEnum(p.Enum))
	}
}

// schemaTypes holds a JSON Schema "type", which is one name or a list.
type schemaTypes []string

// UnmarshalJSON accepts "string" as well as ["string", "null"].
func (t *schemaTypes) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*t = schemaTypes{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return fmt.Errorf("schema type must be a string or a list of strings: %w", err)
	}
	*t = many
	return nil
}

func (t schemaTypes) match(v any) bool {
	for _, name := range t {
		if name == "integer" {
			if f, ok := v.(float64); ok && f == math.Trunc(f) && !math.IsInf(f, 0) {
				return true
			}
			continue
		}
		if name == jsonTypeOf(v) {
			return true
		}
	}
	return false
}

func (t schemaTypes) String() string {
	if len(t) == 1 {
		return t[0]
	}
	return "one of " + strings.Join(t, ", ")
}

// jsonTypeOf names the JSON type of a value decoded by encoding/json into any.
func jsonTypeOf(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case float64:
		return "number"
	case string:
		return "string"
	case []any:
		return "array"
	default: // map[string]any
		return "object"
	}
}

// enumContains reports whether v equals a scalar member of enum. Array and
// object members never match; == on them would panic.
func enumContains(enum []any, v any) bool {
	for _, m := range enum {
		switch m.(type) {
		case nil, bool, float64, string:
			if m == v {
				return true
			}
		}
	}
	return false
}

func formatEnum(enum []any) string {
	parts := make([]string, len(enum))
	for i, m := range enum {
		if s, ok := m.(string); ok {
			parts[i] = strconv.Quote(s)
		} else {
			parts[i] = fmt.Sprint(m)
		}
	}
	return strings.Join(parts, ", ")
}

// catalogEntry is one event type in plain strings, so that the catalog lives
// in code and no caller can mutate shared state.
type catalogEntry struct {
	name, description, schema, example string
}

func (e catalogEntry) info() EventTypeInfo {
	// Converting to json.RawMessage copies the bytes, so each caller gets its
	// own.
	return EventTypeInfo{
		Name:        e.name,
		Description: e.description,
		Schema:      json.RawMessage(e.schema),
		Example:     json.RawMessage(e.example),
	}
}

// parseSchema decodes the entry's schema. The schemas are constants checked
// by the package tests, so a failure is an impossible state.
func (e catalogEntry) parseSchema() dataSchema {
	var s dataSchema
	if err := json.Unmarshal([]byte(e.schema), &s); err != nil {
		panic(fmt.Sprintf("domain: schema of event type %s is corrupt: %v", e.name, err))
	}
	return s
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
// change both together.
func catalogEntries() []catalogEntry {
	return []catalogEntry{
		{
			EventTypeBatchCompleted,
			"Batch processing finished.",
			schemaBatchCompleted, exampleBatchCompleted,
		},
		{
			EventTypeComplianceAlert,
			"Compliance violations were detected.",
			schemaComplianceAlert, exampleComplianceAlert,
		},
		{
			EventTypeCorrectionApplied,
			"Corrections were applied to a document.",
			schemaCorrectionApplied, exampleCorrectionApplied,
		},
		{
			EventTypeDocumentProcessed,
			"Full processing of a document is complete.",
			schemaDocumentProcessed, exampleDocumentProcessed,
		},
		{
			EventTypeReportGenerated,
			"A report was created.",
			schemaReportGenerated, exampleReportGenerated,
		},
		{
			EventTypeSystemError,
			"A system error occurred.",
			schemaSystemError, exampleSystemError,
		},
		{
			EventTypeValidationCompleted,
			"Document validation finished, whether it passed, failed or raised warnings.",
			schemaValidationCompleted, exampleValidationCompleted,
		},
		{
			EventTypeValidationFailed,
			"Validation could not complete because of an error.",
			schemaValidationFailed, exampleValidationFailed,
		},
		{
			EventTypeWebhookTest,
			"Test event sent on request to check that an endpoint receives deliveries.",
			schemaWebhookTest, exampleWebhookTest,
		},
	}
}

// Schemas and examples of the data object of each event type. Every schema
// allows additional properties: producers may add fields, and receivers must
// ignore the ones they do not know.
const (
	schemaBatchCompleted = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "title": "batch.completed",
  "type": "object",
  "required": ["batch_id", "documents_processed", "documents_succeeded", "documents_failed", "success_rate"],
  "properties": {
    "batch_id": {"type": "string", "description": "Identifier of the batch."},
    "documents_processed": {"type": "integer", "minimum": 0, "description": "Documents the batch processed."},
    "documents_succeeded": {"type": "integer", "minimum": 0, "description": "Documents processed successfully."},
    "documents_failed": {"type": "integer", "minimum": 0, "description": "Documents whose processing failed."},
    "success_rate": {"type": "number", "minimum": 0, "maximum": 1, "description": "documents_succeeded / documents_processed, from 0 to 1."}
  },
  "additionalProperties": true
}`
	exampleBatchCompleted = `{
  "batch_id": "batch_2024_01_15",
  "documents_processed": 120,
  "documents_succeeded": 114,
  "documents_failed": 6,
  "success_rate": 0.95
}`

	schemaComplianceAlert = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "title": "compliance.alert",
  "type": "object",
  "required": ["alert_level", "message", "affected_documents"],
  "properties": {
    "alert_level": {"type": "string", "enum": ["low", "medium", "high", "critical"], "description": "How urgent the violation is."},
    "message": {"type": "string", "description": "Human-readable summary of the violation."},
    "affected_documents": {"type": "array", "items": {"type": "string"}, "description": "Identifiers of the documents involved."},
    "recommended_actions": {"type": "array", "items": {"type": "string"}, "description": "Suggested remediation steps."}
  },
  "additionalProperties": true
}`
	exampleComplianceAlert = `{
  "alert_level": "high",
  "message": "Financial promotion lacks a risk warning",
  "affected_documents": ["doc_456", "doc_789"],
  "recommended_actions": ["Add the standard risk warning", "Re-run validation"]
}`

	schemaCorrectionApplied = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "title": "correction.applied",
  "type": "object",
  "required": ["document_id", "changes"],
  "properties": {
    "document_id": {"type": "string", "description": "Identifier of the corrected document."},
    "changes": {
      "type": "array",
      "description": "Changes made, in the order applied.",
      "items": {
        "type": "object",
        "required": ["before", "after"],
        "properties": {
          "rule": {"type": "string", "description": "Rule or gate that triggered the change."},
          "before": {"type": "string", "description": "Text before the correction."},
          "after": {"type": "string", "description": "Text after the correction."}
        },
        "additionalProperties": true
      }
    }
  },
  "additionalProperties": true
}`
	exampleCorrectionApplied = `{
  "document_id": "doc_456",
  "changes": [
    {"rule": "risk_warning", "before": "Guaranteed returns", "after": "Returns are not guaranteed"}
  ]
}`

	schemaDocumentProcessed = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "title": "document.processed",
  "type": "object",
  "required": ["document_id", "results", "processing_time_ms"],
  "properties": {
    "document_id": {"type": "string", "description": "Identifier of the processed document."},
    "results": {"type": "object", "description": "Results of every processing stage, keyed by stage."},
    "processing_time_ms": {"type": "number", "minimum": 0, "description": "Total processing time in milliseconds."}
  },
  "additionalProperties": true
}`
	exampleDocumentProcessed = `{
  "document_id": "doc_456",
  "results": {"validation_status": "pass", "corrections_applied": 1},
  "processing_time_ms": 1204.7
}`

	schemaReportGenerated = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "title": "report.generated",
  "type": "object",
  "required": ["report_id", "report_type", "url", "document_count"],
  "properties": {
    "report_id": {"type": "string", "description": "Identifier of the report."},
    "report_type": {"type": "string", "description": "Kind of report, such as compliance_summary."},
    "url": {"type": "string", "format": "uri", "description": "Where to download the report."},
    "document_count": {"type": "integer", "minimum": 0, "description": "Documents the report covers."}
  },
  "additionalProperties": true
}`
	exampleReportGenerated = `{
  "report_id": "rpt_789",
  "report_type": "compliance_summary",
  "url": "https://loki.example.com/reports/rpt_789.pdf",
  "document_count": 42
}`

	schemaSystemError = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "title": "system.error",
  "type": "object",
  "required": ["error_code", "component", "severity", "message"],
  "properties": {
    "error_code": {"type": "string", "description": "Machine-readable error code."},
    "component": {"type": "string", "description": "Component that failed."},
    "severity": {"type": "string", "enum": ["low", "medium", "high", "critical"], "description": "How urgent the error is."},
    "message": {"type": "string", "description": "Human-readable description of the error."}
  },
  "additionalProperties": true
}`
	exampleSystemError = `{
  "error_code": "STORAGE_UNAVAILABLE",
  "component": "document-store",
  "severity": "critical",
  "message": "Document store did not answer within 30s"
}`

	schemaValidationCompleted = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "title": "validation.completed",
  "type": "object",
  "required": ["source_id", "document_id", "validation_status", "gates_passed", "gates_failed", "processing_time_ms"],
  "properties": {
    "source_id": {"type": "string", "description": "Identifier of the validation run."},
    "document_id": {"type": "string", "description": "Identifier of the validated document."},
    "validation_status": {"type": "string", "enum": ["pass", "fail", "warning"], "description": "Overall outcome."},
    "gates_passed": {"type": "integer", "minimum": 0, "description": "Validation gates passed."},
    "gates_failed": {"type": "integer", "minimum": 0, "description": "Validation gates failed."},
    "issues": {"type": "array", "items": {"type": "object"}, "description": "Issues found; empty or absent when there are none."},
    "processing_time_ms": {"type": "number", "minimum": 0, "description": "Validation time in milliseconds."}
  },
  "additionalProperties": true
}`
	exampleValidationCompleted = `{
  "source_id": "val_123",
  "document_id": "doc_456",
  "validation_status": "pass",
  "gates_passed": 8,
  "gates_failed": 0,
  "issues": [],
  "processing_time_ms": 523.45
}`

	schemaValidationFailed = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "title": "validation.failed",
  "type": "object",
  "required": ["document_id", "error_code", "message"],
  "properties": {
    "document_id": {"type": "string", "description": "Identifier of the document being validated."},
    "error_code": {"type": "string", "description": "Machine-readable error code."},
    "message": {"type": "string", "description": "Human-readable description of the error."},
    "stack_trace": {"type": "string", "description": "Stack trace, when the producer shares one."}
  },
  "additionalProperties": true
}`
	exampleValidationFailed = `{
  "document_id": "doc_456",
  "error_code": "PARSE_ERROR",
  "message": "Document could not be parsed",
  "stack_trace": "Traceback (most recent call last): ..."
}`

	schemaWebhookTest = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "title": "webhook.test",
  "type": "object",
  "required": ["message"],
  "properties": {
    "message": {"type": "string", "description": "Free text identifying the test."},
    "sent_at": {"type": "string", "format": "date-time", "description": "When the test was requested (RFC 3339)."}
  },
  "additionalProperties": true
}`
	exampleWebhookTest = `{
  "message": "Test event from lokihooks",
  "sent_at": "2024-01-15T10:30:00Z"
}`
)
