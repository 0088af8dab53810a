package supervise

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestApplyEnvDir(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{
		"A":       "one\ntwo\n",
		"B":       "trail \t \n",
		"C":       "",
		"D":       "x\x00y",
		".hidden": "no",
	} {
		os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644)
	}
	base := []string{"A=old", "C=gone", "KEEP=1"}
	got, err := applyEnvDir(base, dir)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	want := []string{"A=one", "B=trail", "D=x\ny", "KEEP=1"}
	if !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	if !slices.Equal(base, []string{"A=old", "C=gone", "KEEP=1"}) {
		t.Errorf("base modified: %q", base)
	}
	if got, err := applyEnvDir(base, filepath.Join(dir, "missing")); err != nil || !slices.Equal(got, base) {
		t.Errorf("missing dir: %q, %v", got, err)
	}
	if got := withEnv(base, "A", "new"); !slices.Equal(got, []string{"C=gone", "KEEP=1", "A=new"}) {
		t.Errorf("withEnv = %q", got)
	}
}
