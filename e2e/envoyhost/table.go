package envoyhost

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

var (
	i32 = api.ValueTypeI32
	i64 = api.ValueTypeI64
)

// hostFunc is one function the host exports to the guest. fn receives the
// VM found through the call's context, so no global state is involved.
type hostFunc struct {
	module, name    string
	params, results []api.ValueType
	fn              func(vm *VM, mod api.Module, stack []uint64)
}

// restriction is cpp-host's "restricted callback" mode: while it is set,
// calling a host function outside allow traps the guest, as V8 does with
// "restricted_callback".
type restriction struct {
	phase string
	allow []bool // indexed like hostTable.fns
}

type restrictedError struct {
	fn, phase string
}

func (e *restrictedError) Error() string {
	return fmt.Sprintf("restricted_callback: %s called during %s, which this Envoy profile forbids", e.fn, e.phase)
}

// hostTable is every host function of one Host (its profile decides the WASI
// part) plus the allow lists used during _initialize and
// proxy_on_memory_allocate.
type hostTable struct {
	h          *Host
	fns        []hostFunc
	index      map[string]int // "module.name" -> index in fns
	initRestr  *restriction
	mallocRstr *restriction
}

func newHostTable(h *Host) *hostTable {
	t := &hostTable{h: h, index: map[string]int{}}
	for _, f := range envFunctions() {
		t.add(f)
	}
	for _, mod := range []string{"wasi_snapshot_preview1", "wasi_unstable"} {
		for _, f := range wasiFunctions(h.profile) {
			f.module = mod
			t.add(f)
		}
	}
	wasiAll := func(string) bool { return true }
	switch h.profile {
	case Envoy133:
		// cpp-host before PR #533: allocMemory's list, and WasmBase::startVm's
		// list (proxy_log, fd_write, args, environ, prestat, clock, random)
		// plus what a Go reactor's _initialize calls (syscall.init ->
		// SetNonblock: fd_fdstat_get, fd_fdstat_set_flags) and the other
		// PR #427 additions. The extension is an assumption: Go modules are
		// reported to load on Envoy 1.33, which needs at least these.
		initSet := map[string]bool{"fd_write": true, "args_sizes_get": true, "args_get": true,
			"environ_sizes_get": true, "environ_get": true, "fd_prestat_get": true,
			"fd_prestat_dir_name": true, "clock_time_get": true, "random_get": true,
			"fd_fdstat_get": true, "fd_fdstat_set_flags": true, "sched_yield": true, "poll_oneoff": true}
		mallocSet := map[string]bool{"fd_write": true, "clock_time_get": true}
		t.initRestr = t.restriction("_initialize", func(n string) bool { return initSet[n] })
		t.mallocRstr = t.restriction("proxy_on_memory_allocate", func(n string) bool { return mallocSet[n] })
	default:
		// PR #533 widened both lists so that the Go runtime may sleep and
		// yield while initialising or allocating; we allow every WASI call.
		t.initRestr = t.restriction("_initialize", wasiAll)
		t.mallocRstr = t.restriction("proxy_on_memory_allocate", wasiAll)
	}
	return t
}

func (t *hostTable) add(f hostFunc) {
	t.index[f.module+"."+f.name] = len(t.fns)
	t.fns = append(t.fns, f)
}

// restriction builds an allow list: proxy_log always, plus the WASI
// functions wasiOK accepts.
func (t *hostTable) restriction(phase string, wasiOK func(name string) bool) *restriction {
	r := &restriction{phase: phase, allow: make([]bool, len(t.fns))}
	for i, f := range t.fns {
		switch f.module {
		case "env":
			r.allow[i] = f.name == "proxy_log"
		default:
			r.allow[i] = wasiOK(f.name)
		}
	}
	return r
}

type vmKey struct{}

