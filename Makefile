# scope-gate: `make run` and `make test` are the two commands a newcomer needs (see README.md).
GO        ?= go
WASM      := build/scope-gate.wasm
# The JWT variant: the default module has no JWT support (the crypto it needs would triple its size), so
# "type": "jwt" needs this one. -tags jwt verifies with the standard library; jwt,jwt_gojose with go-jose,
# whose module only loads on Envoy >= 1.39 (crypto/x509 -> net links WASI file functions 1.33-1.38 lack).
WASM_JWT  := build/scope-gate-jwt.wasm
JWT_TAGS  ?= jwt
BRIDGE    := filter/stdgobridge
# The mesh translator tests: a module of their own (Envoy Gateway and its Kubernetes libraries stay out of the
# main module). A cold build of it takes about 5 minutes on 2 busy cores; later runs reuse Go's build cache.
MESH      := e2e/mesh
FUZZTIME  ?= 30s
GOFLAGS_WASM := GOOS=wasip1 GOARCH=wasm

.PHONY: soak run all build test test-native test-bridge test-mesh e2e-mesh-istio fuzz check lint clean e2e-envoy check-config bench

all: build

# The filter serving envoy/envoy.yaml on real HTTP with no Envoy, plus a demo echo upstream on 127.0.0.1:8081.
run: build
	$(GO) run ./cmd/scope-gate serve -c envoy/envoy.yaml -demo

# The filter: a WASI reactor that Envoy loads. -trimpath and -s -w keep paths and symbols out of the module.
build:
	@mkdir -p build
	$(GOFLAGS_WASM) $(GO) build -buildmode=c-shared -trimpath -ldflags="-s -w" -o $(WASM) ./filter
	@ls -l $(WASM) | awk '{print "built $(WASM): " $$5 " bytes"}'
	$(GOFLAGS_WASM) $(GO) build -tags $(JWT_TAGS) -buildmode=c-shared -trimpath -ldflags="-s -w" -o $(WASM_JWT) ./filter
	@ls -l $(WASM_JWT) | awk '{print "built $(WASM_JWT): " $$5 " bytes"}'

# Every test: the pure packages (with their fuzz seed corpora), the bridge module, and the wasm suites that
# load $(WASM). The module is built first, so the wasm tests never skip for want of it.
test: build test-native test-bridge test-mesh

test-native:
	SCOPE_GATE_WASM=$(CURDIR)/$(WASM) SCOPE_GATE_JWT_WASM=$(CURDIR)/$(WASM_JWT) $(GO) test -count=1 ./...
	$(GO) test -count=1 -tags jwt ./filter/validator/ ./filter/policy/ ./filter/plugin/
	$(GO) test -count=1 -tags jwt,jwt_gojose ./filter/validator/ ./filter/policy/ ./filter/plugin/

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
	cd $(MESH) && $(GO) vet ./...
	$(GO) tool actionlint
	@# staticcheck (a Go tool dependency): the native build, the JWT builds, and the wasm build of the filter
	@# (built once natively, then pointed at GOOS=wasip1, since `go tool` would build it for wasm).
	$(GO) build -o build/staticcheck honnef.co/go/tools/cmd/staticcheck
	build/staticcheck ./...
	build/staticcheck -tags jwt ./filter/... && build/staticcheck -tags jwt,jwt_gojose ./filter/...
	$(GOFLAGS_WASM) build/staticcheck ./filter/... && $(GOFLAGS_WASM) build/staticcheck -tags jwt ./filter/...
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
# validator, GOGC=10 in the host; results in SECURITY.md. (make test runs a 20k-request version.)
soak: build
	SCOPE_GATE_WASM=$(CURDIR)/$(WASM) SCOPE_GATE_SOAK=1 $(GO) test -count=1 -timeout 30m -run '^TestFaultSoak$$' -v ./e2e/hardening

# Offline check of every example under envoy/: Envoy's own API rules, the filter's own parsers.
check-config:
	$(GO) run ./cmd/scope-gate check $$(find envoy -name '*.yaml' | sort)

# envoy/istio/*.yaml through Istio's own config generator (e2e/mesh-istio, a module of its own): rewrites
# e2e/mesh-istio/testdata/istio-routes.json, which make test checks the checker against. Not part of make test:
# building Istio's pilot takes about 15 minutes on 2 cores. Commit the file when it changes.
e2e-mesh-istio:
	cd e2e/mesh-istio && $(GO) test -count=1 -v ./...

# Replays the scenario table against a real Envoy on PATH (not part of `make test`: no Envoy here).
e2e-envoy: build
	$(GO) run ./e2e/cmd/e2e-envoy -wasm $(WASM)

clean:
	rm -rf build
