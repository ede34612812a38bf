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
	"slices"
	"time"
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
// returned (id_token, scope, …).
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

// Extras kinds of sealedToken.
const (
	extraJSON = "json"
	extraForm = "form"
)

// encodeToken serialises tok in tokenFormat2. Expiry is kept in UTC.
func encodeToken(tok token) ([]byte, error) { return encodeTokenSeq(tok, 0) }

// encodeTokenSeq serialises tok with sequence seq in tokenFormat3 (seq 0:
// tokenFormat2, no sequence).
func encodeTokenSeq(tok token, seq uint64) ([]byte, error) {
	var err error
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
	switch tok.extras.kind {
	case extrasNilMap, extrasMap:
		err = writeExtras(&w, extrasNilMap, extrasMap, tok.extras.m, w.extraValue)
	case extrasNilForm, extrasForm:
		err = writeExtras(&w, extrasNilForm, extrasForm, tok.extras.form, w.formValues)
	default:
		w.byte(extrasNone)
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
// the fields token already holds. Earlier builds kept a provider's whole
// token response as the extras, so without this the access and refresh
// tokens would be sealed twice (and decoded twice per request).
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

var (
	errTokenDecode   = errors.New("vault: sealed token does not decode")
	errNothingToSeal = errors.New("vault: seal needs a token")
)

// decodeToken is the inverse of encodeToken; it also reads the JSON
// plaintext of records sealed before tokenFormat2.
func decodeToken(b []byte) (token, error) {
	if len(b) > 0 && b[0] == '{' {
		return decodeTokenJSON(b)
	}
	_, body, ok := tokenBody(b)
	if !ok {
		return token{}, errTokenDecode
	}
	r := tokenReader{b: body}
	tok := r.head(true)
	tok.extras.kind = r.byte()
	switch tok.extras.kind {
	case extrasNone, extrasNilMap, extrasNilForm:
	case extrasMap:
		tok.extras.m = readExtras(&r, r.extraValue)
	case extrasForm:
		tok.extras.form = readExtras(&r, r.formValues)
	default:
		r.bad = true
	}
	if r.bad || len(r.b) != 0 {
		return token{}, errTokenDecode
	}
	return tok, nil
}

// decodeAccessToken decodes what one API call needs: the access token, its
// type, expiry and lifetime. A tokenFormat2 record is read no further than
// that, and its refresh token is skipped, not copied out; a JSON record is
// decoded whole and only those fields kept.
func decodeAccessToken(b []byte) (token, error) {
	if len(b) > 0 && b[0] == '{' {
		full, err := decodeTokenJSON(b)
		if err != nil {
			return token{}, err
		}
		return token{AccessToken: full.AccessToken, TokenType: full.TokenType, Expiry: full.Expiry, ExpiresIn: full.ExpiresIn}, nil
	}
	_, body, ok := tokenBody(b)
	if !ok {
		return token{}, errTokenDecode
	}
	r := tokenReader{b: body}
	tok := r.head(false)
	if r.bad {
		return token{}, errTokenDecode
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
func (r *tokenReader) head(withRefresh bool) token {
	tok := token{AccessToken: r.str(), TokenType: r.str()}
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
func decodeTokenJSON(b []byte) (token, error) {
	var st sealedToken
	if err := json.Unmarshal(b, &st); err != nil {
		return token{}, errTokenDecode
	}
	tok := token{
		AccessToken:  st.AccessToken,
		TokenType:    st.TokenType,
		RefreshToken: st.RefreshToken,
		Expiry:       st.Expiry,
		ExpiresIn:    st.ExpiresIn,
	}
	switch st.ExtraKind {
	case "":
	case extraJSON:
		tok.extras = tokenExtras{kind: extrasMap, m: st.Extra}
		if st.Extra == nil {
			tok.extras.kind = extrasNilMap
		}
	case extraForm:
		tok.extras = tokenExtras{kind: extrasForm, form: url.Values(st.ExtraForm)}
		if st.ExtraForm == nil {
			tok.extras.kind = extrasNilForm
		}
	default:
		return token{}, fmt.Errorf("vault: sealed token has extras of unknown kind %q", st.ExtraKind)
	}
	return tok, nil
}