// wrap turns a table entry into the api.GoModuleFunc wazero calls: it finds
// the VM in the call's context and enforces the current restriction.
func (t *hostTable) wrap(i int) api.GoModuleFunc {
	f := t.fns[i].fn
	full := t.fns[i].module + "." + t.fns[i].name
	return func(ctx context.Context, mod api.Module, stack []uint64) {
		vm, _ := ctx.Value(vmKey{}).(*VM)
		if vm == nil {
			panic(fmt.Errorf("envoyhost: %s called outside a VM call", full))
		}
		if r := vm.restrict; r != nil && !r.allow[i] {
			panic(&restrictedError{fn: full, phase: r.phase})
		}
		f(vm, mod, stack)
	}
}

func (t *hostTable) instantiate(ctx context.Context, rt wazero.Runtime) error {
	builders := map[string]wazero.HostModuleBuilder{}
	var order []string
	for i, f := range t.fns {
		b := builders[f.module]
		if b == nil {
			b = rt.NewHostModuleBuilder(f.module)
			builders[f.module] = b
			order = append(order, f.module)
		}
		b.NewFunctionBuilder().
			WithGoModuleFunction(t.wrap(i), f.params, f.results).
			WithName(f.name).
			Export(f.name)
	}
	for _, m := range order {
		if _, err := builders[m].Instantiate(ctx); err != nil {
			return fmt.Errorf("envoyhost: host module %s: %w", m, err)
		}
	}
	return nil
}

// abiOnly lists env functions cpp-host registers only for some ABI versions
// (WasmBase::registerCallbacks); a module of another ABI that imports them
// fails to link in Envoy.
var abiOnly = map[string][]string{
	"proxy_get_log_level":     {"0_2_1"},
	"proxy_continue_request":  {"0_1_0"},
	"proxy_continue_response": {"0_1_0"},
	"proxy_get_configuration": {"0_1_0"},
	"proxy_clear_route_cache": {"0_1_0"},
	"proxy_continue_stream":   {"0_2_0", "0_2_1"},
	"proxy_close_stream":      {"0_2_0", "0_2_1"},
}

// checkImports fails like Envoy's link step: every import must be a
// function this profile exports, with the same signature.
func (t *hostTable) checkImports(compiled wazero.CompiledModule, abi string) error {
	for _, d := range compiled.ImportedFunctions() {
		mod, name, _ := d.Import()
		full := mod + "." + name
		i, ok := t.index[full]
		if !ok {
			switch mod {
			case "env":
				return fmt.Errorf("envoyhost: module imports %s, which Envoy does not provide (unknown proxy-wasm host function; Envoy fails to link the module)", full)
			case "wasi_snapshot_preview1", "wasi_unstable":
				return fmt.Errorf("envoyhost: module imports %s, which %s does not provide (Envoy fails to link the module)", full, t.h.profile)
			default:
				return fmt.Errorf("envoyhost: module imports %s from unknown module %q (Envoy fails to link the module)", full, mod)
			}
		}
		if abis, gated := abiOnly[name]; gated && mod == "env" && !slices.Contains(abis, abi) {
			return fmt.Errorf("envoyhost: module imports %s, which cpp-host registers only for ABI %s, not for this module's ABI %s (Envoy fails to link the module)",
				full, strings.Join(abis, "/"), abi)
		}
		f := t.fns[i]
		if !slices.Equal(d.ParamTypes(), f.params) || !slices.Equal(d.ResultTypes(), f.results) {
			return fmt.Errorf("envoyhost: module imports %s with signature %v -> %v; the host has %v -> %v",
				full, typeNames(d.ParamTypes()), typeNames(d.ResultTypes()), typeNames(f.params), typeNames(f.results))
		}
	}
	return nil
}

func typeNames(ts []api.ValueType) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = api.ValueTypeName(t)
	}
	return out
}

// fn is a shorthand for table entries whose parameters are all i32 and that
// return one i32 status.
func fn(name string, nparams int, f func(vm *VM, mod api.Module, stack []uint64)) hostFunc {
	ps := make([]api.ValueType, nparams)
	for i := range ps {
		ps[i] = i32
	}
	return hostFunc{module: "env", name: name, params: ps, results: []api.ValueType{i32}, fn: f}
}
