package config

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

const treeSrc = `
tree:
  name: site
  children:
    - name: backend
      strategy: rest_for_one
      children:
        - name: db
          command: postgres
        - name: api
          command: api
    - name: web
      command: web
      stdout: inherit
    - name: httpd
      control: service httpd
`

func TestWalkAndFind(t *testing.T) {
	t.Parallel()
	c := mustLoad(t, treeSrc)
	want := "site site/backend site/backend/db site/backend/api site/web site/httpd"
	if got := strings.Join(names(c), " "); got != want {
		t.Errorf("walk = %q, want %q", got, want)
	}
	stop := errors.New("stop")
	var seen []string
	err := c.Tree.Walk(func(n *Node) error {
		seen = append(seen, n.Name)
		if n.Name == "db" {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || strings.Join(seen, " ") != "site backend db" {
		t.Errorf("walk stopped with %v after %q", err, seen)
	}
	for _, p := range []string{"site", "site/backend/api", "/site/web/", "site/httpd"} {
		n := c.Find(p)
		if n == nil || n.Path != strings.Trim(p, "/") {
			t.Errorf("Find(%q) = %v", p, n)
		}
	}
	for _, p := range []string{"", "other", "site/nope", "site/web/x", "backend"} {
		if n := c.Find(p); n != nil {
			t.Errorf("Find(%q) = %s, want nil", p, n.Path)
		}
	}
}

func TestResolveLogs(t *testing.T) {
	t.Parallel()
	c := mustLoad(t, treeSrc)
	c.ResolveLogs("/state")
	db := c.Find("site/backend/db")
	want := Output{Kind: OutputFile, Path: "/state/logs/site_backend_db.log"}
	if db.Stdout != want || db.Stderr != want {
		t.Errorf("db outputs = %+v %+v, want %+v", db.Stdout, db.Stderr, want)
	}
	web := c.Find("site/web")
	if web.Stdout.Kind != OutputInherit || web.Stderr != (Output{Kind: OutputFile, Path: "/state/logs/site_web.log"}) {
		t.Errorf("web outputs = %+v %+v", web.Stdout, web.Stderr)
	}
	if h := c.Find("site/httpd"); h.Stdout.Kind != OutputDefault {
		t.Errorf("service stdout = %+v, want untouched", h.Stdout)
	}
}

func TestFingerprint(t *testing.T) {
	t.Parallel()
	a := mustLoad(t, treeSrc)
	// The same definitions, moved, with other children, in another file.
	b, err := load(strings.NewReader(`
tree:
  name: site
  children:
    - name: httpd
      control: "service   httpd"
    - name: web
      command: [web]
      stdout: inherit
    - name: backend
      strategy: rest_for_one
      intensity: 3
      children:
        - name: db
          command: postgres
          stop_signal: 9
`), filepath.Join(filepath.Dir(testFile), "other.yaml"), 1000)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"site", "site/backend", "site/web", "site/httpd"} {
		if fa, fb := a.Find(p).Fingerprint(), b.Find(p).Fingerprint(); fa != fb {
			t.Errorf("%s: fingerprints differ: %s, %s", p, fa, fb)
		}
	}
	if a.Find("site/backend/db").Fingerprint() == b.Find("site/backend/db").Fingerprint() {
		t.Error("db: stop_signal changed but the fingerprint did not")
	}
	fp := a.Find("site/web").Fingerprint()
	if len(fp) != 64 || fp != a.Find("site/web").Fingerprint() {
		t.Errorf("fingerprint %q is not a stable sha256 hex", fp)
	}
	if fp == a.Find("site/backend/api").Fingerprint() {
		t.Error("different nodes share a fingerprint")
	}
}
