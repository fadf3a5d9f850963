package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/loki-interceptor/lokihooks/client"
	"github.com/loki-interceptor/lokihooks/domain"
	"github.com/loki-interceptor/lokihooks/internal/telemetry"
)

// docs/guide.md's code is checked here. Every code block is either
//
//   - an example file under docs/examples, included verbatim after a line
//     <!-- include: <path under docs/examples> -->, and run by a test
//     (TestExamples_Guide runs every shell, SQL, Go and Python example in
//     the guide's order against a real server; TestExamples_Verifiers runs
//     the signature verifiers on deliveries signed by lokihooks); or
//   - inside a section generated from the code, between
//     <!-- generated: <name> --> and <!-- end generated -->; or
//   - an output or an illustration: json (which must parse) or text.
//
// `make docs` (go test -run TestGuide -update-guide) rewrites the included
// and generated blocks from their sources.

var updateGuide = flag.Bool("update-guide", false, "rewrite docs/guide.md's included examples and generated sections")

var guidePath = filepath.Join("..", "..", "docs", "guide.md")

// exampleLanguages maps an example's extension to its code block's info
// string.
var exampleLanguages = map[string]string{
	".sh": "sh", ".go": "go", ".py": "python", ".mjs": "js", ".rb": "ruby", ".php": "php", ".sql": "sql",
}

// guideBlock is one fenced code block of the guide.
type guideBlock struct {
	line    int    // 1-based line of the opening fence
	lang    string // info string
	body    string // the lines between the fences, each ending in \n
	include string // path under docs/examples, when included
	section string // generated section it is in, if any
}

var (
	includeRe   = regexp.MustCompile(`^<!-- include: (\S+) -->$`)
	generatedRe = regexp.MustCompile(`^<!-- generated: (\S+) -->$`)
)

const endGenerated = "<!-- end generated -->"

// parseGuide returns the guide's code blocks.
func parseGuide(t *testing.T, text string) []guideBlock {
	t.Helper()
	lines := strings.SplitAfter(text, "\n")
	var out []guideBlock
	section, include := "", ""
	for i := 0; i < len(lines); i++ {
		line := strings.TrimRight(lines[i], "\n")
		switch {
		case generatedRe.MatchString(line):
			section = generatedRe.FindStringSubmatch(line)[1]
		case line == endGenerated:
			section = ""
		case includeRe.MatchString(line):
			include = includeRe.FindStringSubmatch(line)[1]
		case strings.HasPrefix(line, "```"):
			b := guideBlock{line: i + 1, lang: strings.TrimPrefix(line, "```"), include: include, section: section}
			for i++; i < len(lines) && strings.TrimRight(lines[i], "\n") != "```"; i++ {
				b.body += lines[i]
			}
			require.Less(t, i, len(lines), "guide line %d: the code block is not closed", b.line)
			out = append(out, b)
			include = ""
		case strings.TrimSpace(line) != "":
			require.Empty(t, include, "guide line %d: an include marker must come right before its code block", i+1)
		}
	}
	return out
}

// rewriteGuide replaces every included block by its file and every
// generated section by its rendering.
func rewriteGuide(t *testing.T, text string) string {
	t.Helper()
	var b strings.Builder
	lines := strings.SplitAfter(text, "\n")
	for i := 0; i < len(lines); i++ {
		line := strings.TrimRight(lines[i], "\n")
		b.WriteString(lines[i])
		switch {
		case includeRe.MatchString(line):
			path := includeRe.FindStringSubmatch(line)[1]
			for i++; i < len(lines) && !strings.HasPrefix(lines[i], "```"); i++ {
			}
			for i++; i < len(lines) && strings.TrimRight(lines[i], "\n") != "```"; i++ {
			}
			content, err := os.ReadFile(filepath.Join(examplesDir, path))
			require.NoError(t, err)
			require.True(t, bytes.HasSuffix(content, []byte("\n")), "docs/examples/%s must end with a newline", path)
			fmt.Fprintf(&b, "```%s\n%s```\n", exampleLanguages[filepath.Ext(path)], content)
		case generatedRe.MatchString(line):
			name := generatedRe.FindStringSubmatch(line)[1]
			for i++; i < len(lines) && strings.TrimRight(lines[i], "\n") != endGenerated; i++ {
			}
			render, ok := guideSections[name]
			require.True(t, ok, "no generated section %q", name)
			b.WriteString(render(t))
			b.WriteString(endGenerated + "\n")
		}
	}
	return b.String()
}

// guideSections render the generated sections of the guide.
var guideSections = map[string]func(t *testing.T) string{
	"event-types":     renderEventTypes,
	"retry-schedules": renderRetrySchedules,
	"operations":      renderOperations,
	"metrics":         renderMetrics,
}

