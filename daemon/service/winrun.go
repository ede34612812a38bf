package service

import "strings"

// RunKey is the registry key (under HKEY_CURRENT_USER) whose value Name
// starts latchkey at logon on Windows.
const RunKey = `Software\Microsoft\Windows\CurrentVersion\Run`

// windowsCommandLine joins args into one command line that
// CommandLineToArgvW (and Go's os.Args) splits back into the same args.
func windowsCommandLine(args []string) string {
	parts := make([]string, len(args))
	for i, a := range args {
		parts[i] = windowsQuote(a)
	}
	return strings.Join(parts, " ")
}

// windowsQuote is syscall.EscapeArg's rule, in portable code so it is
// tested on every OS.
func windowsQuote(s string) string {
	if s == "" {
		return `""`
	}
	if !strings.ContainsAny(s, " \t\"") {
		return s
	}
	var b strings.Builder
	b.WriteByte('"')
	slashes := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '\\':
			slashes++
		case '"':
			for ; slashes > 0; slashes-- {
				b.WriteByte('\\')
			}
			b.WriteByte('\\')
		default:
			slashes = 0
		}
		b.WriteByte(c)
	}
	for ; slashes > 0; slashes-- {
		b.WriteByte('\\')
	}
	b.WriteByte('"')
	return b.String()
}
