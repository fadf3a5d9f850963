package domain_test

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/loki-interceptor/lokihooks/domain"
)

// schemaSubset is the part of a catalog schema these tests read.
type schemaSubset struct {
	Schema     string                     `json:"$schema"`
	Type       string                     `json:"type"`
	Required   []string                   `json:"required"`
	Properties map[string]json.RawMessage `json:"properties"`
}

// fieldPaths returns the field of each problem in err, which must be a
// *domain.ValidationError.
func fieldPaths(t *testing.T, err error) []string {
	t.Helper()
	var ve *domain.ValidationError
	require.ErrorAs(t, err, &ve)
	require.ErrorIs(t, err, domain.ErrInvalid)
	paths := make([]string, len(ve.Fields))
	for i, f := range ve.Fields {
		paths[i] = f.Field
	}
	return paths
}

func TestCatalog(t *testing.T) {
	t.Parallel()

	catalog := domain.Catalog()
	require.Len(t, catalog, 9)
	for _, info := range catalog {
		t.Run(info.Name, func(t *testing.T) {
			t.Parallel()

			require.NotEmpty(t, info.Description)
			require.True(t, json.Valid(info.Example), "example is not valid JSON")
			require.True(t, json.Valid(info.Schema), "schema is not valid JSON")

			var s schemaSubset
			require.NoError(t, json.Unmarshal(info.Schema, &s))
			require.Equal(t, "object", s.Type)

			require.Equal(t, "https://json-schema.org/draft/2020-12/schema", s.Schema)
			for _, key := range s.Required {
				require.Contains(t, s.Properties, key, "required key is not a property")
			}

			// Examples document every field.
			var example map[string]json.RawMessage
			require.NoError(t, json.Unmarshal(info.Example, &example))
			for key := range s.Properties {
				require.Contains(t, example, key, "example omits a property")
			}

			require.NoError(t, domain.ValidateEventData(info.Name, info.Example))
		})
	}
}

func TestCatalog_Order(t *testing.T) {
	t.Parallel()

	names := domain.EventTypeNames()
	require.True(t, slices.IsSorted(names), "names are not sorted: %v", names)
	require.Equal(t, []string{
		domain.EventTypeBatchCompleted,
		domain.EventTypeComplianceAlert,
		domain.EventTypeCorrectionApplied,
		domain.EventTypeDocumentProcessed,
		domain.EventTypeReportGenerated,
		domain.EventTypeSystemError,
		domain.EventTypeValidationCompleted,
		domain.EventTypeValidationFailed,
		domain.EventTypeWebhookTest,
	}, names)

	catalog := domain.Catalog()
	require.Len(t, catalog, len(names))
	for i, info := range catalog {
		require.Equal(t, names[i], info.Name)
	}
}

func TestCatalog_FreshCopy(t *testing.T) {
	t.Parallel()

	first := domain.Catalog()
	first[0].Name = "mutated"
	first[0].Schema[0] = 'X'
	first[0].Example[0] = 'X'
	names := domain.EventTypeNames()
	names[0] = "mutated"

	second := domain.Catalog()
	require.Equal(t, domain.EventTypeBatchCompleted, second[0].Name)
	require.True(t, json.Valid(second[0].Schema))
	require.True(t, json.Valid(second[0].Example))
	require.Equal(t, domain.EventTypeBatchCompleted, domain.EventTypeNames()[0])
}

func TestLookupEventType(t *testing.T) {
	t.Parallel()

	t.Run("Known", func(t *testing.T) {
		t.Parallel()

		info, err := domain.LookupEventType(domain.EventTypeValidationCompleted)
		require.NoError(t, err)
		require.Equal(t, domain.EventTypeValidationCompleted, info.Name)
		require.NotEmpty(t, info.Schema)
		require.True(t, domain.IsKnownEventType(domain.EventTypeValidationCompleted))
	})

	for name, eventType := range map[string]string{
		"Unknown":   "validation.started",
		"Empty":     "",
		"Wildcard":  domain.EventTypeWildcard,
		"Versioned": "validation.completed.v1",
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()

			_, err := domain.LookupEventType(eventType)
			require.ErrorIs(t, err, domain.ErrUnknownEventType)
			require.False(t, domain.IsKnownEventType(eventType))
		})
	}
}

