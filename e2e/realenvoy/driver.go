// Package realenvoy replays the scenario table (e2e/scenarios/scenarios.json) against a real Envoy binary:
// it plans one bootstrap per plugin configuration (plan.go), starts Envoy with the compiled module, sends each
// scenario's request over HTTP and compares status, body, headers, upstream view, counters and logs. Rows a
// real Envoy cannot reproduce are skipped with the reason. No Envoy exists on the project's machines, so this
// runs only where one does (make e2e-envoy, .github/workflows/e2e-envoy.yml).
package realenvoy

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/scope-gate/scope-gate/e2e/scenarios"
	"github.com/scope-gate/scope-gate/internal/envoyconfig"
)

// EnvoyMissing is what the driver says when no Envoy binary can be found.
const EnvoyMissing = "envoy not found on PATH: the real-Envoy driver cannot run here"

// upstreamMarker is set by the echo upstream on every answer: a response that carries it reached the upstream.
const upstreamMarker = "x-e2e-upstream"

// Main runs the driver with command-line args (see e2e/cmd/e2e-envoy) and returns the exit status: 0 when
// every planned scenario passed, 1 when one failed or Envoy is missing, 2 on a usage error.
func Main(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("e2e-envoy", flag.ContinueOnError)
	fs.SetOutput(stderr)
	table := fs.String("scenarios", "e2e/scenarios/scenarios.json", "scenario table")
	module := fs.String("wasm", "build/scope-gate.wasm", "the module Envoy loads")
	envoyBin := fs.String("envoy", "envoy", "the Envoy binary (name on PATH, or a path)")
	verbose := fs.Bool("v", false, "print every scenario, not only failures and skips")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	bin, err := exec.LookPath(*envoyBin)
	if err != nil {
		fmt.Fprintln(stderr, EnvoyMissing)
		return 1
	}
	f, err := scenarios.Load(*table)
	if err != nil {
		fmt.Fprintln(stderr, "e2e-envoy:", err)
		return 1
	}
	mod, err := filepath.Abs(*module)
	if err == nil {
		_, err = os.Stat(mod)
	}
	if err != nil {
		fmt.Fprintf(stderr, "e2e-envoy: module %s: %v (run make build)\n", *module, err)
		return 1
	}
	up, err := startEchoUpstream()
	if err != nil {
		fmt.Fprintln(stderr, "e2e-envoy: upstream:", err)
		return 1
	}
	defer up.Close()
	val, err := scenarios.StartValidatorStub(f)
	if err != nil {
		fmt.Fprintln(stderr, "e2e-envoy: validator:", err)
		return 1
	}
	defer val.Close()

	groups, skips := planE2E(f, mod)
	var pass, fail int
	for _, s := range skips {
		fmt.Fprintf(stdout, "SKIP %s: %s\n", s.Name, s.Reason)
	}
	for _, g := range groups {
		results := runGroup(bin, f, g, up.port, val)
		for _, r := range results {
			switch {
			case r.err != nil:
				fail++
				fmt.Fprintf(stdout, "FAIL %s: %v\n", r.name, r.err)
			default:
				pass++
				if *verbose {
					fmt.Fprintf(stdout, "PASS %s\n", r.name)
				}
			}
		}
	}
	fmt.Fprintf(stdout, "e2e-envoy: %d passed, %d failed, %d skipped (%s)\n", pass, fail, len(skips), bin)
	if fail > 0 {
		return 1
	}
	return 0
}

type result struct {
	name string
	err  error
}

