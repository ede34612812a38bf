package envelope

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// fuzzKey and fuzzKeyID are the key the committed FuzzOpen corpus was
// sealed under (a test constant, never a real key).
var fuzzKey = bytes.Repeat([]byte{0x42}, 32)

const fuzzKeyID = "00112233445566ff"

var (
	alice  = Binding{User: "alice", Device: "d1", Integration: "docebo"}
	plainT = []byte(`{"access_token":"9f2c1b7e4a0d8c3f6e5b2a1d0c9e8f7a6b5c4d3e","token_type":"Bearer","refresh_token":"4e3d2c1b0a9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d","expiry":"2026-11-25T18:00:00Z","expires_in":3600}`)
)

// typed reports whether err is one of the package's sentinel errors.
func typed(err error) bool {
	return errors.Is(err, ErrMalformed) || errors.Is(err, ErrUnsupportedVersion) ||
		errors.Is(err, ErrKeyMismatch) || errors.Is(err, ErrAuth)
}

func seal(t testing.TB) string {
	t.Helper()
	s, err := Seal(fuzzKey, fuzzKeyID, alice, plainT)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	s := seal(t)
	if !strings.HasPrefix(s, "lk1."+fuzzKeyID+".") || !Valid(s) {
		t.Fatalf("wire form %q", s)
	}
	pt, err := Open(fuzzKey, fuzzKeyID, alice, s)
	if err != nil || !bytes.Equal(pt, plainT) {
		t.Fatalf("open: %v", err)
	}
	if s2 := seal(t); s2 == s {
		t.Fatal("two seals of the same plaintext are equal: nonce reused")
	}
	if strings.Contains(s, "9f2c1b7e") {
		t.Fatal("plaintext visible in the envelope")
	}
}

// Every single-byte substitution, at every position, fails with a typed
// error.
func TestEveryByteFlip(t *testing.T) {
	t.Parallel()
	s := []byte(seal(t))
	for i := range s {
		orig := s[i]
		for b := 0; b < 256; b++ {
			if byte(b) == orig {
				continue
			}
			s[i] = byte(b)
			pt, err := Open(fuzzKey, fuzzKeyID, alice, string(s))
			if err == nil {
				t.Fatalf("byte %d set to %#x: opened (%d bytes)", i, b, len(pt))
			}
			if !typed(err) {
				t.Fatalf("byte %d set to %#x: untyped error %v", i, b, err)
			}
		}
		s[i] = orig
	}
}

func TestTruncation(t *testing.T) {
	t.Parallel()
	s := seal(t)
	for n := 0; n < len(s); n++ {
		if _, err := Open(fuzzKey, fuzzKeyID, alice, s[:n]); !typed(err) {
			t.Fatalf("truncated to %d: %v", n, err)
		}
	}
	// Appending is no better.
	if _, err := Open(fuzzKey, fuzzKeyID, alice, s+"A"); !typed(err) {
		t.Fatalf("extended: %v", err)
	}
}

func TestVersionPrefix(t *testing.T) {
	t.Parallel()
	s := seal(t)
	rest := strings.TrimPrefix(s, "lk1")
	for _, v := range []string{"lk2", "lk0", "lk10", "lk"} {
		if _, err := Open(fuzzKey, fuzzKeyID, alice, v+rest); !errors.Is(err, ErrUnsupportedVersion) {
			t.Errorf("%s: %v", v, err)
		}
	}
	for _, v := range []string{"LK1", "xx1", "", "lk1lk1lk1"} {
		if _, err := Open(fuzzKey, fuzzKeyID, alice, v+rest); !errors.Is(err, ErrMalformed) {
			t.Errorf("%q: %v", v, err)
		}
	}
}

func TestBinding(t *testing.T) {
	t.Parallel()
	s := seal(t)
	for _, b := range []Binding{
		{User: "bob", Device: "d1", Integration: "docebo"},
		{User: "alice", Device: "d1", Integration: "document360"},
		{User: "alice", Device: "d2", Integration: "docebo"},
		// Field boundaries are unambiguous.
		{User: "alic", Device: "ed1", Integration: "docebo"},
		{},
	} {
		if _, err := Open(fuzzKey, fuzzKeyID, b, s); !errors.Is(err, ErrAuth) {
			t.Errorf("%+v: %v", b, err)
		}
	}
}

