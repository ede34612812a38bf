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
