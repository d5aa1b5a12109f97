package envoyhost

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"
)

// Profile selects which Envoy release's host surface is emulated. The two
// profiles differ only in the WASI layer, which is exactly where Envoy
// releases differ for a standard-Go guest.
type Profile string

const (
	// Envoy133 is Envoy 1.33 to 1.38 (proxy-wasm-cpp-host PR #427): the WASI
	// set a Go reactor needs exists, but poll_oneoff returns ENOSYS (52), and
	// while the guest runs proxy_on_memory_allocate only proxy_log, fd_write
	// and clock_time_get may be called.
	Envoy133 Profile = "envoy-1.33"
	// Envoy139 is Envoy >= 1.39 (cpp-host PR #533): poll_oneoff returns 0 with
	// no events and the full wasi_snapshot_preview1 set is stubbed.
	Envoy139 Profile = "envoy-1.39"
)

// Options configure a Host.
type Options struct {
	Profile             Profile           // default Envoy139
	CompilationCacheDir string            // optional: wazero.NewCompilationCacheWithDir
	Clusters            map[string]string // cluster name -> "host:port" of a real HTTP/1.1 server (targets of proxy_http_call)
	Now                 func() time.Time  // realtime clock seen by the guest via clock_time_get(REALTIME); nil = time.Now. MONOTONIC stays real.
	Stdout              io.Writer         // optional: where guest fd_write(1|2) goes besides the log capture
	// LogSink, when set, receives every log entry as it is made (on the VM's goroutine) instead of the
	// in-memory capture that Logs returns: long-running servers set it so memory does not grow.
	LogSink func(LogEntry)
	// TimeRequestHeaders makes each VM keep the duration of its last proxy_on_request_headers call
	// (VM.RequestHeadersTime), for benchmarks; off, the call is not timed.
	TimeRequestHeaders bool
}

// GoReactorWASI is the WASI set a standard-Go reactor (GOOS=wasip1 -buildmode=c-shared) imports. Anything
// more (fd_read, path_open, path_filestat_get: file I/O, time zones, or packages such as net that link them)
// fails to link on Envoy 1.33 to 1.38, which lack some of them: tests of a module assert its imports stay in
// this set plus env.proxy_*.
var GoReactorWASI = []string{
	"sched_yield", "proc_exit", "args_get", "args_sizes_get", "clock_time_get", "environ_get",
	"environ_sizes_get", "fd_write", "random_get", "poll_oneoff", "fd_close", "fd_fdstat_get",
	"fd_fdstat_set_flags", "fd_prestat_get", "fd_prestat_dir_name",
}

// LogLevel uses the proxy-wasm numbering.
type LogLevel int

// Log levels as numbered by proxy-wasm.
const (
	LogTrace LogLevel = iota
	LogDebug
	LogInfo
	LogWarn
	LogError
	LogCritical
)

func (l LogLevel) String() string {
	switch l {
	case LogTrace:
		return "trace"
	case LogDebug:
		return "debug"
	case LogInfo:
		return "info"
	case LogWarn:
		return "warn"
	case LogError:
		return "error"
	case LogCritical:
		return "critical"
	}
	return fmt.Sprintf("level(%d)", int(l))
}

// LogEntry is one captured proxy_log call, or one fd_write to stdout/stderr.
type LogEntry struct {
	VM      int
	Level   LogLevel
	Message string
}

// Errors returned by NewVM and Stream.Wait.
var (
	ErrConfigureRejected = errors.New("envoyhost: proxy_on_configure returned false (Envoy rejects the plugin configuration)")
	ErrVMStartRejected   = errors.New("envoyhost: proxy_on_vm_start returned false (Envoy fails to start the VM)")
	ErrABIVersion        = errors.New("envoyhost: Missing or unknown Proxy-Wasm ABI version")
	ErrStreamHung        = errors.New("envoyhost: stream still paused: the plugin neither resumed it nor sent a local reply")
	ErrVMClosed          = errors.New("envoyhost: VM closed")
)

