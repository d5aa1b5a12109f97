package bench

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scope-gate/scope-gate/internal/envoyhost"
)

// Entry is one benchmark of the report: its name, what it measures, and one result per round.
type Entry struct {
	Name    string
	Runner  Runner
	Results []testing.BenchmarkResult
	// Per-request samples of every round (SamplesPerRound each): the whole stream as the client sees it,
	// and the time inside proxy_on_request_headers (host calls included), when the runner has a VM.
	Stream, Callback []time.Duration
	// Floor, when set, is the entry this one is compared with (the floor of its profile): its requests are
	// sampled in turns with this entry's (PairSamples blocks each), and their callback times kept in
	// FloorCallback. Ratios come from these pairs: measured seconds apart in separate blocks, a shared
	// machine's drift (and the host's own GC, fed by whichever entry ran before) moved a ratio by a third.
	Floor         *Entry
	FloorCallback []time.Duration
}

// PairSamples is the turn length of paired sampling: the floor's requests and an entry's alternate in blocks
// of this many, so both stay warm and any drift hits both alike.
const PairSamples = 100

// SamplesPerRound is how many requests of each entry are timed one by one in every round (for medians and
// p99s of single requests; ns/op of testing.Benchmark is a mean).
const SamplesPerRound = 2000

// Percentile of samples (nearest rank), 0 when there are none.
func Percentile(samples []time.Duration, q float64) time.Duration {
	if len(samples) == 0 {
		return 0
	}
	v := slices.Clone(samples)
	slices.Sort(v)
	i := int(q*float64(len(v))+0.5) - 1
	return v[max(0, min(i, len(v)-1))]
}

// Median ns/op over the rounds.
func (e *Entry) NsPerOp() float64 {
	return medianOf(e.Results, func(r testing.BenchmarkResult) float64 { return float64(r.T.Nanoseconds()) / float64(r.N) })
}

// Spread is the fastest and slowest round, in ns/op: how noisy the machine was.
func (e *Entry) Spread() (lo, hi float64) {
	var v []float64
	for _, r := range e.Results {
		v = append(v, float64(r.T.Nanoseconds())/float64(r.N))
	}
	return slices.Min(v), slices.Max(v)
}

// AllocsPerOp is the median of Go heap allocations per op (the host process's; allocations inside the
// guest's linear memory are the guest's own business and not counted by Go).
func (e *Entry) AllocsPerOp() float64 {
	return medianOf(e.Results, func(r testing.BenchmarkResult) float64 { return float64(r.MemAllocs) / float64(r.N) })
}

// BytesPerOp is the median of Go heap bytes per op.
func (e *Entry) BytesPerOp() float64 {
	return medianOf(e.Results, func(r testing.BenchmarkResult) float64 { return float64(r.MemBytes) / float64(r.N) })
}

