# devicehub — `make run` starts the whole hub locally; `make test` proves it.
SHELL := /bin/bash
GO    ?= go
PORT  ?= 8080
TOOLS := .tools
# Every function under functions/ (ingress, service, sweeper, router, the example
# consumer): each becomes build/<name>/bootstrap, the asset infra/hub deploys.
FUNCTIONS := $(patsubst functions/%/main.go,%,$(wildcard functions/*/main.go))
# The functions' architecture, as GOARCH (arm64 or amd64): `make lambdas`
# builds for it and infra.mk hands it to the stack (CDK context lambdaArch).
LAMBDA_ARCH ?= arm64
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION = 20
export CDK_DISABLE_CLI_TELEMETRY = 1

.PHONY: run test tools build lambdas bench vet fmt clean cost load

## tools: install the pinned npm tools (emulators, CDK CLI, Azure IoT SDK) from the lockfile
tools: $(TOOLS)/node_modules/.package-lock.json
$(TOOLS)/node_modules/.package-lock.json: $(TOOLS)/package-lock.json
	npm ci --ignore-scripts --no-audit --no-fund --prefix $(TOOLS)

## run: start emulators, create the stream and tables, serve the hub on 127.0.0.1:$(PORT); more flags via RUN_ARGS (e.g. RUN_ARGS='--routes infra/routes.local.json')
run: tools
	$(GO) run ./cmd/devicehub local --port $(PORT) $(RUN_ARGS)

## test: vet, staticcheck (pinned in go.mod's tool block), gofmt, unit, integration (emulators) and end-to-end (Azure IoT SDK) tests
test: tools
	$(GO) vet ./...
	$(GO) tool staticcheck ./...
	@unformatted=$$(gofmt -l $$($(GO) list -f '{{.Dir}}' ./...)); test -z "$$unformatted" || { echo "gofmt: these need formatting:"; echo "$$unformatted"; exit 1; }
	$(GO) test -count=1 -timeout 20m ./...

## build: the devicehub CLI in bin/
build:
	$(GO) build -o bin/devicehub ./cmd/devicehub

## lambdas: each function's bootstrap for provided.al2023 (LAMBDA_ARCH=arm64 by default, or amd64)
lambdas:
	@case "$(LAMBDA_ARCH)" in arm64|amd64) ;; *) echo "LAMBDA_ARCH=$(LAMBDA_ARCH): want arm64 or amd64" >&2; exit 1;; esac
	@for f in $(FUNCTIONS); do \
	  GOOS=linux GOARCH=$(LAMBDA_ARCH) CGO_ENABLED=0 $(GO) build -tags lambda.norpc -trimpath -ldflags='-s -w' \
	    -o build/$$f/bootstrap ./functions/$$f || exit 1; \
	done

## bench: the ingress and C2D benchmarks
bench:
	$(GO) test -run '^$$' -bench . -benchmem -count 5 ./internal/d2c/... ./internal/c2d/...

## load: the loopback load harness: devices against the hub's real handler on the emulators, beside the direct PutRecords ceiling, 3 interleaved rounds; flags via LOAD_ARGS (go run ./cmd/hubload -h)
load: tools
	$(GO) run ./cmd/hubload $(LOAD_ARGS)

## cost: price the stack's configurations (synthesized from infra/hub into cdk.out/cost) for issue 9's fleet profiles, beside AWS IoT Core and Azure IoT Hub, and check the cost targets; flags via COST_ARGS (go run ./cmd/hubcost -h)
cost:
	$(GO) run ./cmd/hubcost $(COST_ARGS)

vet:
	$(GO) vet ./...
	$(GO) tool staticcheck ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf bin build cdk.out

-include infra/infra.mk