// Host is one Envoy process: the compiled module, the stats store, shared
// data (per vm_id), shared queues and captured logs. Safe for concurrent use.
type Host struct {
	opts     Options
	profile  Profile
	rt       wazero.Runtime
	compiled wazero.CompiledModule
	imports  []string
	exports  []string
	abi      string // exported ABI marker, "" if none
	hostFns  *hostTable
	now      func() time.Time
	started  time.Time
	client   *http.Client
	nextVM   atomic.Int64

	sharedGets, sharedSets atomic.Uint64 // guest calls of proxy_get/set_shared_data, for cost assertions

	logMu sync.Mutex
	logs  []LogEntry

	mu          sync.Mutex // guards everything below
	metrics     map[string]*metric
	shared      map[string]map[string]*sharedEntry // vm_id -> key -> entry
	casCounter  uint32
	queues      map[uint32]*sharedQueue
	queueByName map[queueKey]uint32
	nextQueueID uint32
	vms         map[*VM]struct{}
	closed      bool
}

type metric struct {
	kind  uint32 // 0 counter, 1 gauge, 2 histogram
	value atomic.Int64
}

type sharedEntry struct {
	value []byte
	cas   uint32
}

type queueKey struct{ vmID, name string }

type sharedQueue struct {
	id    uint32
	vmID  string
	name  string
	owner *VM // the VM whose root context receives proxy_on_queue_ready
	items [][]byte
}

// NewHost compiles wasm once; every VM of the Host instantiates the same
// compiled module, like Envoy clones a base VM per worker.
func NewHost(ctx context.Context, wasm []byte, opts Options) (*Host, error) {
	if opts.Profile == "" {
		opts.Profile = Envoy139
	}
	if opts.Profile != Envoy133 && opts.Profile != Envoy139 {
		return nil, fmt.Errorf("envoyhost: unknown profile %q", opts.Profile)
	}
	cfg := wazero.NewRuntimeConfig()
	if opts.CompilationCacheDir != "" {
		cache, err := wazero.NewCompilationCacheWithDir(opts.CompilationCacheDir)
		if err != nil {
			return nil, fmt.Errorf("envoyhost: compilation cache: %w", err)
		}
		cfg = cfg.WithCompilationCache(cache)
	}
	h := &Host{
		opts:        opts,
		profile:     opts.Profile,
		now:         opts.Now,
		started:     time.Now(),
		metrics:     map[string]*metric{},
		shared:      map[string]map[string]*sharedEntry{},
		queues:      map[uint32]*sharedQueue{},
		queueByName: map[queueKey]uint32{},
		vms:         map[*VM]struct{}{},
	}
	if h.now == nil {
		h.now = time.Now
	}
	// Envoy's async client neither follows redirects nor asks for gzip, so
	// the plugin sees exactly what the cluster answered.
	h.client = &http.Client{
		Transport: &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 64},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	h.rt = wazero.NewRuntimeWithConfig(ctx, cfg)
	compiled, err := h.rt.CompileModule(ctx, wasm)
	if err != nil {
		_ = h.rt.Close(ctx)
		return nil, fmt.Errorf("envoyhost: compile: %w", err)
	}
	h.compiled = compiled
	for _, d := range compiled.ImportedFunctions() {
		mod, name, _ := d.Import()
		h.imports = append(h.imports, mod+"."+name)
	}
	for name := range compiled.ExportedFunctions() {
		h.exports = append(h.exports, name)
	}
	for name := range compiled.ExportedMemories() {
		h.exports = append(h.exports, name)
	}
	sort.Strings(h.exports)
	exp := compiled.ExportedFunctions()
	switch {
	case exp["proxy_abi_version_0_2_1"] != nil:
		h.abi = "0_2_1"
	case exp["proxy_abi_version_0_2_0"] != nil:
		h.abi = "0_2_0"
	case exp["proxy_abi_version_0_1_0"] != nil:
		h.abi = "0_1_0"
	}
	h.hostFns = newHostTable(h)
	if err := h.hostFns.instantiate(ctx, h.rt); err != nil {
		_ = h.rt.Close(ctx)
		return nil, err
	}
	return h, nil
}

// Close closes every VM and the runtime.
func (h *Host) Close(ctx context.Context) error {
	h.mu.Lock()
	h.closed = true
	vms := make([]*VM, 0, len(h.vms))
	for vm := range h.vms {
		vms = append(vms, vm)
	}
	h.mu.Unlock()
	for _, vm := range vms {
		_ = vm.Close(ctx)
	}
	h.client.CloseIdleConnections()
	return h.rt.Close(ctx)
}

// Profile reports the emulated Envoy profile.
func (h *Host) Profile() Profile { return h.profile }

// Imports lists "module.name" of every function the module imports, in
// declaration order.
func (h *Host) Imports() []string { return append([]string(nil), h.imports...) }

