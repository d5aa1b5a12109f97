// Package scenarios holds scope-gate's scenario table (scenarios.json) and its loader. The table is data so
// that any driver can replay it: the wazero stand-in in this package's tests today, the local gateway or a
// real Envoy later. Each scenario names a plugin configuration, the Envoy route that matched (with its
// metadata as Envoy holds it, so non-string leaves are real), a request, and what the client, the upstream
// and the metrics must see.
package scenarios

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"slices"
)

// File is scenarios.json.
type File struct {
	About        string                     `json:"about"`
	NowUnix      int64                      `json:"now_unix"` // the wall clock every driver must give the filter
	Tokens       map[string]Token           `json:"tokens"`
	Configs      map[string]json.RawMessage `json:"configs"`
	VirtualHosts map[string]VirtualHost     `json:"virtual_hosts"`
	Routes       map[string]Route           `json:"routes"`
	Scenarios    []Scenario                 `json:"scenarios"`
}

// Token is a test token and its SHA-256 (what static configurations list).
type Token struct {
	Token  string `json:"token"`
	SHA256 string `json:"sha256"`
}

// VirtualHost is an Envoy virtual host: its name and filter_metadata.
type VirtualHost struct {
	Name     string         `json:"name"`
	Metadata map[string]any `json:"metadata"`
}

// Route is an Envoy route: its name (may be ""), its virtual host (a key of File.VirtualHosts) and
// filter_metadata (namespace → value, any JSON).
type Route struct {
	Name        string         `json:"name"`
	VirtualHost string         `json:"virtual_host"`
	Metadata    map[string]any `json:"metadata"`
}

// Scenario is one row of the table.
type Scenario struct {
	Name      string     `json:"name"`
	Config    string     `json:"config"`     // a key of File.Configs
	RawConfig *string    `json:"raw_config"` // the configuration bytes verbatim, instead of Config
	Route     *string    `json:"route"`      // a key of File.Routes; null: no route matched
	Request   Request    `json:"request"`
	Validator *Validator `json:"validator"` // how the server behind cluster "validator" answers
	Expect    Expect     `json:"expect"`
}

// Validator is the behaviour of the validation server (cluster "validator"; cluster "validator_refused"
// refuses connections). Either a literal answer, or a named fixture:
// "reference_account" mimics the reference backend's GET /openapi/v1/account (200 with its body for the
// live account and sso tokens of the table, 401 for anything else).
type Validator struct {
	Status  int    `json:"status"`
	Body    string `json:"body"`
	DelayMS int    `json:"delay_ms"`
	Fixture string `json:"fixture"`
}

// ValidatorRequest is what the validation server must have received.
type ValidatorRequest struct {
	Method  string            `json:"method"`
	Path    string            `json:"path"`
	Headers map[string]string `json:"headers"` // ":authority" is the Host header
	Body    string            `json:"body"`
}

// Request is what the client sends.
type Request struct {
	Method  string      `json:"method"`
	Path    string      `json:"path"`
	Headers [][2]string `json:"headers"`
	// SeparateHeaders: the plugin sees every header line as its own entry, as hosts other than Envoy
	// deliver them. Without it, repeated inline headers (authorization among them) reach the plugin as
	// Envoy's header map holds them: one value joined with ',', empty repeats dropped
	// (docs/envoy-behaviour.md). A real Envoy cannot deliver such a request, so its driver skips these rows.
	SeparateHeaders bool `json:"separate_headers"`
}

// Expect is what must be observed.
type Expect struct {
	Configure string  `json:"configure"` // "rejected": the plugin must refuse the configuration at start
	Status    int     `json:"status"`    // status the client gets (200 from the upstream when allowed)
	Upstream  bool    `json:"upstream"`  // the request reached the upstream
	Body      *string `json:"body"`      // exact local reply body
	// Details is the local reply's response code details (Envoy's %RESPONSE_CODE_DETAILS%), when set. Every
	// local reply of the filter carries details starting "scope_gate_", set or not.
	Details         string            `json:"details"`
	Headers         map[string]string `json:"headers"` // local reply headers that must be present with these values
	AbsentHeaders   []string          `json:"absent_headers"`
	UpstreamHeaders map[string]string `json:"upstream_headers"` // headers the upstream must see with these values
	UpstreamAbsent  []string          `json:"upstream_absent"`  // headers the upstream must not see
	Metrics         map[string]uint64 `json:"metrics"`          // counter deltas; every scope_gate.* counter not listed must not move
	LogContains     []string          `json:"log_contains"`     // substrings some log line must contain
	// ValidatorCalls is how many calls the validation server must have received (checked when the
	// scenario has a validator).
	ValidatorCalls   int               `json:"validator_calls"`
	ValidatorRequest *ValidatorRequest `json:"validator_request"`
}

// Load reads and checks a scenario file: unique names, and every config and route reference resolves.
func Load(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var f File
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	seen := map[string]bool{}
	for i, s := range f.Scenarios {
		where := fmt.Sprintf("%s: scenarios[%d] %q", path, i, s.Name)
		if s.Name == "" || seen[s.Name] {
			return nil, fmt.Errorf("%s: missing or duplicate name", where)
		}
		seen[s.Name] = true
		if s.RawConfig == nil {
			if _, ok := f.Configs[s.Config]; !ok {
				return nil, fmt.Errorf("%s: unknown config %q", where, s.Config)
			}
		}
		if s.Route != nil {
			r, ok := f.Routes[*s.Route]
			if !ok {
				return nil, fmt.Errorf("%s: unknown route %q", where, *s.Route)
			}
			if _, ok := f.VirtualHosts[r.VirtualHost]; !ok {
				return nil, fmt.Errorf("%s: route %q: unknown virtual host %q", where, *s.Route, r.VirtualHost)
			}
		}
		if s.Expect.Configure != "" && s.Expect.Configure != "rejected" {
			return nil, fmt.Errorf("%s: expect.configure must be \"rejected\" or absent", where)
		}
	}
	return &f, nil
}

// PluginConfiguration is the configuration bytes the scenario gives the plugin.
func (f *File) PluginConfiguration(s Scenario) []byte {
	if s.RawConfig != nil {
		return []byte(*s.RawConfig)
	}
	return f.Configs[s.Config]
}

// Secrets lists every string that must never appear in a log line: each test token, and each bearer value
// of the scenario's Authorization headers.
func (f *File) Secrets(s Scenario) []string {
	var out []string
	for _, t := range f.Tokens {
		out = append(out, t.Token)
	}
	for _, h := range s.Request.Headers {
		if len(h[1]) >= 12 && (h[0] == "authorization" || h[0] == "Authorization") {
			out = append(out, h[1])
		}
	}
	return out
}

// MetricProblems compares counter readings taken before and after a scenario with its expected deltas: every
// counter named in either reading or in want must have moved by exactly want[name] (0 when unlisted). One
// line per counter that did not, in name order.
func MetricProblems(before, after, want map[string]uint64) []string {
	names := map[string]bool{}
	for _, m := range []map[string]uint64{before, after, want} {
		for k := range m {
			names[k] = true
		}
	}
	var out []string
	for _, name := range slices.Sorted(maps.Keys(names)) {
		if d := after[name] - before[name]; d != want[name] {
			out = append(out, fmt.Sprintf("counter %s moved by %d, want %d", name, d, want[name]))
		}
	}
	return out
}
