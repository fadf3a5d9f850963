// Package archtest checks the dependency rules of STYLE §1: packages point
// towards domain, siblings never import each other, and domain is pure
// (the standard library plus one JSON Schema validator).
package archtest

import (
	"encoding/json"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const module = "github.com/loki-interceptor/lokihooks/"

// domainThirdParty is the one module outside the standard library that
// domain may import: the JSON Schema validator behind ValidateEventData. It
// is pure computation (no I/O: domain gives it a loader that refuses every
// remote $ref), and writing our own validator is what it replaced; with it,
// the schemas the API publishes are exactly the ones it enforces.
const domainThirdParty = "github.com/santhosh-tekuri/jsonschema/v6"

// allowed lists, for each package, the project packages it may import
// (test files excluded). Every package of the module must be listed, so a
// new one is a decision, not an accident. The top-level packages point to
// domain and never at each other; internal/app is the one place that joins
// the stores and read models into use cases (it must not reach the relay,
// the API or the CLI: they declare what they need, cmd wires it).
var allowed = map[string][]string{
	"domain":                   {},
	"eventstore":               {"domain"},
	"projections":              {"domain"},
	"relay":                    {"domain"},
	"connectors":               {"domain"},
	"connectors/connectortest": {"domain"},
	"httpapi":                  {"domain"},
	"migrations":               {},
	"internal/app":             {"domain", "eventstore", "projections", "connectors", "internal/secretbox"},
	"internal/secretbox":       {},
	"internal/sigcheck":        {"domain"},
	// Metrics, the status summary and the log handler: read-only
	// monitoring over every package's tables, wired by cmd.
	"internal/telemetry": {"domain"},
	"internal/dbtest":    {"migrations"},
	"internal/archtest":  {},
	"cmd/lokihooks":      nil, // main wires everything; nothing imports it
	// The generated API client is what integrators import: it stands
	// alone, speaking to the API only over HTTP.
	"client": {},
	// The guide's Go examples use what an integrator's service would: the
	// outbox writer, the client, nothing else of this module.
	"docs/examples/go/verify":    {},
	"docs/examples/go/publish":   {"eventstore"},
	"docs/examples/go/apiclient": {"client"},
}

func TestDependencyDirection(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("go", "list", "-json=ImportPath,Imports", "./../../...").Output()
	require.NoError(t, err)
	dec := json.NewDecoder(strings.NewReader(string(out)))
	checked := 0
	for dec.More() {
		var p struct {
			ImportPath string
			Imports    []string
		}
		require.NoError(t, dec.Decode(&p))
		pkg := strings.TrimPrefix(p.ImportPath, module)
		rules, ok := allowed[pkg]
		require.True(t, ok, "package %s has no dependency rule in internal/archtest", pkg)
		checked++
		for _, imp := range p.Imports {
			if dep, own := strings.CutPrefix(imp, module); own {
				require.NotEqual(t, "cmd/lokihooks", dep, "nothing imports cmd")
				if pkg == "cmd/lokihooks" {
					continue
				}
				require.True(t, slices.Contains(rules, dep), "%s must not import %s", pkg, dep)
			}
			if pkg == "domain" && imp != domainThirdParty && !strings.HasPrefix(imp, domainThirdParty+"/") {
				require.NotContains(t, imp, ".", "domain imports the standard library and %s only, not %s", domainThirdParty, imp)
			}
		}
	}
	require.Len(t, allowed, checked, "every rule matched a package")
}
