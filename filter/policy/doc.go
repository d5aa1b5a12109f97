// Package policy is scope-gate's decision logic, free of any proxy-wasm import so it runs, is tested and is
// fuzzed natively: a Policy compiled from the parsed configuration (filter/config), route requirements
// decoded from Envoy's metadata encoding (docs/spec.md §3) and the one order in which a request's
// requirement is looked up (Resolve), the decision in the specified order (docs/spec.md §5), the exact local
// replies, and the metric names (docs/spec.md §7). Validators are filter/validator's; where their answers
// live in shared data is filter/sharedcache's.
//
// A Policy is immutable once Compile returns; a Requirement is immutable once decoded. The request path
// (Policy.Resolve, Policy.Check, Policy.Authorize) does no JSON, no reflection and, for the common cases, no
// allocation.
package policy
