// Package openapi derives scope-gate route requirements from an API's own OpenAPI document (3.0, 3.1, or
// Swagger 2.0 converted by kin-openapi's openapi2conv) and compares an Envoy configuration with it.
//
// Security semantics follow the OpenAPI Specification 3.1.0, "Security Requirement Object" and
// "Operation Object": an operation's `security` replaces the top-level one; `[]` means no security; an
// empty requirement object `{}` in the list makes security optional; the list's entries are alternatives
// (any one suffices) and the schemes inside one entry are all required. A requirement is turned into
// exactly the keys a route metadata block has (docs/spec.md §3: auth, required_scope, subject_types);
// anything those keys cannot say exactly is reported, and either refused or made stricter, never looser.
package openapi