func TestValidateEventData(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name      string
		eventType string
		data      string
		want      []string // field paths, in order
	}{
		{
			name:      "ValidationCompletedExtraFields",
			eventType: domain.EventTypeValidationCompleted,
			data: `{"source_id":"val_1","document_id":"doc_1","validation_status":"warning",
				"gates_passed":7,"gates_failed":1,"processing_time_ms":12,"reviewer":"ana"}`,
		},
		{
			name:      "IntegerWithZeroFraction",
			eventType: domain.EventTypeBatchCompleted,
			data: `{"batch_id":"b1","documents_processed":2.0,"documents_succeeded":2,
				"documents_failed":0,"success_rate":1}`,
		},
		{
			name:      "MissingRequired",
			eventType: domain.EventTypeValidationCompleted,
			data:      `{"source_id":"val_1","validation_status":"pass","gates_passed":8,"processing_time_ms":1}`,
			want:      []string{"data.document_id", "data.gates_failed"},
		},
		{
			name:      "WrongTypeInteger",
			eventType: domain.EventTypeValidationCompleted,
			data: `{"source_id":"val_1","document_id":"doc_1","validation_status":"pass",
				"gates_passed":"8","gates_failed":0.5,"processing_time_ms":1}`,
			want: []string{"data.gates_failed", "data.gates_passed"},
		},
		{
			name:      "WrongTypeArrayAndNull",
			eventType: domain.EventTypeComplianceAlert,
			data:      `{"alert_level":"low","message":null,"affected_documents":"doc_1"}`,
			want:      []string{"data.affected_documents", "data.message"},
		},
		{
			name:      "BadEnum",
			eventType: domain.EventTypeValidationCompleted,
			data: `{"source_id":"val_1","document_id":"doc_1","validation_status":"passed",
				"gates_passed":8,"gates_failed":0,"processing_time_ms":1}`,
			want: []string{"data.validation_status"},
		},
		{
			name:      "BadEnumSeverity",
			eventType: domain.EventTypeSystemError,
			data:      `{"error_code":"E1","component":"api","severity":"fatal","message":"down"}`,
			want:      []string{"data.severity"},
		},
		{
			name:      "WrongTypeObject",
			eventType: domain.EventTypeDocumentProcessed,
			data:      `{"document_id":"doc_1","results":[],"processing_time_ms":"fast"}`,
			want:      []string{"data.processing_time_ms", "data.results"},
		},
		{
			name:      "MissingAndWrongType",
			eventType: domain.EventTypeWebhookTest,
			data:      `{"sent_at":1705314600}`,
			want:      []string{"data.message", "data.sent_at"},
		},
		{
			name:      "NotObjectArray",
			eventType: domain.EventTypeWebhookTest,
			data:      `[{"message":"hi"}]`,
			want:      []string{"data"},
		},
		{
			name:      "NotObjectNull",
			eventType: domain.EventTypeReportGenerated,
			data:      `null`,
			want:      []string{"data"},
		},
		{
			name:      "NotObjectString",
			eventType: domain.EventTypeBatchCompleted,
			data:      `"batch"`,
			want:      []string{"data"},
		},
		{
			name:      "InvalidJSON",
			eventType: domain.EventTypeBatchCompleted,
			data:      `{"batch_id":`,
			want:      []string{"data"},
		},
		{
			name:      "Empty",
			eventType: domain.EventTypeBatchCompleted,
			data:      ``,
			want:      []string{"data"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			err := domain.ValidateEventData(tt.eventType, json.RawMessage(tt.data))
			if tt.want == nil {
				require.NoError(t, err)
				return
			}
			require.Equal(t, tt.want, fieldPaths(t, err))
		})
	}

	t.Run("UnknownEventType", func(t *testing.T) {
		t.Parallel()

		err := domain.ValidateEventData("validation.started", json.RawMessage(`{}`))
		require.ErrorIs(t, err, domain.ErrUnknownEventType)
		require.NotErrorIs(t, err, domain.ErrInvalid)
	})
}

