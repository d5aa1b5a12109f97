package main

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestImageCommand: the layout is written and its digest printed; a bad reference is refused before
// anything is written; an unreachable registry fails with one line naming it and leaves the layout.
func TestImageCommand(t *testing.T) {
	dir := t.TempDir()
	wasm := filepath.Join(dir, "scope-gate.wasm")
	if err := os.WriteFile(wasm, []byte("\x00asm\x01\x00\x00\x00"), 0o644); err != nil {
		t.Fatal(err)
	}
	layout := filepath.Join(dir, "oci")
	var out, errb bytes.Buffer
	if code := run([]string{"image", "-wasm", wasm, "-o", layout, "-push", "not a reference"}, &out, &errb); code != 1 {
		t.Errorf("bad reference: exit %d", code)
	}
	if s := errb.String(); strings.Count(s, "\n") != 1 || !strings.Contains(s, `"not a reference"`) {
		t.Errorf("bad reference: stderr %q", s)
	}
	if _, err := os.Stat(layout); !os.IsNotExist(err) {
		t.Errorf("bad reference: the layout was written (%v)", err)
	}

	out.Reset()
	errb.Reset()
	if code := run([]string{"image", "-wasm", wasm, "-o", layout, "-version", "v1.2.3"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	digest := strings.Fields(out.String())[0]
	index, err := os.ReadFile(filepath.Join(layout, "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(digest) != 64 || !bytes.Contains(index, []byte("sha256:"+digest)) || !bytes.Contains(index, []byte(`"v1.2.3"`)) {
		t.Errorf("printed %q; index.json %s", out.String(), index)
	}

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := l.Addr().String()
	l.Close()
	out.Reset()
	errb.Reset()
	if code := run([]string{"image", "-wasm", wasm, "-o", layout, "-version", "v1.2.3", "-push", dead + "/sg:v1"}, &out, &errb); code != 1 {
		t.Errorf("unreachable registry: exit %d", code)
	}
	if s := errb.String(); strings.Count(s, "\n") != 1 || !strings.Contains(s, dead+"/sg:v1") || !strings.Contains(s, "intact") {
		t.Errorf("unreachable registry: stderr %q", s)
	}
	after, err := os.ReadFile(filepath.Join(layout, "index.json"))
	if err != nil || !bytes.Equal(after, index) {
		t.Errorf("unreachable registry: the layout changed (%v)", err)
	}
}

// TestVersionCommand: a test binary is not stamped and has no module version: "devel".
func TestVersionCommand(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"version"}, &out, &errb); code != 0 || out.String() != "scope-gate devel\n" {
		t.Errorf("exit %d, stdout %q, stderr %q", code, out.String(), errb.String())
	}
}
