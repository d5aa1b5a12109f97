// Package gateway is `scope-gate serve`: it compiles an Envoy v3 static bootstrap (read by
// internal/envoyconfig) into one listener, its virtual hosts and routes, the scope-gate filter and the
// clusters, and serves real HTTP with the filter running in internal/envoyhost's VMs, one request per VM at a
// time. Every bootstrap field it does not implement is an error naming the field: a configuration that asks
// for Envoy behaviour serve lacks must not start and quietly behave otherwise. README.md lists what is
// supported and how it differs from Envoy.
package gateway
