package envoyhost

import (
	"crypto/rand"
	"fmt"
	"time"

	"github.com/tetratelabs/wazero/api"
)

// WASI errno values used by cpp-host's stubs.
const (
	errnoSuccess = 0
	errnoBadf    = 8
	errnoFault   = 21
	errnoInval   = 28
	errnoNoent   = 44
	errnoNosys   = 52
	errnoNotsup  = 58
)

// maxRandomGet is cpp-host's PROXY_WASM_HOST_WASI_RANDOM_GET_MAX_SIZE_BYTES.
const maxRandomGet = 64 * 1024

// envoy133WASI is the wasi_snapshot_preview1 set of cpp-host after PR #427:
// the 15 functions it had before (Emscripten/Rust/C++ needs) plus
// sched_yield, poll_oneoff and fd_fdstat_set_flags.
var envoy133WASI = map[string]bool{
	"args_get": true, "args_sizes_get": true, "clock_time_get": true,
	"environ_get": true, "environ_sizes_get": true, "fd_close": true,
	"fd_fdstat_get": true, "fd_fdstat_set_flags": true, "fd_prestat_dir_name": true,
	"fd_prestat_get": true, "fd_read": true, "fd_seek": true, "fd_write": true,
	"path_open": true, "poll_oneoff": true, "proc_exit": true, "random_get": true,
	"sched_yield": true,
}

// wasiSig lists every wasi_snapshot_preview1 function with its signature
// (all return an errno except proc_exit).
var wasiSig = []struct {
	name   string
	params []api.ValueType
}{
	{"args_get", []api.ValueType{i32, i32}},
	{"args_sizes_get", []api.ValueType{i32, i32}},
	{"environ_get", []api.ValueType{i32, i32}},
	{"environ_sizes_get", []api.ValueType{i32, i32}},
	{"clock_res_get", []api.ValueType{i32, i32}},
	{"clock_time_get", []api.ValueType{i32, i64, i32}},
	{"fd_advise", []api.ValueType{i32, i64, i64, i32}},
	{"fd_allocate", []api.ValueType{i32, i64, i64}},
	{"fd_close", []api.ValueType{i32}},
	{"fd_datasync", []api.ValueType{i32}},
	{"fd_fdstat_get", []api.ValueType{i32, i32}},
	{"fd_fdstat_set_flags", []api.ValueType{i32, i32}},
	{"fd_fdstat_set_rights", []api.ValueType{i32, i64, i64}},
	{"fd_filestat_get", []api.ValueType{i32, i32}},
	{"fd_filestat_set_size", []api.ValueType{i32, i64}},
	{"fd_filestat_set_times", []api.ValueType{i32, i64, i64, i32}},
	{"fd_pread", []api.ValueType{i32, i32, i32, i64, i32}},
	{"fd_prestat_get", []api.ValueType{i32, i32}},
	{"fd_prestat_dir_name", []api.ValueType{i32, i32, i32}},
	{"fd_pwrite", []api.ValueType{i32, i32, i32, i64, i32}},
	{"fd_read", []api.ValueType{i32, i32, i32, i32}},
	{"fd_readdir", []api.ValueType{i32, i32, i32, i64, i32}},
	{"fd_renumber", []api.ValueType{i32, i32}},
	{"fd_seek", []api.ValueType{i32, i64, i32, i32}},
	{"fd_sync", []api.ValueType{i32}},
	{"fd_tell", []api.ValueType{i32, i32}},
	{"fd_write", []api.ValueType{i32, i32, i32, i32}},
	{"path_create_directory", []api.ValueType{i32, i32, i32}},
	{"path_filestat_get", []api.ValueType{i32, i32, i32, i32, i32}},
	{"path_filestat_set_times", []api.ValueType{i32, i32, i32, i32, i64, i64, i32}},
	{"path_link", []api.ValueType{i32, i32, i32, i32, i32, i32, i32}},
	{"path_open", []api.ValueType{i32, i32, i32, i32, i32, i64, i64, i32, i32}},
	{"path_readlink", []api.ValueType{i32, i32, i32, i32, i32, i32}},
	{"path_remove_directory", []api.ValueType{i32, i32, i32}},
	{"path_rename", []api.ValueType{i32, i32, i32, i32, i32, i32}},
	{"path_symlink", []api.ValueType{i32, i32, i32, i32, i32}},
	{"path_unlink_file", []api.ValueType{i32, i32, i32}},
	{"poll_oneoff", []api.ValueType{i32, i32, i32, i32}},
	{"proc_exit", []api.ValueType{i32}},
	{"proc_raise", []api.ValueType{i32}},
	{"sched_yield", nil},
	{"random_get", []api.ValueType{i32, i32}},
	{"sock_accept", []api.ValueType{i32, i32, i32}},
	{"sock_recv", []api.ValueType{i32, i32, i32, i32, i32, i32}},
	{"sock_send", []api.ValueType{i32, i32, i32, i32, i32}},
	{"sock_shutdown", []api.ValueType{i32, i32}},
}

