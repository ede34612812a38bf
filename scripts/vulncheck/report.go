//go:build ignore

// report reads govulncheck's JSON output (-format json) on stdin and
// prints each vulnerability the code calls, one line each. It exits 1 when
// one of them is not listed in the accepted file named by its only
// argument (lines "ID  reason"; # starts a comment), else 0.
//
//	go run golang.org/x/vuln/cmd/govulncheck@vX -format json ./... | go run scripts/vulncheck/report.go scripts/vulncheck/accepted.txt
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

type message struct {
	Config *struct {
		DB        string `json:"db"`
		GoVersion string `json:"go_version"`
		Scanner   string `json:"scanner_version"`
	} `json:"config"`
	OSV *struct {
		ID      string `json:"id"`
		Summary string `json:"summary"`
	} `json:"osv"`
	Finding *struct {
		OSV          string `json:"osv"`
		FixedVersion string `json:"fixed_version"`
		Trace        []struct {
			Module   string `json:"module"`
			Version  string `json:"version"`
			Package  string `json:"package"`
			Function string `json:"function"`
		} `json:"trace"`
	} `json:"finding"`
}

type called struct{ id, module, found, fixed string }

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: report ACCEPTED-FILE < govulncheck.json")
		os.Exit(2)
	}
	accepted, err := readAccepted(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "vulncheck:", err)
		os.Exit(2)
	}
	summaries := map[string]string{}
	found := map[string]called{}
	scanned := false
	dec := json.NewDecoder(bufio.NewReader(os.Stdin))
	for {
		var m message
		if err := dec.Decode(&m); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			fmt.Fprintln(os.Stderr, "vulncheck: reading govulncheck's output:", err)
			os.Exit(2)
		}
		switch {
		case m.Config != nil:
			scanned = true
			fmt.Printf("vulncheck: govulncheck %s, %s, database %s\n", m.Config.Scanner, m.Config.GoVersion, m.Config.DB)
		case m.OSV != nil:
			summaries[m.OSV.ID] = m.OSV.Summary
		case m.Finding != nil && len(m.Finding.Trace) > 0 && m.Finding.Trace[0].Function != "":
			// A trace that starts at a function: the code calls the
			// vulnerable symbol (not merely imports or requires it).
			t := m.Finding.Trace[0]
			found[m.Finding.OSV] = called{m.Finding.OSV, t.Module, t.Version, m.Finding.FixedVersion}
		}
	}
	if !scanned {
		fmt.Fprintln(os.Stderr, "vulncheck: govulncheck printed no scan (no config message)")
		os.Exit(2)
	}
	ids := make([]string, 0, len(found))
	for id := range found {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var fresh []string
	for _, id := range ids {
		c := found[id]
		state := "NEW"
		if reason, ok := accepted[id]; ok {
			state = "accepted (" + reason + ")"
		} else {
			fresh = append(fresh, id)
		}
		fmt.Printf("  %s %s@%s, fixed in %s: %s [%s]\n", id, c.module, c.found, orNone(c.fixed), summaries[id], state)
	}
	for id := range accepted {
		if _, ok := found[id]; !ok {
			fmt.Printf("  %s is accepted but no longer found: remove it from %s\n", id, os.Args[1])
		}
	}
	fmt.Printf("vulncheck: %d vulnerabilities called, %d accepted, %d not\n", len(ids), len(ids)-len(fresh), len(fresh))
	if len(fresh) > 0 {
		fmt.Printf("vulncheck: FAIL: %s (update the module, or the Go toolchain for stdlib)\n", strings.Join(fresh, ", "))
		os.Exit(1)
	}
}

func orNone(s string) string {
	if s == "" {
		return "(no fix yet)"
	}
	return s
}

func readAccepted(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	m := map[string]string{}
	for line := range strings.SplitSeq(string(b), "\n") {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		m[f[0]] = strings.Join(f[1:], " ")
	}
	return m, nil
}
