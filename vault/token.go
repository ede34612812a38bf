package vault

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"maps"
	"math"
	"net/url"
	"reflect"
	"slices"
	"time"

	"golang.org/x/oauth2"
)

// A sealed token's plaintext is a compact binary record (tokenFormat2,
// written since the daemon opens a token on every proxied request: it
// decodes in a fraction of the time JSON takes). Records sealed before
// hold JSON (sealedToken); decodeToken reads both, told apart by the
// first byte ('{' for JSON).
//
//	0x02
//	str access_token · str token_type · str refresh_token
//	flags (bit 0: has expiry) · [varint unix seconds · uvarint nanoseconds]
//	varint expires_in
//	extras kind (extrasNone, extrasNilMap, extrasMap, extrasNilForm, extrasForm)
//	map:  uvarint n · n × (str key · value)   (not the keys of typed fields)
//	      value: 's' str | 'f' 8-byte float64 | 't' | 'F' | 'z' (null) | 'j' str JSON
//	form: uvarint n · n × (str key · uvarint m+1 (0: nil) · m × str)
//
// str is a uvarint length and the bytes. Decoding is strict: a length past
// the end, an unknown tag or trailing bytes are errors.
//
// tokenFormat3 is tokenFormat2 with the record's sequence first:
//
//	0x03 · uvarint sequence · (the tokenFormat2 fields, from access_token on)
//
// The sequence orders the seals of one record on one device (see
// Vault.OpenNewer); sealed inside the ciphertext, it cannot be changed by a
// store that holds the record. Records without one have sequence 0.
const (
	tokenFormat2 = 0x02
	tokenFormat3 = 0x03
)

const (
	extrasNone byte = iota
	extrasNilMap
	extrasMap
	extrasNilForm
	extrasForm
)

// sealedToken is the JSON plaintext of records sealed before tokenFormat2:
// every field of oauth2.Token, including the raw extras the provider
// returned (id_token, scope, …), which oauth2.Token keeps unexported.
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

// encodeToken serialises tok in tokenFormat2. Expiry is kept in UTC.
func encodeToken(tok *oauth2.Token) ([]byte, error) { return encodeTokenSeq(tok, 0) }

// encodeTokenSeq serialises tok with sequence seq in tokenFormat3 (seq 0:
// tokenFormat2, no sequence).
func encodeTokenSeq(tok *oauth2.Token, seq uint64) ([]byte, error) {
	kind, extra, err := tokenExtras(tok)
	if err != nil {
		return nil, err
	}
	w := plainWriter{b: make([]byte, 0, 138+len(tok.AccessToken)+len(tok.RefreshToken))}
	if seq == 0 {
		w.byte(tokenFormat2)
	} else {
		w.byte(tokenFormat3)
		w.uvarint(seq)
	}
	w.str(tok.AccessToken)
	w.str(tok.TokenType)
	w.str(tok.RefreshToken)
	if tok.Expiry.IsZero() {
		w.byte(0)
	} else {
		e := tok.Expiry.UTC()
		w.byte(1)
		w.varint(e.Unix())
		w.uvarint(uint64(e.Nanosecond()))
	}
	w.varint(tok.ExpiresIn)
	switch kind {
	case "":
		w.byte(extrasNone)
	case extraJSON:
		m, _ := extra.(map[string]any)
		err = writeExtras(&w, extrasNilMap, extrasMap, m, w.extraValue)
	case extraForm:
		err = writeExtras(&w, extrasNilForm, extrasForm, extra.(url.Values), w.formValues)
	}
	if err != nil {
		w.wipe()
		return nil, err
	}
	return w.b, nil
}

// writeExtras writes an extras map: nilTag for a nil one, else tag, the
// count and each kept key (extrasKept) with its value.
func writeExtras[V any](w *plainWriter, nilTag, tag byte, m map[string]V, value func(V) error) error {
	if m == nil {
		w.byte(nilTag)
		return nil
	}
	keys := extrasKept(maps.Keys(m))
	w.byte(tag)
	w.uvarint(uint64(len(keys)))
	for _, k := range keys {
		w.str(k)
		if err := value(m[k]); err != nil {
			return err
		}
	}
	return nil
}

// extrasKept returns, sorted, the extras keys worth sealing: not those of
// the fields oauth2.Token already holds. A provider's token response is
// kept whole as the extras, so without this the access and refresh tokens
// would be sealed twice (and decoded twice per request).
func extrasKept(keys iter.Seq[string]) []string {
	var kept []string
	for k := range keys {
		switch k {
		case "access_token", "refresh_token", "token_type", "expires_in":
		default:
			kept = append(kept, k)
		}
	}
	slices.Sort(kept)
	return kept
}

