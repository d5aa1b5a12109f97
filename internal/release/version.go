// Package release holds what scope-gate ships: the version stamped into the CLI, and the OCI images of the
// Wasm modules that Istio and Envoy Gateway pull.
package release

import "runtime/debug"

// Version is set by `make` with -ldflags "-X github.com/scope-gate/scope-gate/internal/release.Version=..."
// from the VERSION file and git (the Makefile's VERSION_STAMP). Empty when the binary was built otherwise.
var Version string

// CurrentVersion is the CLI's version: the stamped one; else the module version the go command recorded,
// which is the tag for `go install github.com/scope-gate/scope-gate/cmd/scope-gate@v0.1.0`; else "devel"
// (a plain `go build` in a checkout records "(devel)").
func CurrentVersion() string {
	if Version != "" {
		return Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}
