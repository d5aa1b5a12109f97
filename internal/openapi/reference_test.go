package openapi

import (
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"
)

const (
	referenceDoc   = "../../envoy/reference-backend.openapi.json"
	referenceEdge  = "../../envoy/reference-backend.yaml"
	referenceTable = "../../envoy/reference-backend-routes.json"
)

// TestReferenceBackendOpenAPI: envoy/reference-backend.yaml, compared with the reference backend's OpenAPI
// document as `scope-gate check -openapi` does, has no drift at all (neither looser nor stricter), and the
// document holds exactly the rows of envoy/reference-backend-routes.json. The routes of
// reference-backend.yaml are prefixes and regexes grouped by the backend's controllers, not one route per
// operation, so the file is checked against the document rather than generated from it.
func TestReferenceBackendOpenAPI(t *testing.T) {
	res := loadReal(t, referenceDoc, Options{AutoBasePath: true})
	e, err := LoadEdge(referenceEdge, "dify_api")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range Compare(res, e) {
		t.Errorf("%s", f)
	}
	var tab struct {
		Routes []struct {
			Method, Path, Auth, RequiredScope string
			SubjectTypes                      []string `json:"subject_types"`
			EdgeRoute                         string   `json:"edge_route"`
		} `json:"routes"`
	}
	data, err := os.ReadFile(referenceTable)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &tab); err != nil {
		t.Fatal(err)
	}
	// required_scope has an underscore: decode it by hand.
	var raw struct {
		Routes []map[string]any `json:"routes"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		t.Fatal(err)
	}
	var want, got []string
	for i, r := range tab.Routes {
		req := Requirement{Public: r.Auth == "none", SubjectTypes: slices.Sorted(slices.Values(r.SubjectTypes))}
		if s, ok := raw.Routes[i]["required_scope"].(string); ok {
			req.Scopes = strings.Fields(s)
		}
		want = append(want, r.Method+" "+r.Path+" "+req.String())
	}
	for _, o := range res.Ops {
		got = append(got, o.Method+" "+o.FullPath+" "+o.Req.String())
	}
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("the document and %s differ:\ndocument: %q\ntable:    %q", referenceTable, got, want)
	}
}

// TestReferenceComparisonSeesDrift: the same comparison fails when the document and the edge disagree.
func TestReferenceComparisonSeesDrift(t *testing.T) {
	res := loadReal(t, referenceDoc, Options{AutoBasePath: true})
	e, err := LoadEdge(referenceEdge, "dify_api")
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range res.Ops {
		switch o.Route {
		case "apps_run_post_apps_app_id_run":
			o.Alts[0].scopes = []string{"apps:run", "apps:write"} // the backend starts asking for more
		case "workspaces_get_workspaces":
			o.SubjectTypes = nil // the backend starts accepting dfoe_: the edge is stricter
		}
	}
	res.Ops = append(res.Ops, &Operation{Method: "GET", FullPath: "/other/x", Sample: "/other/x", Route: "new", ID: "newOp"})
	var lines []string
	for _, f := range Compare(res, e) {
		lines = append(lines, f.String())
	}
	joined := strings.Join(lines, "\n")
	for _, w := range []string{
		"error: POST /openapi/v1/apps/{app_id}/run (apps_run_post_apps_app_id_run): ../../envoy/reference-backend.yaml: route apps_run: looser than the document",
		"warning: GET /openapi/v1/workspaces (workspaces_get_workspaces): ../../envoy/reference-backend.yaml: route workspaces: stricter than the document",
		"error: GET /other/x (newOp): ../../envoy/reference-backend.yaml: no route of virtual host dify_api matches GET /other/x",
	} {
		if !strings.Contains(joined, w) {
			t.Errorf("missing %q in:\n%s", w, joined)
		}
	}
}
