package main

import (
	"testing"

	"github.com/ichi-init/ichi/internal/cli"
)

func TestChooseRole(t *testing.T) {
	if _, ok := cli.Lookup("roletest-tool"); !ok {
		cli.Register(cli.Tool{Name: "roletest-tool", Main: func([]string) int { return 0 }})
	}
	tests := []struct {
		argv     []string
		pid      int
		want     role
		wantArg0 string
	}{
		{[]string{"/init"}, 1, roleMachine, "/init"},
		{[]string{"/init", "single"}, 1, roleMachine, "/init"},
		{[]string{"/sbin/init", "--", "sh"}, 1, roleContainer, "/sbin/init"},
		{[]string{"init", "--", "sh"}, 4242, roleContainer, "init"},
		{[]string{"init"}, 4242, roleUsage, "init"},
		{[]string{"init", "--help"}, 4242, roleHelp, "init"},
		{[]string{"/usr/bin/roletest-tool", "a"}, 4242, roleTool, "/usr/bin/roletest-tool"},
		{[]string{"init", "roletest-tool", "a"}, 1, roleTool, "roletest-tool"},
		{nil, 4242, roleUsage, "init"},
	}
	for _, tt := range tests {
		got, argv := chooseRole(tt.argv, tt.pid)
		if got != tt.want || argv[0] != tt.wantArg0 {
			t.Errorf("chooseRole(%q, %d) = %v, %q; want %v, %q", tt.argv, tt.pid, got, argv[0], tt.want, tt.wantArg0)
		}
	}
}