// plainWriter builds a plaintext. When it outgrows its buffer it wipes the
// old one, so no copy of a token is left behind in memory the caller
// cannot clear (the caller clears the final buffer).
type plainWriter struct{ b []byte }

func (w *plainWriter) reserve(n int) {
	if cap(w.b)-len(w.b) >= n {
		return
	}
	nb := make([]byte, len(w.b), 2*cap(w.b)+n)
	copy(nb, w.b)
	w.wipe()
	w.b = nb
}

// wipe zeroes the whole buffer (its capacity, not only its length).
func (w *plainWriter) wipe() { clear(w.b[:cap(w.b)]) }

func (w *plainWriter) byte(c byte) {
	w.reserve(1)
	w.b = append(w.b, c)
}

func (w *plainWriter) uvarint(v uint64) {
	w.reserve(binary.MaxVarintLen64)
	w.b = binary.AppendUvarint(w.b, v)
}

func (w *plainWriter) varint(v int64) {
	w.reserve(binary.MaxVarintLen64)
	w.b = binary.AppendVarint(w.b, v)
}

func (w *plainWriter) str(s string) {
	w.reserve(binary.MaxVarintLen64 + len(s))
	w.b = binary.AppendUvarint(w.b, uint64(len(s)))
	w.b = append(w.b, s...)
}

// formValues writes one value of a form extras map: 0 for nil, else the
// count plus one and the strings.
func (w *plainWriter) formValues(vs []string) error {
	if vs == nil {
		w.byte(0)
		return nil
	}
	w.uvarint(uint64(len(vs)) + 1)
	for _, v := range vs {
		w.str(v)
	}
	return nil
}

// extraValue writes one value of a JSON extras map: strings, numbers
// (float64, as JSON decodes them), booleans and null directly, anything
// else as JSON (which reads back as JSON decodes it, as before).
func (w *plainWriter) extraValue(v any) error {
	switch v := v.(type) {
	case string:
		w.byte('s')
		w.str(v)
	case float64:
		w.byte('f')
		w.reserve(8)
		w.b = binary.LittleEndian.AppendUint64(w.b, math.Float64bits(v))
	case bool:
		if v {
			w.byte('t')
		} else {
			w.byte('F')
		}
	case nil:
		w.byte('z')
	default:
		j, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("vault: token extras do not encode: %w", err)
		}
		w.byte('j')
		w.str(string(j))
	}
	return nil
}

var errTokenDecode = errors.New("vault: sealed token does not decode")

// decodeToken is the inverse of encodeToken; it also reads the JSON
// plaintext of records sealed before tokenFormat2.
func decodeToken(b []byte) (*oauth2.Token, error) {
	if len(b) > 0 && b[0] == '{' {
		return decodeTokenJSON(b)
	}
	_, body, ok := tokenBody(b)
	if !ok {
		return nil, errTokenDecode
	}
	r := tokenReader{b: body}
	tok := r.head(true)
	switch r.byte() {
	case extrasNone:
	case extrasNilMap:
		tok = tok.WithExtra(map[string]any(nil))
	case extrasMap:
		tok = tok.WithExtra(readExtras(&r, r.extraValue))
	case extrasNilForm:
		tok = tok.WithExtra(url.Values(nil))
	case extrasForm:
		tok = tok.WithExtra(url.Values(readExtras(&r, r.formValues)))
	default:
		r.bad = true
	}
	if r.bad || len(r.b) != 0 {
		return nil, errTokenDecode
	}
	return tok, nil
}

// decodeAccessToken decodes what one API call needs: the access token, its
// type, expiry and lifetime. A tokenFormat2 record is read no further than
// that, and its refresh token is skipped, not copied out; a JSON record is
// decoded whole and only those fields kept.
func decodeAccessToken(b []byte) (*oauth2.Token, error) {
	if len(b) > 0 && b[0] == '{' {
		full, err := decodeTokenJSON(b)
		if err != nil {
			return nil, err
		}
		return &oauth2.Token{AccessToken: full.AccessToken, TokenType: full.TokenType, Expiry: full.Expiry, ExpiresIn: full.ExpiresIn}, nil
	}
	_, body, ok := tokenBody(b)
	if !ok {
		return nil, errTokenDecode
	}
	r := tokenReader{b: body}
	tok := r.head(false)
	if r.bad {
		return nil, errTokenDecode
	}
	return tok, nil
}

