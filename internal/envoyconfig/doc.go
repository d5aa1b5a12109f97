// Package envoyconfig reads the Envoy, Istio and Envoy Gateway configuration that loads scope-gate and checks
// it offline, with Envoy's own API types and validation rules (go-control-plane) and the filter's own parser
// (filter/policy): every mistake that a real Envoy would reject at start, or that the filter would answer with
// 500 on every request of a route, is found before deployment.
//
// It imports nothing from the proxy-wasm SDK, so commands that run natively (check, a later serve) reuse it:
// LoadBootstrap parses a bootstrap, FindFilters locates the scope-gate filters with their plugin configuration
// and module file, CheckBootstrap resolves every route's effective requirement in the filter's order, and
// Build writes a bootstrap from a small description (used by the real-Envoy scenario driver).
package envoyconfig
