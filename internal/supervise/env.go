package supervise

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// applyEnvDir returns base modified by the directory dir as envdir(8) reads
// it: for each file NAME (names starting with '.' are skipped), an empty file
// removes NAME from the environment; otherwise NAME is set to the file's first
// line, with trailing spaces and tabs removed and each NUL turned into a
// newline. A missing dir leaves base as it is. base is not modified.
//
// This is the only place the supervisor reads env/; it is kept small so that
// it can be replaced by a shared envdir reader.
func applyEnvDir(base []string, dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return base, nil
	}
	if err != nil {
		return base, fmt.Errorf("envdir %s: %w", dir, err)
	}
	env := slices.Clone(base)
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") {
			continue
		}
		if strings.ContainsRune(name, '=') {
			return base, fmt.Errorf("envdir %s: file name %q contains '='", dir, name)
		}
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return base, fmt.Errorf("envdir %s: %w", dir, err)
		}
		env = slices.DeleteFunc(env, func(kv string) bool {
			return strings.HasPrefix(kv, name) && len(kv) > len(name) && kv[len(name)] == '='
		})
		if len(data) == 0 {
			continue
		}
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			data = data[:i]
		}
		data = bytes.TrimRight(data, " \t")
		data = bytes.ReplaceAll(data, []byte{0}, []byte{'\n'})
		env = append(env, name+"="+string(data))
	}
	return env, nil
}

// withEnv returns a copy of env with key set to value, replacing any earlier
// setting; env itself is not modified.
func withEnv(env []string, key, value string) []string {
	out := make([]string, 0, len(env)+1)
	for _, kv := range env {
		if !(strings.HasPrefix(kv, key) && len(kv) > len(key) && kv[len(key)] == '=') {
			out = append(out, kv)
		}
	}
	return append(out, key+"="+value)
}