// exampleRunners names, for each example that is not a shell script, the
// test that runs it (shell scripts all run in TestExamples_Guide).
var exampleRunners = map[string]string{
	"go/verify/verify.go":       "TestExamples_Verifiers",
	"python/verify.py":          "TestExamples_Verifiers",
	"node/verify.mjs":           "TestExamples_Verifiers",
	"ruby/verify.rb":            "TestExamples_Verifiers",
	"php/verify.php":            "TestExamples_Verifiers",
	"go/apiclient/apiclient.go": "TestExamples_Guide",
	"go/publish/publish.go":     "TestExamples_Guide",
	"python/publish.py":         "TestExamples_Guide",
	"sql/publish.sql":           "TestExamples_Guide",
	"sql/long-transactions.sql": "TestExamples_Guide",
}

func TestGuide(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile(guidePath)
	require.NoError(t, err)
	text := string(raw)
	if want := rewriteGuide(t, text); want != text {
		if *updateGuide {
			require.NoError(t, os.WriteFile(guidePath, []byte(want), 0o644))
			text = want
		} else {
			line, _, _ := firstDifference([]byte(want), []byte(text))
			t.Fatalf("docs/guide.md differs from its examples or generated sections from line %d: "+
				"edit the files under docs/examples (or the code a section is generated from), then run `make docs`", line)
		}
	}

	included := map[string]bool{}
	for _, b := range parseGuide(t, text) {
		switch {
		case b.include != "":
			included[b.include] = true
			require.Equal(t, exampleLanguages[filepath.Ext(b.include)], b.lang, "guide line %d", b.line)
		case b.section != "":
		case b.lang == "json":
			require.True(t, json.Valid([]byte(b.body)), "guide line %d: the json block does not parse", b.line)
		case b.lang == "text":
		default:
			t.Errorf("guide line %d: a %q code block must be an example file under docs/examples, "+
				"included with <!-- include: path --> and run by a test", b.line, b.lang)
		}
	}

	// Every example is in the guide, and run by a test.
	var files []string
	require.NoError(t, filepath.WalkDir(examplesDir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(examplesDir, path)
		files = append(files, filepath.ToSlash(rel))
		return err
	}))
	for _, f := range files {
		require.True(t, included[f], "docs/examples/%s is not included in the guide", f)
		if filepath.Ext(f) != ".sh" {
			require.Contains(t, exampleRunners, f, "docs/examples/%s is run by no test", f)
		}
	}
	for f := range exampleRunners {
		require.Contains(t, files, f)
	}
}

// renderEventTypes documents the catalog: a summary table, then each
// type's fields (from its JSON Schema) and example.
func renderEventTypes(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("| type | published when | required `data` fields |\n| --- | --- | --- |\n")
	type property struct {
		Type        any             `json:"type"`
		Enum        []string        `json:"enum"`
		Format      string          `json:"format"`
		Description string          `json:"description"`
		Items       json.RawMessage `json:"items"`
	}
	type schema struct {
		Required   []string            `json:"required"`
		Properties map[string]property `json:"properties"`
	}
	catalog := domain.Catalog()
	schemas := make([]schema, len(catalog))
	for i, e := range catalog {
		decodeJSON(t, e.Schema, &schemas[i])
		fmt.Fprintf(&b, "| [`%s`](#%s) | %s | %s |\n", e.Name, strings.ReplaceAll(e.Name, ".", ""), e.Description, codeList(schemas[i].Required))
	}
	for i, e := range catalog {
		s := schemas[i]
		fmt.Fprintf(&b, "\n### %s\n\n%s\n\n| field | type | required | meaning |\n| --- | --- | --- | --- |\n", e.Name, e.Description)
		names := make([]string, 0, len(s.Properties))
		for name := range s.Properties {
			names = append(names, name)
		}
		// Required fields first, in the schema's order, then the others.
		slices.SortStableFunc(names, func(x, y string) int {
			ix, iy := slices.Index(s.Required, x), slices.Index(s.Required, y)
			switch {
			case ix >= 0 && iy >= 0:
				return ix - iy
			case ix >= 0:
				return -1
			case iy >= 0:
				return 1
			}
			return strings.Compare(x, y)
		})
		for _, name := range names {
			p := s.Properties[name]
			typ := fmt.Sprint(p.Type)
			switch {
			case len(p.Enum) > 0:
				typ += ": " + codeList(p.Enum)
			case p.Format != "":
				typ += " (" + p.Format + ")"
			case len(p.Items) > 0:
				var items schema
				var itemType struct {
					Type string `json:"type"`
				}
				decodeJSON(t, p.Items, &items)
				decodeJSON(t, p.Items, &itemType)
				typ = "array of " + itemType.Type + "s"
				if len(items.Required) > 0 {
					typ += " (each with " + codeList(items.Required) + ")"
				}
			}
			required := ""
			if slices.Contains(s.Required, name) {
				required = "yes"
			}
			fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", name, typ, required, p.Description)
		}
		fmt.Fprintf(&b, "\n```json\n%s\n```\n", bytes.TrimSpace(e.Example))
	}
	return b.String()
}

