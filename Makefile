# lokihooks developer tasks. `make` (or `make help`) lists the targets.

GO ?= go

# The database every target uses unless told otherwise. scripts/db-up.sh brings
# PostgreSQL up there (TEST_DATABASE_URL takes precedence for it when set).
DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable
export DATABASE_URL

# Extra arguments for `lokihooks bench` (make bench-e2e BENCH_ARGS='...').
BENCH_ARGS ?=

.DEFAULT_GOAL := help

.PHONY: help run test test-short test-race bench bench-smoke bench-e2e migrate openapi generate docs lint db-up

help: ## Show this help
	@echo 'Usage: make <target>'
	@echo
	@echo 'Targets:'
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)
	@echo
	@echo 'Variables: DATABASE_URL (default $(DATABASE_URL)),'
	@echo '           TEST_DATABASE_URL (db-up/test), BENCH_ARGS (bench-e2e)'

run: ## Bring PostgreSQL up, then serve on 127.0.0.1:8080 with DEVELOPMENT settings (scripts/dev-env.sh)
	TEST_DATABASE_URL= bash scripts/db-up.sh
	. scripts/dev-env.sh && exec $(GO) run ./cmd/lokihooks serve

test: db-up ## Bring PostgreSQL up, then run all tests with the race detector
	$(GO) test -race -count=1 -timeout 5m ./...

test-race: test ## Alias for test

test-short: ## Run the short tests only (go test -short)
	$(GO) test -short ./...

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

lint: ## go vet, and fail if gofmt -l lists any file
	$(GO) vet ./...
	@out="$$(find . \( -name .git -o -name .pgdata -o -name .dev \) -prune -o -type f -name '*.go' -print | xargs -r gofmt -l)" || exit 1; \
	if [ -n "$$out" ]; then echo 'gofmt -l: these files are not gofmt-formatted:'; echo "$$out"; exit 1; fi

db-up: ## Make sure PostgreSQL answers at TEST_DATABASE_URL/DATABASE_URL (starts or creates one if not)
	bash scripts/db-up.sh
