// Command scope-gate is the proxy-wasm module that Envoy loads. Built as a WASI reactor
// (GOOS=wasip1 GOARCH=wasm -buildmode=c-shared), main never runs: init registers the VM context.
package main

import (
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm"
	// The bridge gives the SDK its host imports and callback exports under the standard Go toolchain.
	_ "github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/stdgobridge"

	"github.com/scope-gate/scope-gate/filter/plugin"
)

func init() { proxywasm.SetVMContext(plugin.NewVMContext()) }

func main() {}