func TestKeyMismatchNotTried(t *testing.T) {
	t.Parallel()
	s := seal(t)
	// Another key id: refused before any decryption, even with the right key.
	if _, err := Open(fuzzKey, "ffffffffffffffff", alice, s); !errors.Is(err, ErrKeyMismatch) {
		t.Fatalf("other key id: %v", err)
	}
	// Same id, wrong key (cannot happen with derived ids, but must not open).
	wrong := bytes.Repeat([]byte{1}, 32)
	if _, err := Open(wrong, fuzzKeyID, alice, s); !errors.Is(err, ErrAuth) {
		t.Fatalf("wrong key: %v", err)
	}
}

func TestSealRefuses(t *testing.T) {
	t.Parallel()
	if _, err := Seal(fuzzKey, "XYZ", alice, plainT); err == nil {
		t.Error("bad key id accepted")
	}
	if _, err := Seal(fuzzKey[:16], fuzzKeyID, alice, plainT); err == nil {
		t.Error("short key accepted")
	}
	if _, err := Parse("lk1." + fuzzKeyID + "." + strings.Repeat("A", MaxLen)); !errors.Is(err, ErrMalformed) {
		t.Errorf("oversized: %v", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add(seal(f))
	for _, v := range loadKAT(f) {
		f.Add(v.Envelope)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e, err := Parse(s)
		if err != nil {
			if !typed(err) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		// What parses is canonical: it encodes back to the same text.
		if got := e.String(); got != s {
			t.Fatalf("Parse(%q).String() = %q", s, got)
		}
		if len(e.Nonce) != 24 || len(e.Ciphertext) < 16 || len(e.KeyID) != KeyIDLen {
			t.Fatalf("parsed shape %d/%d/%q", len(e.Nonce), len(e.Ciphertext), e.KeyID)
		}
	})
}

func FuzzOpen(f *testing.F) {
	f.Add(seal(f), "docebo")
	kat := loadKAT(f)
	for _, v := range kat {
		f.Add(v.Envelope, v.Integration)
	}
	f.Fuzz(func(t *testing.T, s, integration string) {
		b := alice
		b.Integration = integration
		pt, err := Open(fuzzKey, fuzzKeyID, b, s)
		if err != nil {
			if !typed(err) {
				t.Fatalf("untyped error %v", err)
			}
		} else if integration != "docebo" || !bytes.Equal(pt, plainT) {
			// Only a genuine seal opens: the corpus holds seals of plainT
			// for docebo, and nothing can be forged from them.
			t.Fatalf("opened a forgery: integration %q, %d bytes", integration, len(pt))
		}
		// The same under each known-answer vector's key and binding (user
		// and device; the integration is the fuzzer's): only that vector's
		// own envelope opens, to its plaintext.
		for _, v := range kat {
			vb := v.binding()
			vb.Integration = integration
			pt, err := Open(unhex(t, v.Key), v.KeyID, vb, s)
			if err != nil {
				if !typed(err) {
					t.Fatalf("untyped error %v", err)
				}
				continue
			}
			if integration != v.Integration || s != v.Envelope || !bytes.Equal(pt, unhex(t, v.Plaintext)) {
				t.Fatalf("opened a forgery under the key of %q: integration %q, %d bytes", v.Name, integration, len(pt))
			}
		}
	})
}

func BenchmarkSeal(b *testing.B) {
	for b.Loop() {
		if _, err := Seal(fuzzKey, fuzzKeyID, alice, plainT); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOpen(b *testing.B) {
	s := seal(b)
	for b.Loop() {
		if _, err := Open(fuzzKey, fuzzKeyID, alice, s); err != nil {
			b.Fatal(err)
		}
	}
}

// The base64 decoder skips CR and LF even in strict mode; the envelope
// must not, or one record would have many spellings (found by FuzzParse).
func TestOnlyCanonicalParses(t *testing.T) {
	t.Parallel()
	s := seal(t)
	for _, ins := range []string{"\n", "\r", "\r\n", " ", "="} {
		bad := s[:40] + ins + s[40:]
		if _, err := Parse(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("%q inserted: %v", ins, err)
		}
	}
}
