package test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestImportSimplevisor: `otpsv import simplevisor` turns simplevisor
// 1.3's shipped example into a config `otpsv validate` accepts; a bad
// input is refused with exit 2 and file:line.
func TestImportSimplevisor(t *testing.T) {
	begin(t)
	dir := t.TempDir()
	example, err := filepath.Abs(filepath.Join("..", "config", "simplevisor", "testdata", "example", "simplevisor.conf.example"))
	if err != nil {
		t.Fatal(err)
	}
	r := otpsv(t, dir, "import", "simplevisor", example)
	if r.code != 0 || !strings.Contains(r.stdout, "tree:") {
		t.Fatalf("import: exit %d, stderr %s", r.code, r.stderr)
	}
	out := filepath.Join(dir, "otpsv.yaml")
	if err := os.WriteFile(out, []byte(r.stdout), 0o644); err != nil {
		t.Fatal(err)
	}
	if v := otpsv(t, dir, "validate", "-c", out); v.code != 0 {
		t.Errorf("validate of the imported config: exit %d: %s", v.code, v.stderr)
	}
	bad := filepath.Join(dir, "bad.conf")
	if err := os.WriteFile(bad, []byte("<entry>\n  type = service\n  name = x\n  frobnicate = 1\n</entry>\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if b := otpsv(t, dir, "import", "simplevisor", bad); b.code != 2 || !strings.Contains(b.stderr, "bad.conf:4") {
		t.Errorf("import of an unknown key: exit %d, stderr %q; want 2 naming bad.conf:4", b.code, b.stderr)
	}
}

// TestSchemaCommand: `otpsv schema` prints a JSON Schema 2020-12 document
// (its validation against configs is in config/schema_test.go).
func TestSchemaCommand(t *testing.T) {
	begin(t)
	r := otpsv(t, t.TempDir(), "schema")
	var doc map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &doc); r.code != 0 || err != nil {
		t.Fatalf("schema: exit %d, %v", r.code, err)
	}
	if doc["$schema"] != "https://json-schema.org/draft/2020-12/schema" {
		t.Errorf("$schema = %v", doc["$schema"])
	}
}
