package secretname

import "testing"

func TestLooks(t *testing.T) {
	t.Parallel()
	for key, want := range map[string]bool{
		"client_secret":    true,
		"CLIENT_SECRET":    true,
		"password":         true,
		"api_token":        true,
		"apiKey":           true,
		"private_key":      true,
		"refresh_token":    true,
		"credentials":      true,
		"widget_token_url": false,
		"token_uri":        false,
		"client_id":        false,
		"region":           false,
		"identity_url":     false,
		"language":         false,
		"jwt_audience":     false,
	} {
		if got := Looks(key); got != want {
			t.Errorf("Looks(%q) = %v, want %v", key, got, want)
		}
	}
}
