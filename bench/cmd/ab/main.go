// Command ab compares two builds of the filter request by request, in the Envoy stand-in, against the
// reference floor: the method behind the per-change numbers in PERFORMANCE.md. For each case it serves the
// floor, build A and build B in turns of 100 requests (so machine drift hits all three alike and each stays
// warm, as in `make bench`) and prints each build's time inside proxy_on_request_headers over the floor's,
// at the fastest decile (steady on a shared machine) and the median, and B over A.
//
//	go run ./bench/cmd/ab -a old.wasm -b build/scope-gate.wasm [-case allow_scoped] [-rounds 40]
package main

import (
	"flag"
	"fmt"
	"os"
	"sort"
	"time"

	"github.com/scope-gate/scope-gate/bench"
	"github.com/scope-gate/scope-gate/internal/envoyhost"
)

func main() {
	a := flag.String("a", "", "build A (.wasm)")
	b := flag.String("b", "", "build B (.wasm)")
	only := flag.String("case", "", "one case (default: every case)")
	rounds := flag.Int("rounds", 40, "turns of 100 requests per build and case")
	profile := flag.String("profile", string(bench.Profiles[0]), "envoy-1.39 or envoy-1.33")
	flag.Parse()
	if *a == "" || *b == "" {
		fail(fmt.Errorf("-a and -b are required"))
	}
	if err := run(*a, *b, *only, *profile, *rounds); err != nil {
		fail(err)
	}
}

func run(aPath, bPath, only, profile string, rounds int) error {
	modules := make([][]byte, 2)
	for i, p := range []string{aPath, bPath} {
		var err error
		if modules[i], err = os.ReadFile(p); err != nil {
			return err
		}
	}
	env, err := bench.Setup()
	if err != nil {
		return err
	}
	defer env.Close()
	suites := make([]*bench.Suite, 2)
	for i := range suites {
		e := *env
		e.Wasm = modules[i]
		suites[i] = bench.NewSuite(&e)
		defer suites[i].Close()
	}
	p := envoyhost.Profile(profile)
	floor := suites[0].Floor(p)
	if err := floor.Prepare(); err != nil {
		return err
	}
	fmt.Printf("%-18s %-22s %-22s %s\n", "case", "A/floor p10, median", "B/floor p10, median", "B/A p10, median")
	for _, c := range bench.Cases {
		if only != "" && c.Name != only {
			continue
		}
		runners := []bench.Runner{floor, suites[0].Filter(p, c), suites[1].Filter(p, c)}
		for _, r := range runners[1:] {
			if err := r.Prepare(); err != nil {
				return fmt.Errorf("%s: %w", c.Name, err)
			}
		}
		samples := make([][]time.Duration, len(runners))
		for round := 0; round < rounds; round++ {
			for k, r := range runners {
				for j := 0; j < 100; j++ {
					if err := r.Step(); err != nil {
						return fmt.Errorf("%s: %w", c.Name, err)
					}
					samples[k] = append(samples[k], r.VM().RequestHeadersTime())
				}
			}
		}
		q := func(k int, at float64) float64 { return quantile(samples[k], at) }
		fmt.Printf("%-18s %5.2fx %5.2fx          %5.2fx %5.2fx          %.3f %.3f   (floor %.0f ns, %.0f ns)\n", c.Name,
			q(1, .1)/q(0, .1), q(1, .5)/q(0, .5), q(2, .1)/q(0, .1), q(2, .5)/q(0, .5), q(2, .1)/q(1, .1), q(2, .5)/q(1, .5),
			q(0, .1), q(0, .5))
	}
	return nil
}

func quantile(s []time.Duration, at float64) float64 {
	c := append([]time.Duration(nil), s...)
	sort.Slice(c, func(i, j int) bool { return c[i] < c[j] })
	return float64(c[int(at*float64(len(c)-1))].Nanoseconds())
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "ab:", err)
	os.Exit(1)
}
