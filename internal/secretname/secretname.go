// Package secretname says whether a configuration key's name looks like it
// holds a secret. latchkey keeps secrets only in the keychain (a device) or
// sealed (latchkey-store); a plain configuration value named like a secret
// is refused where configuration is written, in the managed file and in
// the store's organisation integrations alike.
package secretname

import "strings"

// words a secret's key name contains.
var words = []string{"secret", "password", "passwd", "token", "private", "credential", "apikey", "api_key"}

// Looks reports whether key names a secret: its name contains one of the
// words above. A key that names where something is (ending in _url or
// _uri, such as Document360's widget_token_url) or an identifier (ending
// in _id) is not a secret, whatever the words before it.
func Looks(key string) bool {
	k := strings.ToLower(key)
	for _, suffix := range []string{"_url", "_uri", "_id"} {
		if strings.HasSuffix(k, suffix) {
			return false
		}
	}
	for _, w := range words {
		if strings.Contains(k, w) {
			return true
		}
	}
	return false
}
