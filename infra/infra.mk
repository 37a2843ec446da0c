# Infrastructure targets, included by the Makefile. The CDK app is infra/
# (cdk.json runs `go run ./infra`); the CLIs are pinned in .tools.
#   make synth              offline: build the bootstraps, write cdk.out/
#   make deploy             cdk deploy to the account and region of your AWS config
#   make destroy            cdk destroy
#   make localstack-deploy  cdklocal bootstrap + deploy (REST API, no dashboard) to LocalStack on :4566
# Pass CDK context with CDK_ARGS, e.g. CDK_ARGS='-c api=rest -c removalPolicy=destroy', or
# CDK_ARGS='-c routes=routes.json' for message routing (the file `devicehub local --routes` reads).
# LAMBDA_ARCH (Makefile, default arm64) is both what `make lambdas` builds and
# the functions' architecture in the template (context lambdaArch).

CDK        := $(TOOLS)/node_modules/.bin/cdk
CDKLOCAL   := $(TOOLS)/node_modules/.bin/cdklocal
STACK      ?= DeviceHub
CDK_ARGS   ?=
# Offline and quiet: no notices, no version reporting, no telemetry (also in cdk.json).
CDK_FLAGS  := --no-notices --no-version-reporting
APP_CONTEXT = -c stackName=$(STACK) -c lambdaArch=$(LAMBDA_ARCH)
# The CLI falls back to us-east-1 with no AWS config; deploys honour the
# configured region (AWS_REGION, else the profile's), synth defaults to us-east-1.
SYNTH_REGION ?= $(or $(AWS_REGION),$(AWS_DEFAULT_REGION),us-east-1)
LOCALSTACK_ENDPOINT ?= http://localhost:4566
LOCALSTACK_REGION   ?= $(or $(AWS_REGION),us-east-1)

.PHONY: synth deploy destroy localstack-check localstack-deploy localstack-destroy

## synth: build the bootstraps (LAMBDA_ARCH) and synthesize the stack into cdk.out, offline, cdk-nag checked
synth: tools lambdas
	AWS_REGION=$(SYNTH_REGION) $(CDK) synth $(CDK_FLAGS) --quiet $(APP_CONTEXT) $(CDK_ARGS)

## deploy: cdk deploy (needs AWS credentials and a bootstrapped account: `cdk bootstrap`)
deploy: tools lambdas
	$(CDK) deploy $(CDK_FLAGS) $(APP_CONTEXT) $(CDK_ARGS) --require-approval never \
	  --outputs-file cdk.out/outputs.json $(STACK)

## destroy: cdk destroy (needs a stack deployed with -c terminationProtection=false, or removalPolicy=destroy; tables, stream, key and secret are retained unless deployed with -c removalPolicy=destroy)
destroy: tools
	$(CDK) destroy $(CDK_FLAGS) $(APP_CONTEXT) $(CDK_ARGS) --force $(STACK)

# cdklocal reads AWS_ENDPOINT_URL; LocalStack accepts any credentials.
LOCALSTACK_ENV := AWS_ENDPOINT_URL=$(LOCALSTACK_ENDPOINT) AWS_REGION=$(LOCALSTACK_REGION) \
  AWS_ACCESS_KEY_ID=$(or $(AWS_ACCESS_KEY_ID),test) AWS_SECRET_ACCESS_KEY=$(or $(AWS_SECRET_ACCESS_KEY),test) \
  CDK_DEFAULT_ACCOUNT=000000000000 CDK_DEFAULT_REGION=$(LOCALSTACK_REGION)

# LocalStack runs each function in a container of the function's
# architecture; unless LAMBDA_ARCH is given, build for this machine's, which
# needs no emulator.
ifeq ($(origin LAMBDA_ARCH),file)
localstack-deploy localstack-destroy: LAMBDA_ARCH = $(shell $(GO) env GOARCH)
endif
LOCALSTACK_CONTEXT = $(APP_CONTEXT) -c api=rest -c removalPolicy=destroy -c dashboard=false

## localstack-check: LocalStack needs an auth token (LOCALSTACK_AUTH_TOKEN) and must be running
localstack-check:
	$(if $(LOCALSTACK_AUTH_TOKEN),,$(error LOCALSTACK_AUTH_TOKEN is not set: LocalStack starts only with an auth token \
	  (free account at app.localstack.cloud); export it, start LocalStack with it, then retry. See infra/README.md))
	@curl -fsS -o /dev/null $(LOCALSTACK_ENDPOINT)/_localstack/health || \
	  { echo "no LocalStack answers at $(LOCALSTACK_ENDPOINT): start it (localstack start -d) with LOCALSTACK_AUTH_TOKEN set" >&2; exit 1; }

## localstack-deploy: deploy the REST API flavour, without the dashboard, to LocalStack ($(LOCALSTACK_ENDPOINT))
localstack-deploy: localstack-check tools lambdas
	$(LOCALSTACK_ENV) $(CDKLOCAL) bootstrap $(CDK_FLAGS) $(LOCALSTACK_CONTEXT)
	$(LOCALSTACK_ENV) $(CDKLOCAL) deploy $(CDK_FLAGS) $(LOCALSTACK_CONTEXT) $(CDK_ARGS) \
	  --require-approval never --outputs-file cdk.out/localstack-outputs.json $(STACK)

## localstack-destroy: remove the LocalStack deployment
localstack-destroy: localstack-check tools
	$(LOCALSTACK_ENV) $(CDKLOCAL) destroy $(CDK_FLAGS) $(LOCALSTACK_CONTEXT) --force $(STACK)
