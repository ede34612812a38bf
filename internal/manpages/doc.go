// Package manpages owns the hidden "gen-man DIR" command both CLIs carry:
// it writes their man pages (section 1, one per command, from the cobra
// command tree with github.com/spf13/cobra/doc) for the package build.
package manpages
