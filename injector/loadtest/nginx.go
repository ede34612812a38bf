package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type nginx struct {
	cmd  *exec.Cmd
	dir  string
	addr string
}

// nginxTuning says, for the table, how the baseline nginx is configured.
const nginxTuning = "worker_processes = the daemon's CPUs, multi_accept on, tcp_nodelay on, " +
	"keepalive_requests 100000 on the client and upstream sides, upstream keepalive pool of 256, " +
	"proxy_http_version 1.1 with Connection \"\", access_log off, error_log warn"

// startNginx runs nginx in the foreground with a config, prefix, pid file
// and temp directories of its own, proxying to upstream with a static
// Authorization header, configured as a production reverse proxy would be
// (nginxTuning): nginx at its best, not at the 1.22 defaults (which close a
// client or upstream connection every 1000 requests). workers is
// worker_processes (0: auto, one per CPU).
func startNginx(ctx context.Context, upstream string, workers int) (*nginx, error) {
	bin, err := lookPath("nginx")
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "latchkey-bench-nginx-")
	if err != nil {
		return nil, err
	}
	// Workers may run as an unprivileged user: let them into the prefix.
	os.Chmod(dir, 0o755)
	for _, d := range []string{"tmp", "logs"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return nil, err
		}
	}
	addr, err := freePort()
	if err != nil {
		return nil, err
	}
	wp := "auto"
	if workers > 0 {
		wp = strconv.Itoa(workers)
	}
	conf := fmt.Sprintf(`# written by injector/loadtest: a production reverse-proxy configuration
worker_processes %[5]s;
daemon off;
pid %[1]s/nginx.pid;
error_log %[1]s/logs/error.log warn;
events {
    worker_connections 4096;
    multi_accept on;
}
http {
    access_log off;
    tcp_nodelay on;
    keepalive_timeout 65s;
    keepalive_requests 100000;
    client_body_temp_path %[1]s/tmp/body;
    proxy_temp_path %[1]s/tmp/proxy;
    fastcgi_temp_path %[1]s/tmp/fastcgi;
    uwsgi_temp_path %[1]s/tmp/uwsgi;
    scgi_temp_path %[1]s/tmp/scgi;
    upstream bench_upstream {
        server %[2]s;
        keepalive 256;
        keepalive_requests 100000;
        keepalive_timeout 60s;
    }
    server {
        listen %[3]s;
        location / {
            proxy_pass http://bench_upstream;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Authorization "Bearer %[4]s";
        }
    }
}
`, dir, upstream, addr, upstreamToken, wp)
	confPath := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, bin, "-p", dir, "-c", confPath, "-e", filepath.Join(dir, "logs", "error.log"))
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGQUIT) }
	cmd.WaitDelay = 10 * time.Second
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	n := &nginx{cmd: cmd, dir: dir, addr: addr}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		select {
		case <-exited:
			logb, _ := os.ReadFile(filepath.Join(dir, "logs", "error.log"))
			os.RemoveAll(dir)
			return nil, fmt.Errorf("nginx exited: %s %s", stderr.String(), logb)
		default:
		}
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			go func() { <-exited }()
			n.cmd = cmd
			return n, nil
		}
	}
	n.stop()
	return nil, fmt.Errorf("nginx did not listen on %s", addr)
}

func (n *nginx) stop() {
	if n.cmd.Process != nil {
		n.cmd.Process.Signal(syscall.SIGQUIT)
		// Wait is running in startNginx's goroutine; poll for the pid file
		// to disappear (nginx removes it on exit).
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if _, err := os.Stat(filepath.Join(n.dir, "nginx.pid")); os.IsNotExist(err) {
				break
			}
		}
	}
	os.RemoveAll(n.dir)
}
