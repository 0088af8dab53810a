package machine

import (
	"errors"
	"strings"
	"testing"
)

func TestChooseHostname(t *testing.T) {
	tests := []struct {
		param, ip, file string
		want, source    string
		err             string
	}{
		{"a", "b", "c\n", "a", "ichi.hostname", ""},
		{"", "b", "c\n", "b", "ip=", ""},
		{"", "", "  mail-1  \nsecond line\n", "mail-1", "/etc/hostname", ""},
		{"", "", "", "", "", ""},
		{"", "", "\n", "", "", ""},
		{"", "", "bad name\n", "bad name", "/etc/hostname", "has the character ' '"},
		{"", "x/y", "", "x/y", "ip=", "has the character '/'"},
	}
	for _, tt := range tests {
		name, source, err := chooseHostname(tt.param, tt.ip, tt.file)
		if name != tt.want || source != tt.source || (err == nil) != (tt.err == "") || err != nil && !strings.Contains(err.Error(), tt.err) {
			t.Errorf("chooseHostname(%q, %q, %q) = %q, %q, %v", tt.param, tt.ip, tt.file, name, source, err)
		}
	}
}

func TestJoinErrs(t *testing.T) {
	if joinErrs([]error{nil, nil}) != nil {
		t.Error("nil errors joined to an error")
	}
	if err := joinErrs([]error{errors.New("a"), nil, errors.New("b")}); err == nil || err.Error() != "a\nb" {
		t.Errorf("got %v", err)
	}
}
