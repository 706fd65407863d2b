# Quantix — the two set-up commands are `make up` and `make test` (see README.md).
SHELL := /bin/bash
TSX := node_modules/.bin/tsx

.PHONY: deps up up-ha down image test test-unit test-integration test-e2e typecheck typecheck-web lint lint-biome lint-promises format format-check boundaries web codegen verify-codegen bench bench-scale

deps:
	@bash hack/install-deps.sh

up: deps web
	@bash hack/up.sh

# The replicated control plane on this machine: 3 etcd members, 2 apiservers behind haproxy,
# 2 leader-elected controller-managers and the local agent (docs/ha.md). `make down` stops it.
up-ha: deps web
	@bash hack/up-ha.sh

down:
	@bash hack/down.sh

# The Debian 12 guest image for tests and the quickstart (docs/guest-image.md): built once per
# recipe into ${QX_CACHE_DIR:-/var/cache/quantix}/guest-image/<recipe-hash>/; the last line of
# output is the image's path.
image: deps
	@bash hack/guest-image/build.sh

typecheck:
	@node_modules/.bin/tsc --noEmit -p tsconfig.json

# The web UI has its own tsconfigs (browser app; Node-side browser suite). They import
# api-types, controllers and the test environment, so the check reruns when any TypeScript
# file in the tree changed, and is skipped (a stamp) when none did.
WEB_TYPECHECK_STAMP := node_modules/.cache/quantix-web/typecheck.stamp
WEB_TYPECHECK_INPUTS := $(shell find web/src web/e2e api-types apiserver agent controllers hack lib -name '*.ts' -o -name '*.tsx' 2>/dev/null) $(wildcard web/*.ts) web/tsconfig.json web/tsconfig.e2e.json package-lock.json
typecheck-web: $(WEB_TYPECHECK_STAMP)
$(WEB_TYPECHECK_STAMP): $(WEB_TYPECHECK_INPUTS)
	@started=$$(date +%s.%N) && node_modules/.bin/tsc -p web/tsconfig.json && node_modules/.bin/tsc -p web/tsconfig.e2e.json && \
	  mkdir -p $(@D) && touch -d @$$started $@  # stamped with the start time: an edit made during the check reruns it

# Lint: Biome (biome.jsonc) over the whole tree, then a type-aware ESLint pass (eslint.config.js)
# for dropped and misused promises only. The ESLint pass builds the TypeScript programs (tens of
# seconds), so like typecheck-web it reruns only when a TypeScript file or its config changed.
BIOME := node_modules/.bin/biome
LINT_PROMISES_STAMP := node_modules/.cache/quantix-lint/promises.stamp
LINT_PROMISES_INPUTS := $(shell find api-types lib apiserver controllers agent cli web/src web/e2e hack manifests -name '*.ts' -o -name '*.tsx' 2>/dev/null) $(wildcard web/*.ts) tsconfig.json web/tsconfig.json web/tsconfig.e2e.json eslint.config.js package-lock.json
lint: lint-biome lint-promises
lint-biome:
	@$(BIOME) lint --error-on-warnings --max-diagnostics=50 .
lint-promises: $(LINT_PROMISES_STAMP)
$(LINT_PROMISES_STAMP): $(LINT_PROMISES_INPUTS)
	@started=$$(date +%s.%N) && node_modules/.bin/eslint --max-warnings=0 . && \
	  mkdir -p $(@D) && touch -d @$$started $@

# The formatter (biome.jsonc): `make format` rewrites files, `make format-check` only reports.
format:
	@$(BIOME) format --write .
format-check:
	@$(BIOME) format --max-diagnostics=20 .

# Component boundaries and import cycles (.dependency-cruiser.cjs), type-only imports included.
boundaries:
	@node_modules/.bin/depcruise --config .dependency-cruiser.cjs --cache node_modules/.cache/dependency-cruiser --progress none \
	  api-types lib apiserver controllers agent cli web hack

# web/dist (served by the apiserver at /ui/) is rebuilt only when a source it bundles changed.
WEB_SOURCES := $(shell find web/src api-types lib -name '*.ts*' -not -name '*.test.ts' -not -name '*.test.tsx' 2>/dev/null) web/index.html web/vite.config.ts package-lock.json
web: web/dist/index.html
web/dist/index.html: $(WEB_SOURCES)
	@node_modules/.bin/vite build --config web/vite.config.ts
	@touch $@

codegen: deps
	@$(TSX) hack/codegen/update-codegen.ts

verify-codegen:
	@$(TSX) hack/codegen/update-codegen.ts --verify

# hack/test.sh: set-up (deps, the web build and the guest image; it must leave the tree as it
# found it, hack/tree-state.sh), then every suite in two jest processes (hack/test-summary.ts
# --streams) with the checks beside them at a lower CPU priority. test-summary ends with
# "N passed, N failed" and fails when a test failed, none ran or a test left a handle open (no
# --forceExit: a leak is a failure, not hidden); a failed check fails the run too.
TEST_SUMMARY := $(TSX) hack/test-summary.ts
test:
	@bash hack/test.sh

test-unit: deps
	@$(TEST_SUMMARY) --selectProjects unit

test-integration: deps
	@$(TEST_SUMMARY) --selectProjects integration

test-e2e: deps web
	@$(TEST_SUMMARY) --selectProjects e2e

bench: deps
	@$(TSX) hack/bench/run.ts

# Issue 20's scale benchmark at full size (hack/bench/scale, docs/scale.md; `make bench` runs it
# small): about half an hour; BENCH_NODES, BENCH_VMS, … shrink it.
bench-scale: deps
	@nice -n 5 $(TSX) hack/bench/run.ts scale
