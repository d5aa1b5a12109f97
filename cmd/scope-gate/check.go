package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/scope-gate/scope-gate/internal/envoyconfig"
)

func runCheck(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	quiet := fs.Bool("q", false, "print only problems, not the route table")
	allowRaw := fs.Bool("allow-unnormalized-paths", false,
		"report a connection manager that runs scope-gate without normalize_path, merge_slashes and\n"+
			"path_with_escaped_slashes_action (REJECT_REQUEST or UNESCAPE_AND_REDIRECT) as a warning, not an\n"+
			"error: only when routes must see raw paths and the filter's own refusal of ambiguous paths is relied on")
	spec := fs.String("openapi", "", "also compare the routes of the bootstraps and of the Istio / Envoy Gateway resources with this OpenAPI document, operation by operation")
	vhost := fs.String("virtual-host", "", "with -openapi: the virtual host to compare, a bootstrap's virtual host name or a mesh's hostname (default: the only one)")
	var of openapiFlags
	of.register(fs)
	fs.Usage = func() {
		fmt.Fprint(stderr, "usage: scope-gate check [-q] [-allow-unnormalized-paths] <file.yaml>...\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	if fs.NArg() == 0 {
		fmt.Fprint(stderr, "scope-gate check: no files\n"+usage)
		return 2
	}
	r := envoyconfig.CheckFiles(fs.Args(), envoyconfig.Options{AllowUnnormalizedPaths: *allowRaw})
	if !*quiet && len(r.Rows) > 0 {
		if err := r.WriteTable(stdout); err != nil {
			fmt.Fprintln(stderr, "scope-gate check:", err)
			return 1
		}
	}
	// Problems go to stdout too, after the table, so that one redirect captures the whole answer.
	if len(r.Findings) > 0 && !*quiet && len(r.Rows) > 0 {
		fmt.Fprintln(stdout)
	}
	r.WriteFindings(stdout)
	n := r.Errors()
	if *spec != "" {
		n += checkOpenAPI(*spec, &of, *vhost, fs.Args(), stdout, stderr)
	}
	if n > 0 {
		fmt.Fprintf(stdout, "%d error(s)\n", n)
		return 1
	}
	return 0
}
