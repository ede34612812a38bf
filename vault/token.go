package vault

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"time"

	"golang.org/x/oauth2"
)

// sealedToken is the plaintext inside an envelope: every field of
// oauth2.Token, including the raw extras the provider returned (id_token,
// scope, …), which oauth2.Token keeps unexported.
type sealedToken struct {
	AccessToken  string              `json:"access_token"`
	TokenType    string              `json:"token_type,omitempty"`
	RefreshToken string              `json:"refresh_token,omitempty"`
	Expiry       time.Time           `json:"expiry,omitzero"`
	ExpiresIn    int64               `json:"expires_in,omitempty"`
	ExtraKind    string              `json:"extra_kind,omitempty"` // "json" (map[string]any) or "form" (url.Values)
	Extra        map[string]any      `json:"extra,omitzero"`
	ExtraForm    map[string][]string `json:"extra_form,omitzero"`
}

const (
	extraJSON = "json"
	extraForm = "form"
)

// encodeToken serialises tok. Expiry is kept in UTC.
func encodeToken(tok *oauth2.Token) ([]byte, error) {
	st := sealedToken{
		AccessToken:  tok.AccessToken,
		TokenType:    tok.TokenType,
		RefreshToken: tok.RefreshToken,
		ExpiresIn:    tok.ExpiresIn,
	}
	if !tok.Expiry.IsZero() {
		st.Expiry = tok.Expiry.UTC()
	}
	kind, extra, err := tokenExtras(tok)
	if err != nil {
		return nil, err
	}
	st.ExtraKind = kind
	switch kind {
	case extraJSON:
		st.Extra, _ = extra.(map[string]any)
	case extraForm:
		st.ExtraForm = extra.(url.Values)
	}
	b, err := json.Marshal(st)
	if err != nil {
		return nil, fmt.Errorf("vault: token extras do not encode: %w", err)
	}
	return b, nil
}

// decodeToken is the inverse of encodeToken.
func decodeToken(b []byte) (*oauth2.Token, error) {
	var st sealedToken
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, errors.New("vault: sealed token does not decode")
	}
	tok := &oauth2.Token{
		AccessToken:  st.AccessToken,
		TokenType:    st.TokenType,
		RefreshToken: st.RefreshToken,
		Expiry:       st.Expiry,
		ExpiresIn:    st.ExpiresIn,
	}
	switch st.ExtraKind {
	case "":
	case extraJSON:
		tok = tok.WithExtra(st.Extra)
	case extraForm:
		tok = tok.WithExtra(url.Values(st.ExtraForm))
	default:
		return nil, fmt.Errorf("vault: sealed token has extras of unknown kind %q", st.ExtraKind)
	}
	return tok, nil
}

var (
	urlValuesType  = reflect.TypeFor[url.Values]()
	jsonNumberType = reflect.TypeFor[json.Number]()
	rawMessageType = reflect.TypeFor[json.RawMessage]()
)

// tokenExtras reads oauth2.Token's unexported raw extras. reflect may read
// an unexported field's contents (String, Int, MapRange, …) but not call
// Interface on it, so the value is rebuilt from its parts.
func tokenExtras(tok *oauth2.Token) (kind string, extra any, err error) {
	f := reflect.ValueOf(tok).Elem().FieldByName("raw")
	if !f.IsValid() {
		return "", nil, errors.New("vault: this oauth2 version keeps token extras where the vault cannot read them")
	}
	for f.Kind() == reflect.Interface || f.Kind() == reflect.Pointer {
		if f.IsNil() {
			return "", nil, nil
		}
		f = f.Elem()
	}
	if f.Type() == urlValuesType {
		if f.IsNil() {
			return extraForm, url.Values(nil), nil
		}
		out := make(url.Values, f.Len())
		for it := f.MapRange(); it.Next(); {
			vs := it.Value()
			ss := make([]string, vs.Len())
			for i := range ss {
				ss[i] = vs.Index(i).String()
			}
			out[it.Key().String()] = ss
		}
		return extraForm, out, nil
	}
	if f.Kind() == reflect.Map && f.Type().Key().Kind() == reflect.String {
		v, err := plain(f, 0)
		if err != nil {
			return "", nil, err
		}
		return extraJSON, v, nil
	}
	return "", nil, fmt.Errorf("vault: token extras of type %s cannot be sealed (want map[string]any or url.Values)", f.Type())
}

// plain rebuilds a JSON-like value read through reflect.
func plain(v reflect.Value, depth int) (any, error) {
	if depth > 64 {
		return nil, errors.New("vault: token extras nest too deeply")
	}
	switch v.Kind() {
	case reflect.Invalid:
		return nil, nil
	case reflect.Interface, reflect.Pointer:
		if v.IsNil() {
			return nil, nil
		}
		return plain(v.Elem(), depth+1)
	case reflect.String:
		if v.Type() == jsonNumberType {
			return json.Number(v.String()), nil
		}
		return v.String(), nil
	case reflect.Bool:
		return v.Bool(), nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return v.Int(), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return v.Uint(), nil
	case reflect.Float32, reflect.Float64:
		return v.Float(), nil
	case reflect.Slice, reflect.Array:
		if v.Kind() == reflect.Slice && v.IsNil() {
			return nil, nil
		}
		if v.Type() == rawMessageType {
			return json.RawMessage(append([]byte(nil), v.Bytes()...)), nil
		}
		out := make([]any, v.Len())
		for i := range out {
			e, err := plain(v.Index(i), depth+1)
			if err != nil {
				return nil, err
			}
			out[i] = e
		}
		return out, nil
	case reflect.Map:
		if v.Type().Key().Kind() != reflect.String {
			return nil, fmt.Errorf("vault: token extras hold a map keyed by %s", v.Type().Key())
		}
		if v.IsNil() {
			return nil, nil
		}
		out := make(map[string]any, v.Len())
		for it := v.MapRange(); it.Next(); {
			e, err := plain(it.Value(), depth+1)
			if err != nil {
				return nil, err
			}
			out[it.Key().String()] = e
		}
		return out, nil
	}
	return nil, fmt.Errorf("vault: token extras hold a %s, which cannot be sealed", v.Type())
}
