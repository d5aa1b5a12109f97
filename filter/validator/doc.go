// Package validator holds scope-gate's validators (docs/spec.md §4): static (a table of token hashes),
// introspection and forward (one proxy_http_call per token), and jwt (local verification with keys from the
// configuration or a JWKS endpoint). Each decodes its own configuration object (Decode dispatches on
// "type") and carries its own behaviour behind the Validator interface, so a new validator is a new file
// here plus, if it is not Local, its case in the plugin's one dispatch. The JWT files are compiled natively
// always and into the module with -tags jwt; the default module refuses "jwt" by name (jwt_off.go).
package validator
