package mcpserver

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	sdkauth "github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

const signedLink = "https://lms.example/learn;type=oauth2_response;access_token=SECRET-TOKEN"

// fakeAPI answers like the local API and records what it was asked.
type fakeAPI struct {
	mu     sync.Mutex
	asked  []string
	opened []string
	down   bool
}

func (f *fakeAPI) Get(_ context.Context, _ *sdkauth.TokenInfo, path string, q url.Values) (int, []byte, error) {
	f.mu.Lock()
	f.asked = append(f.asked, path+"?"+q.Encode())
	f.mu.Unlock()
	switch {
	case f.down:
		return 0, nil, errors.New("connection refused")
	case path == "/v1/search":
		return 200, []byte(`{"results":[{"integration":"docebo","kind":"course","id":"7","title":"Go basics","url":"https://lms.example/course/7","snippet":"Learn Go","score":0.9}],
			"errors":[{"integration":"document360","code":"upstream_error","message":"document360 did not answer in time"}]}`), nil
	case path == "/v1/courses":
		return 200, []byte(`{"items":[{"integration":"docebo","id":"7","title":"Go basics","url":"https://lms.example/course/7","status":"in_progress","progress":40},
			{"integration":"docebo","id":"8","title":"Rust","url":"https://lms.example/course/8","status":"completed","progress":100}],"errors":[]}`), nil
	case path == "/v1/articles/document360/a1":
		return 200, []byte(`{"integration":"document360","id":"a1","title":"VPN","url":"https://kb.example/vpn","text":"Install the client."}`), nil
	}
	return http.StatusForbidden, []byte(`{"error":{"code":"insufficient_scope","message":"this token is not allowed to use gmail"}}`), nil
}

func (f *fakeAPI) OpenCourse(_ context.Context, _ *sdkauth.TokenInfo, integration, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.opened = append(f.opened, signedLink+"&"+integration+"="+id)
	return nil
}

func connect(t *testing.T, api API, opts Options) *mcp.ClientSession {
	t.Helper()
	ctx := context.Background()
	st, ct := mcp.NewInMemoryTransports()
	srv := NewServer(api, opts)
	ss, err := srv.Connect(ctx, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ss.Close() })
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "test"}, nil).Connect(ctx, ct, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cs.Close() })
	return cs
}

func call(t *testing.T, cs *mcp.ClientSession, name string, args map[string]any) (*mcp.CallToolResult, string) {
	t.Helper()
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	b, _ := json.Marshal(res)
	return res, string(b)
}

func TestToolsAreListedReadOnlyWithSchemas(t *testing.T) {
	t.Parallel()
	cs := connect(t, &fakeAPI{}, Options{})
	res, err := cs.ListTools(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]*mcp.Tool{}
	for _, tl := range res.Tools {
		names[tl.Name] = tl
	}
	for _, n := range []string{"search", "my_courses", "get_article", "open_course"} {
		tl, ok := names[n]
		if !ok {
			t.Fatalf("tool %s missing", n)
		}
		if tl.Annotations == nil || !tl.Annotations.ReadOnlyHint {
			t.Errorf("%s is not marked read-only", n)
		}
		if tl.InputSchema == nil || tl.OutputSchema == nil {
			t.Errorf("%s has no input or output schema", n)
		}
	}
	b, _ := json.Marshal(names["search"].InputSchema)
	if !strings.Contains(string(b), `"required":["query"]`) {
		t.Errorf("search's schema does not require query: %s", b)
	}
}

func TestSearchReturnsStructuredAndTextResultsWithPartialErrors(t *testing.T) {
	t.Parallel()
	api := &fakeAPI{}
	cs := connect(t, api, Options{})
	res, raw := call(t, cs, "search", map[string]any{"query": "go", "limit": 5})
	if res.IsError {
		t.Fatalf("search failed: %s", raw)
	}
	var out SearchOutput
	b, _ := json.Marshal(res.StructuredContent)
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if len(out.Results) != 1 || out.Results[0].Source != "docebo" || out.Results[0].Title != "Go basics" || out.Results[0].Snippet != "Learn Go" {
		t.Fatalf("results = %+v", out.Results)
	}
	if len(out.Errors) != 1 || out.Errors[0].Integration != "document360" {
		t.Fatalf("errors = %+v", out.Errors)
	}
	txt := res.Content[0].(*mcp.TextContent).Text
	if !strings.Contains(txt, "Go basics") || !strings.Contains(txt, "document360 could not answer") {
		t.Fatalf("text = %q", txt)
	}
	if api.asked[0] != "/v1/search?limit=5&q=go" {
		t.Fatalf("asked %v", api.asked)
	}
}