// ExitError is the trap raised when the guest calls proc_exit (the Go
// runtime does so after printing "fatal error: ..."): Envoy treats it as a
// VM crash.
type ExitError struct{ Code uint32 }

func (e *ExitError) Error() string { return fmt.Sprintf("proc_exit(%d)", e.Code) }

// wasiFunctions returns the WASI host functions of a profile: Envoy133 has
// exactly the PR #427 set, Envoy139 all of snapshot-preview1 (PR #533), the
// functions Envoy never implemented answering ENOSYS.
func wasiFunctions(p Profile) []hostFunc {
	var out []hostFunc
	for _, sig := range wasiSig {
		if p == Envoy133 && !envoy133WASI[sig.name] {
			continue
		}
		f := hostFunc{name: sig.name, params: sig.params, results: []api.ValueType{i32}}
		if sig.name == "proc_exit" {
			f.results = nil
		}
		f.fn = wasiImpl(p, sig.name)
		out = append(out, f)
	}
	return out
}

func errno(s []uint64, e uint32) { s[0] = uint64(e) }

func wasiImpl(p Profile, name string) func(vm *VM, mod api.Module, s []uint64) {
	switch name {
	case "environ_sizes_get":
		return wasiEnvironSizesGet
	case "environ_get":
		return wasiEnvironGet
	case "args_sizes_get":
		// Envoy passes no arguments.
		return func(vm *VM, mod api.Module, s []uint64) {
			mem := mod.Memory()
			if !mem.WriteUint32Le(u32(s[0]), 0) || !mem.WriteUint32Le(u32(s[1]), 0) {
				errno(s, errnoFault)
				return
			}
			errno(s, errnoSuccess)
		}
	case "args_get", "sched_yield", "fd_close":
		return func(vm *VM, mod api.Module, s []uint64) { errno(s, errnoSuccess) }
	case "fd_seek":
		// cpp-host logs an error and answers success without writing.
		return func(vm *VM, mod api.Module, s []uint64) { errno(s, errnoSuccess) }
	case "clock_time_get":
		return func(vm *VM, mod api.Module, s []uint64) {
			var t uint64
			switch u32(s[0]) {
			case 0: // realtime: Options.Now, like Envoy's time source
				t = uint64(vm.h.now().UnixNano())
			case 1: // monotonic: always the real clock
				t = uint64(time.Since(vm.h.started).Nanoseconds()) + 1e9
			default:
				errno(s, errnoNotsup)
				return
			}
			if !mod.Memory().WriteUint64Le(u32(s[2]), t) {
				errno(s, errnoFault)
				return
			}
			errno(s, errnoSuccess)
		}
	case "clock_res_get":
		return func(vm *VM, mod api.Module, s []uint64) {
			if u32(s[0]) > 1 {
				errno(s, errnoNotsup)
				return
			}
			if !mod.Memory().WriteUint64Le(u32(s[1]), 1) {
				errno(s, errnoFault)
				return
			}
			errno(s, errnoSuccess)
		}
	case "fd_write":
		return wasiFdWrite
	case "fd_fdstat_get":
		return func(vm *VM, mod api.Module, s []uint64) {
			fd := u32(s[0])
			if fd != 1 && fd != 2 {
				errno(s, errnoBadf)
				return
			}
			// 24-byte fdstat, all zero but fs_rights_base = FD_WRITE.
			var st [24]byte
			st[8] = 64
			if !mod.Memory().Write(u32(s[1]), st[:]) {
				errno(s, errnoFault)
				return
			}
			errno(s, errnoSuccess)
		}
	case "fd_prestat_get":
		// No preopened directories.
		return func(vm *VM, mod api.Module, s []uint64) { errno(s, errnoBadf) }
	case "path_open":
		return func(vm *VM, mod api.Module, s []uint64) { errno(s, errnoNoent) }
	case "random_get":
		return func(vm *VM, mod api.Module, s []uint64) {
			n := u32(s[1])
			if n > maxRandomGet {
				errno(s, errnoInval)
				return
			}
			if n == 0 {
				errno(s, errnoSuccess)
				return
			}
			buf, ok := mod.Memory().Read(u32(s[0]), n)
			if !ok {
				errno(s, errnoFault)
				return
			}
			_, _ = rand.Read(buf)
			errno(s, errnoSuccess)
		}
	case "poll_oneoff":
		if p == Envoy133 {
			// PR #427 stub: the Go runtime throws on this (golang/go#78513).
			return func(vm *VM, mod api.Module, s []uint64) {
				vm.noteWASI("poll_oneoff returned ENOSYS")
				errno(s, errnoNosys)
			}
		}
		// PR #533: report that nothing happened, at once.
		return func(vm *VM, mod api.Module, s []uint64) {
			if !mod.Memory().WriteUint32Le(u32(s[3]), 0) {
				errno(s, errnoFault)
				return
			}
			errno(s, errnoSuccess)
		}
	case "proc_exit":
		return func(vm *VM, mod api.Module, s []uint64) {
			panic(&ExitError{Code: u32(s[0])})
		}
	}
	// fd_read, fd_fdstat_set_flags, fd_prestat_dir_name and everything Envoy
	// never implemented.
	return func(vm *VM, mod api.Module, s []uint64) { errno(s, errnoNosys) }
}

