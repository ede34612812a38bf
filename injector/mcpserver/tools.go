package mcpserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	sdkauth "github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// API is latchkey's local API as the tools call it, for the caller the MCP
// request came from (nil on stdio, where the API's own caller counts).
type API interface {
	// Get calls GET path with query q and returns the HTTP status and the
	// JSON body.
	Get(ctx context.Context, caller *sdkauth.TokenInfo, path string, q url.Values) (status int, body []byte, err error)
	// OpenCourse opens a course of integration signed in on this desktop;
	// the link never comes back.
	OpenCourse(ctx context.Context, caller *sdkauth.TokenInfo, integration, id string) error
}

// Options configures the tools.
type Options struct {
	// Integrations, when set, narrows every call to these integrations
	// (`latchkey mcp --integrations a,b`).
	Integrations []string
	// Version is the server version reported at initialize.
	Version string
	// OnCall, when set, is told of every tool call and its outcome (for
	// the audit trail); err is nil on success.
	OnCall func(ctx context.Context, caller *sdkauth.TokenInfo, tool string, err error)
}

// SearchInput is the search tool's arguments.
type SearchInput struct {
	Query        string   `json:"query" jsonschema:"what to look for"`
	Limit        int      `json:"limit,omitempty" jsonschema:"the most results to return (1 to 50; default 10)"`
	Integrations []string `json:"integrations,omitempty" jsonschema:"search only these integrations (e.g. docebo, document360)"`
}

// Hit is one search result.
type Hit struct {
	Title   string  `json:"title"`
	URL     string  `json:"url"`
	Snippet string  `json:"snippet,omitempty"`
	Source  string  `json:"source" jsonschema:"the integration it comes from"`
	Kind    string  `json:"kind,omitempty" jsonschema:"course, article, …"`
	ID      string  `json:"id"`
	Score   float64 `json:"score"`
}

// IntegrationError says why one integration gave no results.
type IntegrationError struct {
	Integration string `json:"integration"`
	Code        string `json:"code"`
	Message     string `json:"message"`
}

// SearchOutput is the search tool's result.
type SearchOutput struct {
	Results []Hit              `json:"results"`
	Errors  []IntegrationError `json:"errors"`
}

// CoursesInput is the my_courses tool's arguments.
type CoursesInput struct {
	Status       string   `json:"status,omitempty" jsonschema:"only courses in this state: not_started, in_progress or completed"`
	Integrations []string `json:"integrations,omitempty" jsonschema:"only these integrations"`
}

// Course is one of the person's courses.
type Course struct {
	Integration string   `json:"integration"`
	ID          string   `json:"id"`
	Title       string   `json:"title"`
	URL         string   `json:"url"`
	Type        string   `json:"type,omitempty"`
	Status      string   `json:"status,omitempty"`
	Progress    *float64 `json:"progress,omitempty" jsonschema:"percent done, when known"`
}

// CoursesOutput is the my_courses tool's result.
type CoursesOutput struct {
	Courses []Course           `json:"courses"`
	Errors  []IntegrationError `json:"errors"`
}

// ArticleInput names an article.
type ArticleInput struct {
	Integration string `json:"integration" jsonschema:"the knowledge base, e.g. document360"`
	ID          string `json:"id" jsonschema:"the article id, as search returns it"`
}

// Article is an article's text.
type Article struct {
	Integration string `json:"integration"`
	ID          string `json:"id"`
	Title       string `json:"title"`
	URL         string `json:"url,omitempty"`
	Text        string `json:"text" jsonschema:"the article's text, HTML removed"`
}

// OpenInput names a course to open.
type OpenInput struct {
	Integration string `json:"integration" jsonschema:"the LMS, e.g. docebo"`
	ID          string `json:"id" jsonschema:"the course id, as my_courses or search returns it"`
}

// OpenOutput says a course was opened.
type OpenOutput struct {
	Opened      bool   `json:"opened"`
	Integration string `json:"integration"`
	ID          string `json:"id"`
}