// TestValidateEventData_Schema covers what only a real JSON Schema validator
// checks: nested values, bounds and item types, each named by its field and
// its JSON pointer.
func TestValidateEventData_Schema(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name      string
		eventType string
		data      string
		want      []domain.FieldError
	}{
		{
			name:      "NestedRequired",
			eventType: domain.EventTypeCorrectionApplied,
			data:      `{"document_id":"doc_1","changes":[{"before":"a","after":"b"},{"before":"secret-text"}]}`,
			want:      []domain.FieldError{{Field: "data.changes.1.after", Pointer: "/changes/1/after", Message: "is required"}},
		},
		{
			name:      "ItemType",
			eventType: domain.EventTypeComplianceAlert,
			data:      `{"alert_level":"low","message":"m","affected_documents":["doc_1",42]}`,
			want: []domain.FieldError{{
				Field: "data.affected_documents.1", Pointer: "/affected_documents/1", Message: "must be string, got number",
			}},
		},
		{
			name:      "Bounds",
			eventType: domain.EventTypeBatchCompleted,
			data: `{"batch_id":"b1","documents_processed":-3,"documents_succeeded":2,
				"documents_failed":0,"success_rate":1.5}`,
			want: []domain.FieldError{
				{Field: "data.documents_processed", Pointer: "/documents_processed", Message: "must be at least 0"},
				{Field: "data.success_rate", Pointer: "/success_rate", Message: "must be at most 1"},
			},
		},
		{
			name:      "RequiredFirst",
			eventType: domain.EventTypeValidationCompleted,
			data: `{"source_id":"val_1","validation_status":"pass","gates_passed":-1,
				"gates_failed":0,"processing_time_ms":1,"issues":[1]}`,
			want: []domain.FieldError{
				{Field: "data.document_id", Pointer: "/document_id", Message: "is required"},
				{Field: "data.gates_passed", Pointer: "/gates_passed", Message: "must be at least 0"},
				{Field: "data.issues.0", Pointer: "/issues/0", Message: "must be object, got number"},
			},
		},
		{
			name:      "Enum",
			eventType: domain.EventTypeSystemError,
			data:      `{"error_code":"E1","component":"api","severity":"fatal","message":"down"}`,
			want: []domain.FieldError{{
				Field: "data.severity", Pointer: "/severity", Message: `must be one of "low", "medium", "high", "critical"`,
			}},
		},
		{
			name:      "NotObject",
			eventType: domain.EventTypeWebhookTest,
			data:      `["message"]`,
			want:      []domain.FieldError{{Field: "data", Message: "must be a JSON object, got array"}},
		},
		{
			// Beyond 2^53: decoded as a float64 it would lose its last digit,
			// but it is an integer either way.
			name:      "HugeInteger",
			eventType: domain.EventTypeReportGenerated,
			data:      `{"report_id":"r","report_type":"t","url":"https://x.example/r","document_count":9007199254740993}`,
		},
		{
			// format is an annotation in draft 2020-12 (see ValidateEventData).
			name:      "FormatIsAnnotation",
			eventType: domain.EventTypeReportGenerated,
			data:      `{"report_id":"r","report_type":"t","url":"not a uri","document_count":1}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			err := domain.ValidateEventData(tt.eventType, json.RawMessage(tt.data))
			if tt.want == nil {
				require.NoError(t, err)
				return
			}
			var ve *domain.ValidationError
			require.ErrorAs(t, err, &ve)
			require.ErrorIs(t, err, domain.ErrInvalid)
			require.Equal(t, tt.want, ve.Fields)
			require.NotContains(t, err.Error(), "secret-text", "messages never echo data values")
		})
	}
}

func TestValidateEventTypeFilter(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name     string
		types    []string
		problems int // 0 means valid
	}{
		{name: "Nil", types: nil, problems: 1},
		{name: "Empty", types: []string{}, problems: 1},
		{name: "Wildcard", types: []string{domain.EventTypeWildcard}},
		{name: "One", types: []string{domain.EventTypeComplianceAlert}},
		{name: "All", types: domain.EventTypeNames()},
		{
			name:  "WildcardWithNames",
			types: []string{domain.EventTypeWildcard, domain.EventTypeSystemError},
		},
		{name: "Unknown", types: []string{"validation.started"}, problems: 1},
		{name: "EmptyEntry", types: []string{""}, problems: 1},
		{
			name:     "Duplicate",
			types:    []string{domain.EventTypeSystemError, domain.EventTypeSystemError},
			problems: 1,
		},
		{
			name:     "DuplicateWildcard",
			types:    []string{domain.EventTypeWildcard, domain.EventTypeWildcard},
			problems: 1,
		},
		{
			name: "Mixed",
			types: []string{
				domain.EventTypeValidationFailed,
				"Validation.Failed",
				domain.EventTypeWildcard,
				domain.EventTypeValidationFailed,
				"",
				"report.*",
			},
			problems: 4,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			err := domain.ValidateEventTypeFilter(tt.types)
			if tt.problems == 0 {
				require.NoError(t, err)
				return
			}
			paths := fieldPaths(t, err)
			require.Len(t, paths, tt.problems)
			for _, p := range paths {
				require.Equal(t, "event_types", p)
			}
		})
	}
}