// tokenBody splits a tokenFormat2 or tokenFormat3 plaintext into its
// sequence (0 for tokenFormat2) and the fields from access_token on.
func tokenBody(b []byte) (seq uint64, body []byte, ok bool) {
	if len(b) == 0 {
		return 0, nil, false
	}
	switch b[0] {
	case tokenFormat2:
		return 0, b[1:], true
	case tokenFormat3:
		seq, n := binary.Uvarint(b[1:])
		if n <= 0 || seq == 0 {
			return 0, nil, false
		}
		return seq, b[1+n:], true
	}
	return 0, nil, false
}

// tokenSeq is the sequence of a sealed token's plaintext: 0 for a record
// sealed without one (JSON or tokenFormat2).
func tokenSeq(b []byte) uint64 {
	seq, _, _ := tokenBody(b)
	return seq
}

// tokenReader reads tokenFormat2 fields; the first error sticks (bad) and
// every later read returns a zero value.
type tokenReader struct {
	b   []byte
	bad bool
}

func (r *tokenReader) byte() byte {
	if r.bad || len(r.b) == 0 {
		r.bad = true
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *tokenReader) uvarint() uint64 { return readVarint(r, binary.Uvarint) }
func (r *tokenReader) varint() int64   { return readVarint(r, binary.Varint) }

// readVarint reads one varint with read (binary.Uvarint or binary.Varint).
func readVarint[T uint64 | int64](r *tokenReader, read func([]byte) (T, int)) T {
	v, n := read(r.b)
	if r.bad || n <= 0 {
		r.bad = true
		return 0
	}
	r.b = r.b[n:]
	return v
}

// limit bounds a count by the bytes left (every item takes at least one),
// so that a corrupt count cannot make a large allocation.
func (r *tokenReader) limit(n uint64) int {
	if n > uint64(len(r.b)) {
		r.bad = true
		return 0
	}
	return int(n)
}

func (r *tokenReader) count() int { return r.limit(r.uvarint()) }

func (r *tokenReader) str() string {
	n := r.limit(r.uvarint())
	if r.bad {
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

// head reads the fields a tokenFormat2 record starts with (access token,
// type, refresh token, expiry, lifetime); the refresh token is copied out
// only when withRefresh, else skipped.
func (r *tokenReader) head(withRefresh bool) *oauth2.Token {
	tok := &oauth2.Token{AccessToken: r.str(), TokenType: r.str()}
	if withRefresh {
		tok.RefreshToken = r.str()
	} else {
		r.skipStr()
	}
	switch r.byte() {
	case 0:
	case 1:
		sec, nsec := r.varint(), r.uvarint()
		if nsec >= 1e9 {
			r.bad = true
		}
		tok.Expiry = time.Unix(sec, int64(nsec)).UTC()
	default:
		r.bad = true
	}
	tok.ExpiresIn = r.varint()
	return tok
}

// readExtras reads what writeExtras wrote after the tag: the count and
// each key with its value.
func readExtras[V any](r *tokenReader, value func() V) map[string]V {
	n := r.count()
	m := make(map[string]V, n)
	for range n {
		k := r.str()
		m[k] = value()
	}
	return m
}

// formValues reads what plainWriter.formValues wrote.
func (r *tokenReader) formValues() []string {
	m := r.uvarint()
	if m == 0 {
		return nil
	}
	vs := make([]string, r.limit(m-1))
	for i := range vs {
		vs[i] = r.str()
	}
	return vs
}

// skipStr passes over one string without copying it.
func (r *tokenReader) skipStr() {
	n := r.limit(r.uvarint())
	if !r.bad {
		r.b = r.b[n:]
	}
}

func (r *tokenReader) extraValue() any {
	switch r.byte() {
	case 's':
		return r.str()
	case 'f':
		if r.bad || len(r.b) < 8 {
			r.bad = true
			return nil
		}
		v := math.Float64frombits(binary.LittleEndian.Uint64(r.b))
		r.b = r.b[8:]
		return v
	case 't':
		return true
	case 'F':
		return false
	case 'z':
		return nil
	case 'j':
		var v any
		if err := json.Unmarshal([]byte(r.str()), &v); err != nil {
			r.bad = true
		}
		return v
	}
	r.bad = true
	return nil
}

// decodeTokenJSON reads the JSON plaintext of records sealed before
// tokenFormat2.
func decodeTokenJSON(b []byte) (*oauth2.Token, error) {
	var st sealedToken
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, errTokenDecode
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
			if vs.IsNil() {
				out[it.Key().String()] = nil // kept nil: it seals apart from an empty list
				continue
			}
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
