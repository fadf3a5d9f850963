# lokihooks developer tasks. `make` (or `make help`) lists the targets.

GO ?= go

# The database every target uses unless told otherwise. scripts/db-up.sh brings
# PostgreSQL up there (TEST_DATABASE_URL takes precedence for it when set).
DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable
export DATABASE_URL

# Extra arguments for `lokihooks bench` (make bench-e2e BENCH_ARGS='...').
BENCH_ARGS ?=

.DEFAULT_GOAL := help

.PHONY: help run test test-short test-race fuzz bench bench-smoke bench-e2e migrate openapi generate docs lint lint-fix db-up ui ui-check screenshots

# Fuzz targets as package:Target; `make fuzz` runs each for FUZZTIME.
# `make test` runs only their seed corpora (testdata/fuzz), as go test
# always does.
FUZZ_TARGETS = \
	./domain:FuzzSignatures ./domain:FuzzDecodeEvent ./domain:FuzzValidateEventData \
	./domain:FuzzRetrySchedule ./domain:FuzzValidateWebhookURL ./domain:FuzzBreakerDecisions \
	./internal/sigcheck:FuzzCheck ./relay:FuzzDecodeOutboxGroup ./httpapi:FuzzCursors
FUZZTIME ?= 15s

help: ## Show this help
	@echo 'Usage: make <target>'
	@echo
	@echo 'Targets:'
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)
	@echo
	@echo 'Variables: DATABASE_URL (default $(DATABASE_URL)),'
	@echo '           TEST_DATABASE_URL (db-up/test), BENCH_ARGS (bench-e2e), FUZZTIME (fuzz)'

run: ## Bring PostgreSQL up, then serve on 127.0.0.1:8080 with DEVELOPMENT settings (scripts/dev-env.sh)
	TEST_DATABASE_URL= bash scripts/db-up.sh
	. scripts/dev-env.sh && exec $(GO) run ./cmd/lokihooks serve

test: db-up ## Bring PostgreSQL up, then run all tests with the race detector
	@status=0; $(GO) test -race -count=1 -timeout 5m ./... || status=$$?; \
	command -v chromium >/dev/null 2>&1 || echo 'make test: Chromium is not installed, so the dashboard browser test (TestUI_EndToEnd) was SKIPPED: apt-get install chromium to run it'; \
	exit $$status

test-race: test ## Alias for test

test-short: ## Run the short tests only (go test -short)
	$(GO) test -short ./...

fuzz: ## Run every fuzz target for FUZZTIME (default 15s); new failures land in testdata/fuzz
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; \
		echo "fuzz $$pkg $$name ($(FUZZTIME))"; \
		$(GO) test -run='^$$' -fuzz="^$$name\$$" -fuzztime=$(FUZZTIME) $$pkg; \
	done

bench: ## Run the Go benchmarks
	$(GO) test -run='^$$' -bench=. -benchmem ./...

bench-smoke: ## Run every Go benchmark once (-benchtime=1x)
	$(GO) test -run='^$$' -bench=. -benchmem -benchtime=1x ./...

bench-e2e: db-up ## Bring PostgreSQL up, then run `lokihooks bench` (BENCH_ARGS=...)
	$(GO) run ./cmd/lokihooks bench $(BENCH_ARGS)

migrate: ## Apply database migrations (lokihooks migrate)
	$(GO) run ./cmd/lokihooks migrate

openapi: ## Regenerate docs/openapi.yaml
	$(GO) run ./cmd/lokihooks openapi > docs/openapi.yaml.tmp || { rm -f docs/openapi.yaml.tmp; exit 1; }
	mv docs/openapi.yaml.tmp docs/openapi.yaml

generate: ## Regenerate the Go client (client/client.gen.go) from the OpenAPI document
	@tmp="$$(mktemp -d)" && trap 'rm -rf "$$tmp"' EXIT && \
	$(GO) run ./cmd/lokihooks openapi --format json > "$$tmp/openapi.json" && \
	$(GO) tool oapi-codegen -config client/oapi-codegen.yaml -o "$$tmp/client.gen.go" "$$tmp/openapi.json" && \
	mv "$$tmp/client.gen.go" client/client.gen.go && echo 'client/client.gen.go regenerated'

docs: ## Copy docs/examples and the generated sections (event catalog, retry schedules) into docs/guide.md
	$(GO) test -count=1 -run '^TestGuide$$' ./cmd/lokihooks -args -update-guide

# golangci-lint is pinned in tools/lint/go.mod and run through `go tool`, so
# no global install is needed (the first run downloads and builds it).
LINT = $(GO) tool -modfile=tools/lint/go.mod golangci-lint

lint: ## golangci-lint (.golangci.yml: vet, staticcheck, errorlint, testifylint, forbidigo, gofumpt, goimports, ...)
	$(LINT) run ./...

lint-fix: ## golangci-lint with --fix (formatting and the fixes linters offer)
	$(LINT) run --fix ./...

ui: ## Rebuild the dashboard into httpapi/ui/dist (needs Node 20+ and npm; make run does not)
	GO=$(GO) bash scripts/ui.sh build

ui-check: ## Fail if the committed TypeScript client or httpapi/ui/dist differ from a fresh build (CI)
	GO=$(GO) bash scripts/ui.sh check

screenshots: db-up ## Run the dashboard's browser test and copy its screenshots to docs/screenshots
	$(GO) test -count=1 -run '^TestUI_EndToEnd$$' ./cmd/lokihooks
	mkdir -p docs/screenshots
	cp $(addprefix .artifacts/ui/,$(addsuffix .png,$(SCREENSHOTS))) docs/screenshots/

# The screenshots docs/screenshots keeps (the test writes a few more).
SCREENSHOTS = signin-wrong-key overview webhook webhook-pause-confirm dead-letters-redriven docs overview-phone webhook-phone

db-up: ## Make sure PostgreSQL answers at TEST_DATABASE_URL/DATABASE_URL (starts or creates one if not)
	bash scripts/db-up.sh