func TestIntegrationsOptionNarrowsEveryCall(t *testing.T) {
	t.Parallel()
	api := &fakeAPI{}
	cs := connect(t, api, Options{Integrations: []string{"docebo"}})
	call(t, cs, "search", map[string]any{"query": "go"})
	call(t, cs, "my_courses", map[string]any{})
	if api.asked[0] != "/v1/search?integrations=docebo&q=go" || api.asked[1] != "/v1/courses?integrations=docebo" {
		t.Fatalf("asked %v", api.asked)
	}
	res, raw := call(t, cs, "get_article", map[string]any{"integration": "document360", "id": "a1"})
	if !res.IsError || !strings.Contains(raw, "may use only docebo") {
		t.Fatalf("an integration outside --integrations: %s", raw)
	}
}

func TestMyCoursesFiltersByStatus(t *testing.T) {
	t.Parallel()
	cs := connect(t, &fakeAPI{}, Options{})
	res, raw := call(t, cs, "my_courses", map[string]any{"status": "completed"})
	var out CoursesOutput
	b, _ := json.Marshal(res.StructuredContent)
	_ = json.Unmarshal(b, &out)
	if len(out.Courses) != 1 || out.Courses[0].ID != "8" || *out.Courses[0].Progress != 100 {
		t.Fatalf("courses = %s", raw)
	}
	if res, raw := call(t, cs, "my_courses", map[string]any{"status": "abandoned"}); !res.IsError {
		t.Fatalf("a bad status: %s", raw)
	}
}

func TestToolErrorsAreHumanMessages(t *testing.T) {
	t.Parallel()
	cs := connect(t, &fakeAPI{}, Options{})
	res, raw := call(t, cs, "get_article", map[string]any{"integration": "gmail", "id": "x"})
	if !res.IsError || !strings.Contains(raw, "not allowed to use gmail") {
		t.Fatalf("a refused call: %s", raw)
	}
	res, raw = call(t, cs, "search", map[string]any{"query": "  "})
	if !res.IsError || !strings.Contains(raw, "say what to search for") {
		t.Fatalf("an empty query: %s", raw)
	}
	cs = connect(t, &fakeAPI{down: true}, Options{})
	res, raw = call(t, cs, "search", map[string]any{"query": "go"})
	if !res.IsError || !strings.Contains(raw, "could not be reached") {
		t.Fatalf("latchkey down: %s", raw)
	}
}

func TestOpenCourseNeverReturnsTheSignedInLink(t *testing.T) {
	t.Parallel()
	api := &fakeAPI{}
	var calls []string
	cs := connect(t, api, Options{OnCall: func(_ context.Context, _ *sdkauth.TokenInfo, tool string, err error) {
		calls = append(calls, tool)
	}})
	res, raw := call(t, cs, "open_course", map[string]any{"integration": "docebo", "id": "7"})
	if res.IsError || len(api.opened) != 1 {
		t.Fatalf("open_course: %s, opened %v", raw, api.opened)
	}
	if strings.Contains(raw, "access_token") || strings.Contains(raw, "SECRET-TOKEN") || strings.Contains(raw, "lms.example") {
		t.Fatalf("the result holds the signed-in link: %s", raw)
	}
	if len(calls) != 1 || calls[0] != "open_course" {
		t.Fatalf("OnCall saw %v", calls)
	}
}

func TestGetArticleReturnsText(t *testing.T) {
	t.Parallel()
	cs := connect(t, &fakeAPI{}, Options{})
	res, raw := call(t, cs, "get_article", map[string]any{"integration": "document360", "id": "a1"})
	if res.IsError || !strings.Contains(res.Content[0].(*mcp.TextContent).Text, "Install the client.") {
		t.Fatalf("get_article: %s", raw)
	}
}