func codeList(xs []string) string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = "`" + x + "`"
	}
	return strings.Join(out, ", ")
}

// renderRetrySchedules works out a few schedules with domain's own
// RetryPolicy.Schedule, as `lokihooks retries` prints them.
func renderRetrySchedules(t *testing.T) string {
	t.Helper()
	defaults := domain.DefaultWebhookSpec().RetryPolicy()
	capped := defaults
	capped.Delay, capped.Multiplier, capped.MaxRetries, capped.MaxDelay = 5*time.Minute, 3, 6, 2*time.Hour
	linear := domain.RetryPolicy{Strategy: domain.RetryLinear, MaxRetries: 4, Delay: 2 * time.Minute, MaxDelay: 2 * time.Hour}
	fixed := domain.RetryPolicy{Strategy: domain.RetryFixed, MaxRetries: 3, Delay: 30 * time.Second, MaxDelay: 2 * time.Hour, Jitter: true}
	none := domain.RetryPolicy{Strategy: domain.RetryNone}
	var b strings.Builder
	for _, c := range []struct {
		title, fields string
		policy        domain.RetryPolicy
	}{
		{"The defaults", `{}`, defaults},
		{"Exponential, reaching the cap", `{"retry_delay_seconds": 300, "backoff_multiplier": 3, "max_retries": 6}`, capped},
		{"Linear, without jitter", `{"retry_strategy": "linear_backoff", "retry_delay_seconds": 120, "max_retries": 4, "jitter_enabled": false}`, linear},
		{"Fixed interval", `{"retry_strategy": "fixed_interval", "retry_delay_seconds": 30, "max_retries": 3}`, fixed},
		{"No retry", `{"retry_strategy": "no_retry"}`, none},
	} {
		var out bytes.Buffer
		require.NoError(t, printSchedule(&out, c.policy, 15*time.Second))
		fmt.Fprintf(&b, "%s, `%s` in a webhook:\n\n```text\n%s```\n\n", c.title, c.fields, out.String())
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// renderOperations lists every operation of the OpenAPI document, by tag,
// with the Go client's method.
func renderOperations(t *testing.T) string {
	t.Helper()
	var spec bytes.Buffer
	require.NoError(t, printOpenAPI(openapiOpts{format: "json"}, &spec))
	var doc struct {
		Paths map[string]map[string]struct {
			OperationID string   `json:"operationId"`
			Summary     string   `json:"summary"`
			Tags        []string `json:"tags"`
		} `json:"paths"`
	}
	decodeJSON(t, spec.Bytes(), &doc)
	type op struct{ tag, method, path, summary, goMethod string }
	var ops []op
	for path, methods := range doc.Paths {
		for method, o := range methods {
			tag := "Health"
			if len(o.Tags) > 0 {
				tag = o.Tags[0]
			}
			goMethod := goName(o.OperationID) + "WithResponse"
			_, exists := reflect.TypeFor[*client.ClientWithResponses]().MethodByName(goMethod)
			require.True(t, exists, "the client has no %s for %s", goMethod, o.OperationID)
			ops = append(ops, op{tag, strings.ToUpper(method), path, o.Summary, goMethod})
		}
	}
	methodOrder := map[string]int{"GET": 0, "POST": 1, "PUT": 2, "PATCH": 3, "DELETE": 4}
	slices.SortFunc(ops, func(a, b op) int {
		if c := strings.Compare(a.tag, b.tag); c != 0 {
			return c
		}
		if c := strings.Compare(a.path, b.path); c != 0 {
			return c
		}
		return methodOrder[a.method] - methodOrder[b.method]
	})
	var b strings.Builder
	b.WriteString("| | operation | does | Go client |\n| --- | --- | --- | --- |\n")
	tag := ""
	for _, o := range ops {
		if o.tag != tag {
			tag = o.tag
			fmt.Fprintf(&b, "| **%s** | | | |\n", tag)
		}
		fmt.Fprintf(&b, "| | `%s %s` | %s | `%s` |\n", o.method, o.path, o.summary, o.goMethod)
	}
	return b.String()
}

// goName is oapi-codegen's name for an operation id: get-webhook → GetWebhook.
func goName(operationID string) string {
	var b strings.Builder
	for _, part := range strings.Split(operationID, "-") {
		if part != "" {
			b.WriteString(strings.ToUpper(part[:1]) + part[1:])
		}
	}
	return b.String()
}

// renderMetrics lists lokihooks' own metrics under their Prometheus names.
func renderMetrics(*testing.T) string {
	var b strings.Builder
	b.WriteString("| metric | type | labels | what |\n| --- | --- | --- | --- |\n")
	for _, in := range telemetry.Catalog() {
		labels := make([]string, len(in.Attributes))
		for i, a := range in.Attributes {
			labels[i] = "`" + strings.ReplaceAll(string(a), ".", "_") + "`"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", promName(in), in.Kind, strings.Join(labels, ", "), in.Description)
	}
	return b.String()
}
