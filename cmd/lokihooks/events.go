package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/loki-interceptor/lokihooks/domain"
	"github.com/loki-interceptor/lokihooks/httpapi"
)

// recommendedMaxPayload is the payload size Standard Webhooks recommends
// staying under ("usually smaller than 20kb").
const recommendedMaxPayload = 20 << 10

// errInvalidPayload is the result of `events validate` on a payload that
// breaks its schema; the violations are already printed.
var errInvalidPayload = fmt.Errorf("payload does not match its schema: %w", errReported)

func (c cli) eventsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "events",
		GroupID: groupTools,
		Short:   "List event types, print example payloads, validate payloads",
		Long: `The event catalog: every event type a LOKI service may publish, with the JSON
Schema (draft 2020-12) of its data object. The API checks published data
against the same schemas (a 422 names each violation), and serves them at
GET /api/v1/event-types.`,
		Example: `  lokihooks events list
  lokihooks events example validation.completed
  lokihooks events validate validation.completed payload.json`,
		Args:                       subcommandArgs,
		SuggestionsMinimumDistance: 2,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cmd.Help()
		},
	}
	cmd.AddCommand(c.eventsListCmd(), c.eventsExampleCmd(), c.eventsValidateCmd())
	return cmd
}

func (c cli) eventsListCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:     "list",
		Short:   "List the event types",
		Example: "  lokihooks events list\n  lokihooks events list --json | jq '.[].name'",
		Args:    noArgs,
		RunE: func(*cobra.Command, []string) error {
			if asJSON {
				return writeJSON(c.stdout, domain.Catalog())
			}
			tw := tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', 0)
			for _, info := range domain.Catalog() {
				fmt.Fprintf(tw, "%s\t%s\n", info.Name, info.Description)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the catalog (names, descriptions, schemas, examples) as JSON")
	return cmd
}

func (c cli) eventsExampleCmd() *cobra.Command {
	var publish, schema bool
	cmd := &cobra.Command{
		Use:   "example <type>",
		Short: "Print a valid example payload of an event type",
		Long: `Prints an example data object of the event type; it satisfies the type's
schema. --publish wraps it as the body of POST /api/v1/events; --schema prints
the schema instead.`,
		Example: `  lokihooks events example validation.completed
  lokihooks events example compliance.alert --schema

  # Publish the example over HTTP
  lokihooks events example validation.completed --publish |
    curl -sS -X POST "$API/events" -H "Authorization: Bearer $LOKIHOOKS_API_KEY" \
      -H 'Content-Type: application/json' -d @-`,
		Args:              eventTypeArgs(1, 1),
		ValidArgsFunction: completeEventType,
		RunE: func(cmd *cobra.Command, args []string) error {
			if publish && schema {
				return usageErrorf(cmd, "give --publish or --schema, not both")
			}
			info, err := domain.LookupEventType(args[0])
			if err != nil {
				return err // eventTypeArgs checked it
			}
			switch {
			case schema:
				return writeIndented(c.stdout, info.Schema)
			case publish:
				return writeJSON(c.stdout, struct {
					Type string          `json:"type"`
					Data json.RawMessage `json:"data"`
				}{info.Name, info.Example})
			}
			return writeIndented(c.stdout, info.Example)
		},
	}
	cmd.Flags().BoolVar(&publish, "publish", false, "print the body of POST /api/v1/events: {\"type\": ..., \"data\": <example>}")
	cmd.Flags().BoolVar(&schema, "schema", false, "print the JSON Schema of the data object instead")
	return cmd
}

func (c cli) eventsValidateCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "validate <type> <file|->",
		Short: "Check a payload against its event type's schema",
		Long: `Checks a data object (a file, or - for standard input) against the schema of
the event type, exactly as POST /api/v1/events does, and prints each violation
with its JSON pointer. Exits 0 when the payload is valid, 1 otherwise.`,
		Example: `  lokihooks events validate validation.completed payload.json
  echo '{"document_id":"doc_1"}' | lokihooks events validate validation.completed -`,
		Args:              eventTypeArgs(2, 2),
		ValidArgsFunction: completeEventType,
		RunE: func(cmd *cobra.Command, args []string) error {
			data, err := readInput(cmd, args[1])
			if err != nil {
				return err
			}
			return c.validatePayload(args[0], args[1], data)
		},
	}
}

