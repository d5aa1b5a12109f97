package main

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/module"
	modzip "golang.org/x/mod/zip"
)

const modulePath = "github.com/scope-gate/scope-gate"

// tree is a file of the working tree for golang.org/x/mod/zip.
type tree struct{ root, rel string }

func (f tree) Path() string                 { return f.rel }
func (f tree) Lstat() (os.FileInfo, error)  { return os.Lstat(filepath.Join(f.root, f.rel)) }
func (f tree) Open() (io.ReadCloser, error) { return os.Open(filepath.Join(f.root, f.rel)) }
func goCmd(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("go")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestGoInstallFromProxy: `go install github.com/scope-gate/scope-gate/cmd/scope-gate@v<VERSION>` works.
// The root module of this working tree (tracked and new files, without nested modules such as filter/wasm)
// is zipped as the go command's module proxy protocol wants and served from a file:// GOPROXY; the other
// modules come from the local module cache's download directory (also a file proxy), so no network is
// used. A fresh module cache means nothing from an earlier run is reused. A replace directive in go.mod
// fails this test: go install refuses a module that has one.
func TestGoInstallFromProxy(t *testing.T) {
	t.Parallel() // a minute of waiting on the go command; the package's other tests run meanwhile
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	vb, err := os.ReadFile(filepath.Join(root, "VERSION"))
	if err != nil {
		t.Fatal(err)
	}
	version := "v" + strings.TrimSpace(string(vb))
	out, err := exec.Command("git", "-C", root, "ls-files", "-co", "--exclude-standard").Output()
	if err != nil {
		t.Fatalf("git ls-files: %v", err)
	}
	var nested []string
	for _, p := range strings.Fields(string(out)) {
		if filepath.Base(p) == "go.mod" && p != "go.mod" {
			nested = append(nested, filepath.Dir(p)+"/")
		}
	}
	var files []modzip.File
	for _, p := range strings.Fields(string(out)) {
		skip := false
		for _, n := range nested {
			skip = skip || strings.HasPrefix(p, n)
		}
		if _, err := os.Lstat(filepath.Join(root, p)); skip || err != nil { // a deleted, uncommitted file
			continue
		}
		files = append(files, tree{root, p})
	}
	if len(nested) == 0 {
		t.Fatal("no nested module found: the filter's own module should be left out of the zip")
	}

	proxy := t.TempDir()
	dir := filepath.Join(proxy, modulePath, "@v")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var zb bytes.Buffer
	if err := modzip.Create(&zb, module.Version{Path: modulePath, Version: version}, files); err != nil {
		t.Fatal(err)
	}
	gomod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{
		"list":            []byte(version + "\n"),
		version + ".info": []byte(`{"Version":"` + version + `","Time":"` + time.Now().UTC().Format(time.RFC3339) + `"}`),
		version + ".mod":  gomod,
		version + ".zip":  zb.Bytes(),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cache, err := exec.Command(goCmd(t), "env", "GOMODCACHE").Output()
	if err != nil {
		t.Fatal(err)
	}
	deps := filepath.Join(strings.TrimSpace(string(cache)), "cache", "download")

	gobin := t.TempDir()
	cmd := exec.Command(goCmd(t), "install", modulePath+"/cmd/scope-gate@"+version)
	cmd.Dir = t.TempDir() // outside any module
	cmd.Env = append(os.Environ(),
		"GOPROXY=file://"+proxy+",file://"+deps,
		// The test's zip is not the one a checksum database would know, and the dependencies come from this
		// machine's module cache, which the go command verified when it filled it (this test runs offline).
		"GOSUMDB=off",
		"GOFLAGS=-modcacherw", // so that t.TempDir can remove the module cache
		"GOMODCACHE="+t.TempDir(),
		"GOBIN="+gobin,
		"GOWORK=off",
		"GOTOOLCHAIN=local",
	)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go install %s/cmd/scope-gate@%s: %v\n%s", modulePath, version, err, b)
	}
	got, err := exec.Command(filepath.Join(gobin, "scope-gate"), "version").CombinedOutput()
	if err != nil {
		t.Fatalf("scope-gate version: %v\n%s", err, got)
	}
	if want := "scope-gate " + version + "\n"; string(got) != want {
		t.Errorf("scope-gate version printed %q, want %q", got, want)
	}
}
