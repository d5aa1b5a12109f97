// Command scope-gate is the native companion of the scope-gate Wasm filter.
//
//	scope-gate check <file.yaml>...   check Envoy bootstraps, Istio and Envoy Gateway resources offline
//	scope-gate routes -openapi SPEC   route requirements from an OpenAPI document
//	scope-gate serve [-c envoy.yaml]  serve an Envoy bootstrap's routes with the filter, without Envoy
//	scope-gate image [-form compat|wasm] [-push REF]  build (and push) the OCI image of a module
//	scope-gate version                print the version
//
// Exit status: 0 when everything is fine, 1 when a check or a scenario fails, 2 on a usage error.
package main

import (
	"fmt"
	"io"
	"os"

	"github.com/scope-gate/scope-gate/internal/release"
)

const usage = `usage:
  scope-gate check [-q] [-allow-unnormalized-paths] <file.yaml>...
      Check Envoy v3 bootstraps (Envoy's field rules, the scope-gate filter's plugin configuration,
      every route's requirement, path normalization on its connection manager) and Istio (WasmPlugin,
      EnvoyFilter, VirtualService) or Envoy Gateway (EnvoyExtensionPolicy, HTTPRoute) resources. Prints
      the route table and one line per problem; -q prints only the problems; -allow-unnormalized-paths
      reports a connection manager without path normalization as a warning. Exits 1 on any error
      (warnings do not fail).
  scope-gate check -openapi SPEC [-virtual-host NAME] [openapi flags] <bootstrap.yaml>...
      Also compare each bootstrap's routes with the OpenAPI document, operation by operation (method and a
      sample path): an operation the edge lets through more loosely than the document, or does not route,
      is an error; more strictly, a warning.
  scope-gate routes -openapi SPEC [-format envoy|routes-map|table] [-o FILE] [-bearer-schemes A,B]
                    [-inexact refuse|stricter] [-foreign refuse|skip] [-base-path /P] [-namespace NS] [-cluster C]
      Route requirements from an OpenAPI 3.0/3.1 (or Swagger 2.0) document: Envoy routes (safe_regex and
      :method, most specific first, with filter_metadata), the plugin configuration's routes map (keyed by
      operationId, for Istio and Envoy Gateway), or a table. A requirement the route keys cannot say exactly
      is refused, or made stricter with a warning (-inexact stricter). Errors: one line with the JSON pointer.
  scope-gate serve [-c envoy/envoy.yaml] [-workers N] [-demo] [-log-level info] [-drain-timeout 10s]
      Serve the bootstrap's listener with the filter on an embedded Wasm runtime (no Envoy needed);
      anything in the bootstrap it does not implement is an error. -demo also starts an echo upstream
      on the backend cluster's address and prints demo tokens and curl lines (make run).
  scope-gate image [-wasm build/scope-gate.wasm] [-form compat|wasm] [-o DIR] [-version V] [-push REF]
      Write the module as a reproducible OCI image layout (default build/oci/<module>-<form>) that Istio
      (WasmPlugin url: oci://...) and Envoy Gateway (type: Image) pull: compat is a container image whose
      last layer holds plugin.wasm, wasm the application/vnd.module.wasm.content.layer.v1+wasm artifact.
      Prints the manifest digest (the sha256 the meshes verify). -push also uploads it (Docker config
      credentials); a failed push leaves the layout in place.
  scope-gate version
      Print the version.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "check":
		return runCheck(args[1:], stdout, stderr)
	case "routes":
		return runRoutes(args[1:], stdout, stderr)
	case "serve":
		return runServe(args[1:], stdout, stderr)
	case "image":
		return runImage(args[1:], stdout, stderr)
	case "version", "-version", "--version":
		fmt.Fprintln(stdout, "scope-gate "+release.CurrentVersion())
		return 0
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "scope-gate: unknown command %q\n%s", args[0], usage)
	return 2
}
