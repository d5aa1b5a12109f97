# scope-gate: `make run` and `make test` are the two commands a newcomer needs (see README.md).
GO        ?= go
WASM      := build/scope-gate.wasm
# The JWT variant: the default module has no JWT support (the crypto it needs would triple its size), so
# "type": "jwt" needs this one. -tags jwt verifies with the standard library; jwt,jwt_gojose with go-jose,
# whose module only loads on Envoy >= 1.39 (crypto/x509 -> net links WASI file functions 1.33-1.38 lack).
WASM_JWT  := build/scope-gate-jwt.wasm
JWT_TAGS  ?= jwt
BRIDGE    := filter/stdgobridge
# The module's own Go module (package main, the SDK glue, and the replaces for the bridge and this tree);
# the root module (CLI, pure packages, tests) has no replace, so `go install .../cmd/scope-gate@vX` works.
MODULE    := filter/wasm
# The one version source is VERSION (release tag v$(VERSION)). The stamp is v$(VERSION) on the commit tagged
# so, v$(VERSION)-dev.<commit> on any other commit, and -dirty is appended when the tree has uncommitted
# changes. Set VERSION_STAMP to override (a build without git).
VERSION_STAMP ?= $(shell v=v$$(cat VERSION); \
	if c=$$(git rev-parse -q --short=12 HEAD 2>/dev/null); then \
		[ "$$(git rev-parse -q --verify "refs/tags/$$v^{commit}" 2>/dev/null)" = "$$(git rev-parse HEAD)" ] || v="$$v-dev.$$c"; \
		[ -z "$$(git status --porcelain 2>/dev/null)" ] || v="$$v-dirty"; fi; echo "$$v")
LDFLAGS_WASM := -s -w -X github.com/scope-gate/scope-gate/filter/wasm/plugin.Version=$(VERSION_STAMP)
LDFLAGS_CLI  := -X github.com/scope-gate/scope-gate/internal/release.Version=$(VERSION_STAMP)
# The mesh translator tests: a module of their own (Envoy Gateway and its Kubernetes libraries stay out of the
# main module). A cold build of it takes about 5 minutes on 2 busy cores; later runs reuse Go's build cache.
MESH      := e2e/mesh
FUZZTIME  ?= 30s
GOFLAGS_WASM := GOOS=wasip1 GOARCH=wasm

.PHONY: soak run all build test test-native test-module test-bridge test-mesh e2e-mesh-istio fuzz check lint clean e2e-envoy check-config bench image dist dist-deps dist-push version

all: build

# The filter serving envoy/envoy.yaml on real HTTP with no Envoy, plus a demo echo upstream on 127.0.0.1:8081.
run: build
	$(GO) run ./cmd/scope-gate serve -c envoy/envoy.yaml -demo

# The filter: a WASI reactor that Envoy loads. -trimpath and -s -w keep paths and symbols out of the module.
# The version (VERSION_STAMP) is set with -X on a string variable: no fmt, a few bytes.
build:
	@mkdir -p build
	cd $(MODULE) && $(GOFLAGS_WASM) $(GO) build -buildmode=c-shared -trimpath -ldflags="$(LDFLAGS_WASM)" -o $(CURDIR)/$(WASM) .
	@ls -l $(WASM) | awk '{print "built $(WASM): " $$5 " bytes"}'
	cd $(MODULE) && $(GOFLAGS_WASM) $(GO) build -tags $(JWT_TAGS) -buildmode=c-shared -trimpath -ldflags="$(LDFLAGS_WASM)" -o $(CURDIR)/$(WASM_JWT) .
	@ls -l $(WASM_JWT) | awk '{print "built $(WASM_JWT): " $$5 " bytes"}'

# Every test: the pure packages (with their fuzz seed corpora), the bridge module, and the wasm suites that
# load $(WASM). The module is built first, so the wasm tests never skip for want of it.
test: build test-native test-module test-bridge test-mesh

