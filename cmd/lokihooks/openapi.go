package main

import (
	"fmt"
	"io"

	"github.com/loki-interceptor/lokihooks/httpapi"
)

// openapiOpts are the flags of `lokihooks openapi`.
type openapiOpts struct {
	format string // yaml, json or json-3.0
}

// printOpenAPI writes the spec of an API built with no storage: the document
// depends only on the registered operations.
func printOpenAPI(o openapiOpts, stdout io.Writer) error {
	spec := httpapi.New(httpapi.Deps{}, httpapi.Config{Version: version}).OpenAPI()
	var out []byte
	var err error
	switch o.format {
	case "yaml":
		out, err = spec.YAML()
	case "json":
		out, err = spec.MarshalJSON()
	case "json-3.0":
		out, err = spec.Downgrade()
	default:
		return fmt.Errorf("--format must be yaml, json or json-3.0, got %q", o.format)
	}
	if err != nil {
		return fmt.Errorf("render spec: %w", err)
	}
	_, err = stdout.Write(out)
	return err
}
