package integrations

import (
	"context"
	"testing"

	"golang.org/x/oauth2"
)

type fullTokens struct{}

func (fullTokens) Token(context.Context) (*oauth2.Token, error) {
	return &oauth2.Token{AccessToken: "full", RefreshToken: "rt"}, nil
}

func (fullTokens) Refresh(context.Context, *oauth2.Token) (*oauth2.Token, error) { return nil, nil }

type callTokens struct{ fullTokens }

func (callTokens) CallToken(context.Context) (*oauth2.Token, error) {
	return &oauth2.Token{AccessToken: "call"}, nil
}

// AccessTokenFor takes the per-call token when the Tokens has one.
func TestAccessTokenFor(t *testing.T) {
	for tokens, want := range map[Tokens]string{fullTokens{}: "full", callTokens{}: "call"} {
		tok, err := AccessTokenFor(context.Background(), tokens)
		if err != nil || tok.AccessToken != want {
			t.Errorf("%T: %v %v, want %q", tokens, tok, err, want)
		}
	}
}

// CheckBaseURL takes http only on a loopback host, and gives the URL back
// without a trailing slash.
func TestCheckBaseURL(t *testing.T) {
	t.Parallel()
	for raw, want := range map[string]string{
		"https://lms.example/":          "https://lms.example",
		"https://lms.example/base//":    "https://lms.example/base",
		"http://127.0.0.1:8801":         "http://127.0.0.1:8801",
		"http://127.0.0.2:8801/":        "http://127.0.0.2:8801",
		"http://[::1]:8801":             "http://[::1]:8801",
		"http://localhost:8801":         "http://localhost:8801",
		"http://lms.example":            "",
		"http://0.0.0.0:8801":           "",
		"http://127.1:8801":             "",
		"ftp://lms.example":             "",
		"https://user:pw@lms.example":   "",
		"https://lms.example/?q=1":      "",
		"https://lms.example/#fragment": "",
		"/relative":                     "",
	} {
		u, err := CheckBaseURL(raw)
		switch {
		case want == "" && err == nil:
			t.Errorf("CheckBaseURL(%q) = %v, want an error", raw, u)
		case want != "" && (err != nil || u.String() != want):
			t.Errorf("CheckBaseURL(%q) = %v, %v; want %s", raw, u, err, want)
		}
	}
}