test-native:
	SCOPE_GATE_WASM=$(CURDIR)/$(WASM) SCOPE_GATE_JWT_WASM=$(CURDIR)/$(WASM_JWT) $(GO) test -count=1 ./...
	$(GO) test -count=1 -tags jwt ./filter/validator/ ./filter/policy/
	$(GO) test -count=1 -tags jwt,jwt_gojose ./filter/validator/ ./filter/policy/
	# The word loads read bytes on machines without cheap unaligned loads: the same tests on that path.
	$(GO) test -count=1 -tags scopegate_portable ./filter/...
	# ...and as 32-bit code (a 32-bit int once read a header count of 2^31 as "no headers"), where the host
	# runs 386 binaries.
	if [ "$$($(GO) env GOHOSTARCH)" = amd64 ]; then GOARCH=386 $(GO) test -count=1 ./filter/...; fi

# The glue's native tests (under the SDK's proxytest emulator), in the module's own Go module.
test-module:
	cd $(MODULE) && $(GO) test -count=1 ./... && $(GO) test -count=1 -tags jwt ./... && $(GO) test -count=1 -tags jwt,jwt_gojose ./...

test-bridge:
	cd $(BRIDGE) && $(GO) test -count=1 ./...

# envoy/envoy-gateway/*.yaml through Envoy Gateway v1.9.1's own translators, then check and serve on the result.
test-mesh: build
	cd $(MESH) && SCOPE_GATE_WASM=$(CURDIR)/$(WASM) $(GO) test -count=1 ./...

# Each fuzz target for FUZZTIME (go test -fuzz runs one target per invocation).
FUZZ_TARGETS := \
	./filter/bearer:FuzzParse \
	./filter/digest:FuzzSum256 \
	./filter/pairs:FuzzDecode \
	./filter/pathcheck:FuzzCheck \
	./filter/strictjson:FuzzParse \
	./filter/policy:FuzzParseConfig \
	./filter/policy:FuzzDecodeRequirement \
	./filter/validator:FuzzRemoteAnswer \
	./filter/sharedcache:FuzzDecodeEntry \
	./filter/policy:FuzzDecide \
	./filter/validator:FuzzRemoteRequest \
	./filter/validator:FuzzJWTParse \
	./filter/validator:FuzzParseJWKS \
	./e2e/hardening:FuzzModuleDecision

