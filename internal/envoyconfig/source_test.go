package envoyconfig

import (
	"strings"
	"testing"
)

// TestModuleSourceFields: an unquoted digest (a YAML number), a digest that is not 64 lowercase hex digits
// and a pull policy outside the mesh's enum are refused, each with one line naming the field; a quoted digest,
// the examples' placeholder and the valid pull policies pass.
func TestModuleSourceFields(t *testing.T) {
	plugin := fixture(t, "wasmplugin_default_fail_strategy.yaml")
	const hex = "5dcf89e64b7bac2bc2bfa5ef89ca22fdacc646b7f74295f45cb3323acb587776"
	const digits = "1234567890123456789012345678901234567890123456789012345678901234"
	withSource := func(lines string) string {
		return edit(t, plugin, "spec:\n", "spec:\n"+lines)
	}
	for _, c := range []struct {
		name, lines, where, msg string
	}{
		{"quoted digest", "  sha256: \"" + hex + "\"\n", "", ""},
		{"quoted digits", "  sha256: \"" + digits + "\"\n", "", ""},
		{"placeholder", "  sha256: \"0000000000000000000000000000000000000000000000000000000000000000\"\n", "", ""},
		{"IfNotPresent", "  imagePullPolicy: IfNotPresent\n", "", ""},
		{"Always", "  imagePullPolicy: Always\n", "", ""},
		{"unquoted digits", "  sha256: " + digits + "\n", "spec.sha256", "invalid value for string field sha256"},
		{"upper case", "  sha256: \"" + strings.ToUpper(hex) + "\"\n", "spec.sha256", "must be 64 lower-case hex digits"},
		{"short", "  sha256: \"" + hex[:63] + "\"\n", "spec.sha256", "must be 64 lower-case hex digits"},
		{"bad pull policy", "  imagePullPolicy: Sometimes\n", "spec.imagePullPolicy", `invalid value for enum field imagePullPolicy: "Sometimes"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			errs, warns := checkText(t, "wp.yaml", withSource(c.lines))
			if len(warns) != 0 {
				t.Errorf("warnings: %v", warns)
			}
			if c.where == "" {
				if len(errs) != 0 {
					t.Errorf("errors: %v", errs)
				}
				return
			}
			if len(errs) != 1 || !strings.Contains(errs[0].String(), "WasmPlugin istio-system/scope-gate (document 0): "+c.where+": "+c.msg) {
				t.Errorf("errors %v, want one at %s: %s", errs, c.where, c.msg)
			}
		})
	}
}

// TestExtensionPolicySourceFields: the same rules on an Envoy Gateway image source, with its own pull policy
// enum (no UNSPECIFIED_POLICY).
func TestExtensionPolicySourceFields(t *testing.T) {
	base := fixture(t, "../../../envoy/envoy-gateway/extensionpolicy.yaml")
	const digits = "1234567890123456789012345678901234567890123456789012345678901234"
	unquoted := edit(t, base, `sha256: "0000000000000000000000000000000000000000000000000000000000000000"`, "sha256: "+digits)
	errs, _ := checkText(t, "eep.yaml", unquoted)
	if len(errs) != 1 || !strings.Contains(errs[0].String(), "code.image.sha256: must be of type string, got number") {
		t.Errorf("unquoted: %v", errs)
	}
	policy := edit(t, base, "      type: Image\n", "      type: Image\n      pullPolicy: UNSPECIFIED_POLICY\n")
	errs, _ = checkText(t, "eep.yaml", policy)
	if len(errs) != 1 || !strings.Contains(errs[0].String(), `spec.wasm[0].code.pullPolicy: unsupported value "UNSPECIFIED_POLICY": must be one of IfNotPresent, Always`) {
		t.Errorf("pull policy: %v", errs)
	}
	ok := edit(t, base, "      type: Image\n", "      type: Image\n      pullPolicy: Always\n")
	if errs, _ := checkText(t, "eep.yaml", ok); len(errs) != 0 {
		t.Errorf("Always: %v", errs)
	}
}