// NewServer returns the MCP server with latchkey's tools.
func NewServer(api API, opts Options) *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: "latchkey", Title: "latchkey", Version: opts.Version},
		&mcp.ServerOptions{Instructions: "latchkey searches the person's workplace tools (courses, knowledge base) " +
			"with their own access. Results are theirs to see; links open in their browser."})
	t := &tools{api: api, opts: opts}
	readOnly := &mcp.ToolAnnotations{ReadOnlyHint: true, OpenWorldHint: ptr(false)}
	mcp.AddTool(s, &mcp.Tool{Name: "search", Title: "Search workplace tools",
		Description: "Search the person's connected tools (courses, knowledge-base articles) and return ranked results " +
			"with title, URL, snippet and source. If an integration is down, the others' results come back with an error for it.",
		Annotations: readOnly}, instrument(t, "search", t.search))
	mcp.AddTool(s, &mcp.Tool{Name: "my_courses", Title: "My courses",
		Description: "List the person's courses with their status and progress, optionally only those in one status.",
		Annotations: readOnly}, instrument(t, "my_courses", t.courses))
	mcp.AddTool(s, &mcp.Tool{Name: "get_article", Title: "Read an article",
		Description: "Return a knowledge-base article's title and plain text (HTML removed), by the id search returned.",
		Annotations: readOnly}, instrument(t, "get_article", t.article))
	mcp.AddTool(s, &mcp.Tool{Name: "open_course", Title: "Open a course",
		Description: "Open a course in the person's browser on this computer, already signed in. " +
			"The signed-in link is not returned; the tool only says it opened the course.",
		Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true, OpenWorldHint: ptr(true), IdempotentHint: true}}, instrument(t, "open_course", t.open))
	return s
}

func ptr[T any](v T) *T { return &v }

type tools struct {
	api  API
	opts Options
}

func instrument[In, Out any](t *tools, name string, h mcp.ToolHandlerFor[In, Out]) mcp.ToolHandlerFor[In, Out] {
	return func(ctx context.Context, req *mcp.CallToolRequest, in In) (*mcp.CallToolResult, Out, error) {
		res, out, err := h(ctx, req, in)
		if t.opts.OnCall != nil {
			t.opts.OnCall(ctx, caller(req), name, err)
		}
		return res, out, err
	}
}

func caller(req *mcp.CallToolRequest) *sdkauth.TokenInfo {
	if req == nil || req.Extra == nil {
		return nil
	}
	return req.Extra.TokenInfo
}

