package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/loki-interceptor/lokihooks/httpapi"
)

// printOpenAPI writes the spec of an API built with no storage: the document
// depends only on the registered operations.
func printOpenAPI(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("openapi", flag.ContinueOnError)
	fs.SetOutput(stderr)
	format := fs.String("format", "yaml", "yaml, json or json-3.0")
	if err := fs.Parse(args); err != nil {
		return err
	}
	spec := httpapi.New(httpapi.Deps{}, httpapi.Config{Version: version}).OpenAPI()
	var out []byte
	var err error
	switch *format {
	case "yaml":
		out, err = spec.YAML()
	case "json":
		out, err = spec.MarshalJSON()
	case "json-3.0":
		out, err = spec.Downgrade()
	default:
		return fmt.Errorf("-format must be yaml, json or json-3.0, got %q", *format)
	}
	if err != nil {
		return fmt.Errorf("render spec: %w", err)
	}
	_, err = stdout.Write(out)
	return err
}
