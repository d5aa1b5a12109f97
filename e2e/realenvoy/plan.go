package realenvoy

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"

	"github.com/scope-gate/scope-gate/e2e/scenarios"
	"github.com/scope-gate/scope-gate/internal/envoyconfig"
)

// The real-Envoy driver selects a scenario's route by Host (its virtual host) and path prefix (its route),
// and rewrites the prefix away so that the upstream sees the scenario's own path.
const (
	hostSuffix  = scenarios.HostSuffix
	noRouteHost = "no-route" + hostSuffix // matches no virtual host: Envoy matches no route
	routePrefix = scenarios.RoutePrefix
)

// e2eGroup is the scenarios that share one plugin configuration, hence one Envoy process.
type e2eGroup struct {
	Key       string // the config name, or "raw:<scenario>" for raw configurations
	Config    []byte
	Rejected  bool // the configuration must make Envoy refuse to start
	Scenarios []scenarios.Scenario
	Spec      envoyconfig.BuildSpec // ports are filled in when the group runs
}

type e2eSkip struct{ Name, Reason string }

// planE2E groups the scenarios by plugin configuration and builds each group's bootstrap (without ports).
// Scenarios a real Envoy cannot reproduce are skipped, with the reason.
func planE2E(f *scenarios.File, module string) ([]*e2eGroup, []e2eSkip) {
	vhosts, unexpressible := f.EnvoyVirtualHosts()
	var skips []e2eSkip
	byConfig := map[string]*e2eGroup{}
	var groups []*e2eGroup
	for _, s := range f.Scenarios {
		cfg := f.PluginConfiguration(s)
		if reason := skipReason(f, s, cfg, unexpressible); reason != "" {
			skips = append(skips, e2eSkip{s.Name, reason})
			continue
		}
		key := f.GroupKey(s)
		g := byConfig[key]
		if g == nil {
			g = &e2eGroup{Key: key, Config: cfg, Rejected: s.Expect.Configure == "rejected"}
			g.Spec = envoyconfig.BuildSpec{ModuleFilename: module, PluginConfiguration: cfg, VirtualHosts: vhosts}
			byConfig[key] = g
			groups = append(groups, g)
		}
		if g.Rejected != (s.Expect.Configure == "rejected") {
			skips = append(skips, e2eSkip{s.Name, "its configuration " + key + " is expected both accepted and rejected"})
			continue
		}
		g.Scenarios = append(g.Scenarios, s)
	}
	return groups, skips
}

// planConfig is the part of a plugin configuration the driver looks at.
type planConfig struct {
	Validator *struct {
		Type   string      `json:"type"`
		Tokens []planToken `json:"tokens"`
	} `json:"validator"`
}

type planToken struct {
	SHA256    string `json:"sha256"`
	ExpiresAt *int64 `json:"expires_at"`
}

func skipReason(f *scenarios.File, s scenarios.Scenario, cfg []byte, unexpressible map[string]string) string {
	if s.Route != nil {
		if why, bad := unexpressible[*s.Route]; bad {
			return "route " + *s.Route + " has no Envoy form: " + why
		}
	}
	var conf planConfig
	if s.Expect.Configure == "" && len(strings.TrimSpace(string(cfg))) > 0 {
		if err := json.Unmarshal(cfg, &conf); err != nil {
			return "configuration is not JSON but the scenario expects it accepted"
		}
	}
	if v := s.Validator; v != nil {
		// An introspection "exp" is judged against the filter's clock, which is now_unix only in the
		// wazero suite.
		var answer struct {
			Exp *float64 `json:"exp"`
		}
		if json.Unmarshal([]byte(v.Body), &answer) == nil && answer.Exp != nil && abs(int64(*answer.Exp)-f.NowUnix) < 365*86400 {
			return "the validator's exp is relative to now_unix; a real Envoy uses the wall clock"
		}
	}
	var tokens []planToken
	if v := conf.Validator; v != nil {
		tokens = v.Tokens
	}
	// HTTPFormProblem also marks the rows that cannot exist in a real Envoy: repeated Authorization headers
	// delivered as separate entries (Envoy joins them into one value).
	if why := s.HTTPFormProblem(); why != "" {
		return why
	}
	for _, h := range s.Request.Headers {
		switch strings.ToLower(h[0]) {
		case "authorization":
			// A token whose expiry is near now_unix needs the filter's clock at now_unix; a real Envoy runs
			// on the wall clock. Tokens that expired long ago (or expire long after) behave the same on both.
			_, tok, _ := strings.Cut(h[1], " ")
			sum := sha256.Sum256([]byte(strings.TrimSpace(tok)))
			hash := hex.EncodeToString(sum[:])
			for _, t := range tokens {
				if strings.EqualFold(t.SHA256, hash) && t.ExpiresAt != nil && abs(*t.ExpiresAt-f.NowUnix) < 86400 {
					return "depends on the filter's clock being now_unix; a real Envoy uses the wall clock"
				}
			}
		}
	}
	return ""
}

func abs(n int64) int64 {
	if n < 0 {
		return -n
	}
	return n
}