// Exports lists the names of the functions and memories the module exports, sorted.
func (h *Host) Exports() []string { return append([]string(nil), h.exports...) }

// customStatPrefix is the namespace Envoy puts plugin-defined stats under.
const customStatPrefix = "wasmcustom."

// Counter returns the value of a metric by the name the plugin defined;
// Envoy's spelling with the "wasmcustom." prefix is accepted too. Unknown
// names read as 0. Gauges read as their (two's complement) value and
// histograms as the number of recorded samples.
func (h *Host) Counter(name string) uint64 {
	name = strings.TrimPrefix(name, customStatPrefix)
	h.mu.Lock()
	m := h.metrics[name]
	h.mu.Unlock()
	if m == nil {
		return 0
	}
	return uint64(m.value.Load())
}

// Metrics returns all metrics by defined name (without "wasmcustom.").
func (h *Host) Metrics() map[string]uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make(map[string]uint64, len(h.metrics))
	for name, m := range h.metrics {
		out[name] = uint64(m.value.Load())
	}
	return out
}

// Logs returns the captured log lines in order.
func (h *Host) Logs() []LogEntry {
	h.logMu.Lock()
	defer h.logMu.Unlock()
	return append([]LogEntry(nil), h.logs...)
}

// ResetLogs drops the captured log lines.
func (h *Host) ResetLogs() {
	h.logMu.Lock()
	h.logs = nil
	h.logMu.Unlock()
}

func (h *Host) addLog(vm int, level LogLevel, msg string) {
	if sink := h.opts.LogSink; sink != nil {
		sink(LogEntry{VM: vm, Level: level, Message: msg})
		return
	}
	h.logMu.Lock()
	h.logs = append(h.logs, LogEntry{VM: vm, Level: level, Message: msg})
	h.logMu.Unlock()
}

// SharedData reads one shared-data key of a vm_id, as proxy_get_shared_data
// would.
func (h *Host) SharedData(vmID, key string) (value []byte, cas uint32, ok bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	e := h.shared[vmID][key]
	if e == nil {
		return nil, 0, false
	}
	return append([]byte(nil), e.value...), e.cas, true
}

// SharedDataCalls reports how many times guests called proxy_get_shared_data and proxy_set_shared_data.
func (h *Host) SharedDataCalls() (gets, sets uint64) { return h.sharedGets.Load(), h.sharedSets.Load() }

// SharedDataKeys lists the keys of a vm_id's shared data, sorted.
func (h *Host) SharedDataKeys(vmID string) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	keys := make([]string, 0, len(h.shared[vmID]))
	for k := range h.shared[vmID] {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// SetSharedData writes a shared-data key as proxy_set_shared_data would, for
// tests that need to seed state; cas 0 means unconditional.
func (h *Host) SetSharedData(vmID, key string, value []byte, cas uint32) error {
	if st := h.setShared(vmID, key, append([]byte(nil), value...), cas); st != statusOK {
		return fmt.Errorf("envoyhost: set shared data: %s", st)
	}
	return nil
}

// getShared returns the stored slice itself: stored values are replaced on
// set, never mutated, so the caller may read it without the lock.
func (h *Host) getShared(vmID, key string) (value []byte, cas uint32, ok bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	e := h.shared[vmID][key]
	if e == nil {
		return nil, 0, false
	}
	return e.value, e.cas, true
}

// setShared follows cpp-host's SharedData::set: a non-zero cas must match
// the stored one, and every successful write gets a fresh non-zero cas.
func (h *Host) setShared(vmID, key string, value []byte, cas uint32) status {
	h.mu.Lock()
	defer h.mu.Unlock()
	m := h.shared[vmID]
	if m == nil {
		m = map[string]*sharedEntry{}
		h.shared[vmID] = m
	}
	e := m[key]
	if e != nil && cas != 0 && cas != e.cas {
		return statusCasMismatch
	}
	h.casCounter++
	if h.casCounter == 0 {
		h.casCounter = 1
	}
	if e == nil {
		e = &sharedEntry{}
		m[key] = e
	}
	e.value = value
	e.cas = h.casCounter
	return statusOK
}

// defineMetric returns the Host-wide stat for name, creating it; the same
// name defined with another type is refused (Envoy's stats store would
// refuse to reuse a name across types as well).
func (h *Host) defineMetric(kind uint32, name string) (*metric, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	m := h.metrics[name]
	if m == nil {
		m = &metric{kind: kind}
		h.metrics[name] = m
	}
	return m, m.kind == kind
}
