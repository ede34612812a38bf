package daemon

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// peerProgram names the program of this user on the other end of a
// loopback TCP connection from remote to the listener's port (the app
// registering itself): its executable and pid, found through
// /proc/net/tcp{,6} (the socket's inode) and the fds of this user's
// processes. "" when it cannot tell.
func peerProgram(remote string, listenPort int) string {
	_, p, err := net.SplitHostPort(remote)
	if err != nil {
		return ""
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		return ""
	}
	inode := socketInode(port, listenPort)
	if inode == "" {
		return ""
	}
	target := "socket:[" + inode + "]"
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

// socketInode finds the inode of the socket whose local port is local and
// remote port remote.
func socketInode(local, remote int) string {
	want := fmt.Sprintf(":%04X", local)
	wantRemote := fmt.Sprintf(":%04X", remote)
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		fh, err := os.Open(f)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			fs := strings.Fields(sc.Text())
			if len(fs) < 10 || !strings.HasSuffix(fs[1], want) || !strings.HasSuffix(fs[2], wantRemote) {
				continue
			}
			fh.Close()
			return fs[9]
		}
		fh.Close()
	}
	return ""
}
