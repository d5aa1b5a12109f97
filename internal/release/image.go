package release

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// The two image forms that Istio's and Envoy Gateway's Wasm image fetchers accept (istio/istio 1.31.0-rc.0
// pkg/wasm/imagefetcher.go, PrepareFetch; envoyproxy/gateway v1.9.0 internal/wasm/imagefetcher.go, the same
// rules). They take the image manifest's digest as the module's checksum: WasmPlugin.sha256 and
// EnvoyExtensionPolicy image.sha256 must be the manifest digest, not the digest of the .wasm file
// (istio pkg/wasm/cache.go, getOrFetch: dChecksum is PrepareFetch's actualDigest).
const (
	// FormCompat: a container image whose LAST layer is application/vnd.oci.image.layer.v1.tar+gzip and
	// holds a file whose base name is plugin.wasm (the fetchers' "compat" variant, extractOCIStandardImage).
	// This is the form of coraza-proxy-wasm's FROM-scratch image; any registry and any tool handle it.
	FormCompat = "compat"
	// FormWasm: the "oci" variant (extractOCIArtifactImage): EXACTLY two layers, one of media type
	// application/vnd.module.wasm.content.layer.v1+wasm holding the raw module (read without decompression),
	// plus a second one; like the fetchers' own test fixtures, the second is a JSON layer of media type
	// application/vnd.module.wasm.config.v1+json.
	FormWasm = "wasm"

	WasmLayerMediaType       types.MediaType = "application/vnd.module.wasm.content.layer.v1+wasm"
	WasmConfigLayerMediaType types.MediaType = "application/vnd.module.wasm.config.v1+json"

	// PluginFileName is the file the compat form's layer must hold.
	PluginFileName = "plugin.wasm"
)

// epoch is every timestamp in an image (config, history, tar entry): the same source gives the same bytes,
// hence the same digest, whenever and wherever it is built.
var epoch = time.Unix(0, 0).UTC()

// Meta describes the module an image carries.
type Meta struct {
	Title   string // "scope-gate" or "scope-gate-jwt"
	Version string // v0.1.0, v0.1.0-dev.<commit>, ...-dirty
	RootID  string // the root id the module registers ("scope_gate")
}

func (m Meta) annotations() map[string]string {
	return map[string]string{
		"org.opencontainers.image.title":       m.Title,
		"org.opencontainers.image.version":     m.Version,
		"org.opencontainers.image.source":      "https://github.com/scope-gate/scope-gate",
		"org.opencontainers.image.licenses":    "Apache-2.0",
		"org.opencontainers.image.description": "scope-gate proxy-wasm HTTP filter (bearer-token scopes at the edge)",
	}
}

// Image builds the image of one form around the module bytes. Nothing in it depends on the clock, the
// machine or randomness.
func Image(wasm []byte, form string, m Meta) (v1.Image, error) {
	if len(wasm) < 8 || string(wasm[:4]) != "\x00asm" {
		return nil, errors.New("not a WebAssembly module (no \\0asm header)")
	}
	var adds []mutate.Addendum
	switch form {
	case FormCompat:
		tgz, err := pluginTarGz(wasm)
		if err != nil {
			return nil, err
		}
		l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(tgz)), nil },
			tarball.WithMediaType(types.OCILayer))
		if err != nil {
			return nil, err
		}
		adds = append(adds, mutate.Addendum{Layer: l, History: v1.History{Created: v1.Time{Time: epoch}, CreatedBy: "scope-gate image: " + PluginFileName}})
	case FormWasm:
		cfg := `{"type":"envoy_proxy","abi":"proxy_abi_version_0_2_0","root_id":"` + m.RootID + `","version":"` + m.Version + `"}`
		adds = append(adds,
			mutate.Addendum{Layer: static.NewLayer(wasm, WasmLayerMediaType), History: v1.History{Created: v1.Time{Time: epoch}, CreatedBy: "scope-gate image: module"}},
			mutate.Addendum{Layer: static.NewLayer([]byte(cfg), WasmConfigLayerMediaType), History: v1.History{Created: v1.Time{Time: epoch}, CreatedBy: "scope-gate image: module config"}})
	default:
		return nil, errors.New("unknown image form " + strconvQuote(form) + " (want compat or wasm)")
	}
	img, err := mutate.ConfigFile(empty.Image, &v1.ConfigFile{
		Architecture: "wasm",
		OS:           "wasip1",
		Created:      v1.Time{Time: epoch},
		Config:       v1.Config{Labels: m.annotations()},
	})
	if err != nil {
		return nil, err
	}
	img = mutate.MediaType(img, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	if img, err = mutate.Append(img, adds...); err != nil {
		return nil, err
	}
	out, ok := mutate.Annotations(img, m.annotations()).(v1.Image)
	if !ok {
		return nil, errors.New("go-containerregistry: annotated image is not an image")
	}
	return out, nil
}

