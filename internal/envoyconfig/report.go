package envoyconfig

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/scope-gate/scope-gate/filter/policy"
)

// Finding is one problem, in one line: the file, where in it (a JSON/YAML path, often with a route name), and
// what is wrong. Errors fail the check; warnings are printed but do not.
type Finding struct {
	File    string
	Where   string
	Msg     string
	Warning bool
}

func (f Finding) String() string {
	level := "error"
	if f.Warning {
		level = "warning"
	}
	where := f.Where
	if where == "" {
		where = "$"
	}
	return f.File + ": " + level + ": " + where + ": " + f.Msg
}

// Row is one route and the requirement the filter will apply to it.
type Row struct {
	File        string
	VirtualHost string
	Route       string
	Match       string
	Requirement string
	Source      string
}

// Report is the result of checking one or more files.
type Report struct {
	Rows     []Row
	Findings []Finding
}

// Errors counts the findings that are not warnings.
func (r *Report) Errors() int {
	n := 0
	for _, f := range r.Findings {
		if !f.Warning {
			n++
		}
	}
	return n
}

func (r *Report) errorf(file, where, format string, args ...any) {
	r.Findings = append(r.Findings, Finding{File: file, Where: where, Msg: fmt.Sprintf(format, args...)})
}

func (r *Report) warnf(file, where, format string, args ...any) {
	r.Findings = append(r.Findings, Finding{File: file, Where: where, Msg: fmt.Sprintf(format, args...), Warning: true})
}

func (r *Report) merge(o *Report) {
	r.Rows = append(r.Rows, o.Rows...)
	r.Findings = append(r.Findings, o.Findings...)
}

// WriteTable prints the routes as an aligned table, one file after another.
func (r *Report) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	file := "\x00"
	for _, row := range r.Rows {
		if row.File != file {
			if file != "\x00" {
				fmt.Fprintln(tw)
			}
			file = row.File
			fmt.Fprintf(tw, "%s\nVIRTUAL HOST\tROUTE\tMATCH\tREQUIREMENT\tSOURCE\n", file)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", row.VirtualHost, row.Route, row.Match, row.Requirement, row.Source)
	}
	return tw.Flush()
}

// WriteFindings prints one line per finding.
func (r *Report) WriteFindings(w io.Writer) {
	for _, f := range r.Findings {
		fmt.Fprintln(w, f.String())
	}
}

// Describe renders a requirement as the table shows it.
func Describe(req *policy.Requirement) string {
	switch {
	case req == nil:
		return "-"
	case req.Problem != "":
		return "500 (misconfigured)"
	case req.Public:
		return "public"
	}
	parts := []string{"bearer"}
	if req.ScopeText != "" {
		parts = append(parts, "scope="+strings.ReplaceAll(req.ScopeText, " ", ","))
	}
	if len(req.SubjectTypes) > 0 {
		parts = append(parts, "subject="+strings.Join(req.SubjectTypes, ","))
	}
	return strings.Join(parts, " ")
}

// Requirement sources, in the filter's lookup order.
const (
	SourceRoute       = "route metadata"
	SourceRoutesMap   = "routes map"
	SourceVirtualHost = "virtual host metadata"
	SourceDefault     = "default_route"
	SourceDisabled    = "typed_per_filter_config"
)
