package docebo

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/oauth2"

	"github.com/latchkey/latchkey/integrations"
)

const (
	maxMessage = 300 // runes of a provider message kept in an error
	maxCode    = 64
	// secretRun: a run of token-alphabet characters at least this long is
	// treated as a possible credential and redacted from messages (Docebo
	// tokens are 40 hex characters; JWTs are longer).
	secretRun = 32
)

// parseError reads a Docebo error body defensively (the error envelope is
// unconfirmed; docs/docebo.md): the OAuth shape error/error_description,
// "message" as a string or an array, "name", an "errors" array, one level of
// "data", and otherwise a bounded snippet of the body. The message never
// carries a token-like string.
func parseError(status int, body []byte) *integrations.ProviderError {
	pe := &integrations.ProviderError{Status: status}
	var obj map[string]any
	if json.Unmarshal(body, &obj) == nil && obj != nil {
		pe.Code, pe.Message = fromObject(obj, 0)
	}
	if pe.Message == "" {
		pe.Message = snippet(body)
	}
	if pe.Message == "" {
		pe.Message = strings.ToLower(httpStatusText(status))
	}
	pe.Code = clean(pe.Code, maxCode)
	pe.Message = clean(pe.Message, maxMessage)
	return pe
}

// legacyError: some legacy endpoints answer 2xx with {"success": false,
// "error"/"message": …} (a public PHP client notes it). Anything else is not an error.
func legacyError(status int, body []byte) *integrations.ProviderError {
	var probe struct {
		Success *bool `json:"success"`
	}
	if json.Unmarshal(body, &probe) != nil || probe.Success == nil || *probe.Success {
		return nil
	}
	return parseError(status, body)
}

func fromObject(obj map[string]any, depth int) (code, msg string) {
	switch e := obj["error"].(type) {
	case string:
		code = e
	case map[string]any:
		if depth < 2 {
			c, m := fromObject(e, depth+1)
			if c != "" {
				code = c
			}
			msg = m
		}
	}
	if code == "" {
		if c, ok := obj["code"].(string); ok {
			code = c
		}
	}
	if s, ok := obj["error_description"].(string); ok && s != "" {
		msg = s
	}
	if msg == "" {
		msg = textOf(obj["message"], depth)
	}
	if msg == "" {
		msg = textOf(obj["errors"], depth)
	}
	if msg == "" {
		if s, ok := obj["name"].(string); ok {
			msg = s
		}
	}
	if msg == "" {
		if s, ok := obj["description"].(string); ok {
			msg = s
		}
	}
	if msg == "" && depth < 2 {
		if data, ok := obj["data"].(map[string]any); ok {
			c, m := fromObject(data, depth+1)
			if code == "" {
				code = c
			}
			msg = m
		}
	}
	if msg == "" && code != "" {
		msg = code
	}
	return code, msg
}

// textOf turns a message value (string, number, array of strings or of
// objects with a message) into one line.
func textOf(v any, depth int) string {
	switch x := v.(type) {
	case string:
		return x
	case float64, bool:
		return fmt.Sprint(x)
	case []any:
		var parts []string
		for _, e := range x {
			if len(parts) >= 10 {
				break
			}
			if s := textOf(e, depth+1); s != "" {
				parts = append(parts, s)
			}
		}
		return strings.Join(parts, "; ")
	case map[string]any:
		if depth >= 3 {
			return ""
		}
		for _, k := range []string{"message", "error_description", "description", "error", "name"} {
			if s := textOf(x[k], depth+1); s != "" {
				return s
			}
		}
	}
	return ""
}

// snippet is a short, printable, redacted excerpt of a non-JSON body (HTML
// tags dropped).
func snippet(body []byte) string {
	if len(body) > 4096 {
		body = body[:4096]
	}
	s := strings.ToValidUTF8(string(body), "")
	var b strings.Builder
	inTag := false
	for _, r := range s {
		switch {
		case r == '<':
			inTag = true
		case r == '>' && inTag:
			inTag = false
			b.WriteByte(' ')
		case !inTag:
			b.WriteRune(r)
		}
	}
	return clean(b.String(), 200)
}

// clean makes s one printable line of at most n runes, with token-like runs
// redacted.
func clean(s string, n int) string {
	s = strings.ToValidUTF8(s, "")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || unicode.IsSpace(r) {
			return ' '
		}
		if !unicode.IsPrint(r) {
			return -1
		}
		return r
	}, s)
	s = strings.Join(strings.Fields(s), " ")
	s = redact(s)
	if utf8.RuneCountInString(s) > n {
		r := []rune(s)
		s = string(r[:n-1]) + "…"
	}
	return s
}

func isTokenRune(r rune) bool {
	return r < utf8.RuneSelf && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
		strings.ContainsRune("-_.~+/=", r))
}

// redact replaces every run of at least secretRun token-alphabet characters
// that contains a digit (words of prose do not) with "[redacted]".
func redact(s string) string {
	var b strings.Builder
	run := -1
	flush := func(end int) {
		if run < 0 {
			return
		}
		w := s[run:end]
		if len(w) >= secretRun && strings.ContainsAny(w, "0123456789") {
			b.WriteString("[redacted]")
		} else {
			b.WriteString(w)
		}
		run = -1
	}
	for i, r := range s {
		if isTokenRune(r) {
			if run < 0 {
				run = i
			}
			continue
		}
		flush(i)
		b.WriteRune(r)
	}
	flush(len(s))
	return b.String()
}

func httpStatusText(status int) string {
	if t := http.StatusText(status); t != "" {
		return t
	}
	return fmt.Sprintf("HTTP %d", status)
}

// ClassifyTokenError maps an error from the token endpoint (one of this
// package's grant helpers, or *oauth2.RetrieveError from oauth2.Config's
// Exchange or TokenSource) to latchkey's errors: "invalid_grant" becomes
// integrations.ErrReconnectNeeded (wrapped, with the provider's description
// and never a token); other OAuth errors become *integrations.ProviderError.
// Other errors are returned unchanged.
func ClassifyTokenError(err error) error {
	if err == nil {
		return nil
	}
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		return err
	}
	status := 0
	if re.Response != nil {
		status = re.Response.StatusCode
	}
	var pe *integrations.ProviderError
	if re.ErrorCode != "" {
		pe = &integrations.ProviderError{Status: status, Code: clean(re.ErrorCode, maxCode), Message: clean(re.ErrorDescription, maxMessage)}
		if pe.Message == "" {
			pe.Message = pe.Code
		}
	} else {
		pe = parseError(status, re.Body)
	}
	return tokenError(pe)
}

// tokenError wraps pe in ErrReconnectNeeded when it is invalid_grant.
func tokenError(pe *integrations.ProviderError) error {
	if pe.Code == "invalid_grant" {
		return fmt.Errorf("docebo: %w: %w", integrations.ErrReconnectNeeded, pe)
	}
	return fmt.Errorf("docebo: token endpoint: %w", pe)
}
