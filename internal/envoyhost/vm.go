package envoyhost

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// PluginConfig is what Envoy's Wasm filter config hands to one VM.
type PluginConfig struct {
	VMID            string
	RootID          string
	PluginName      string
	Configuration   []byte // proxy_on_configure buffer (BufferType PluginConfiguration = 7)
	VMConfiguration []byte // proxy_on_vm_start buffer (BufferType VmConfiguration = 6)
	// Environment is vm_config.environment_variables (key_values): what the guest reads with WASI
	// environ_get, already during _initialize. Envoy passes nothing unless configured.
	Environment [][2]string
}

// TrapError is how a failed guest call is reported: the callback, the
// engine's error, and what the guest printed to stderr during the call
// (for a Go guest, the runtime's "fatal error: ..." line).
type TrapError struct {
	Func   string
	Err    error
	Stderr string
}

func (e *TrapError) Error() string {
	msg := fmt.Sprintf("envoyhost: %s failed: %v", e.Func, e.Err)
	if e.Stderr != "" {
		msg += "; guest stderr: " + strings.TrimSpace(e.Stderr)
	}
	return msg
}

func (e *TrapError) Unwrap() error { return e.Err }

// rootContextID is the id cpp-host gives the first root context (the VM
// context has 0); streams get the following ids.
const rootContextID = 1

// hctx is one proxy-wasm context: the root context (s == nil) or a stream.
type hctx struct {
	id uint32
	s  *stream
}

type guestFn struct {
	f     api.Function
	name  string
	timed bool // the duration of its last call is kept (RequestHeadersTime)
}

// VM is one worker VM. Every guest call happens on the VM's own goroutine,
// like an Envoy worker thread; other goroutines hand it work through tasks.
type VM struct {
	h   *Host
	id  int
	cfg PluginConfig
	mod api.Module
	ctx context.Context // carries the *VM to host functions

	tasks    chan func()
	quit     chan struct{}
	loopDone chan struct{}
	deferred []func() // Envoy's "after VM call" actions; loop-only

	failed    atomic.Bool
	failErr   error
	closing   bool
	closeOnce sync.Once

	restrict *restriction

	fMalloc, fCreate, fVMStart, fConfigure, fReqHeaders, fReqBody, fReqTrailers,
	fRespHeaders, fRespBody, fRespTrailers, fLog, fDone, fDelete, fTick,
	fHTTPResp, fQueueReady guestFn
	stack  [8]uint64
	mstack [1]uint64

	reqHeadersNanos atomic.Int64 // duration of the last proxy_on_request_headers call

	root      *hctx
	cur       *hctx
	contexts  map[uint32]*hctx
	nextCtxID uint32
	streams   map[*stream]struct{}

	tickPeriod   atomic.Uint32
	metrics      map[uint32]*metric
	nextMetric   uint32
	nextToken    uint32
	httpResp     *callResponse
	callsCtx     context.Context
	cancelCalls  context.CancelFunc
	inConfigure  bool
	vmConfig     []byte
	pluginConfig []byte
	emptyBuf     []byte
	rootProps    map[string][]byte

	scratch   []byte
	wbuf      []byte
	stderrBuf []byte
	wasiNote  string
}

// NewVM creates one worker VM the way cpp-host does: link (fails if the
// module imports a function the profile lacks), check the ABI marker and
// malloc export, run _initialize, then proxy_on_context_create(root, 0),
// proxy_on_vm_start and proxy_on_configure.
func (h *Host) NewVM(ctx context.Context, cfg PluginConfig) (*VM, error) {
	if h.abi != "0_2_0" && h.abi != "0_2_1" {
		if h.abi == "0_1_0" {
			return nil, fmt.Errorf("%w (ABI 0.1.0 is not emulated)", ErrABIVersion)
		}
		return nil, ErrABIVersion
	}
	if err := h.hostFns.checkImports(h.compiled, h.abi); err != nil {
		return nil, err
	}
	exp := h.compiled.ExportedFunctions()
	if exp["malloc"] == nil && exp["proxy_on_memory_allocate"] == nil {
		return nil, errors.New("envoyhost: Wasm module is missing malloc function (export proxy_on_memory_allocate)")
	}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil, errors.New("envoyhost: host closed")
	}
	h.mu.Unlock()

	vm := &VM{
		h:            h,
		id:           int(h.nextVM.Add(1)),
		cfg:          cfg,
		tasks:        make(chan func(), 256),
		quit:         make(chan struct{}),
		loopDone:     make(chan struct{}),
		contexts:     map[uint32]*hctx{},
		streams:      map[*stream]struct{}{},
		metrics:      map[uint32]*metric{},
		vmConfig:     cfg.VMConfiguration,
		pluginConfig: cfg.Configuration,
	}
	vm.ctx = context.WithValue(context.Background(), vmKey{}, vm)
	vm.callsCtx, vm.cancelCalls = context.WithCancel(context.Background())
	vm.root = &hctx{id: rootContextID}
	vm.contexts[rootContextID] = vm.root
	vm.cur = vm.root
	vm.nextCtxID = rootContextID + 1
	go vm.loop()

	err := vm.exec(ctx, func() error { return vm.start(ctx) })
	if err != nil {
		vm.shutdown(false)
		return nil, err
	}
	h.mu.Lock()
	h.vms[vm] = struct{}{}
	h.mu.Unlock()
	return vm, nil
}

