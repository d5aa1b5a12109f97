package release

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestVersionStamp runs the Makefile's version logic (make version) in a scratch git repository holding the
// Makefile and VERSION: v<VERSION>-dev.<commit> on an untagged commit, v<VERSION> on the tagged one, and
// -dirty appended as soon as the tree has an uncommitted change.
func TestVersionStamp(t *testing.T) {
	for _, tool := range []string{"git", "make"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is needed (make dist and make build use it): %v", tool, err)
		}
	}
	dir := t.TempDir()
	for _, f := range []string{"Makefile", "VERSION"} {
		b, err := os.ReadFile(filepath.Join("..", "..", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	vb, _ := os.ReadFile(filepath.Join(dir, "VERSION"))
	v := "v" + strings.TrimSpace(string(vb))
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Dir = dir
		// Nothing from an outer make (make test) may set the stamp.
		var env []string
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, "VERSION_STAMP=") && !strings.HasPrefix(kv, "MAKEFLAGS=") && !strings.HasPrefix(kv, "MFLAGS=") && !strings.HasPrefix(kv, "MAKELEVEL=") {
				env = append(env, kv)
			}
		}
		cmd.Env = append(env, "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t",
			"GIT_COMMITTER_EMAIL=t@example.com", "GIT_CONFIG_GLOBAL=/dev/null")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	stamp := func() string { t.Helper(); return run("make", "-s", "--no-print-directory", "version") }
	run("git", "init", "-q")
	run("git", "add", ".")
	run("git", "commit", "-q", "-m", "x")
	head := run("git", "rev-parse", "--short=12", "HEAD")
	if got, want := stamp(), v+"-dev."+head; got != want {
		t.Errorf("untagged: %q, want %q", got, want)
	}
	run("git", "tag", v)
	if got := stamp(); got != v {
		t.Errorf("tagged: %q, want %q", got, v)
	}
	if err := os.WriteFile(filepath.Join(dir, "VERSION"), append(vb, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := stamp(); got != v+"-dirty" {
		t.Errorf("dirty: %q, want %q", got, v+"-dirty")
	}
	if !regexp.MustCompile(`^v[0-9]+\.[0-9]+\.[0-9]+$`).MatchString(v) {
		t.Errorf("VERSION %q is not MAJOR.MINOR.PATCH: go install ...@%s needs a semantic version tag", vb, v)
	}
}

// TestExamplesPinTheReleaseTag: the image tag in the Istio and Envoy Gateway examples is the VERSION's tag,
// and each carries the quoted digest placeholder that make dist fills in.
func TestExamplesPinTheReleaseTag(t *testing.T) {
	vb, err := os.ReadFile(filepath.Join("..", "..", "VERSION"))
	if err != nil {
		t.Fatal(err)
	}
	tag := ":v" + strings.TrimSpace(string(vb))
	for _, f := range []string{"../../envoy/istio/wasmplugin.yaml", "../../envoy/envoy-gateway/extensionpolicy.yaml"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), "ghcr.io/scope-gate/scope-gate"+tag+"\n") {
			t.Errorf("%s: no image ghcr.io/scope-gate/scope-gate%s (update it with VERSION)", f, tag)
		}
		if !strings.Contains(string(b), `sha256: "`+DigestPlaceholder+`"`) {
			t.Errorf("%s: no quoted %s placeholder", f, DigestPlaceholder)
		}
	}
}

// TestReleaseNotes: the section of one version, and a clear error for a missing one.
func TestReleaseNotes(t *testing.T) {
	cl := "# Changelog\n\n## [0.2.0] - 2027-01-01\n\n- b\n\n## [0.1.0] - 2026-12-01\n\n- a\n"
	if got, err := ReleaseNotes([]byte(cl), "v0.1.0"); err != nil || got != "- a\n" {
		t.Errorf("0.1.0: %q %v", got, err)
	}
	if got, err := ReleaseNotes([]byte(cl), "0.2.0"); err != nil || got != "- b\n" {
		t.Errorf("0.2.0: %q %v", got, err)
	}
	if _, err := ReleaseNotes([]byte(cl), "0.3.0"); err == nil || !strings.Contains(err.Error(), "0.3.0") {
		t.Errorf("0.3.0: %v", err)
	}
	b, err := os.ReadFile(filepath.Join("..", "..", "CHANGELOG.md"))
	if err != nil {
		t.Fatal(err)
	}
	vb, _ := os.ReadFile(filepath.Join("..", "..", "VERSION"))
	if _, err := ReleaseNotes(b, strings.TrimSpace(string(vb))); err != nil {
		t.Errorf("CHANGELOG.md: %v", err)
	}
}
