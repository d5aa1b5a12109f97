module github.com/scope-gate/scope-gate/filter/wasm

go 1.26.7

require (
	github.com/scope-gate/scope-gate v0.0.0-00010101000000-000000000000
	github.com/tetratelabs/proxy-wasm-go-sdk v0.24.0
	github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/stdgobridge v0.0.0-00010101000000-000000000000
)

require (
	github.com/go-jose/go-jose/v4 v4.1.9 // indirect
	github.com/tetratelabs/wazero v1.12.0 // indirect
	golang.org/x/sys v0.48.0 // indirect
)

// The wasm module builds from this working tree: the pure packages of the root module and the bridge that
// makes the SDK work under standard Go. Neither replace reaches the CLI's module (the root), so
// `go install github.com/scope-gate/scope-gate/cmd/scope-gate@<version>` works.
replace (
	github.com/scope-gate/scope-gate => ../..
	github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/stdgobridge => ../stdgobridge
)