// runGroup starts one Envoy with the group's configuration and replays its scenarios.
func runGroup(bin string, f *scenarios.File, g *e2eGroup, upstreamPort uint32, val *scenarios.ValidatorStub) []result {
	failAll := func(err error) []result {
		out := make([]result, len(g.Scenarios))
		for i, s := range g.Scenarios {
			out[i] = result{s.Name, fmt.Errorf("config %s: %w", g.Key, err)}
		}
		return out
	}
	ports, err := freePorts(2)
	if err != nil {
		return failAll(err)
	}
	refused, err := freePorts(1) // released at once: nothing listens there, so connections are refused
	if err != nil {
		return failAll(err)
	}
	spec := g.Spec
	spec.ListenPort, spec.AdminPort, spec.UpstreamPort = ports[0], ports[1], upstreamPort
	spec.ExtraClusters = map[string]uint32{"validator": val.Port(), "validator_refused": refused[0]}
	b := envoyconfig.Build(spec)
	if err := envoyconfig.Validate(b); err != nil {
		return failAll(fmt.Errorf("generated bootstrap is invalid: %v", err))
	}
	js, err := envoyconfig.MarshalBootstrap(b)
	if err != nil {
		return failAll(err)
	}
	dir, err := os.MkdirTemp("", "scope-gate-e2e-envoy-")
	if err != nil {
		return failAll(err)
	}
	defer os.RemoveAll(dir)
	cfgPath := filepath.Join(dir, "envoy.json")
	if err := os.WriteFile(cfgPath, js, 0o644); err != nil {
		return failAll(err)
	}

	e, err := startEnvoy(bin, cfgPath, ports[1])
	if err != nil {
		return failAll(err)
	}
	defer e.stop()

	if g.Rejected {
		// Envoy must refuse to start: OnPluginStart returning false fails the initial configuration.
		exited := e.waitExit(30 * time.Second)
		out := make([]result, len(g.Scenarios))
		for i, s := range g.Scenarios {
			var err error
			switch {
			case !exited:
				err = errors.New("envoy started with a configuration the plugin must reject")
			default:
				err = e.logContains(s.Expect.LogContains)
			}
			out[i] = result{s.Name, err}
		}
		return out
	}
	if err := e.waitReady(30 * time.Second); err != nil {
		return failAll(err)
	}
	client := &http.Client{
		Transport:     &http.Transport{DisableCompression: true},
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	base := "http://127.0.0.1:" + strconv.Itoa(int(ports[0]))
	var out []result
	for _, s := range g.Scenarios {
		val.Set(s.Validator)
		err := runScenario(client, base, e, f, s)
		if verr := val.Check(s); verr != nil {
			err = errors.Join(err, verr)
		}
		out = append(out, result{s.Name, err})
	}
	if secret := e.leaked(f); secret != "" {
		out = append(out, result{"logs of config " + g.Key, fmt.Errorf("the envoy log contains a token (%s...)", secret[:8])})
	}
	return out
}

func runScenario(client *http.Client, base string, e *envoyProc, f *scenarios.File, s scenarios.Scenario) error {
	before, err := e.counters()
	if err != nil {
		return err
	}
	logMark := e.logLen()
	host, path := noRouteHost, s.Request.Path
	if s.Route != nil {
		host = f.Routes[*s.Route].VirtualHost + hostSuffix
		path = routePrefix + *s.Route + s.Request.Path
	}
	req, err := http.NewRequest(s.Request.Method, base+path, nil)
	if err != nil {
		return err
	}
	req.Host = host
	for _, h := range s.Request.Headers {
		req.Header[h[0]] = append(req.Header[h[0]], h[1]) // keep the name as written: Envoy lower-cases anyway
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("request: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	reached := resp.Header.Get(upstreamMarker) != ""

	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	x := s.Expect
	if s.Route == nil && x.Upstream {
		// With no route, Envoy's router answers 404 once the filter lets the request through: that is the
		// real-Envoy form of "reached the upstream" for these scenarios.
		if resp.StatusCode != http.StatusNotFound || reached {
			add("status %d, want the router's 404 (no route) after the filter let the request through", resp.StatusCode)
		}
	} else {
		if resp.StatusCode != x.Status {
			add("status %d, want %d", resp.StatusCode, x.Status)
		}
		if reached != x.Upstream {
			add("reached upstream = %v, want %v", reached, x.Upstream)
		}
	}
	if !x.Upstream {
		if x.Body != nil && string(body) != *x.Body {
			add("body %q, want %q", body, *x.Body)
		}
		for name, want := range x.Headers {
			if got := strings.Join(resp.Header.Values(name), ","); got != want {
				add("header %s = %q, want %q", name, got, want)
			}
		}
		for _, name := range x.AbsentHeaders {
			if resp.Header.Get(name) != "" {
				add("header %s present, want absent", name)
			}
		}
	} else if reached {
		var echoed map[string][]string
		if err := json.Unmarshal(body, &echoed); err != nil {
			add("upstream echo is not JSON: %v", err)
		}
		for name, want := range x.UpstreamHeaders {
			if got := strings.Join(echoed[strings.ToLower(name)], ","); got != want {
				add("upstream header %s = %q, want %q", name, got, want)
			}
		}
		for _, name := range x.UpstreamAbsent {
			if _, ok := echoed[strings.ToLower(name)]; ok {
				add("upstream header %s present, want absent", name)
			}
		}
	}
	after, err := e.counters()
	if err != nil {
		return err
	}
	problems = append(problems, scenarios.MetricProblems(before, after, x.Metrics)...)
	if err := e.logContainsSince(logMark, x.LogContains); err != nil {
		add("%v", err)
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}