fuzz: build
	@set -e; export SCOPE_GATE_WASM=$(CURDIR)/$(WASM); for t in $(FUZZ_TARGETS); do \
		tags=""; case $$t in jwt:*) tags="-tags jwt"; t=$${t#jwt:};; esac; \
		pkg=$${t%%:*}; name=$${t##*:}; \
		echo "fuzz $$pkg $$name $$tags for $(FUZZTIME)"; \
		$(GO) test $$tags -run='^$$' -fuzz="^$$name$$" -fuzztime=$(FUZZTIME) $$pkg; \
	done

# gofmt, go vet for the native and the wasm build of both modules, and go mod tidy leaving no diff.
check lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
		if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GOFLAGS_WASM) $(GO) vet ./filter/...
	$(GO) vet -tags jwt ./filter/... && $(GO) vet -tags jwt,jwt_gojose ./filter/...
	$(GOFLAGS_WASM) $(GO) vet -tags jwt ./filter/... && $(GOFLAGS_WASM) $(GO) vet -tags jwt,jwt_gojose ./filter/...
	cd $(BRIDGE) && $(GO) vet ./... && $(GOFLAGS_WASM) $(GO) vet ./...
	cd $(MODULE) && $(GO) vet ./... && $(GO) vet -tags jwt ./... && $(GO) vet -tags jwt,jwt_gojose ./...
	cd $(MODULE) && $(GOFLAGS_WASM) $(GO) vet ./... && $(GOFLAGS_WASM) $(GO) vet -tags jwt ./... && $(GOFLAGS_WASM) $(GO) vet -tags jwt,jwt_gojose ./...
	cd $(MESH) && $(GO) vet ./...
	$(GO) tool actionlint
	@# staticcheck (a Go tool dependency): the native build, the JWT builds, and the wasm build of the filter
	@# (built once natively, then pointed at GOOS=wasip1, since `go tool` would build it for wasm).
	$(GO) build -o build/staticcheck honnef.co/go/tools/cmd/staticcheck
	build/staticcheck ./...
	build/staticcheck -tags jwt ./filter/... && build/staticcheck -tags jwt,jwt_gojose ./filter/...
	$(GOFLAGS_WASM) build/staticcheck ./filter/... && $(GOFLAGS_WASM) build/staticcheck -tags jwt ./filter/...
	cd $(MODULE) && ../../build/staticcheck ./... && $(GOFLAGS_WASM) ../../build/staticcheck ./... && $(GOFLAGS_WASM) ../../build/staticcheck -tags jwt ./...
	@cp go.mod /tmp/scope-gate.go.mod.$$$$ && cp go.sum /tmp/scope-gate.go.sum.$$$$ && \
		$(GO) mod tidy && \
		if ! cmp -s go.mod /tmp/scope-gate.go.mod.$$$$ || ! cmp -s go.sum /tmp/scope-gate.go.sum.$$$$; then \
			echo "go mod tidy changed go.mod/go.sum: commit the tidy result"; \
			cp /tmp/scope-gate.go.mod.$$$$ go.mod; cp /tmp/scope-gate.go.sum.$$$$ go.sum; exit 1; fi; \
		rm -f /tmp/scope-gate.go.mod.$$$$ /tmp/scope-gate.go.sum.$$$$
	@cd $(BRIDGE) && cp go.mod /tmp/scope-gate.bridge.mod && cp go.sum /tmp/scope-gate.bridge.sum && $(GO) mod tidy && \
		if ! cmp -s go.mod /tmp/scope-gate.bridge.mod || ! cmp -s go.sum /tmp/scope-gate.bridge.sum; then \
			echo "go mod tidy changed $(BRIDGE)/go.mod: commit the tidy result"; \
			cp /tmp/scope-gate.bridge.mod go.mod; cp /tmp/scope-gate.bridge.sum go.sum; exit 1; fi
	@cd $(MODULE) && cp go.mod /tmp/scope-gate.module.mod && cp go.sum /tmp/scope-gate.module.sum && $(GO) mod tidy && \
		if ! cmp -s go.mod /tmp/scope-gate.module.mod || ! cmp -s go.sum /tmp/scope-gate.module.sum; then \
			echo "go mod tidy changed $(MODULE)/go.mod: commit the tidy result"; \
			cp /tmp/scope-gate.module.mod go.mod; cp /tmp/scope-gate.module.sum go.sum; exit 1; fi
	@# The CLI's module must stay installable with `go install ...@version`, which refuses a replace.
	@! grep -q '^replace\|^\s*replace' go.mod || { echo "go.mod has a replace directive: go install .../cmd/scope-gate@version would refuse the module"; exit 1; }
	@cd $(MESH) && cp go.mod /tmp/scope-gate.mesh.mod.$$$$ && cp go.sum /tmp/scope-gate.mesh.sum.$$$$ && $(GO) mod tidy && \
		if ! cmp -s go.mod /tmp/scope-gate.mesh.mod.$$$$ || ! cmp -s go.sum /tmp/scope-gate.mesh.sum.$$$$; then \
			echo "go mod tidy changed $(MESH)/go.mod: commit the tidy result"; \
			cp /tmp/scope-gate.mesh.mod.$$$$ go.mod; cp /tmp/scope-gate.mesh.sum.$$$$ go.sum; exit 1; fi; \
		rm -f /tmp/scope-gate.mesh.mod.$$$$ /tmp/scope-gate.mesh.sum.$$$$

# Performance report (PERFORMANCE.md): every benchmark side by side in one process, cold start, and linear
# memory over 1M requests per profile. About 3-4 minutes; prints markdown on stdout.
bench: build
	SCOPE_GATE_WASM=$(CURDIR)/$(WASM) $(GO) run ./bench/cmd/report

# The fault soak (e2e/hardening): 1M requests over 4 VMs under envoy-1.33 with a flaky and a refusing
# validator, GOGC=10 in the host; results in SECURITY.md. (make test runs a 20k-request version.) Then 1M
# interleaved requests per profile through the probe build: no guest allocation, no guest GC (make test: 20k).
soak: build
	SCOPE_GATE_WASM=$(CURDIR)/$(WASM) SCOPE_GATE_SOAK=1 $(GO) test -count=1 -timeout 30m -run '^TestFaultSoak$$' -v ./e2e/hardening
	SCOPE_GATE_WASM=$(CURDIR)/$(WASM) SCOPE_GATE_ALLOC_SOAK=1 $(GO) test -count=1 -timeout 30m -run '^TestRequestPathDoesNotAllocate$$' -v ./bench

# Offline check of every example under envoy/: Envoy's own API rules, the filter's own parsers.
check-config:
	$(GO) run ./cmd/scope-gate check $$(find envoy -name '*.yaml' | sort)
	$(GO) run ./cmd/scope-gate check -q -openapi envoy/reference-backend.openapi.json envoy/reference-backend.yaml

# envoy/istio/*.yaml through Istio's own config generator (e2e/mesh-istio, a module of its own): rewrites
# e2e/mesh-istio/testdata/istio-routes.json, which make test checks the checker against. Not part of make test:
# building Istio's pilot takes about 15 minutes on 2 cores. Commit the file when it changes.
e2e-mesh-istio:
	cd e2e/mesh-istio && $(GO) test -count=1 -v ./...

# Replays the scenario table against a real Envoy on PATH (not part of `make test`: no Envoy here).
e2e-envoy: build
	$(GO) run ./e2e/cmd/e2e-envoy -wasm $(WASM)

# The version stamped into the modules and the CLI.
version:
	@echo $(VERSION_STAMP)

# OCI image layouts of both modules, both forms, under build/oci/ (no Docker: go-containerregistry).
# PUSH=registry/repo pushes scope-gate to PUSH:<stamp> and the JWT variant to PUSH-jwt:<stamp> (compat form).
IMAGE_CLI = $(GO) run -ldflags="$(LDFLAGS_CLI)" ./cmd/scope-gate image -version $(VERSION_STAMP)
image: build
	@set -e; for m in scope-gate scope-gate-jwt; do for f in compat wasm; do \
		$(IMAGE_CLI) -wasm build/$$m.wasm -form $$f -o build/oci/$$m-$$f; done; done
	@if [ -n "$(PUSH)" ]; then \
		$(IMAGE_CLI) -wasm build/scope-gate.wasm -o build/oci/scope-gate-compat -push $(PUSH):$(VERSION_STAMP) && \
		$(IMAGE_CLI) -wasm build/scope-gate-jwt.wasm -o build/oci/scope-gate-jwt-compat -push $(PUSH)-jwt:$(VERSION_STAMP); fi

# The release: build/dist/ with both modules (optimized by binaryen's wasm-opt -Oz), the CLI for this machine,
# the OCI image layouts of the optimized modules, the Istio and Envoy Gateway examples with the images'
# digests filled in, RELEASE_NOTES.md (this version's CHANGELOG.md section) and SHA256SUMS. On a tree with
# uncommitted changes the version ends in -dirty. wasm-opt: `make dist-deps` (Debian/Ubuntu: apt-get install
# binaryen); WASM_OPT=none ships the modules as Go built them. The optimized modules pass every wasm suite
# (docs/shipping.md); the feature flags are the ones Go's wasm output uses (binaryen 108 enables none itself).
WASM_OPT       ?= wasm-opt
WASM_OPT_FLAGS ?= -Oz --enable-sign-ext --enable-nontrapping-float-to-int --enable-bulk-memory
DIST_CLI = $(GO) run -ldflags="$(LDFLAGS_CLI)" ./cmd/scope-gate
dist: clean build
	@if [ "$(WASM_OPT)" != none ] && ! command -v $(WASM_OPT) >/dev/null 2>&1; then \
		echo "make dist: $(WASM_OPT) (binaryen) not found: run make dist-deps (apt-get install binaryen), or WASM_OPT=none to ship unoptimized modules"; exit 1; fi
	@mkdir -p build/dist/oci
	@set -e; for m in scope-gate scope-gate-jwt; do \
		if [ "$(WASM_OPT)" = none ]; then cp build/$$m.wasm build/dist/$$m.wasm; \
		else echo "$(WASM_OPT) $(WASM_OPT_FLAGS) build/$$m.wasm"; $(WASM_OPT) $(WASM_OPT_FLAGS) build/$$m.wasm -o build/dist/$$m.wasm; fi; \
		ls -l build/$$m.wasm build/dist/$$m.wasm | awk '{print $$5 " bytes " $$9}'; \
		for f in compat wasm; do $(DIST_CLI) image -version $(VERSION_STAMP) -wasm build/dist/$$m.wasm -form $$f -o build/dist/oci/$$m-$$f; done; done
	$(GO) build -trimpath -ldflags="$(LDFLAGS_CLI)" -o build/dist/scope-gate-$$($(GO) env GOOS)-$$($(GO) env GOARCH) ./cmd/scope-gate
	$(GO) run ./internal/release/cmd/dist notes -version $$(cat VERSION) CHANGELOG.md > build/dist/RELEASE_NOTES.md
	@{ echo; echo "Built as $(VERSION_STAMP) with $$($(GO) version)$$([ "$(WASM_OPT)" = none ] || echo "; $$($(WASM_OPT) --version) $(WASM_OPT_FLAGS)")."; } >> build/dist/RELEASE_NOTES.md
	$(GO) run ./internal/release/cmd/dist examples -layout build/dist/oci/scope-gate-compat -o build/dist/examples \
		envoy/istio/wasmplugin.yaml envoy/envoy-gateway/extensionpolicy.yaml
	$(GO) run ./cmd/scope-gate check -q build/dist/examples/wasmplugin.yaml envoy/istio/virtualservice.yaml envoy/istio/envoyfilter.yaml
	$(GO) run ./cmd/scope-gate check -q build/dist/examples/extensionpolicy.yaml envoy/envoy-gateway/httproute.yaml
	cd build/dist && find . -type f ! -name SHA256SUMS | LC_ALL=C sort | sed 's|^\./||' | xargs sha256sum > SHA256SUMS
	@echo "build/dist: $(VERSION_STAMP)"

# Pushes the release images (compat form, the one the examples pin) to PUSH:<stamp> and PUSH-jwt:<stamp>,
# e.g. make dist-push PUSH=ghcr.io/scope-gate/scope-gate. The layouts are rewritten first: identical bytes.
dist-push:
	@[ -n "$(PUSH)" ] || { echo "make dist-push: set PUSH=registry/repository"; exit 1; }
	@[ -f build/dist/scope-gate.wasm ] || { echo "make dist-push: no build/dist: run make dist first"; exit 1; }
	$(DIST_CLI) image -version $(VERSION_STAMP) -wasm build/dist/scope-gate.wasm -o build/dist/oci/scope-gate-compat -push $(PUSH):$(VERSION_STAMP)
	$(DIST_CLI) image -version $(VERSION_STAMP) -wasm build/dist/scope-gate-jwt.wasm -o build/dist/oci/scope-gate-jwt-compat -push $(PUSH)-jwt:$(VERSION_STAMP)

# What make dist needs beyond Go: binaryen's wasm-opt (Debian/Ubuntu package binaryen, 108 or newer).
dist-deps:
	@command -v $(WASM_OPT) >/dev/null 2>&1 && $(WASM_OPT) --version || { \
		if command -v apt-get >/dev/null 2>&1; then apt-get update -qq && apt-get install -y -qq binaryen; \
		else echo "install binaryen (https://github.com/WebAssembly/binaryen/releases) so that wasm-opt is on PATH"; exit 1; fi; }

clean:
	rm -rf build
