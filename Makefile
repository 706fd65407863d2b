# Quantix — the two set-up commands are `make up` and `make test` (see README.md).
SHELL := /bin/bash
JEST := node --experimental-vm-modules node_modules/jest/bin/jest.js
TSX := node_modules/.bin/tsx

.PHONY: deps up down test test-unit test-integration test-e2e typecheck codegen verify-codegen bench

deps:
	@bash hack/install-deps.sh

up: deps
	@bash hack/up.sh

down:
	@bash hack/down.sh

typecheck:
	@node_modules/.bin/tsc --noEmit -p tsconfig.json

codegen: deps
	@$(TSX) hack/codegen/update-codegen.ts

verify-codegen:
	@$(TSX) hack/codegen/update-codegen.ts --verify

test: deps typecheck verify-codegen
	@$(JEST) --ci --forceExit

test-unit: deps
	@$(JEST) --selectProjects unit

test-integration: deps
	@$(JEST) --selectProjects integration

test-e2e: deps
	@$(JEST) --selectProjects e2e

bench: deps
	@$(TSX) hack/bench/run.ts
