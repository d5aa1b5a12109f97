// Command e2e-envoy replays the scenario table against a real Envoy on PATH (make e2e-envoy):
//
//	go run ./e2e/cmd/e2e-envoy [-scenarios e2e/scenarios/scenarios.json] [-wasm build/scope-gate.wasm] [-envoy envoy] [-v]
//
// Exit status: 0 when every planned scenario passed, 1 when one failed or no Envoy was found, 2 on a usage
// error.
package main

import (
	"os"

	"github.com/scope-gate/scope-gate/e2e/realenvoy"
)

func main() { os.Exit(realenvoy.Main(os.Args[1:], os.Stdout, os.Stderr)) }
