// Package envoyhost is a proxy-wasm ABI 0.2.x host on wazero that behaves
// like Envoy (proxy-wasm-cpp-host plus Envoy's Wasm filter context) where a
// plugin can tell the difference, so a compiled proxy-wasm module (for
// example a standard-Go `GOOS=wasip1 GOARCH=wasm -buildmode=c-shared`
// reactor) can be tested without Envoy. It knows nothing about any plugin.
//
// # What it emulates
//
//   - Loading: the import set of the chosen Profile (Envoy133: cpp-host PR
//     #427's 18 WASI functions; Envoy139: all of wasi_snapshot_preview1 as
//     stubbed by PR #533), so a module importing anything else fails NewVM
//     naming the import, as Envoy fails to link it; the ABI marker
//     (proxy_abi_version_0_2_0/0_2_1, else ErrABIVersion), the malloc export,
//     `_initialize`, proxy_on_context_create(root), proxy_on_vm_start,
//     proxy_on_configure (false = ErrVMStartRejected / ErrConfigureRejected).
//   - cpp-host's restricted callbacks: while the guest runs `_initialize` or
//     its allocator, only cpp-host's allow lists of the profile may be called
//     (Envoy133: cpp-host c4d7bb0f; Envoy139: cpp-host 09e5f8d6, which adds
//     poll_oneoff, clock_res_get and the stubbed file and socket functions to
//     `_initialize` and poll_oneoff to the allocator), plus proxy_log; any
//     other call traps with "restricted_callback". poll_oneoff returns ENOSYS
//     under Envoy133 (the Go runtime then dies with a poll_oneoff fatal error
//     once a timer exists) and 0 events under Envoy139.
//   - Worker threading: each VM runs every guest call on its own goroutine;
//     http-call completions, upstream answers and queue notifications come
//     back through that loop. continue_stream, send_local_response and
//     close_stream take effect after the current VM call, as in Envoy.
//   - Streams: context create, request headers (end_of_stream when there is
//     no body), request body, upstream, response headers/body, log, done,
//     delete; Pause until proxy_continue_stream or a local reply; the
//     effective context and proxy_set_effective_context; header maps with
//     Envoy's visibility (request headers disappear once the stream
//     continued past them, reappear read-only in proxy_on_log), repeated
//     inline request headers (authorization among them) joined with ',' and
//     empty repeats dropped as Envoy's header map stores them
//     (Request.SeparateRepeatedHeaders keeps every line), first-value get,
//     add/replace/remove/set-pairs; bodies via get/set_buffer_bytes.
//   - Properties with Envoy's encoding (string raw, number little-endian
//     double, integer fields little-endian int64, bool one byte, list/map as
//     pairs, null SerializationFailure): xds.route_name,
//     xds.route_metadata.filter_metadata.*, xds.virtual_host_name,
//     xds.virtual_host_metadata.filter_metadata.*, xds.cluster_name,
//     request.{path,url_path,query,method,host,scheme,protocol,id,headers[.name]},
//     response.{code,code_details}, source/destination.{address,port},
//     connection.mtls (false), plugin_name, plugin_root_id, plugin_vm_id, and
//     values stored with proxy_set_property.
//   - Shared data per vm_id per Host with cpp-host's CAS rules, shared queues
//     with proxy_on_queue_ready on the registering VM, metrics per Host by
//     name (Envoy's "wasmcustom." prefix accepted), proxy_log and
//     stdout/stderr capture, real HTTP/1.1 proxy_http_call to the configured
//     clusters answered as Envoy's async client and router do (timeout = 504
//     "upstream request timeout"; refused connect or close before headers =
//     503 "upstream connect error or disconnect/reset before headers. ...";
//     0 headers only for a reset after the response started), every call
//     owned by the root context (its answer arrives after the stream that
//     made it has ended), the VM environment (PluginConfig.Environment, WASI
//     environ_get), and traps: the VM fails, and this and every later stream
//     gets 503 with details wasm_fail_stream (failure_policy FAIL_CLOSED).
//
// # What it does not emulate
//
// Envoy's filter chain, router and codecs (the upstream is a Go function,
// there are no trailers on requests, no streaming bodies: each body arrives
// in one piece with end_of_stream), gRPC calls (grpc_call answers
// ParseFailure for an unknown cluster and Unimplemented otherwise), TCP
// (L4) filters, ABI 0.1.0, access-log-only plugins, per-route config,
// timers (the test drives proxy_on_tick with VM.Tick), proxy_done's
// deferred root-context deletion (it just answers Ok), guest execution
// timeouts (a guest in an endless loop hangs its VM), protobuf encodings
// (a property path that stops at a whole message, such as
// xds.route_metadata or its filter_metadata map, answers
// SerializationFailure where Envoy returns protobuf bytes),
// histograms (recorded samples are only counted), and the HTTP/2 codec's
// joining of cookie headers.
//
// docs/envoy-behaviour.md lists each modelled behaviour, the cpp-host or Envoy
// source (and commit or changelog) it was read from, and the test that shows it.
package envoyhost
