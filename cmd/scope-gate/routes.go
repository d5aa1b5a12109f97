package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/scope-gate/scope-gate/internal/openapi"
)

const routesUsage = `usage: scope-gate routes -openapi SPEC [-format envoy|routes-map|table] [-o FILE] [-bearer-schemes A,B]
       [-inexact refuse|stricter] [-foreign refuse|skip] [-base-path /P] [-namespace scope_gate] [-cluster backend]
`

// openapiFlags are the flags `routes` and `check -openapi` share: how the document is read.
type openapiFlags struct {
	bearer   string
	inexact  string
	foreign  string
	basePath string
}

func (f *openapiFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.bearer, "bearer-schemes", "", "comma-separated security schemes that scope-gate checks (default: every oauth2, openIdConnect and http bearer scheme)")
	fs.StringVar(&f.inexact, "inexact", "refuse", "a requirement the route keys cannot say exactly: refuse it, or make it stricter with a warning (stricter)")
	fs.StringVar(&f.foreign, "foreign", "refuse", "an operation only non-bearer schemes satisfy: refuse, or skip it with a warning (skip)")
	fs.StringVar(&f.basePath, "base-path", "auto", "path prefix of every operation (auto: the path of the first server URL)")
}

func (f *openapiFlags) options() (openapi.Options, error) {
	o := openapi.Options{}
	if f.bearer != "" {
		o.BearerSchemes = strings.Split(f.bearer, ",")
	}
	switch f.inexact {
	case "refuse":
	case "stricter":
		o.Stricter = true
	default:
		return o, fmt.Errorf("-inexact: %q is not refuse or stricter", f.inexact)
	}
	switch f.foreign {
	case "refuse":
	case "skip":
		o.SkipForeign = true
	default:
		return o, fmt.Errorf("-foreign: %q is not refuse or skip", f.foreign)
	}
	if f.basePath == "auto" {
		o.AutoBasePath = true
	} else {
		o.BasePath = f.basePath
	}
	return o, nil
}

// readOpenAPI loads and analyzes a document, printing its errors (one line each) to stderr.
func readOpenAPI(spec string, f *openapiFlags, stderr io.Writer) (*openapi.Result, bool) {
	opts, err := f.options()
	if err != nil {
		fmt.Fprintln(stderr, "scope-gate:", err)
		return nil, false
	}
	return analyzeOpenAPI(spec, opts, stderr)
}

func analyzeOpenAPI(spec string, opts openapi.Options, stderr io.Writer) (*openapi.Result, bool) {
	doc, err := openapi.Load(spec)
	if err != nil {
		fmt.Fprintln(stderr, "error:", err)
		return nil, false
	}
	res := openapi.Analyze(spec, doc, opts)
	for _, e := range res.Errors {
		fmt.Fprintln(stderr, "error: "+e)
	}
	return res, len(res.Errors) == 0
}

func runRoutes(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("routes", flag.ContinueOnError)
	fs.SetOutput(stderr)
	spec := fs.String("openapi", "", "the OpenAPI document (3.0, 3.1 or Swagger 2.0; JSON or YAML)")
	format := fs.String("format", "envoy", "envoy (a virtual host's routes), routes-map (the plugin configuration's routes), table")
	out := fs.String("o", "", "write to this file (atomically) instead of standard output")
	namespace := fs.String("namespace", "scope_gate", "the filter_metadata namespace (the plugin configuration's metadata_namespace)")
	cluster := fs.String("cluster", "backend", "the cluster the generated Envoy routes send to")
	var of openapiFlags
	of.register(fs)
	fs.Usage = func() { fmt.Fprint(stderr, routesUsage); fs.PrintDefaults() }
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	if *spec == "" || fs.NArg() > 0 {
		fmt.Fprint(stderr, "scope-gate routes: -openapi SPEC is required and takes no other arguments\n"+routesUsage)
		return 2
	}
	opts, err := of.options()
	if err != nil {
		fmt.Fprintln(stderr, "scope-gate routes:", err)
		return 2
	}
	res, ok := analyzeOpenAPI(*spec, opts, stderr)
	if !ok {
		return 1
	}
	// Everything is rendered into a buffer first: nothing is written when rendering fails.
	var b bytes.Buffer
	switch *format {
	case "envoy":
		err = openapi.WriteEnvoy(&b, filepath.Base(*spec), res, *namespace, *cluster)
	case "routes-map":
		err = openapi.WriteRoutesMap(&b, res)
	case "table":
		err = openapi.WriteTable(&b, res)
	default:
		fmt.Fprintf(stderr, "scope-gate routes: -format %q is not envoy, routes-map or table\n", *format)
		return 2
	}
	if err != nil {
		fmt.Fprintln(stderr, "error:", err)
		return 1
	}
	if *format != "table" {
		for _, w := range res.Warnings {
			fmt.Fprintln(stderr, "warning: "+w)
		}
	}
	if *out == "" {
		if _, err := stdout.Write(b.Bytes()); err != nil {
			fmt.Fprintln(stderr, "error:", err)
			return 1
		}
		return 0
	}
	if err := writeAtomic(*out, b.Bytes()); err != nil {
		fmt.Fprintln(stderr, "error:", err)
		return 1
	}
	return 0
}

// writeAtomic writes a file through a temporary file in the same directory and a rename, so a reader never
// sees half a file and a failure leaves the old one.
func writeAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// checkOpenAPI compares each bootstrap with the document; it returns the number of errors.
func checkOpenAPI(spec string, of *openapiFlags, vhost string, files []string, stdout, stderr io.Writer) int {
	res, ok := readOpenAPI(spec, of, stderr)
	if !ok {
		return 1
	}
	errors := 0
	for _, w := range res.Warnings {
		fmt.Fprintln(stdout, "warning: "+w)
	}
	edges, errs := openapi.LoadEdges(files, vhost)
	for _, err := range errs {
		fmt.Fprintln(stdout, "error: openapi:", err)
		errors++
	}
	for _, e := range edges {
		for _, f := range openapi.Compare(res, e) {
			fmt.Fprintln(stdout, f.String())
			if f.Error {
				errors++
			}
		}
	}
	return errors
}
