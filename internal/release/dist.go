package release

import (
	"bytes"
	"errors"
	"regexp"
	"strings"
)

// DigestPlaceholder stands for the image manifest digest in the Istio and Envoy Gateway examples
// (envoy/istio/wasmplugin.yaml, envoy/envoy-gateway/extensionpolicy.yaml), always inside a quoted YAML string:
// `sha256: "000…0"` (64 zeros). `make dist` writes copies with the digest in its place to
// build/dist/examples/. The placeholder is 64 hex digits, so the examples pass the meshes' CRD validation and
// their own translators unchanged (Istio's pattern (^$|^[a-f0-9]{64}$), istio/api extensions/v1alpha1/wasm.proto;
// Envoy Gateway's ^[a-f0-9]{64}$, envoyproxy/gateway v1.9.0 api/v1alpha1/wasm_types.go); a file applied
// unfilled fails closed when the mesh fetches the module, whose digest is never all zeros (istio-agent then
// installs a deny-all filter, Envoy Gateway rejects the policy: envoy/README.md).
const DigestPlaceholder = "0000000000000000000000000000000000000000000000000000000000000000"

var hex64 = regexp.MustCompile(`^[a-f0-9]{64}$`)

// RenderExample puts the manifest digest (64 lowercase hex digits) in place of every quoted placeholder.
func RenderExample(data []byte, digest string) ([]byte, error) {
	if !hex64.MatchString(digest) {
		return nil, errors.New("digest " + strconvQuote(digest) + " is not 64 lowercase hex digits")
	}
	q := []byte(`"` + DigestPlaceholder + `"`)
	if !bytes.Contains(data, q) {
		return nil, errors.New("no " + string(q) + " to fill in")
	}
	return bytes.ReplaceAll(data, q, []byte(`"`+digest+`"`)), nil
}

// ReleaseNotes is the CHANGELOG.md section of a version: from its "## [<version>]" heading (or "## v<version>"
// / "## <version>") to the next "## " heading, without the heading itself.
func ReleaseNotes(changelog []byte, version string) (string, error) {
	version = strings.TrimPrefix(version, "v")
	lines := strings.Split(string(changelog), "\n")
	start := -1
	for i, l := range lines {
		if !strings.HasPrefix(l, "## ") {
			continue
		}
		if start >= 0 {
			return strings.TrimSpace(strings.Join(lines[start:i], "\n")) + "\n", nil
		}
		h := strings.Fields(strings.TrimPrefix(l, "## "))
		if len(h) > 0 {
			v := strings.TrimPrefix(strings.Trim(h[0], "[]"), "v")
			if v == version {
				start = i + 1
			}
		}
	}
	if start < 0 {
		return "", errors.New("CHANGELOG.md has no \"## [" + version + "]\" section")
	}
	notes := strings.TrimSpace(strings.Join(lines[start:], "\n"))
	if notes == "" {
		return "", errors.New("CHANGELOG.md section " + version + " is empty")
	}
	return notes + "\n", nil
}
