module github.com/scope-gate/scope-gate

go 1.26

require (
	github.com/tetratelabs/proxy-wasm-go-sdk v0.24.0
	github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/stdgobridge v0.0.0-00010101000000-000000000000
	github.com/tetratelabs/wazero v1.12.0
)

require golang.org/x/sys v0.44.0 // indirect

replace github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/stdgobridge => ./filter/stdgobridge
