package connectors

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/loki-interceptor/lokihooks/domain"
)

// envelope is a decoded event envelope {"id","type","timestamp","data"}.
// Numbers stay json.Number so they render exactly as the producer wrote
// them.
type envelope struct {
	ID        string
	Type      string
	Timestamp string
	Data      map[string]any
	// all is the whole envelope, for dotted-path lookups.
	all map[string]any
}

// errBadEnvelope reports an event body a connector cannot render.
var errBadEnvelope = errors.New("event body is not an envelope {id, type, timestamp, data}")

// parseEnvelope decodes body. A body that is not a JSON object, or whose
// data is present but not an object, is an error matching domain.ErrInvalid.
func parseEnvelope(body []byte) (*envelope, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var all map[string]any
	if err := dec.Decode(&all); err != nil || all == nil {
		return nil, fmt.Errorf("%w: %w", domain.ErrInvalid, errBadEnvelope)
	}
	e := &envelope{all: all, Data: map[string]any{}}
	e.ID, _ = all["id"].(string)
	e.Type, _ = all["type"].(string)
	e.Timestamp, _ = all["timestamp"].(string)
	if d, ok := all["data"]; ok && d != nil {
		m, ok := d.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%w: %w", domain.ErrInvalid, errBadEnvelope)
		}
		e.Data = m
	}
	return e, nil
}

// lookup follows a dotted path ("data.document_id", "type",
// "data.changes.0.rule") through the envelope. Numeric segments index
// arrays.
func (e *envelope) lookup(path string) (any, bool) {
	var cur any = e.all
	for seg := range strings.SplitSeq(path, ".") {
		switch v := cur.(type) {
		case map[string]any:
			next, ok := v[seg]
			if !ok {
				return nil, false
			}
			cur = next
		case []any:
			i, err := strconv.Atoi(seg)
			if err != nil || i < 0 || i >= len(v) {
				return nil, false
			}
			cur = v[i]
		default:
			return nil, false
		}
	}
	return cur, true
}

// lookupScalar is lookup for a string, number or boolean, rendered as
// text; "" when the path is missing or holds something else.
func (e *envelope) lookupScalar(path string) string {
	v, ok := e.lookup(path)
	if !ok {
		return ""
	}
	switch v := v.(type) {
	case string:
		return v
	case json.Number:
		return v.String()
	case bool:
		return strconv.FormatBool(v)
	}
	return ""
}

// Severity levels an event may carry in data.alert_level (compliance.alert)
// or data.severity (system.error).
const (
	levelLow      = "low"
	levelMedium   = "medium"
	levelHigh     = "high"
	levelCritical = "critical"
)

// level is the event's severity level, or "" when it has none.
func (e *envelope) level() string {
	for _, key := range []string{"alert_level", "severity"} {
		if s, ok := e.Data[key].(string); ok {
			switch s = strings.ToLower(s); s {
			case levelLow, levelMedium, levelHigh, levelCritical:
				return s
			}
		}
	}
	return ""
}

// tone is how alarming an event looks: the colour of a Slack bar, the
// style of a Teams container, the accent of an email.
type tone int

// Tones, from calm to alarming.
const (
	toneNeutral tone = iota
	toneGood
	toneWarning
	toneDanger
)

// String names the tone for templates ("neutral", "good", "warning",
// "danger").
func (t tone) String() string {
	switch t {
	case toneGood:
		return "good"
	case toneWarning:
		return "warning"
	case toneDanger:
		return "danger"
	default:
		return "neutral"
	}
}

// tone maps the event to a tone. compliance.alert: critical and high are
// danger, medium a warning, low neutral. system.error: critical is danger,
// any other level a warning. validation.failed is a warning, and so is a
// validation.completed whose status is fail or warning. The other catalog
// types report work done and are good; webhook.test and unknown types are
// neutral.
func (e *envelope) tone() tone {
	switch e.Type {
	case domain.EventTypeComplianceAlert:
		switch e.level() {
		case levelCritical, levelHigh:
			return toneDanger
		case levelMedium:
			return toneWarning
		}
		return toneNeutral
	case domain.EventTypeSystemError:
		if e.level() == levelCritical {
			return toneDanger
		}
		return toneWarning
	case domain.EventTypeValidationFailed:
		return toneWarning
	case domain.EventTypeValidationCompleted:
		if s, _ := e.Data["validation_status"].(string); s == "fail" || s == "warning" {
			return toneWarning
		}
		return toneGood
	case domain.EventTypeBatchCompleted, domain.EventTypeDocumentProcessed, domain.EventTypeReportGenerated,
		domain.EventTypeCorrectionApplied:
		return toneGood
	}
	return toneNeutral
}

