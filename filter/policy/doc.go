// Package policy is scope-gate's decision logic, free of any proxy-wasm import so it runs, is tested and is
// fuzzed natively: the plugin configuration (strict, with JSON paths in errors, everything precomputed at
// start), route requirements decoded from Envoy's metadata encoding, token kinds and the static validator,
// the decision in the specified order (docs/spec.md §5), and the exact local replies.
//
// A Config is immutable once Parse returns; a Requirement is immutable once decoded. The request path
// (Config.Check, Config.Authorize) does no JSON, no reflection and, for the common cases, no allocation.
package policy
