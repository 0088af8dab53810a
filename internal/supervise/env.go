package supervise

import (
	"errors"
	"io/fs"
	"strings"

	"github.com/ichi-init/ichi/internal/chainload"
)

// serviceEnv returns base changed by the directory envDir as daemontools'
// envdir changes an environment (chainload.ReadEnvDir): one variable set or
// removed per file. A missing envDir leaves base as it is. base is not
// modified.
func serviceEnv(base []string, envDir string) ([]string, error) {
	env, err := chainload.ReadEnvDir(envDir)
	if errors.Is(err, fs.ErrNotExist) {
		// Only the directory itself reports ENOENT: a file that vanished
		// keeps the previous value, as in envdir.
		return base, nil
	}
	if err != nil {
		return nil, err
	}
	return env.Apply(base), nil
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
