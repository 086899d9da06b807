# okta-oidc: make help lists the targets.
GO      ?= go
BIN     ?= bin
export CGO_ENABLED ?= 0
SHELL   := bash
.SHELLFLAGS := -o pipefail -ec
STACK_PKGS := ./test/integration/... ./test/e2e/... ./test/compose/...

.PHONY: help build test unit integration e2e bench fuzz fuzz-brief vet deps demo clean

help: ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 14

build: ## build the plugin server and the dev gateway into ./bin
	$(GO) build -buildvcs=false -trimpath -o $(BIN)/okta-oidc ./cmd/okta-oidc
	$(GO) build -buildvcs=false -trimpath -o $(BIN)/kong-devgw ./cmd/kong-devgw

deps: ## install the test provider's npm packages (needs node and npm)
	cd test/idp && npm ci --no-audit --no-fund

vet: ## go vet every package
	$(GO) vet ./...

test: vet unit fuzz-brief ## everything CI runs: unit, every fuzz target briefly, integration (dev gateway + provider + httpbin) and browser e2e
	$(GO) test -count=1 -v $(STACK_PKGS) | tee $(BIN)/stack-tests.log | grep -E '^(---|ok|FAIL|PASS|SKIPPED SUITE)|^\s+\S+_test.go'
	@grep -A1 -- '--- SKIP' $(BIN)/stack-tests.log | grep -E '_test\.go:' | sed 's/^ */  skipped: /' || true
	@grep '^SKIPPED SUITE: ' $(BIN)/stack-tests.log | sed 's/^SKIPPED SUITE: /  skipped suite: /' || true
	@echo "stack: $$(grep -c -- '--- PASS' $(BIN)/stack-tests.log) passed, $$(grep -c -- '--- FAIL' $(BIN)/stack-tests.log || true) failed, $$(( $$(grep -c -- '--- SKIP' $(BIN)/stack-tests.log || true) + $$(grep -c '^SKIPPED SUITE: ' $(BIN)/stack-tests.log || true) )) skipped"

unit: ## unit tests only (no node, no browser); the summary names every skipped test and why
	@mkdir -p $(BIN)
	@$(GO) test -count=1 -v $$($(GO) list ./... | grep -v -e /test/integration -e /test/e2e -e /test/compose) >$(BIN)/unit-tests.log 2>&1 \
	  || { grep -E -- '^(--- FAIL|FAIL|panic:)|^\s+\S+_test\.go:' $(BIN)/unit-tests.log | tail -80; exit 1; }
	@grep -E '^(ok|FAIL)\s' $(BIN)/unit-tests.log || true
	@grep -A1 -- '--- SKIP' $(BIN)/unit-tests.log | grep -E '_test\.go:' | sed 's/^ */  skipped: /' || true
	@echo "unit: $$(grep -c -- '--- PASS' $(BIN)/unit-tests.log) passed, 0 failed, $$(grep -c -- '--- SKIP' $(BIN)/unit-tests.log || true) skipped"

integration: ## the integration suite against a stack it starts (or GATEWAY_URL)
	$(GO) test -count=1 -v ./test/integration/...

e2e: ## the headless Chromium suite (screenshots in artifacts/e2e)
	$(GO) test -count=1 -v ./test/e2e/...

bench: ## benchmarks: in-process, then the hot path's ratio to the go-pdk floor with a CPU profile, then through the dev gateway
	@mkdir -p $(BIN)
	$(GO) test -run '^$$' -bench . -benchmem ./internal/...
	HOTPATH_CPUPROFILE=$(abspath $(BIN))/hotpath.cpu.pprof $(GO) test -run '^$$' -bench 'HotPath$$' -benchtime 20000x ./test/hotpath | tee $(BIN)/hotpath.txt
	@awk '/^BenchmarkHotPath/ { for (i = 3; i < NF; i++) m[$$(i+1)] = $$i } END { \
	  printf "hot path: %.3f of the go-pdk floor'"'"'s events/s (CPU: %.3f); okta-oidc %s us CPU/event, floor %s\n", \
	  m["ratio"], m["cpu-ratio"], m["okta-cpu-us/event"], m["floor-cpu-us/event"] }' $(BIN)/hotpath.txt
	$(GO) tool pprof -top -nodecount 25 $(BIN)/hotpath.cpu.pprof 2>/dev/null | tail -n +5
	$(GO) test -run '^$$' -bench 'MetricsCost|FreshToken' -benchtime 5000x ./test/hotpath
	$(GO) test -run '^$$' -bench Gateway -benchtime 2000x ./test/integration

fuzz: ## run every fuzz target for FUZZTIME each (default 20s)
	@mkdir -p $(BIN); n=0; for pkg in $$($(GO) list ./internal/... ./cmd/...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "fuzz: $$f ($$pkg, $${FUZZTIME:-20s})"; \
	    $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $${FUZZTIME:-20s} $$pkg >$(BIN)/fuzz-$$f.log 2>&1 \
	      || { cat $(BIN)/fuzz-$$f.log; exit 1; }; n=$$((n+1)); \
	  done; \
	done; echo "fuzz: $$n targets ran without a failure"

fuzz-brief: ## every fuzz target for 20,000 inputs (what make test and CI run; a count, not a duration: Go 1.26's coordinator can fail a -fuzztime duration spuriously, golang/go#75804)
	@mkdir -p $(BIN)
	@$(MAKE) --no-print-directory fuzz FUZZTIME=$${FUZZTIME:-20000x}

# demo runs a built binary, not go run: make passes SIGTERM on to its child,
# go run does not (killing make's PID would leave the stack running).
demo: ## start dev gateway + plugin + provider + httpbin on 127.0.0.1 (Ctrl-C or kill stops; KEEP_STACK=1 keeps its temp folder)
	@mkdir -p $(BIN)
	@$(GO) build -buildvcs=false -o $(BIN)/okta-oidc-demo ./test/stack/cmd/demo
	exec $(BIN)/okta-oidc-demo

clean: ## remove build output
	rm -rf $(BIN) artifacts
