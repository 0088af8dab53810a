package supervise

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestServiceEnv(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{
		"A":       "one\ntwo\n",
		"B":       "trail \t \n",
		"C":       "",
		"D":       "x\x00y",
		"E=F":     "g",
		".hidden": "no",
	} {
		os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644)
	}
	base := []string{"A=old", "C=gone", "KEEP=1", "E=e"}
	got, err := serviceEnv(base, dir)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	// A name with '=' is set as envdir sets it: it replaces the variable
	// named by what precedes the '='.
	want := []string{"A=one", "B=trail", "D=x\ny", "E=F=g", "KEEP=1"}
	if !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	if !slices.Equal(base, []string{"A=old", "C=gone", "KEEP=1", "E=e"}) {
		t.Errorf("base modified: %q", base)
	}
	if got, err := serviceEnv(base, filepath.Join(dir, "missing")); err != nil || !slices.Equal(got, base) {
		t.Errorf("missing dir: %q, %v", got, err)
	}
	if _, err := serviceEnv(base, filepath.Join(dir, "A")); err == nil {
		t.Error("env/ that is a file: no error")
	}
	if got := withEnv(base, "A", "new"); !slices.Equal(got, []string{"C=gone", "KEEP=1", "E=e", "A=new"}) {
		t.Errorf("withEnv = %q", got)
	}
}
