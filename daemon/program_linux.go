package daemon

import (
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/latchkey/latchkey/internal/loopback"
)

// peerProgram names the program of this user on the other end of a
// loopback TCP connection (seen from the listener as local and remote: the
// app registering itself): its executable and pid, found through the
// client socket's inode (loopback.Peer) among the fds of this user's
// processes. "" when it cannot tell.
func peerProgram(local, remote netip.AddrPort) string {
	peer, ok := loopback.Peer(local, remote)
	if !ok || peer.Inode == "" || peer.UID != os.Getuid() {
		return ""
	}
	target := "socket:[" + peer.Inode + "]"
	uid := strconv.Itoa(os.Getuid())
	procs, _ := filepath.Glob("/proc/[0-9]*")
	for _, dir := range procs {
		st, err := os.Stat(dir)
		if err != nil {
			continue
		}
		if sys, ok := st.Sys().(*syscall.Stat_t); !ok || strconv.FormatUint(uint64(sys.Uid), 10) != uid {
			continue
		}
		fds, _ := os.ReadDir(filepath.Join(dir, "fd"))
		for _, fd := range fds {
			if l, _ := os.Readlink(filepath.Join(dir, "fd", fd.Name())); l == target {
				exe, _ := os.Readlink(filepath.Join(dir, "exe"))
				if exe == "" {
					b, _ := os.ReadFile(filepath.Join(dir, "comm"))
					exe = strings.TrimSpace(string(b))
				}
				if exe == "" {
					return ""
				}
				return exe + " (pid " + filepath.Base(dir) + ")"
			}
		}
	}
	return ""
}