func medianOf(rs []testing.BenchmarkResult, f func(testing.BenchmarkResult) float64) float64 {
	if len(rs) == 0 {
		return 0
	}
	v := make([]float64, len(rs))
	for i, r := range rs {
		v[i] = f(r)
	}
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

// Entries lists every request-path benchmark of the report, named like the go test benchmarks.
func (s *Suite) Entries() []*Entry {
	var out []*Entry
	for _, p := range Profiles {
		floor := &Entry{Name: "Floor/" + string(p), Runner: s.Floor(p)}
		for _, c := range Cases {
			out = append(out, &Entry{Name: "Filter/" + string(p) + "/" + c.Name, Runner: s.Filter(p, c), Floor: floor})
		}
		out = append(out, &Entry{Name: "Noop/" + string(p), Runner: s.Noop(p)})
		out = append(out, floor)
	}
	for _, c := range Cases {
		out = append(out, &Entry{Name: "Native/" + c.Name, Runner: s.Native(c)})
	}
	for _, c := range StaticCases() {
		out = append(out, &Entry{Name: "ExtAuthz/" + c.Name, Runner: s.ExtAuthz(c)})
	}
	return out
}

// RunRounds checks every entry (a few requests, answers verified), then runs count rounds; each round runs
// every entry once, in order, so slow drifts of a shared machine hit every entry alike and the ratios of
// one round compare numbers taken seconds apart.
func RunRounds(entries []*Entry, count int, progress func(round int, e *Entry)) error {
	for _, e := range entries {
		if err := e.Runner.Check(3); err != nil {
			return fmt.Errorf("%s: %w", e.Name, err)
		}
	}
	for round := 1; round <= count; round++ {
		for _, e := range entries {
			if progress != nil {
				progress(round, e)
			}
			r := testing.Benchmark(e.Runner.Bench)
			if r.N == 0 { // the body failed; run it once more untimed to get the reason
				err := e.Runner.Check(3)
				return fmt.Errorf("%s failed in round %d: %v", e.Name, round, err)
			}
			e.Results = append(e.Results, r)
			if err := e.sample(SamplesPerRound); err != nil {
				return fmt.Errorf("%s failed in round %d: %v", e.Name, round, err)
			}
		}
	}
	return nil
}

// sample times n single requests of e (each answer checked), in turns with its floor's when it has one.
func (e *Entry) sample(n int) error {
	var vm *envoyhost.VM
	if e.Runner.VM != nil {
		vm = e.Runner.VM()
	}
	if e.Floor != nil && vm != nil && e.Floor.Runner.VM != nil {
		return e.samplePaired(vm, n)
	}
	for i := 0; i < n; i++ {
		start := time.Now()
		if err := e.Runner.Step(); err != nil {
			return err
		}
		e.Stream = append(e.Stream, time.Since(start))
		if vm != nil {
			e.Callback = append(e.Callback, vm.RequestHeadersTime())
		}
	}
	return nil
}

func (e *Entry) samplePaired(vm *envoyhost.VM, n int) error {
	floorVM := e.Floor.Runner.VM()
	for done := 0; done < n; done += PairSamples {
		for i := 0; i < PairSamples; i++ {
			if err := e.Floor.Runner.Step(); err != nil {
				return fmt.Errorf("floor: %w", err)
			}
			e.FloorCallback = append(e.FloorCallback, floorVM.RequestHeadersTime())
		}
		for i := 0; i < PairSamples; i++ {
			start := time.Now()
			if err := e.Runner.Step(); err != nil {
				return err
			}
			e.Stream = append(e.Stream, time.Since(start))
			e.Callback = append(e.Callback, vm.RequestHeadersTime())
		}
	}
	return nil
}

// ColdStart is what a plugin (re)load costs.
type ColdStart struct {
	ModuleBytes, NoopBytes int
	Compile                Durations // fresh runtime, no cache
	CacheFill              time.Duration
	CompileCached          Durations // fresh runtime, cache hit from disk
	VMStart                map[envoyhost.Profile]Durations
	Memory                 map[envoyhost.Profile][]MemoryPoint
}

// Report is everything one run measured.
type Report struct {
	Machine   Machine
	Count     int
	BenchTime string
	Entries   []*Entry
	Cold      ColdStart
	Took      time.Duration
}

func (r *Report) entry(name string) *Entry {
	for _, e := range r.Entries {
		if e.Name == name && len(e.Results) > 0 {
			return e
		}
	}
	return nil
}

func ns(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2f ms", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.2f µs", v/1e3)
	}
	return fmt.Sprintf("%.0f ns", v)
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/1e6) }

func mib(b uint32) string { return fmt.Sprintf("%.2f MiB", float64(b)/(1<<20)) }

