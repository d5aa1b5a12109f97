package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/scope-gate/scope-gate/internal/release"
)

// runImage builds the OCI image of a module as an image layout, and pushes it when asked. The layout is
// written before any push, so a failed push leaves it in place.
func runImage(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("image", flag.ContinueOnError)
	fs.SetOutput(stderr)
	wasmPath := fs.String("wasm", "build/scope-gate.wasm", "the module")
	form := fs.String("form", release.FormCompat, "compat (a container image whose last layer holds plugin.wasm) or wasm (the application/vnd.module.wasm.content.layer.v1+wasm artifact)")
	out := fs.String("o", "", "the OCI image layout directory to write (default build/oci/<module name>-<form>)")
	version := fs.String("version", release.CurrentVersion(), "the version recorded in the image (make image passes VERSION_STAMP)")
	push := fs.String("push", "", "also push the image to this reference (registry/repository:tag); credentials from the Docker config")
	timeout := fs.Duration("timeout", 2*time.Minute, "give up pushing after this long")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 0 {
		fmt.Fprintf(stderr, "scope-gate image: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	// A bad reference is refused before anything is written.
	if *push != "" {
		if _, err := release.ParseReference(*push); err != nil {
			fmt.Fprintf(stderr, "scope-gate image: %v\n", err)
			return 1
		}
	}
	wasm, err := os.ReadFile(*wasmPath)
	if err != nil {
		fmt.Fprintf(stderr, "scope-gate image: %v\n", err)
		return 1
	}
	title := trimExt(filepath.Base(*wasmPath))
	dir := *out
	if dir == "" {
		dir = filepath.Join("build", "oci", title+"-"+*form)
	}
	img, err := release.Image(wasm, *form, release.Meta{Title: title, Version: *version, RootID: "scope_gate"})
	if err != nil {
		fmt.Fprintf(stderr, "scope-gate image: %s: %v\n", *wasmPath, err)
		return 1
	}
	d, err := release.WriteLayout(dir, img, *version)
	if err != nil {
		fmt.Fprintf(stderr, "scope-gate image: writing %s: %v\n", dir, err)
		return 1
	}
	fmt.Fprintf(stdout, "%s %s %s (%s form of %s)\n", d.Hex, dir, *version, *form, *wasmPath)
	if *push == "" {
		return 0
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	if _, err := release.Push(ctx, dir, *push); err != nil {
		fmt.Fprintf(stderr, "scope-gate image: %v (the layout %s is intact)\n", err, dir)
		return 1
	}
	fmt.Fprintf(stdout, "pushed %s@sha256:%s\n", *push, d.Hex)
	return 0
}

func trimExt(s string) string {
	if e := filepath.Ext(s); e != "" {
		return s[:len(s)-len(e)]
	}
	return s
}
