package faults

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/httpstate/httpstate/internal/testenv"
)

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func waitPort(t *testing.T, port int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), time.Second)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing listens on port %d after 30s: %v", port, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// pgCluster is a PostgreSQL cluster of the test's own, on a free port, so
// that killing it never disturbs the shared server other tests use.
// initdb refuses to run as root, so every command runs as the postgres
// user through runuser.
type pgCluster struct {
	t    *testing.T
	bin  string
	dir  string
	Port int
}

func startPostgres(t *testing.T) *pgCluster {
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(bins) == 0 {
		testenv.Require(t, "PostgreSQL server binaries (initdb)", fmt.Errorf("no /usr/lib/postgresql/*/bin/initdb"))
	}
	_, err := exec.LookPath("runuser")
	if err == nil {
		_, err = user.Lookup("postgres")
	}
	if err == nil && os.Geteuid() != 0 {
		err = fmt.Errorf("running as uid %d; runuser needs root", os.Geteuid())
	}
	testenv.Require(t, "root and the postgres user (to run initdb through runuser)", err)

	// t.TempDir is private to root; the postgres user needs a directory it
	// can reach.
	dir, err := os.MkdirTemp("", "httpstate-faults-pg-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755)
	pg := &pgCluster{t: t, bin: filepath.Dir(bins[0]), dir: dir, Port: freePort(t)}
	pgUser, _ := user.Lookup("postgres")
	uid, _ := strconv.Atoi(pgUser.Uid)
	gid, _ := strconv.Atoi(pgUser.Gid)
	if err := os.Chown(dir, uid, gid); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		pg.run("pg_ctl", "-D", pg.data(), "-m", "immediate", "stop")
		os.RemoveAll(dir)
	})
	if out, err := pg.run("initdb", "-D", pg.data(), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	pg.Start()
	return pg
}

func (pg *pgCluster) data() string { return filepath.Join(pg.dir, "data") }

func (pg *pgCluster) run(name string, args ...string) ([]byte, error) {
	cmd := exec.Command("runuser", append([]string{"-u", "postgres", "--", filepath.Join(pg.bin, name)}, args...)...)
	return cmd.CombinedOutput()
}

// URL is the cluster's connection string.
func (pg *pgCluster) URL() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable&connect_timeout=2", pg.Port)
}

// Start starts the server and waits until it accepts connections.
func (pg *pgCluster) Start() {
	pg.t.Helper()
	opts := fmt.Sprintf("-p %d -c listen_addresses=127.0.0.1 -k %s -c fsync=on", pg.Port, pg.dir)
	if out, err := pg.run("pg_ctl", "-D", pg.data(), "-l", filepath.Join(pg.dir, "log"), "-o", opts, "-w", "start"); err != nil {
		pg.t.Fatalf("pg_ctl start: %v\n%s", err, out)
	}
	waitPort(pg.t, pg.Port)
}

// Kill stops the server the way a crash does: immediately, without a
// shutdown checkpoint; committed transactions survive through the WAL.
func (pg *pgCluster) Kill() {
	pg.t.Helper()
	if out, err := pg.run("pg_ctl", "-D", pg.data(), "-m", "immediate", "-w", "stop"); err != nil {
		pg.t.Fatalf("pg_ctl stop: %v\n%s", err, out)
	}
}

// redisServer is a redis-server child process of the test's own, with an
// append-only file synced on every write so a kill loses nothing it
// acknowledged.
type redisServer struct {
	t    *testing.T
	dir  string
	Port int
	cmd  *exec.Cmd
}

func startRedis(t *testing.T) *redisServer {
	_, err := exec.LookPath("redis-server")
	testenv.Require(t, "redis-server binary", err)
	r := &redisServer{t: t, dir: t.TempDir(), Port: freePort(t)}
	t.Cleanup(func() {
		if r.cmd != nil {
			r.cmd.Process.Kill()
			r.cmd.Wait()
		}
	})
	r.Start()
	return r
}

func (r *redisServer) Addr() string { return "127.0.0.1:" + strconv.Itoa(r.Port) }

func (r *redisServer) Start() {
	r.t.Helper()
	r.cmd = exec.Command("redis-server", "--port", strconv.Itoa(r.Port), "--bind", "127.0.0.1",
		"--dir", r.dir, "--save", "", "--appendonly", "yes", "--appendfsync", "always")
	if err := r.cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	waitPort(r.t, r.Port)
}

// Kill ends the server with SIGKILL, as a crash or an OOM kill would.
func (r *redisServer) Kill() {
	r.cmd.Process.Kill()
	r.cmd.Wait()
	r.cmd = nil
}