// Markdown writes the report: machine, per-benchmark medians, ratios, cold start, and the targets
// with the verdict computed from the numbers above (nothing here is typed in by hand).
func (r *Report) Markdown(w io.Writer) {
	m := r.Machine
	fmt.Fprintf(w, "### Machine\n\n")
	fmt.Fprintf(w, "- CPU: %s, %d cores (runtime.NumCPU)\n- Go: %s %s/%s; wazero %s, compiler engine\n", m.CPU, m.Cores, m.GoVersion, m.GOOS, m.GOARCH, m.Wazero)
	fmt.Fprintf(w, "- %d interleaved rounds of %s per benchmark; medians of the rounds; whole run took %s\n\n", r.Count, r.BenchTime, r.Took.Round(time.Second))

	fmt.Fprintf(w, "### Request path (median of rounds)\n\n")
	fmt.Fprintf(w, "| benchmark | ns/request (median) | fastest..slowest round | Go allocs/request | Go B/request |\n|---|---:|---:|---:|---:|\n")
	for _, e := range r.Entries {
		if len(e.Results) == 0 {
			continue
		}
		lo, hi := e.Spread()
		fmt.Fprintf(w, "| %s | %s | %s..%s | %.1f | %.0f |\n", e.Name, ns(e.NsPerOp()), ns(lo), ns(hi), e.AllocsPerOp(), e.BytesPerOp())
	}
	fmt.Fprintf(w, "\n### Ratios (same run; medians)\n\n")
	fmt.Fprintf(w, "| case | profile | filter | filter − no-op | filter / native | filter / no-op | ext_authz / filter |\n|---|---|---:|---:|---:|---:|---:|\n")
	for _, p := range Profiles {
		noop := r.entry("Noop/" + string(p))
		for _, c := range Cases {
			f, n := r.entry("Filter/"+string(p)+"/"+c.Name), r.entry("Native/"+c.Name)
			if f == nil || n == nil || noop == nil {
				continue
			}
			ext := "n/a (static only)"
			if x := r.entry("ExtAuthz/" + c.Name); x != nil {
				ext = fmt.Sprintf("%.2fx", x.NsPerOp()/f.NsPerOp())
			}
			fmt.Fprintf(w, "| %s | %s | %s | %s | %.0fx | %.2fx | %s |\n", c.Name, p, ns(f.NsPerOp()), ns(f.NsPerOp()-noop.NsPerOp()),
				f.NsPerOp()/n.NsPerOp(), f.NsPerOp()/noop.NsPerOp(), ext)
		}
	}

	fmt.Fprintf(w, "\n### Filter against the floor (same run, same host)\n\n")
	fmt.Fprintf(w, "Time inside `proxy_on_request_headers` (host calls included), over %d single requests per entry (%d per round), each case's in turns of %d with as many of the floor's (the floor columns are those paired requests); the floor is `bench/testdata/floor` making the allowed path's essential host calls. Whole stream: the same requests as the client of the stand-in sees them (the floor's from its own entry).\n\n", r.Count*SamplesPerRound, SamplesPerRound, PairSamples)
	fmt.Fprintf(w, "| case | profile | filter median | filter p99 | floor median | floor p99 | ratio median | ratio p99 | whole stream median (filter / floor) |\n|---|---|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, p := range Profiles {
		fl := r.entry("Floor/" + string(p))
		if fl == nil {
			continue
		}
		for _, c := range Cases {
			f := r.entry("Filter/" + string(p) + "/" + c.Name)
			if f == nil {
				continue
			}
			rm, r99 := r.FloorRatio(p, c.Name)
			sf, sfl := Percentile(f.Stream, 0.5), Percentile(fl.Stream, 0.5)
			floor := floorSamples(f, fl)
			fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %.2fx | %.2fx | %s / %s = %.2fx |\n", c.Name, p,
				dur(Percentile(f.Callback, 0.5)), dur(Percentile(f.Callback, 0.99)), dur(Percentile(floor, 0.5)), dur(Percentile(floor, 0.99)),
				rm, r99, dur(sf), dur(sfl), float64(sf)/float64(sfl))
		}
	}
	cs := r.Cold
	fmt.Fprintf(w, "\n### Cold start\n\n| what | median | min..max | n |\n|---|---:|---:|---:|\n")
	fmt.Fprintf(w, "| module size | %d bytes (%.2f MB) | | |\n", cs.ModuleBytes, float64(cs.ModuleBytes)/1e6)
	fmt.Fprintf(w, "| no-op module size | %d bytes (%.2f MB) | | |\n", cs.NoopBytes, float64(cs.NoopBytes)/1e6)
	if len(cs.Compile) > 0 {
		fmt.Fprintf(w, "| compile, no cache (wazero compiler) | %s | %s..%s | %d |\n", ms(cs.Compile.Median()), ms(cs.Compile.Min()), ms(cs.Compile.Max()), len(cs.Compile))
	}
	if len(cs.CompileCached) > 0 {
		fmt.Fprintf(w, "| compile filling an empty on-disk cache | %s | | 1 |\n", ms(cs.CacheFill))
		fmt.Fprintf(w, "| compile, on-disk cache hit (fresh runtime) | %s | %s..%s | %d |\n", ms(cs.CompileCached.Median()), ms(cs.CompileCached.Min()), ms(cs.CompileCached.Max()), len(cs.CompileCached))
	}
	for _, p := range Profiles {
		if d := cs.VMStart[p]; len(d) > 0 {
			fmt.Fprintf(w, "| VM start %s (instantiate + _initialize + vm_start + configure, reference config) | %s | %s..%s | %d |\n", p, ms(d.Median()), ms(d.Min()), ms(d.Max()), len(d))
		}
	}
	for _, p := range Profiles {
		pts := cs.Memory[p]
		if len(pts) == 0 {
			continue
		}
		var parts []string
		for _, pt := range pts {
			parts = append(parts, fmt.Sprintf("%d req: %s", pt.Requests, mib(pt.Bytes)))
		}
		fmt.Fprintf(w, "| linear memory per VM, %s (after N requests; shipped module) | %s | | |\n", p, strings.Join(parts, "; "))
		if w1k, last, ok := warm(pts); ok {
			fmt.Fprintf(w, "| guest heap allocations / GC cycles, %s, from 1k to %d requests (probe build) | %d / %d | | |\n", p, last.Requests, last.Mallocs-w1k.Mallocs, last.GCs-w1k.GCs)
		}
	}

	fmt.Fprintf(w, "\n### Targets\n\n| target | measured | verdict |\n|---|---|---|\n")
	verdict := func(ok bool) string {
		if ok {
			return "met"
		}
		return "**missed**"
	}
	for _, p := range Profiles {
		f, n := r.entry("Filter/"+string(p)+"/allow_scoped"), r.entry("Native/allow_scoped")
		x := r.entry("ExtAuthz/allow_scoped")
		if f == nil || n == nil {
			continue
		}
		fmt.Fprintf(w, "| static-token allow, scoped route, in the host ≤ 5 µs (%s) | %s | %s |\n", p, ns(f.NsPerOp()), verdict(f.NsPerOp() <= 5000))
		fmt.Fprintf(w, "| same ≤ 10x the native decision (%s) | %.0fx (native %s) | %s |\n", p, f.NsPerOp()/n.NsPerOp(), ns(n.NsPerOp()), verdict(f.NsPerOp() <= 10*n.NsPerOp()))
		if x != nil {
			fmt.Fprintf(w, "| ext_authz loopback call ≥ 10x slower than the filter (%s) | %.2fx (ext_authz %s) | %s |\n", p, x.NsPerOp()/f.NsPerOp(), ns(x.NsPerOp()), verdict(x.NsPerOp() >= 10*f.NsPerOp()))
		}
	}
	for _, p := range Profiles {
		pts := cs.Memory[p]
		var at1k, last MemoryPoint
		for _, pt := range pts {
			if pt.Requests == 1000 {
				at1k = pt
			}
			last = pt
		}
		if at1k.Bytes == 0 || last.Requests <= 1000 {
			continue
		}
		fmt.Fprintf(w, "| linear memory after %d requests ≤ 2x after 1k (%s) | %s vs %s (%.2fx) | %s |\n", last.Requests, p, mib(last.Bytes), mib(at1k.Bytes),
			float64(last.Bytes)/float64(at1k.Bytes), verdict(last.Bytes <= 2*at1k.Bytes))
	}
	fmt.Fprintf(w, "| module ≤ 3.0 MB | %.2f MB (%d bytes) | %s |\n", float64(cs.ModuleBytes)/1e6, cs.ModuleBytes, verdict(cs.ModuleBytes <= 3_000_000))
	r.requestPathTargets(w, verdict)
	for _, p := range Profiles {
		if d := cs.VMStart[p]; len(d) > 0 {
			fmt.Fprintf(w, "| per-VM start < 50 ms, compiled module cached (%s) | %s | %s |\n", p, ms(d.Median()), verdict(d.Median() < 50*time.Millisecond))
		}
	}
}