func (vm *VM) start(ctx context.Context) error {
	h := vm.h
	vm.restrict = h.hostFns.initRestr
	vm.stderrBuf = vm.stderrBuf[:0]
	vm.wasiNote = ""
	mod, err := h.rt.InstantiateModule(vm.ctx, h.compiled,
		wazero.NewModuleConfig().WithName(fmt.Sprintf("vm-%d", vm.id)).WithStartFunctions("_initialize"))
	vm.restrict = nil
	if err != nil {
		err = vm.trapError("_initialize", err)
		vm.fail(err)
		return err
	}
	vm.mod = mod
	get := func(name string) guestFn { return guestFn{f: mod.ExportedFunction(name), name: name} }
	vm.fMalloc = get("malloc")
	if vm.fMalloc.f == nil {
		vm.fMalloc = get("proxy_on_memory_allocate")
	}
	vm.fCreate = get("proxy_on_context_create")
	vm.fVMStart = get("proxy_on_vm_start")
	vm.fConfigure = get("proxy_on_configure")
	vm.fReqHeaders = get("proxy_on_request_headers")
	vm.fReqHeaders.timed = h.opts.TimeRequestHeaders
	vm.fReqBody = get("proxy_on_request_body")
	vm.fReqTrailers = get("proxy_on_request_trailers")
	vm.fRespHeaders = get("proxy_on_response_headers")
	vm.fRespBody = get("proxy_on_response_body")
	vm.fRespTrailers = get("proxy_on_response_trailers")
	vm.fLog = get("proxy_on_log")
	vm.fDone = get("proxy_on_done")
	vm.fDelete = get("proxy_on_delete")
	vm.fTick = get("proxy_on_tick")
	vm.fHTTPResp = get("proxy_on_http_call_response")
	vm.fQueueReady = get("proxy_on_queue_ready")

	if _, err := vm.call(vm.root, vm.fCreate, 1, rootContextID, 0); err != nil {
		return err
	}
	ok, err := vm.call(vm.root, vm.fVMStart, 1, rootContextID, uint64(len(vm.cfg.VMConfiguration)))
	if err != nil {
		return err
	}
	if ok == 0 {
		return ErrVMStartRejected
	}
	vm.inConfigure = true
	ok, err = vm.call(vm.root, vm.fConfigure, 1, rootContextID, uint64(len(vm.cfg.Configuration)))
	vm.inConfigure = false
	if err != nil {
		return err
	}
	if ok == 0 {
		return ErrConfigureRejected
	}
	return nil
}

// RequestHeadersTime is how long the last proxy_on_request_headers call took (with
// Options.TimeRequestHeaders; 0 without), host calls it made included:
// the time the module spends deciding, without the stand-in's own stream bookkeeping around it (what a
// benchmark compares between two modules making the same host calls).
func (vm *VM) RequestHeadersTime() time.Duration { return time.Duration(vm.reqHeadersNanos.Load()) }

// CallExport calls an exported function of the module with no arguments, outside any stream (the root
// context effective), and returns its first result (0 if none): for test-only exports such as a module's
// runtime counters. A missing export is an error.
func (vm *VM) CallExport(ctx context.Context, name string) (uint64, error) {
	var r uint64
	err := vm.exec(ctx, func() error {
		if vm.mod == nil {
			return ErrVMClosed
		}
		f := vm.mod.ExportedFunction(name)
		if f == nil {
			return fmt.Errorf("envoyhost: the module exports no %s", name)
		}
		var err error
		r, err = vm.call(vm.root, guestFn{f: f, name: name}, 0)
		return err
	})
	return r, err
}

// ID is the VM number within its Host (LogEntry.VM).
func (vm *VM) ID() int { return vm.id }

// Failed reports whether a guest call trapped; the VM then answers every
// stream with 503 wasm_fail_stream (failure_policy FAIL_CLOSED).
func (vm *VM) Failed() bool { return vm.failed.Load() }

