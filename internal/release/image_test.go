package release

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log"
	"net"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"sigs.k8s.io/yaml"

	"github.com/scope-gate/scope-gate/e2e/testkit"
	"github.com/scope-gate/scope-gate/internal/envoyconfig"
)

// meshPull fetches a Wasm module the way Istio's and Envoy Gateway's image fetchers do (istio/istio
// 1.31.0-rc.0 pkg/wasm/imagefetcher.go PrepareFetch and its extract* functions; envoyproxy/gateway v1.9.0
// internal/wasm/imagefetcher.go, the same rules), written here from their documented rules rather than
// imported (istio.io/istio is not a library: no semver tags, 268 modules, 572 packages for pkg/wasm; see
// docs/shipping.md). The checksum the meshes compare with sha256 is the manifest digest.
//
//   - a Docker schema 2 manifest: the last layer must be application/vnd.docker.image.rootfs.diff.tar.gzip;
//   - otherwise the "compat" variant: the last layer is application/vnd.oci.image.layer.v1.tar+gzip and
//     holds a file whose base name is plugin.wasm;
//   - otherwise the "oci" variant: exactly two layers, one of them
//     application/vnd.module.wasm.content.layer.v1+wasm, whose blob is the raw module.
func meshPull(ref string) (wasm []byte, digest string, variant string, err error) {
	r, err := name.ParseReference(ref)
	if err != nil {
		return nil, "", "", err
	}
	desc, err := remote.Get(r)
	if err != nil {
		return nil, "", "", err
	}
	img, err := desc.Image()
	if err != nil {
		return nil, "", "", err
	}
	d, err := img.Digest()
	if err != nil {
		return nil, "", "", err
	}
	m, err := img.Manifest()
	if err != nil {
		return nil, "", "", err
	}
	layers, err := img.Layers()
	if err != nil {
		return nil, "", "", err
	}
	lastTarGz := func(want types.MediaType) ([]byte, error) {
		if len(layers) == 0 {
			return nil, errors.New("no layers")
		}
		last := layers[len(layers)-1]
		if mt, err := last.MediaType(); err != nil || mt != want {
			return nil, fmt.Errorf("last layer is %s, want %s", mt, want)
		}
		rc, err := last.Compressed()
		if err != nil {
			return nil, err
		}
		defer rc.Close()
		gz, err := gzip.NewReader(rc)
		if err != nil {
			return nil, err
		}
		tr := tar.NewReader(gz)
		for {
			h, err := tr.Next()
			if err != nil {
				return nil, fmt.Errorf("no plugin.wasm: %v", err)
			}
			if filepath.Base(h.Name) == PluginFileName {
				return io.ReadAll(tr)
			}
		}
	}
	if m.MediaType == types.DockerManifestSchema2 {
		b, err := lastTarGz(types.DockerLayer)
		return b, d.Hex, "docker", err
	}
	if b, errCompat := lastTarGz(types.OCILayer); errCompat == nil {
		return b, d.Hex, FormCompat, nil
	}
	if len(layers) != 2 {
		return nil, "", "", fmt.Errorf("neither variant: %d layers", len(layers))
	}
	for _, l := range layers {
		if mt, _ := l.MediaType(); mt == WasmLayerMediaType {
			rc, err := l.Compressed()
			if err != nil {
				return nil, "", "", err
			}
			defer rc.Close()
			b, err := io.ReadAll(rc)
			return b, d.Hex, FormWasm, err
		}
	}
	return nil, "", "", errors.New("neither variant: no wasm layer")
}