// validatePayload prints the verdict on one payload.
func (c cli) validatePayload(eventType, name string, data []byte) error {
	if name == "-" {
		name = "standard input"
	}
	err := domain.ValidateEventData(eventType, data)
	var ve *domain.ValidationError
	switch {
	case err == nil:
		fmt.Fprintf(c.stdout, "%s: valid %s payload (%d bytes)\n", name, eventType, len(data))
		if len(data) > recommendedMaxPayload {
			fmt.Fprintf(c.stdout, "note: larger than the %d KB Standard Webhooks recommends; the API accepts request bodies up to %d KB\n",
				recommendedMaxPayload>>10, httpapi.MaxBodyBytes>>10)
		}
		return nil
	case !errors.As(err, &ve):
		return err
	}
	fmt.Fprintf(c.stdout, "%s: invalid %s payload, %d problem(s):\n", name, eventType, len(ve.Fields))
	tw := tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', 0)
	for _, f := range ve.Fields {
		ptr := f.Pointer
		if ptr == "" {
			ptr = "(document)"
		}
		fmt.Fprintf(tw, "  %s\t%s\n", ptr, f.Message)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if looksLikeEnvelope(data) {
		fmt.Fprintln(c.stdout, `hint: this looks like a whole event ({"type", "data", ...}); validate its "data" object alone`)
	}
	return errInvalidPayload
}

// looksLikeEnvelope reports whether data is an object with "type" and "data"
// keys: a delivery body or a publish request rather than a data object.
func looksLikeEnvelope(data []byte) bool {
	var m map[string]json.RawMessage
	if json.Unmarshal(data, &m) != nil {
		return false
	}
	_, hasType := m["type"]
	_, hasData := m["data"]
	return hasType && hasData
}

// eventTypeArgs checks the argument count and that the first argument is a
// catalog event type.
func eventTypeArgs(minArgs, maxArgs int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < minArgs || len(args) > maxArgs {
			return usageErrorf(cmd, "usage: %s", cmd.UseLine())
		}
		if !domain.IsKnownEventType(args[0]) {
			return usageErrorf(cmd, "unknown event type %q; the catalog has %s", args[0], strings.Join(domain.EventTypeNames(), ", "))
		}
		return nil
	}
}

// completeEventType completes the first argument with the catalog.
func completeEventType(_ *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
	if len(args) == 0 {
		return domain.EventTypeNames(), cobra.ShellCompDirectiveNoFileComp
	}
	return nil, cobra.ShellCompDirectiveDefault // a file
}

// readInput reads a file, or standard input for "-".
func readInput(cmd *cobra.Command, name string) ([]byte, error) {
	if name == "-" {
		b, err := io.ReadAll(cmd.InOrStdin())
		if err != nil {
			return nil, fmt.Errorf("read standard input: %w", err)
		}
		return b, nil
	}
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("read payload: %w", err)
	}
	return b, nil
}

// writeJSON writes v as indented JSON and a newline.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// writeIndented writes a JSON document indented, and a newline.
func writeIndented(w io.Writer, doc []byte) error {
	var b bytes.Buffer
	if err := json.Indent(&b, doc, "", "  "); err != nil {
		return err
	}
	b.WriteByte('\n')
	_, err := w.Write(b.Bytes())
	return err
}

// envelope is a delivery body as lokihooks_publish builds it.
func envelope(id, eventType string, at time.Time, data []byte) []byte {
	var b bytes.Buffer
	b.WriteString(`{"id":`)
	writeJSONString(&b, id)
	b.WriteString(`,"type":`)
	writeJSONString(&b, eventType)
	b.WriteString(`,"timestamp":`)
	writeJSONString(&b, at.UTC().Format("2006-01-02T15:04:05.000000Z"))
	b.WriteString(`,"data":`)
	b.Write(data)
	b.WriteByte('}')
	return b.Bytes()
}

func writeJSONString(b *bytes.Buffer, s string) {
	enc, _ := json.Marshal(s) // a string always marshals
	b.Write(enc)
}
