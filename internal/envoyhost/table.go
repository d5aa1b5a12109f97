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
	initSet, allocSet := restrictedWASI(h.profile)
	t.initRestr = t.restriction("_initialize", func(n string) bool { return initSet[n] })
	t.mallocRstr = t.restriction("proxy_on_memory_allocate", func(n string) bool { return allocSet[n] })
	return t
}

func (t *hostTable) add(f hostFunc) {
	t.index[f.module+"."+f.name] = len(t.fns)
	t.fns = append(t.fns, f)
}

// restrictedWASI returns the WASI functions (by name, for both
// wasi_unstable and wasi_snapshot_preview1) that cpp-host lets the guest call
// while it runs _initialize (WasmBase::startVm in src/wasm.cc) and while it
// runs its allocator (WasmBase::allocMemory in include/proxy-wasm/wasm.h).
// Only these calls are checked: outside them nothing is restricted. The lists
// are cpp-host's, verbatim:
//   - Envoy133: proxy-wasm-cpp-host c4d7bb0f (PR #427), the version Envoy
//     1.33 pins in bazel/repository_locations.bzl. Envoy 1.37 and 1.38 pin
//     beb8a4ec, whose lists differ only by env.emscripten_notify_memory_growth
//     (PR #461), which no Go module imports.
//   - Envoy139: cpp-host 09e5f8d6, which Envoy pins since PR #45756 (June
//     2026, Envoy 1.39), containing PR #533. It widens both lists, but still
//     forbids, among others, sched_yield, proc_exit, fd_read, fd_seek,
//     fd_close and path_open during _initialize.
//
// Both lists also allow env.proxy_log (see restriction). The check is
// V8's (src/v8/v8.cc traps with "restricted_callback"), Envoy's default
// runtime.
func restrictedWASI(p Profile) (init, alloc map[string]bool) {
	set := func(names ...string) map[string]bool {
		m := make(map[string]bool, len(names))
		for _, n := range names {
			m[n] = true
		}
		return m
	}
	if p == Envoy133 {
		init = set("fd_write", "args_sizes_get", "args_get", "environ_sizes_get", "environ_get",
			"fd_prestat_get", "fd_prestat_dir_name", "clock_time_get", "random_get",
			"fd_fdstat_get", "fd_fdstat_set_flags")
		alloc = set("fd_write", "clock_time_get")
		return init, alloc
	}
	init = set("fd_write", "args_sizes_get", "args_get", "environ_sizes_get", "environ_get",
		"clock_time_get", "clock_res_get", "random_get", "poll_oneoff", "fd_fdstat_get", "fd_fdstat_set_flags",
		"fd_advise", "fd_allocate", "fd_datasync", "fd_fdstat_set_rights", "fd_filestat_get",
		"fd_filestat_set_size", "fd_filestat_set_times", "fd_pread", "fd_prestat_dir_name", "fd_prestat_get",
		"fd_pwrite", "fd_readdir", "fd_renumber", "fd_sync", "fd_tell", "path_create_directory",
		"path_filestat_get", "path_filestat_set_times", "path_link", "path_readlink", "path_remove_directory",
		"path_rename", "path_symlink", "path_unlink_file", "sock_accept", "sock_recv", "sock_send",
		"sock_shutdown")
	alloc = set("fd_write", "clock_time_get", "poll_oneoff")
	return init, alloc
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
