// Command dist is `make dist`'s helper (not part of the CLI):
//
//	dist notes -version 0.1.0 CHANGELOG.md                 print that version's CHANGELOG.md section
//	dist examples -layout DIR -o OUTDIR FILE...           copy FILEs with the layout's manifest digest filled in
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/scope-gate/scope-gate/internal/release"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: dist notes -version V CHANGELOG.md | dist examples -layout DIR -o OUTDIR FILE...")
		os.Exit(2)
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	version := fs.String("version", "", "version (notes)")
	layout := fs.String("layout", "", "OCI image layout whose manifest digest fills the examples")
	out := fs.String("o", "", "output directory (examples)")
	_ = fs.Parse(os.Args[2:])
	if err := run(os.Args[1], *version, *layout, *out, fs.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "dist: "+err.Error())
		os.Exit(1)
	}
}

func run(cmd, version, layout, out string, files []string) error {
	switch cmd {
	case "notes":
		if len(files) != 1 {
			return fmt.Errorf("notes wants one CHANGELOG file")
		}
		b, err := os.ReadFile(files[0])
		if err != nil {
			return err
		}
		notes, err := release.ReleaseNotes(b, version)
		if err != nil {
			return fmt.Errorf("%s: %v", files[0], err)
		}
		fmt.Print(notes)
		return nil
	case "examples":
		img, err := release.LayoutImage(layout)
		if err != nil {
			return fmt.Errorf("%s: %v", layout, err)
		}
		d, err := img.Digest()
		if err != nil {
			return err
		}
		if err := os.MkdirAll(out, 0o755); err != nil {
			return err
		}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				return err
			}
			r, err := release.RenderExample(b, d.Hex)
			if err != nil {
				return fmt.Errorf("%s: %v", f, err)
			}
			if err := os.WriteFile(filepath.Join(out, filepath.Base(f)), r, 0o644); err != nil {
				return err
			}
		}
		return nil
	}
	return fmt.Errorf("unknown command %q", cmd)
}