// FloorRatio is filter/floor of the time inside proxy_on_request_headers for case on profile p: medians and
// p99s of the same run. Zero when either was not measured.
func (r *Report) FloorRatio(p envoyhost.Profile, caseName string) (median, p99 float64) {
	f, fl := r.entry("Filter/"+string(p)+"/"+caseName), r.entry("Floor/"+string(p))
	if f == nil || fl == nil {
		return 0, 0
	}
	floor := floorSamples(f, fl)
	if len(f.Callback) == 0 || len(floor) == 0 {
		return 0, 0
	}
	return float64(Percentile(f.Callback, 0.5)) / float64(Percentile(floor, 0.5)),
		float64(Percentile(f.Callback, 0.99)) / float64(Percentile(floor, 0.99))
}

// floorSamples are the floor's callback times that f is compared with: those taken in turns with f's own,
// else (an entry sampled alone) the floor entry's.
func floorSamples(f, fl *Entry) []time.Duration {
	if len(f.FloorCallback) > 0 {
		return f.FloorCallback
	}
	return fl.Callback
}

// ModuleSizeBudget is the module size of main before the allocation-free request path: the request-path work must not
// make the module larger.
const ModuleSizeBudget = 2_684_988

// MemoryBudget is linear memory per VM after 1M requests (PERFORMANCE.md, "Targets").
const MemoryBudget = 3.5 * (1 << 20)