// title is a short human headline for the event.
func (e *envelope) title() string {
	withLevel := func(s string) string {
		if l := e.level(); l != "" {
			return s + " (" + l + ")"
		}
		return s
	}
	switch e.Type {
	case domain.EventTypeComplianceAlert:
		return withLevel("Compliance alert")
	case domain.EventTypeSystemError:
		return withLevel("System error")
	case domain.EventTypeValidationCompleted:
		switch s, _ := e.Data["validation_status"].(string); s {
		case "pass":
			return "Validation passed"
		case "fail":
			return "Validation failed"
		case "warning":
			return "Validation passed with warnings"
		}
		return "Validation completed"
	case domain.EventTypeValidationFailed:
		return "Validation could not complete"
	case domain.EventTypeBatchCompleted:
		return "Batch completed"
	case domain.EventTypeDocumentProcessed:
		return "Document processed"
	case domain.EventTypeReportGenerated:
		return "Report generated"
	case domain.EventTypeCorrectionApplied:
		return "Correction applied"
	case domain.EventTypeWebhookTest:
		return "Test message from lokihooks"
	case "":
		return "Event"
	}
	return e.Type
}

// factOrder lists, per event type, the data fields shown first; the
// others follow in key order.
var factOrder = map[string][]string{
	domain.EventTypeComplianceAlert:     {"alert_level", "affected_documents", "recommended_actions"},
	domain.EventTypeSystemError:         {"severity", "component", "error_code"},
	domain.EventTypeValidationCompleted: {"document_id", "validation_status", "gates_passed", "gates_failed", "processing_time_ms", "source_id", "issues"},
	domain.EventTypeValidationFailed:    {"document_id", "error_code", "stack_trace"},
	domain.EventTypeBatchCompleted:      {"batch_id", "documents_processed", "documents_succeeded", "documents_failed", "success_rate"},
	domain.EventTypeDocumentProcessed:   {"document_id", "processing_time_ms", "results"},
	domain.EventTypeReportGenerated:     {"report_id", "report_type", "document_count"},
	domain.EventTypeCorrectionApplied:   {"document_id", "changes"},
}

// fact is one labelled value of an event, as every connector shows it.
type fact struct {
	Label string
	Value string
}

// link is a deep link shown as a button or an action.
type link struct {
	Title string
	URL   string
}

// view is an event ready to render: what Slack, Teams and email show, and
// what email templates receive as ".". Its fields are exported for
// templates only.
type view struct {
	ID        string
	Type      string
	Timestamp string
	// Time is Timestamp parsed (zero when it is not RFC 3339).
	Time    time.Time
	Title   string
	Message string
	// Level is data.alert_level or data.severity: low, medium, high,
	// critical, or "".
	Level string
	// Tone is neutral, good, warning or danger.
	Tone  string
	Facts []fact
	Links []link
	// Data is the event's data object.
	Data map[string]any

	tone tone
}

// newView renders e. linkTemplate and linkTitle come from an integration's
// config (link_url, link_title); the expanded link comes after the links
// the payload carries.
func newView(e *envelope, linkTemplate, linkTitle string) *view {
	v := &view{
		ID: e.ID, Type: e.Type, Timestamp: e.Timestamp,
		Title: e.title(), Level: e.level(), tone: e.tone(), Data: e.Data,
	}
	v.Tone = v.tone.String()
	v.Time, _ = time.Parse(time.RFC3339Nano, e.Timestamp)
	if m, ok := e.Data["message"].(string); ok {
		v.Message = m
	}
	for _, key := range dataKeys(e) {
		val := e.Data[key]
		if key == "message" {
			continue
		}
		if u, ok := linkURL(key, val); ok {
			v.Links = append(v.Links, link{Title: linkLabel(e.Type, key), URL: u})
			continue
		}
		v.Facts = append(v.Facts, fact{Label: humanize(key), Value: formatValue(key, val)})
	}
	if u, ok := expandLink(e, linkTemplate); ok {
		if linkTitle == "" {
			linkTitle = "View in LOKI"
		}
		v.Links = append(v.Links, link{Title: linkTitle, URL: u})
	}
	return v
}

