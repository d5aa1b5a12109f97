// Command scope-gate is the proxy-wasm module that Envoy loads. Built as a WASI reactor
// (GOOS=wasip1 GOARCH=wasm -buildmode=c-shared), main never runs: init registers the VM context.
package main

import (
	// The bridge gives the SDK its host imports and callback exports under the standard Go toolchain, and
	// the host calls without linking fmt (see its package comment).
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/stdgobridge"

	"github.com/scope-gate/scope-gate/filter/wasm/plugin"
)

func init() { stdgobridge.SetVMContext(plugin.NewVMContext()) }

func main() {}
