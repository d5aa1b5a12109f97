package envoyconfig

import (
	wasmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/wasm/v3"
)

// checkFailurePolicy: what Envoy does when the VM fails (a trap, abort()), from PluginConfig's constructor and
// PluginConfig::maybeReloadHandleIfNeeded in envoyproxy/envoy v1.33.0 source/extensions/common/wasm/wasm.cc
// (unchanged through v1.39.0):
//   - failure_policy (Envoy >= 1.33) FAIL_CLOSED answers 503 on every later request, until Envoy restarts;
//   - FAIL_RELOAD (added in 1.33, envoyproxy/envoy #36456) answers 503 too, but a new request that comes a
//     backoff interval (reload_config.backoff.base_interval, 1 s by default, jittered up to 1.5x) after the
//     VM's last load creates a new VM, for runtime failures; other failures fall back to FAIL_CLOSED;
//   - FAIL_OPEN, or the deprecated fail_open (deprecated in 1.33), skips the filter: every request goes
//     through unchecked, which an authorization filter must never do;
//   - fail_open together with failure_policy is refused by Envoy ("only one of fail_open or failure_policy
//     can be set");
//   - unset is FAIL_CLOSED in the code, although the 1.33 changelog announced FAIL_RELOAD as the default.
func checkFailurePolicy(r *Report, file, cp string, p *wasmv3.PluginConfig) {
	pol := p.GetFailurePolicy()
	//lint:ignore SA1019 fail_open is deprecated, but Envoy still honours it: a configuration that sets it must be judged
	failOpen := p.GetFailOpen()
	switch {
	case failOpen && pol != wasmv3.FailurePolicy_UNSPECIFIED:
		r.errorf(file, cp+".fail_open", "only one of fail_open or failure_policy can be set: Envoy refuses the filter; remove fail_open")
	case failOpen || pol == wasmv3.FailurePolicy_FAIL_OPEN:
		r.errorf(file, cp, "the filter fails open: a failed VM would forward every request unchecked; set failure_policy: FAIL_RELOAD (or FAIL_CLOSED)")
	case pol == wasmv3.FailurePolicy_UNSPECIFIED:
		r.warnf(file, cp+".failure_policy", "not set: Envoy 1.33-1.39 treat it as FAIL_CLOSED (the 1.33 changelog said FAIL_RELOAD); set FAIL_RELOAD (recommended) or FAIL_CLOSED explicitly")
	}
	if p.GetReloadConfig() != nil && pol != wasmv3.FailurePolicy_FAIL_RELOAD {
		r.warnf(file, cp+".reload_config", "applies only with failure_policy FAIL_RELOAD: Envoy ignores it with %s", pol)
	}
}

// checkFailStrategy: Istio's WasmPlugin failStrategy (istio/api extensions/v1alpha1/wasm.proto FailStrategy:
// FAIL_CLOSE = 0 is the default when it is omitted, FAIL_OPEN = 1, FAIL_RELOAD = 2 since istio/api 1.27.0),
// which istiod turns into Envoy's failure_policy FAIL_CLOSED, FAIL_OPEN or FAIL_RELOAD for proxies >= 1.25
// (istio/istio 1.27.0 pilot/pkg/model/extensions.go).
func checkFailStrategy(r *Report, d *Document, spec map[string]any) {
	v, set := spec["failStrategy"]
	fs, isString := v.(string)
	switch {
	case !set || v == nil, fs == "FAIL_CLOSE", fs == "FAIL_RELOAD":
	case fs == "FAIL_OPEN":
		r.errorf(d.File, d.where("spec.failStrategy"), "must be FAIL_CLOSE (Istio's default when omitted) or FAIL_RELOAD, got \"FAIL_OPEN\": an authorization filter must not be skipped when its VM fails")
	case !isString:
		r.errorf(d.File, d.where("spec.failStrategy"), "must be a string (FAIL_CLOSE or FAIL_RELOAD), got %s", kindOf(v))
	default:
		r.errorf(d.File, d.where("spec.failStrategy"), "unknown value %q: Istio's are FAIL_CLOSE (the default), FAIL_RELOAD and FAIL_OPEN", fs)
	}
}
