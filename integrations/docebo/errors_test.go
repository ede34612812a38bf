package docebo

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestParseErrorShapes(t *testing.T) {
	t.Parallel()
	const tok = "87b567fa3de847fb3adef9492b294bb83f8cd266"
	for _, tc := range []struct {
		name, body, code, msg string
	}{
		{"oauth", `{"error":"invalid_grant","error_description":"Invalid refresh token"}`, "invalid_grant", "Invalid refresh token"},
		{"message string", `{"name":"Forbidden","message":"You are not allowed","code":0,"status":403}`, "", "You are not allowed"},
		{"message array", `{"message":["first problem","second problem"]}`, "", "first problem; second problem"},
		{"message objects", `{"message":[{"message":"field x"},{"error":"field y"}]}`, "", "field x; field y"},
		{"error only", `{"error":"server_error"}`, "server_error", "server_error"},
		{"name only", `{"name":"Not Found"}`, "", "Not Found"},
		{"errors array", `{"success":false,"errors":[{"description":"bad id"}]}`, "", "bad id"},
		{"nested error object", `{"error":{"code":"E42","message":"nested"}}`, "E42", "nested"},
		{"data wrapped", `{"data":{"message":"inside data"}}`, "", "inside data"},
		{"html", `<html><body><h1>502 Bad Gateway</h1></body></html>`, "", "502 Bad Gateway"},
		{"empty", ``, "", "bad request"},
		{"token echoed", `{"message":"token ` + tok + ` is invalid"}`, "", "token [redacted] is invalid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pe := parseError(400, []byte(tc.body))
			if pe.Status != 400 || pe.Code != tc.code || pe.Message != tc.msg {
				t.Fatalf("got code=%q msg=%q, want code=%q msg=%q", pe.Code, pe.Message, tc.code, tc.msg)
			}
		})
	}
}

func TestLegacyError(t *testing.T) {
	t.Parallel()
	if legacyError(200, []byte(`{"data":{"items":[]}}`)) != nil {
		t.Fatal("plain success read as an error")
	}
	if legacyError(200, []byte(`{"success":true,"data":{}}`)) != nil {
		t.Fatal("success:true read as an error")
	}
	pe := legacyError(200, []byte(`{"success":false,"error":"bad","message":"legacy failure"}`))
	if pe == nil || pe.Message != "legacy failure" {
		t.Fatalf("legacy error: %+v", pe)
	}
}

func FuzzParseError(f *testing.F) {
	for _, s := range []string{
		`{"error":"invalid_grant","error_description":"x"}`,
		`{"message":["a",{"message":"b"},3,true,null]}`,
		`{"error":{"error":{"error":{"message":"deep"}}}}`,
		`{"data":{"data":{"data":{"name":"n"}}}}`,
		`<html>` + strings.Repeat("x", 5000),
		"\xff\xfe\x00 binary \x1b[31m",
		`{"message":"eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJlMTIzNDU2Nzg5MA"}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		pe := parseError(500, []byte(body))
		if pe.Status != 500 || pe.Message == "" {
			t.Fatalf("empty message for %q", body)
		}
		for _, s := range []string{pe.Message, pe.Code} {
			if !utf8.ValidString(s) || utf8.RuneCountInString(s) > maxMessage {
				t.Fatalf("bad text %q", s)
			}
			if strings.ContainsAny(s, "\n\r\x00\x1b") {
				t.Fatalf("control characters in %q", s)
			}
			if r := longestSecretRun(s); r >= secretRun {
				t.Fatalf("token-like run of %d survived in %q", r, s)
			}
		}
	})
}

// longestSecretRun is the longest run of token characters containing a digit.
func longestSecretRun(s string) int {
	best, start := 0, -1
	end := func(i int) {
		if start >= 0 && strings.ContainsAny(s[start:i], "0123456789") && i-start > best {
			best = i - start
		}
		start = -1
	}
	for i, r := range s {
		if isTokenRune(r) {
			if start < 0 {
				start = i
			}
			continue
		}
		end(i)
	}
	end(len(s))
	return best
}

func TestDecodeData(t *testing.T) {
	t.Parallel()
	var pg page[enrollment]
	if err := decodeData([]byte(`{"data":[],"version":"1.0.0"}`), &pg); err != nil || len(pg.Items) != 0 {
		t.Fatalf("empty PHP array: %v", err)
	}
	body := `{"data":{"items":[{"id":"7","name":"X","status":2,"completion_percentage":"42%"}],"has_more_data":"true","total_page_count":"3"}}`
	if err := decodeData([]byte(body), &pg); err != nil {
		t.Fatal(err)
	}
	e := pg.Items[0]
	if e.ID != "7" || e.Status != "2" || !e.CompletionPercentage.OK || e.CompletionPercentage.V != 42 || !pg.more(1) || pg.more(3) || pg.TotalPageCount != 3 {
		t.Fatalf("tolerant decode: %+v %+v", pg, e)
	}
	var noFlag page[enrollment]
	_ = decodeData([]byte(`{"data":{"items":[{"id":1}],"total_page_count":2}}`), &noFlag)
	if !noFlag.more(1) || noFlag.more(2) {
		t.Fatal("total_page_count alone should drive paging")
	}
	var s sessionData
	if err := decodeData([]byte(`{"id":12,"username":"u"}`), &s); err != nil || s.ID != "12" {
		t.Fatalf("no envelope: %+v %v", s, err)
	}
	if err := decodeData([]byte(`not json`), &s); err == nil {
		t.Fatal("garbage decoded")
	}
}
