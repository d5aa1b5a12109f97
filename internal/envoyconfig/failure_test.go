package envoyconfig

import (
	"strings"
	"testing"
)

// TestFailurePolicyChecks: failure_policy and Istio's failStrategy as Envoy and istiod read them: FAIL_RELOAD
// and FAIL_CLOSED pass, an unset policy is a warning (Envoy's FAIL_CLOSED), failing open is an error, and so
// is what Envoy itself refuses; an omitted failStrategy is Istio's FAIL_CLOSE.
func TestFailurePolicyChecks(t *testing.T) {
	const cp = "$.static_resources.listeners[0].filter_chains[0].filters[0].typed_config.http_filters[0].typed_config.config"
	boot := fixture(t, "fail_reload.yaml")
	const reload = "failure_policy: FAIL_RELOAD\n                reload_config: {backoff: {base_interval: 2s}}"
	plugin := fixture(t, "wasmplugin_default_fail_strategy.yaml")
	const wpWhere = "WasmPlugin istio-system/scope-gate (document 0): spec.failStrategy"
	type want struct{ where, msg string }
	for _, c := range []struct {
		name      string
		text      string
		err, warn *want
	}{
		{"FAIL_RELOAD", boot, nil, nil},
		{"FAIL_CLOSED", edit(t, boot, reload, "failure_policy: FAIL_CLOSED"), nil, nil},
		{"unset", edit(t, boot, reload, ""), nil, &want{cp + ".failure_policy", "not set: Envoy 1.33-1.39 treat it as FAIL_CLOSED"}},
		{"FAIL_OPEN", edit(t, boot, reload, "failure_policy: FAIL_OPEN"), &want{cp, "the filter fails open"}, nil},
		{"fail_open", edit(t, boot, reload, "fail_open: true"), &want{cp, "the filter fails open"}, nil},
		{"fail_open and failure_policy", edit(t, boot, reload, "fail_open: true\n                failure_policy: FAIL_CLOSED"),
			&want{cp + ".fail_open", "only one of fail_open or failure_policy can be set"}, nil},
		{"reload_config without FAIL_RELOAD", edit(t, boot, "failure_policy: FAIL_RELOAD", "failure_policy: FAIL_CLOSED"),
			nil, &want{cp + ".reload_config", "applies only with failure_policy FAIL_RELOAD"}},
		{"Istio: omitted", plugin, nil, nil},
		{"Istio: FAIL_CLOSE", edit(t, plugin, "phase: AUTHN", "phase: AUTHN\n  failStrategy: FAIL_CLOSE"), nil, nil},
		{"Istio: FAIL_RELOAD", edit(t, plugin, "phase: AUTHN", "phase: AUTHN\n  failStrategy: FAIL_RELOAD"), nil, nil},
		{"Istio: FAIL_OPEN", edit(t, plugin, "phase: AUTHN", "phase: AUTHN\n  failStrategy: FAIL_OPEN"), &want{wpWhere, "must not be skipped"}, nil},
		{"Istio: unknown", edit(t, plugin, "phase: AUTHN", "phase: AUTHN\n  failStrategy: FAIL_CLOSED"), &want{wpWhere, `invalid value for enum field failStrategy: "FAIL_CLOSED"`}, nil},
		{"Istio: not a string", edit(t, plugin, "phase: AUTHN", "phase: AUTHN\n  failStrategy: 1"), &want{wpWhere, "must be a string"}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			errs, warns := checkText(t, "config.yaml", c.text)
			for _, x := range []struct {
				kind  string
				got   []Finding
				wantF *want
			}{{"error", errs, c.err}, {"warning", warns, c.warn}} {
				switch {
				case x.wantF == nil && len(x.got) != 0:
					t.Errorf("unexpected %ss: %v", x.kind, x.got)
				case x.wantF == nil:
				case len(x.got) != 1 || x.got[0].Where != x.wantF.where || !strings.Contains(x.got[0].Msg, x.wantF.msg):
					t.Errorf("%ss %v, want one at %s: ...%s...", x.kind, x.got, x.wantF.where, x.wantF.msg)
				}
			}
		})
	}
}
