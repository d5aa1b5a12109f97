// Package wasmbuild builds a Go package into a proxy-wasm reactor module the way `make build` builds the
// filter (GOOS=wasip1 GOARCH=wasm, -buildmode=c-shared, -trimpath, -ldflags="-s -w"), for the benchmark's
// reference modules and the tests' guest modules. Go's build cache makes a second build instant.
package wasmbuild

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// Reactor builds the package pkg (a path relative to dir, such as "./bench/testdata/noop") from the module
// directory dir into out, and returns the module's bytes. The go command is the one on PATH: the same
// toolchain that runs the tests or the benchmark.
func Reactor(dir, pkg, out string) ([]byte, error) { return ReactorTags(dir, pkg, out, "") }

// ReactorTags is Reactor with build tags (comma-separated, as go build -tags takes them; "" for none): a
// test build of the filter with test-only exports, for instance.
func ReactorTags(dir, pkg, out, tags string) ([]byte, error) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		return nil, fmt.Errorf("wasmbuild: building %s needs the go command on PATH: %v", pkg, err)
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return nil, fmt.Errorf("wasmbuild: %v", err)
	}
	args := []string{"build", "-buildmode=c-shared", "-trimpath", "-ldflags=-s -w"}
	if tags != "" {
		args = append(args, "-tags", tags)
	}
	cmd := exec.Command(goTool, append(args, "-o", out, pkg)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
	if b, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("wasmbuild: building %s: %v\n%s", pkg, err, b)
	}
	return os.ReadFile(out)
}