// pluginTarGz is the compat layer: one regular file plugin.wasm, owned by root, read-only, dated epoch.
// compress/gzip writes no name and a zero modification time, so the bytes depend on the module only.
func pluginTarGz(wasm []byte) ([]byte, error) {
	var buf bytes.Buffer
	gz, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	tw := tar.NewWriter(gz)
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: PluginFileName, Mode: 0o444, Size: int64(len(wasm)),
		ModTime: epoch, Format: tar.FormatUSTAR}); err != nil {
		return nil, err
	}
	if _, err := tw.Write(wasm); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := gz.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// WriteLayout writes img as a fresh OCI image layout at dir (oci-layout, index.json, blobs/) tagged with
// refName, replacing what was there, and returns the manifest digest. It writes a sibling temporary
// directory first and renames it into place, so dir is never left half-written.
func WriteLayout(dir string, img v1.Image, refName string) (v1.Hash, error) {
	d, err := img.Digest()
	if err != nil {
		return v1.Hash{}, err
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return v1.Hash{}, err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), "."+filepath.Base(dir)+".tmp")
	if err != nil {
		return v1.Hash{}, err
	}
	defer os.RemoveAll(tmp)
	p, err := layout.Write(tmp, empty.Index)
	if err != nil {
		return v1.Hash{}, err
	}
	if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": refName})); err != nil {
		return v1.Hash{}, err
	}
	if err := os.RemoveAll(dir); err != nil {
		return v1.Hash{}, err
	}
	if err := os.Rename(tmp, dir); err != nil {
		return v1.Hash{}, err
	}
	return d, nil
}

// LayoutImage reads back the single image of a layout written by WriteLayout.
func LayoutImage(dir string) (v1.Image, error) {
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return nil, err
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	if len(m.Manifests) != 1 {
		return nil, errors.New("layout " + dir + " holds " + itoa(len(m.Manifests)) + " manifests, want 1")
	}
	return idx.Image(m.Manifests[0].Digest)
}

// Push uploads the image in the layout dir to ref (registry/repository:tag). Credentials come from the
// Docker config ($DOCKER_CONFIG, ~/.docker/config.json), as for Istio's fetcher. The layout is only read.
// The error is one line naming the reference.
func Push(ctx context.Context, dir, ref string) (v1.Hash, error) {
	r, err := ParseReference(ref)
	if err != nil {
		return v1.Hash{}, err
	}
	img, err := LayoutImage(dir)
	if err != nil {
		return v1.Hash{}, errors.New("reading layout " + dir + ": " + oneLine(err.Error()))
	}
	d, err := img.Digest()
	if err != nil {
		return v1.Hash{}, err
	}
	if err := remote.Write(r, img, remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain),
		remote.WithRetryBackoff(remote.Backoff{Duration: 200 * time.Millisecond, Factor: 2, Steps: 3})); err != nil {
		return v1.Hash{}, errors.New("pushing " + dir + " to " + r.Name() + ": " + oneLine(err.Error()))
	}
	return d, nil
}

// ParseReference checks an image reference the way Push reads it (registry/repository:tag or @sha256:...,
// no defaults filled in silently: "scope-gate" alone is refused rather than sent to Docker Hub).
func ParseReference(ref string) (name.Reference, error) {
	r, err := name.ParseReference(ref, name.StrictValidation)
	if err != nil {
		return nil, errors.New("bad image reference " + strconvQuote(ref) + ": " + oneLine(err.Error()))
	}
	return r, nil
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

func strconvQuote(s string) string { return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"` }

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}