// dataKeys orders e's data fields: the type's preferred ones, then the
// rest by key.
func dataKeys(e *envelope) []string {
	keys := make([]string, 0, len(e.Data))
	for _, k := range factOrder[e.Type] {
		if _, ok := e.Data[k]; ok {
			keys = append(keys, k)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(e.Data)) {
		if !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	return keys
}

// linkURL reports whether data field key is a link: named url or *_url and
// holding an absolute http(s) URL.
func linkURL(key string, val any) (string, bool) {
	s, ok := val.(string)
	if !ok || (key != "url" && !strings.HasSuffix(key, "_url")) {
		return "", false
	}
	return s, isWebURL(s)
}

func isWebURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != ""
}

// linkLabel titles a link field: "report_url" is "Open report"; a bare
// "url" is named after the event ("Open report" for report.generated).
func linkLabel(eventType, key string) string {
	name := strings.TrimSuffix(strings.TrimSuffix(key, "url"), "_")
	if name == "" {
		switch eventType {
		case domain.EventTypeReportGenerated:
			name = "report"
		case domain.EventTypeDocumentProcessed, domain.EventTypeCorrectionApplied:
			name = "document"
		default:
			name = "link"
		}
	}
	return "Open " + strings.ToLower(humanize(name))
}

// expandLink fills a link template's {path} placeholders with
// path-escaped envelope values ("https://loki.example.com/documents/{data.document_id}").
// It fails when a placeholder has no scalar value or the result is not an
// absolute http(s) URL.
func expandLink(e *envelope, tmpl string) (string, bool) {
	if tmpl == "" {
		return "", false
	}
	var b strings.Builder
	rest := tmpl
	for {
		open := strings.IndexByte(rest, '{')
		if open < 0 {
			b.WriteString(rest)
			break
		}
		end := strings.IndexByte(rest[open:], '}')
		if end < 0 {
			return "", false
		}
		val := e.lookupScalar(rest[open+1 : open+end])
		if val == "" {
			return "", false
		}
		b.WriteString(rest[:open])
		b.WriteString(url.PathEscape(val))
		rest = rest[open+end+1:]
	}
	s := b.String()
	return s, isWebURL(s)
}

// linkPlaceholders returns the {path} placeholders of a link template, and
// false when its braces do not pair up.
func linkPlaceholders(tmpl string) ([]string, bool) {
	var out []string
	rest := tmpl
	for {
		open := strings.IndexAny(rest, "{}")
		if open < 0 {
			return out, true
		}
		if rest[open] == '}' {
			return nil, false
		}
		end := strings.IndexAny(rest[open+1:], "{}")
		if end < 0 || rest[open+1+end] != '}' || end == 0 {
			return nil, false
		}
		out = append(out, rest[open+1:open+1+end])
		rest = rest[open+end+2:]
	}
}

// humanize turns a snake_case key into a label: "processing_time_ms" is
// "Processing time (ms)", "document_id" is "Document ID".
func humanize(key string) string {
	words := strings.FieldsFunc(key, func(r rune) bool { return r == '_' || r == '-' || r == '.' })
	for i, w := range words {
		switch lw := strings.ToLower(w); lw {
		case "id", "url", "uri":
			words[i] = strings.ToUpper(lw)
		case "ms":
			words[i] = "(ms)"
		default:
			if i == 0 {
				words[i] = strings.ToUpper(lw[:1]) + lw[1:]
			} else {
				words[i] = lw
			}
		}
	}
	if len(words) == 0 {
		return key
	}
	return strings.Join(words, " ")
}

// formatValue renders a data value as one line of text: lists joined with
// ", ", objects as "key: value" pairs, a *_rate between 0 and 1 as a
// percentage, a correction as "before → after".
func formatValue(key string, v any) string {
	switch v := v.(type) {
	case nil:
		return "—"
	case string:
		return v
	case bool:
		if v {
			return "yes"
		}
		return "no"
	case json.Number:
		if strings.HasSuffix(key, "_rate") {
			if f, err := v.Float64(); err == nil && f >= 0 && f <= 1 {
				return strconv.FormatFloat(f*100, 'f', -1, 64) + "%"
			}
		}
		return v.String()
	case []any:
		if len(v) == 0 {
			return "none"
		}
		parts := make([]string, len(v))
		sep := ", "
		for i, item := range v {
			if _, ok := item.(map[string]any); ok {
				sep = "; "
			}
			parts[i] = formatValue("", item)
		}
		return strings.Join(parts, sep)
	case map[string]any:
		if before, ok := v["before"].(string); ok {
			if after, ok := v["after"].(string); ok {
				s := fmt.Sprintf("%q → %q", before, after)
				if rule, ok := v["rule"].(string); ok && rule != "" {
					s = rule + ": " + s
				}
				return s
			}
		}
		keys := slices.Sorted(maps.Keys(v))
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = k + ": " + formatValue(k, v[k])
		}
		return strings.Join(parts, ", ")
	}
	return fmt.Sprint(v)
}

// checkLinkTemplate reports a link_url whose {path} placeholders do not
// pair up or are empty.
func checkLinkTemplate(tmpl string) []domain.FieldError {
	if tmpl == "" {
		return nil
	}
	if _, ok := linkPlaceholders(tmpl); !ok {
		return []domain.FieldError{{Field: "config.link_url", Message: "has unbalanced or empty {placeholders}"}}
	}
	return nil
}