// warm returns the 1k-request point and the last one of a memory soak.
func warm(pts []MemoryPoint) (at1k, last MemoryPoint, ok bool) {
	for _, pt := range pts {
		if pt.Requests == 1000 {
			at1k, ok = pt, true
		}
		last = pt
	}
	return at1k, last, ok && last.Requests > 1000
}

// requestPathTargets writes the request-path targets with the verdict and, when missed, by how much and what the
// remaining time is.
func (r *Report) requestPathTargets(w io.Writer, verdict func(bool) string) {
	miss := func(ratio, target float64, base time.Duration) string {
		if ratio <= target || base == 0 {
			return ""
		}
		return fmt.Sprintf(" (over by %.2fx: %s above the target)", ratio-target, dur(time.Duration(float64(base)*(ratio-target))))
	}
	for _, p := range Profiles {
		fl := r.entry("Floor/" + string(p))
		if fl == nil {
			continue
		}
		for _, c := range Cases {
			rm, r99 := r.FloorRatio(p, c.Name)
			if rm == 0 {
				continue
			}
			floor := floorSamples(r.entry("Filter/"+string(p)+"/"+c.Name), fl)
			fm, f99 := Percentile(floor, 0.5), Percentile(floor, 0.99)
			if c.Name == "allow_scoped" {
				fmt.Fprintf(w, "| allowed request ≤ 1.6x the floor, median (%s) | %.2fx%s | %s |\n", p, rm, miss(rm, 1.6, fm), verdict(rm <= 1.6))
				fmt.Fprintf(w, "| allowed request p99 ≤ 1.6x the floor's p99 (%s) | %.2fx%s | %s |\n", p, r99, miss(r99, 1.6, f99), verdict(r99 <= 1.6))
				continue
			}
			fmt.Fprintf(w, "| %s ≤ 2x the floor, median (%s) | %.2fx%s | %s |\n", c.Name, p, rm, miss(rm, 2, fm), verdict(rm <= 2))
		}
		a, h := r.entry("Filter/"+string(p)+"/allow_scoped"), r.entry("Filter/"+string(p)+"/remote_cache_hit")
		if a != nil && h != nil && len(a.Callback) > 0 && len(h.Callback) > 0 {
			am := Percentile(a.Callback, 0.5)
			x := float64(Percentile(h.Callback, 0.5)) / float64(am)
			fmt.Fprintf(w, "| remote cache hit ≤ 1.3x the allowed static case, median (%s) | %.2fx%s | %s |\n", p, x, miss(x, 1.3, am), verdict(x <= 1.3))
		}
	}
	for _, p := range Profiles {
		at1k, last, ok := warm(r.Cold.Memory[p])
		if !ok {
			continue
		}
		fmt.Fprintf(w, "| linear memory per VM after %d requests ≤ 3.5 MiB (%s) | %s | %s |\n", last.Requests, p, mib(last.Bytes), verdict(float64(last.Bytes) <= MemoryBudget && last.Requests >= 1_000_000))
		fmt.Fprintf(w, "| no guest allocation and no guest GC from 1k to %d requests (%s) | %d allocations, %d GC cycles | %s |\n", last.Requests, p,
			last.Mallocs-at1k.Mallocs, last.GCs-at1k.GCs, verdict(last.Mallocs == at1k.Mallocs && last.GCs == at1k.GCs && last.Requests >= 1_000_000))
	}
	b := r.Cold.ModuleBytes
	fmt.Fprintf(w, "| module no larger than before the request-path work (%d bytes) | %d bytes (%+d) | %s |\n", ModuleSizeBudget, b, b-ModuleSizeBudget, verdict(b <= ModuleSizeBudget))
}

func dur(d time.Duration) string { return ns(float64(d.Nanoseconds())) }