// narrow is the integrations a call may reach: those asked for, within
// Options.Integrations.
func (t *tools) narrow(asked []string) ([]string, error) {
	if len(t.opts.Integrations) == 0 {
		return asked, nil
	}
	if len(asked) == 0 {
		return t.opts.Integrations, nil
	}
	var out []string
	for _, a := range asked {
		for _, o := range t.opts.Integrations {
			if a == o {
				out = append(out, a)
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("this latchkey server may use only %s", strings.Join(t.opts.Integrations, ", "))
	}
	return out, nil
}

// get calls the API and decodes a 200 answer into out; any other answer
// is an error with the API's own message.
func (t *tools) get(ctx context.Context, req *mcp.CallToolRequest, path string, q url.Values, out any) error {
	st, body, err := t.api.Get(ctx, caller(req), path, q)
	if err != nil {
		return fmt.Errorf("latchkey could not be reached: %v", err)
	}
	if st != http.StatusOK {
		return apiError(st, body)
	}
	if err := json.Unmarshal(body, out); err != nil {
		return errors.New("latchkey answered something unexpected")
	}
	return nil
}

// apiError is the human message of an API error answer.
func apiError(status int, body []byte) error {
	var e struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	if json.Unmarshal(body, &e) == nil && e.Error.Message != "" {
		return errors.New(e.Error.Message)
	}
	return fmt.Errorf("latchkey answered HTTP %d", status)
}

func (t *tools) search(ctx context.Context, req *mcp.CallToolRequest, in SearchInput) (*mcp.CallToolResult, SearchOutput, error) {
	q := strings.TrimSpace(in.Query)
	if q == "" {
		return nil, SearchOutput{}, errors.New("say what to search for (query)")
	}
	if in.Limit < 0 || in.Limit > 50 {
		return nil, SearchOutput{}, errors.New("limit must be between 1 and 50")
	}
	names, err := t.narrow(in.Integrations)
	if err != nil {
		return nil, SearchOutput{}, err
	}
	v := url.Values{"q": {q}}
	if in.Limit > 0 {
		v.Set("limit", strconv.Itoa(in.Limit))
	}
	if len(names) > 0 {
		v.Set("integrations", strings.Join(names, ","))
	}
	var resp struct {
		Results []struct {
			Integration, Kind, ID, Title, URL, Snippet string
			Score                                      float64
		} `json:"results"`
		Errors []IntegrationError `json:"errors"`
	}
	if err := t.get(ctx, req, "/v1/search", v, &resp); err != nil {
		return nil, SearchOutput{}, err
	}
	out := SearchOutput{Results: []Hit{}, Errors: nonNil(resp.Errors)}
	var b strings.Builder
	for i, r := range resp.Results {
		out.Results = append(out.Results, Hit{Title: r.Title, URL: r.URL, Snippet: r.Snippet, Source: r.Integration, Kind: r.Kind, ID: r.ID, Score: r.Score})
		fmt.Fprintf(&b, "%d. %s (%s %s, id %s)\n   %s\n", i+1, r.Title, r.Integration, r.Kind, r.ID, r.URL)
		if r.Snippet != "" {
			fmt.Fprintf(&b, "   %s\n", r.Snippet)
		}
	}
	if len(out.Results) == 0 {
		b.WriteString("No results.\n")
	}
	writeErrors(&b, out.Errors)
	return text(b.String()), out, nil
}

func (t *tools) courses(ctx context.Context, req *mcp.CallToolRequest, in CoursesInput) (*mcp.CallToolResult, CoursesOutput, error) {
	switch in.Status {
	case "", "not_started", "in_progress", "completed":
	default:
		return nil, CoursesOutput{}, errors.New("status must be not_started, in_progress or completed")
	}
	names, err := t.narrow(in.Integrations)
	if err != nil {
		return nil, CoursesOutput{}, err
	}
	v := url.Values{}
	if len(names) > 0 {
		v.Set("integrations", strings.Join(names, ","))
	}
	var resp struct {
		Items  []Course           `json:"items"`
		Errors []IntegrationError `json:"errors"`
	}
	if err := t.get(ctx, req, "/v1/courses", v, &resp); err != nil {
		return nil, CoursesOutput{}, err
	}
	out := CoursesOutput{Courses: []Course{}, Errors: nonNil(resp.Errors)}
	var b strings.Builder
	for _, c := range resp.Items {
		if in.Status != "" && c.Status != in.Status {
			continue
		}
		out.Courses = append(out.Courses, c)
		prog := ""
		if c.Progress != nil {
			prog = fmt.Sprintf(", %.0f%%", *c.Progress)
		}
		fmt.Fprintf(&b, "- %s (%s, id %s: %s%s)\n  %s\n", c.Title, c.Integration, c.ID, orDash(c.Status), prog, c.URL)
	}
	if len(out.Courses) == 0 {
		b.WriteString("No courses.\n")
	}
	writeErrors(&b, out.Errors)
	return text(b.String()), out, nil
}

func (t *tools) article(ctx context.Context, req *mcp.CallToolRequest, in ArticleInput) (*mcp.CallToolResult, Article, error) {
	if in.Integration == "" || in.ID == "" {
		return nil, Article{}, errors.New("name the integration and the article id")
	}
	if _, err := t.narrow([]string{in.Integration}); err != nil {
		return nil, Article{}, err
	}
	var a Article
	if err := t.get(ctx, req, "/v1/articles/"+url.PathEscape(in.Integration)+"/"+url.PathEscape(in.ID), nil, &a); err != nil {
		return nil, Article{}, err
	}
	return text(a.Title + "\n\n" + a.Text), a, nil
}

func (t *tools) open(ctx context.Context, req *mcp.CallToolRequest, in OpenInput) (*mcp.CallToolResult, OpenOutput, error) {
	if in.Integration == "" || in.ID == "" {
		return nil, OpenOutput{}, errors.New("name the integration and the course id")
	}
	if _, err := t.narrow([]string{in.Integration}); err != nil {
		return nil, OpenOutput{}, err
	}
	if err := t.api.OpenCourse(ctx, caller(req), in.Integration, in.ID); err != nil {
		return nil, OpenOutput{}, err
	}
	return text("Opened the course in the browser, signed in."), OpenOutput{Opened: true, Integration: in.Integration, ID: in.ID}, nil
}

func text(s string) *mcp.CallToolResult {
	return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: strings.TrimRight(s, "\n")}}}
}

func nonNil(es []IntegrationError) []IntegrationError {
	if es == nil {
		return []IntegrationError{}
	}
	return es
}

func writeErrors(b *strings.Builder, es []IntegrationError) {
	for _, e := range es {
		fmt.Fprintf(b, "(%s could not answer: %s)\n", e.Integration, e.Message)
	}
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}