// MemorySize is the guest's linear memory size in bytes now.
func (vm *VM) MemorySize() uint32 {
	var n uint32
	_ = vm.exec(context.Background(), func() error {
		if vm.mod != nil {
			n = vm.mod.Memory().Size()
		}
		return nil
	})
	return n
}

// Tick calls proxy_on_tick once if the plugin set a tick period; tests drive
// time instead of a timer.
func (vm *VM) Tick(ctx context.Context) error {
	return vm.exec(ctx, func() error {
		if vm.tickPeriod.Load() == 0 {
			return nil
		}
		if vm.failed.Load() {
			return vm.failErr
		}
		_, err := vm.call(vm.root, vm.fTick, 0, rootContextID)
		return err
	})
}

// Close ends pending streams (their Wait returns ErrVMClosed), cancels
// http calls, calls proxy_on_done/proxy_on_delete on the root context and
// closes the instance.
func (vm *VM) Close(ctx context.Context) error {
	vm.shutdown(true)
	vm.h.mu.Lock()
	delete(vm.h.vms, vm)
	for _, q := range vm.h.queues {
		if q.owner == vm {
			q.owner = nil
		}
	}
	vm.h.mu.Unlock()
	return nil
}

func (vm *VM) shutdown(graceful bool) {
	vm.closeOnce.Do(func() {
		_ = vm.exec(context.Background(), func() error {
			vm.closing = true
			vm.cancelCalls()
			for s := range vm.streams {
				s.abandon(ErrVMClosed)
			}
			if graceful && vm.mod != nil && !vm.failed.Load() {
				if _, err := vm.call(vm.root, vm.fDone, 1, rootContextID); err == nil {
					_, _ = vm.call(vm.root, vm.fDelete, 0, rootContextID)
				}
			}
			if vm.mod != nil {
				_ = vm.mod.Close(context.Background())
			}
			return nil
		})
		close(vm.quit)
		<-vm.loopDone
	})
}

// loop is the worker: it runs one task at a time, then the deferred
// actions the task queued, like Envoy's dispatcher and after-VM-call hooks.
func (vm *VM) loop() {
	defer close(vm.loopDone)
	for {
		select {
		case f := <-vm.tasks:
			f()
			vm.drain()
		case <-vm.quit:
			return
		}
	}
}

func (vm *VM) drain() {
	for len(vm.deferred) > 0 {
		fs := vm.deferred
		vm.deferred = nil
		for _, f := range fs {
			f()
		}
	}
}

// after queues f to run on the loop once the current guest call is over.
func (vm *VM) after(f func()) { vm.deferred = append(vm.deferred, f) }

// post hands f to the loop from any goroutine; false once the VM is closed.
func (vm *VM) post(f func()) bool {
	select {
	case <-vm.quit:
		return false
	default:
	}
	select {
	case vm.tasks <- f:
		return true
	case <-vm.quit:
		return false
	}
}