// startRegistry serves go-containerregistry's in-memory registry on loopback (plain HTTP, which
// go-containerregistry uses for 127.0.0.1 by itself).
func startRegistry(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// treeOf reads every file of a directory (relative path -> bytes).
func treeOf(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		out[rel] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func sameTree(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// buildModule builds the filter module as make build does, into out.
func buildModule(t *testing.T, out, version string) []byte {
	t.Helper()
	cmd := exec.Command("go", "build", "-buildmode=c-shared", "-trimpath",
		"-ldflags=-s -w -X github.com/scope-gate/scope-gate/filter/wasm/plugin.Version="+version, "-o", out, ".")
	cmd.Dir = filepath.Join("..", "..", "filter", "wasm")
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestReproducibleImages: the module built twice from this tree is the same, and so are its images (every
// byte of both layouts, hence the digests); a different version stamp gives a different module and digest.
func TestReproducibleImages(t *testing.T) {
	dir := t.TempDir()
	a := buildModule(t, filepath.Join(dir, "a.wasm"), "v9.9.9")
	b := buildModule(t, filepath.Join(dir, "b.wasm"), "v9.9.9")
	if !bytes.Equal(a, b) {
		t.Fatal("two builds of the same source differ")
	}
	if !bytes.Contains(a, []byte("v9.9.9")) {
		t.Error("the version stamp is not in the module")
	}
	c := buildModule(t, filepath.Join(dir, "c.wasm"), "v9.9.8")
	meta := Meta{Title: "scope-gate", Version: "v9.9.9", RootID: "scope_gate"}
	for _, form := range []string{FormCompat, FormWasm} {
		var digests []string
		var trees []map[string]string
		for i, wasm := range [][]byte{a, b} {
			img, err := Image(wasm, form, meta)
			if err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(dir, fmt.Sprintf("%s-%d", form, i))
			d, err := WriteLayout(out, img, meta.Version)
			if err != nil {
				t.Fatal(err)
			}
			digests = append(digests, d.Hex)
			trees = append(trees, treeOf(t, out))
			time.Sleep(1100 * time.Millisecond) // a clock in the image would show
		}
		if digests[0] != digests[1] || !sameTree(trees[0], trees[1]) {
			t.Errorf("%s: two images of the same module differ: %v", form, digests)
		}
		other, err := Image(c, form, Meta{Title: "scope-gate", Version: "v9.9.8", RootID: "scope_gate"})
		if err != nil {
			t.Fatal(err)
		}
		if d, _ := other.Digest(); d.Hex == digests[0] {
			t.Errorf("%s: another module has the same digest", form)
		}
	}
}

// TestPushAndPullLikeTheMeshes pushes both forms of build/scope-gate.wasm to a registry on loopback, pulls
// them with the meshes' rules, and gets the module's bytes and the digest the rendered examples pin.
func TestPushAndPullLikeTheMeshes(t *testing.T) {
	_, wasm := testkit.MustReadModule("SCOPE_GATE_WASM", "scope-gate.wasm")
	reg := startRegistry(t)
	dir := t.TempDir()
	meta := Meta{Title: "scope-gate", Version: "v0.0.0-test", RootID: "scope_gate"}
	for _, form := range []string{FormCompat, FormWasm} {
		img, err := Image(wasm, form, meta)
		if err != nil {
			t.Fatal(err)
		}
		layout := filepath.Join(dir, form)
		want, err := WriteLayout(layout, img, meta.Version)
		if err != nil {
			t.Fatal(err)
		}
		ref := reg + "/scope-gate/" + form + ":v0.0.0-test"
		pushed, err := Push(context.Background(), layout, ref)
		if err != nil {
			t.Fatal(err)
		}
		if pushed != want {
			t.Errorf("%s: pushed %s, layout has %s", form, pushed, want)
		}
		for _, pull := range []string{ref, reg + "/scope-gate/" + form + "@sha256:" + want.Hex} {
			got, digest, variant, err := meshPull(pull)
			if err != nil {
				t.Fatalf("%s: pull %s: %v", form, pull, err)
			}
			if variant != form {
				t.Errorf("%s: read as the %s variant", form, variant)
			}
			if !bytes.Equal(got, wasm) {
				t.Errorf("%s: pulled %d bytes that differ from build/scope-gate.wasm (%d bytes)", form, len(got), len(wasm))
			}
			if digest != want.Hex {
				t.Errorf("%s: the registry serves digest %s, the layout has %s", form, digest, want.Hex)
			}
		}
		// The examples make dist renders pin exactly this digest, and pass the offline check.
		for _, ex := range []struct{ file, path string }{
			{"../../envoy/istio/wasmplugin.yaml", "spec.sha256"},
			{"../../envoy/envoy-gateway/extensionpolicy.yaml", "spec.wasm.0.code.image.sha256"},
		} {
			src, err := os.ReadFile(ex.file)
			if err != nil {
				t.Fatal(err)
			}
			out, err := RenderExample(src, want.Hex)
			if err != nil {
				t.Fatalf("%s: %v", ex.file, err)
			}
			var obj any
			if err := yaml.Unmarshal(out, &obj); err != nil {
				t.Fatal(err)
			}
			for _, k := range strings.Split(ex.path, ".") {
				switch o := obj.(type) {
				case map[string]any:
					obj = o[k]
				case []any:
					obj = o[0]
				}
			}
			if s, ok := obj.(string); !ok || s != want.Hex {
				t.Errorf("%s: %s is %#v after rendering, want the string %s", ex.file, ex.path, obj, want.Hex)
			}
			p := filepath.Join(dir, filepath.Base(ex.file))
			if err := os.WriteFile(p, out, 0o644); err != nil {
				t.Fatal(err)
			}
			if rep := envoyconfig.CheckFiles([]string{p}, envoyconfig.Options{}); rep.Errors() != 0 {
				t.Errorf("%s rendered: %v", ex.file, rep.Findings)
			}
		}
	}
}

// TestPushFailuresLeaveTheLayout: an unreachable registry and a bad reference fail with one line that names
// the reference, and the layout is unchanged and still readable.
func TestPushFailuresLeaveTheLayout(t *testing.T) {
	img, err := Image([]byte("\x00asm\x01\x00\x00\x00"), FormCompat, Meta{Title: "t", Version: "v1", RootID: "scope_gate"})
	if err != nil {
		t.Fatal(err)
	}
	layout := filepath.Join(t.TempDir(), "compat")
	if _, err := WriteLayout(layout, img, "v1"); err != nil {
		t.Fatal(err)
	}
	before := treeOf(t, layout)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := l.Addr().String()
	l.Close()
	for _, ref := range []string{dead + "/scope-gate:v1", "not a reference", "scope-gate:v1"} {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		_, err := Push(ctx, layout, ref)
		cancel()
		if err == nil {
			t.Errorf("push to %q succeeded", ref)
			continue
		}
		if msg := err.Error(); strings.Contains(msg, "\n") || !strings.Contains(msg, strings.Split(ref, "/")[0]) {
			t.Errorf("push to %q: error %q is not one line naming it", ref, msg)
		}
		if !sameTree(before, treeOf(t, layout)) {
			t.Errorf("push to %q changed the layout", ref)
		}
		if _, err := LayoutImage(layout); err != nil {
			t.Errorf("after push to %q: %v", ref, err)
		}
	}
}

// TestImageRefusesNonWasm: the builder refuses bytes that are not a module and an unknown form.
func TestImageRefusesNonWasm(t *testing.T) {
	if _, err := Image([]byte("#!/bin/sh\n"), FormCompat, Meta{}); err == nil {
		t.Error("a shell script became an image")
	}
	if _, err := Image([]byte("\x00asm\x01\x00\x00\x00"), "tarball", Meta{}); err == nil {
		t.Error("an unknown form became an image")
	}
}