// wasiFdWrite sends stdout/stderr to the log capture (Info / Error, one
// entry per call, trailing newline dropped) as cpp-host's writevImpl does.
func wasiFdWrite(vm *VM, mod api.Module, s []uint64) {
	fd := u32(s[0])
	var level LogLevel
	switch fd {
	case 1:
		level = LogInfo
	case 2:
		level = LogError
	default:
		errno(s, errnoBadf)
		return
	}
	mem := mod.Memory()
	iovs, n := u32(s[1]), u32(s[2])
	buf := vm.wbuf[:0]
	for i := uint32(0); i < n; i++ {
		iov, ok := mem.Read(iovs+8*i, 8)
		if !ok {
			errno(s, errnoFault)
			return
		}
		p := uint32(iov[0]) | uint32(iov[1])<<8 | uint32(iov[2])<<16 | uint32(iov[3])<<24
		l := uint32(iov[4]) | uint32(iov[5])<<8 | uint32(iov[6])<<16 | uint32(iov[7])<<24
		if l == 0 {
			continue
		}
		b, ok := mem.Read(p, l)
		if !ok {
			errno(s, errnoFault)
			return
		}
		buf = append(buf, b...)
	}
	vm.wbuf = buf
	written := uint32(len(buf))
	if written > 0 {
		if w := vm.h.opts.Stdout; w != nil {
			_, _ = w.Write(buf)
		}
		if fd == 2 {
			vm.noteStderr(buf)
		}
		msg := buf
		if msg[len(msg)-1] == '\n' {
			msg = msg[:len(msg)-1]
		}
		vm.h.addLog(vm.id, level, string(msg))
	}
	if !mem.WriteUint32Le(u32(s[3]), written) {
		errno(s, errnoFault)
		return
	}
	errno(s, errnoSuccess)
}

// wasiEnvironSizesGet and wasiEnvironGet hand the guest the VM's environment
// variables (Envoy's vm_config.environment_variables, PluginConfig.Environment)
// as "KEY=VALUE\0" strings, as cpp-host's wasi_unstable_environ_get and
// environ_sizes_get do (src/exports.cc).
func wasiEnvironSizesGet(vm *VM, mod api.Module, s []uint64) {
	size := 0
	for _, kv := range vm.cfg.Environment {
		size += len(kv[0]) + len(kv[1]) + 2
	}
	mem := mod.Memory()
	if !mem.WriteUint32Le(u32(s[0]), uint32(len(vm.cfg.Environment))) || !mem.WriteUint32Le(u32(s[1]), uint32(size)) {
		errno(s, errnoFault)
		return
	}
	errno(s, errnoSuccess)
}

func wasiEnvironGet(vm *VM, mod api.Module, s []uint64) {
	mem := mod.Memory()
	arr, buf := u32(s[0]), u32(s[1])
	for _, kv := range vm.cfg.Environment {
		entry := kv[0] + "=" + kv[1] + "\x00"
		if !mem.WriteUint32Le(arr, buf) || !mem.WriteString(buf, entry) {
			errno(s, errnoFault)
			return
		}
		arr += 4
		buf += uint32(len(entry))
	}
	errno(s, errnoSuccess)
}