// exec runs f on the loop and waits for it.
func (vm *VM) exec(ctx context.Context, f func() error) error {
	done := make(chan error, 1)
	if !vm.post(func() { done <- f() }) {
		return ErrVMClosed
	}
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// call invokes a guest export with c as effective context. A missing export
// yields def, as cpp-host does for optional callbacks. Any error fails the
// VM.
func (vm *VM) call(c *hctx, g guestFn, def uint64, args ...uint64) (uint64, error) {
	if vm.failed.Load() {
		return 0, vm.failErr
	}
	if g.f == nil {
		return def, nil
	}
	prev := vm.cur
	vm.cur = c
	vm.stderrBuf = vm.stderrBuf[:0]
	vm.wasiNote = ""
	st := vm.stack[:]
	copy(st, args)
	var start time.Time
	if g.timed {
		start = time.Now()
	}
	err := g.f.CallWithStack(vm.ctx, st)
	if g.timed {
		vm.reqHeadersNanos.Store(int64(time.Since(start)))
	}
	vm.cur = prev
	if err != nil {
		err = vm.trapError(g.name, err)
		vm.fail(err)
		return 0, err
	}
	return st[0], nil
}

func (vm *VM) trapError(fn string, err error) error {
	te := &TrapError{Func: fn, Err: err, Stderr: string(vm.stderrBuf)}
	if vm.wasiNote != "" && !strings.Contains(te.Stderr, "poll_oneoff") {
		te.Stderr = strings.TrimSpace(te.Stderr + "\n(host: " + vm.wasiNote + ")")
	}
	return te
}

// fail marks the VM failed (cpp-host's "Plugin Crash") and, after the
// current call, answers every live stream with 503 wasm_fail_stream.
func (vm *VM) fail(err error) {
	if vm.failed.Load() {
		return
	}
	vm.failErr = err
	vm.failed.Store(true)
	vm.h.addLog(vm.id, LogCritical, "Plugin Crash: "+err.Error())
	vm.after(func() {
		for s := range vm.streams {
			s.failWith(err)
		}
	})
}

// noteStderr keeps the first bytes the guest wrote to stderr during the
// current call: a Go runtime crash starts with its "fatal error:" line and
// continues with long goroutine dumps.
func (vm *VM) noteStderr(b []byte) {
	const max = 2048
	if room := max - len(vm.stderrBuf); room > 0 {
		vm.stderrBuf = append(vm.stderrBuf, b[:min(room, len(b))]...)
	}
}

func (vm *VM) noteWASI(s string) { vm.wasiNote = s }

// malloc calls the guest allocator under the profile's restriction, like
// cpp-host's WasmBase::allocMemory. An error is a trap and propagates as a
// panic through the host function into the outer guest call.
func (vm *VM) malloc(size uint32) uint32 {
	prev := vm.restrict
	vm.restrict = vm.h.hostFns.mallocRstr
	vm.mstack[0] = uint64(size)
	err := vm.fMalloc.f.CallWithStack(vm.ctx, vm.mstack[:])
	vm.restrict = prev
	if err != nil {
		panic(err)
	}
	return uint32(vm.mstack[0])
}

// copyOut returns data to the guest: allocate with the guest's allocator,
// copy, and write the pointer and size to the out-parameters. Nothing is
// allocated for empty data, as in cpp-host.
func (vm *VM) copyOut(mod api.Module, data []byte, ptrPtr, sizePtr uint32) status {
	mem := mod.Memory()
	if len(data) == 0 {
		if !mem.WriteUint32Le(ptrPtr, 0) || !mem.WriteUint32Le(sizePtr, 0) {
			return statusInvalidMemoryAccess
		}
		return statusOK
	}
	if vm.fMalloc.f == nil {
		return statusInvalidMemoryAccess
	}
	p := vm.malloc(uint32(len(data)))
	mem = mod.Memory() // the allocator may have grown memory
	if p == 0 || !mem.Write(p, data) {
		return statusInvalidMemoryAccess
	}
	if !mem.WriteUint32Le(ptrPtr, p) || !mem.WriteUint32Le(sizePtr, uint32(len(data))) {
		return statusInvalidMemoryAccess
	}
	return statusOK
}

func (vm *VM) copyOutString(mod api.Module, s string, ptrPtr, sizePtr uint32) status {
	vm.scratch = append(vm.scratch[:0], s...)
	return vm.copyOut(mod, vm.scratch, ptrPtr, sizePtr)
}

func (vm *VM) putU32(mod api.Module, ptr, v uint32) status {
	if !mod.Memory().WriteUint32Le(ptr, v) {
		return statusInvalidMemoryAccess
	}
	return statusOK
}

func (vm *VM) putU64(mod api.Module, ptr uint32, v uint64) status {
	if !mod.Memory().WriteUint64Le(ptr, v) {
		return statusInvalidMemoryAccess
	}
	return statusOK
}

func (vm *VM) queueReady(id uint32) {
	if vm.closing || vm.failed.Load() {
		return
	}
	_, _ = vm.call(vm.root, vm.fQueueReady, 0, rootContextID, uint64(id))
}

// continueStream is proxy_continue_stream on the effective context: Envoy
// defers continueDecoding/continueEncoding until the VM call returns.
func (vm *VM) continueStream(typ uint32) status {
	switch typ {
	case 0, 1:
	case 2:
		return statusOK
	case 3:
		return statusUnimplemented
	default:
		return statusBadArgument
	}
	s := vm.cur.s
	if s == nil || s.finished {
		return statusOK // no decoder callbacks: Envoy does nothing
	}
	if s.inCallback {
		s.resumeFlag[typ] = true
		return statusOK
	}
	vm.after(func() { s.resume(typ) })
	return statusOK
}

// closeStream is proxy_close_stream: Envoy resets the stream after the VM
// call, with details wasm_close_stream.
func (vm *VM) closeStream(typ uint32) status {
	switch typ {
	case 0, 1:
	case 2, 3:
		return statusOK
	default:
		return statusBadArgument
	}
	s := vm.cur.s
	if s == nil || s.finished {
		return statusOK
	}
	s.reset = true
	if !s.inCallback {
		vm.after(func() { s.checkTerminal() })
	}
	return statusOK
}
