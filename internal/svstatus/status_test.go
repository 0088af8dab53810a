package svstatus

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

func TestDecode(t *testing.T) {
	// Bytes as daemontools' supervise and runit's runsv wrote them.
	tests := []struct {
		name string
		in   []byte
		want Status
	}{
		{
			"daemontools up paused",
			[]byte{0x40, 0, 0, 0, 0x6b, 0x07, 0xb5, 0xd8, 0x1b, 0x72, 0xdc, 0xf4, 0x20, 0x3e, 0, 0, 1, 'u'},
			Status{Since: time.Unix(0x6b07b5d8-10, 0x1b72dcf4), Pid: 0x3e20, Paused: true, Want: 'u', State: Run, Size: 18},
		},
		{
			"daemontools down want up",
			[]byte{0x40, 0, 0, 0, 0x6b, 0x07, 0xb5, 0xc5, 0x01, 0xbd, 0x0f, 0x8c, 0, 0, 0, 0, 0, 'd'},
			Status{Since: time.Unix(0x6b07b5c5-10, 0x01bd0f8c), Want: 'd', State: Down, Size: 18},
		},
		{
			"runit finish with term",
			[]byte{0x40, 0, 0, 0, 0x6b, 0x07, 0xb5, 0xc5, 0, 0, 0, 1, 0x01, 0x02, 0x03, 0x00, 0, 'd', 1, 2},
			Status{Since: time.Unix(0x6b07b5c5-10, 1), Pid: 0x030201, Want: 'd', Term: true, State: Finish, Size: 20},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decode(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if !got.Since.Equal(tt.want.Since) {
				t.Errorf("Since = %v, want %v", got.Since, tt.want.Since)
			}
			got.Since, tt.want.Since = time.Time{}, time.Time{}
			if got != tt.want {
				t.Errorf("Decode = %+v, want %+v", got, tt.want)
			}
			if len(tt.in) == RunitSize {
				if enc := got.Encode(); !bytes.Equal(enc[12:], tt.in[12:]) {
					t.Errorf("Encode = %x, want %x", enc, tt.in)
				}
			}
		})
	}
}

// TestEncode checks every byte Encode writes, time included, and that
// Decode reads them back.
func TestEncode(t *testing.T) {
	since := time.Unix(1700000000, 123456789)
	tests := []struct {
		name string
		in   Status
		want []byte
	}{
		{"down want up", Status{Since: since, Want: 'u'},
			[]byte{0x40, 0, 0, 0, 0x65, 0x53, 0xf1, 0x0a, 0x07, 0x5b, 0xcd, 0x15, 0, 0, 0, 0, 0, 'u', 0, 0}},
		{"run paused term", Status{Since: since, Pid: 0x01020304, Paused: true, Want: 'd', Term: true, State: Run},
			[]byte{0x40, 0, 0, 0, 0x65, 0x53, 0xf1, 0x0a, 0x07, 0x5b, 0xcd, 0x15, 4, 3, 2, 1, 1, 'd', 1, 1}},
		{"finish", Status{Since: since, Pid: 77, Want: 'u', State: Finish},
			[]byte{0x40, 0, 0, 0, 0x65, 0x53, 0xf1, 0x0a, 0x07, 0x5b, 0xcd, 0x15, 77, 0, 0, 0, 0, 'u', 0, 2}},
		{"daemontools once", Status{Since: time.Unix(1700000000, 0), Pid: 12345, Paused: true, State: Run},
			[]byte{0x40, 0, 0, 0, 0x65, 0x53, 0xf1, 0x0a, 0, 0, 0, 0, 0x39, 0x30, 0, 0, 1, 0, 0, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.in.Encode()
			if !bytes.Equal(got[:], tt.want) {
				t.Fatalf("Encode = % x\nwant     % x", got, tt.want)
			}
			back, err := Decode(got[:])
			if err != nil {
				t.Fatal(err)
			}
			if !back.Since.Equal(tt.in.Since) {
				t.Errorf("Since = %v, want %v", back.Since, tt.in.Since)
			}
			back.Since, tt.in.Since, tt.in.Size = time.Time{}, time.Time{}, RunitSize
			if back != tt.in {
				t.Errorf("Decode(Encode) = %+v, want %+v", back, tt.in)
			}
		})
	}
}

func TestDecodeShort(t *testing.T) {
	for _, n := range []int{0, 1, 12, 17} {
		if _, err := Decode(make([]byte, n)); !errors.Is(err, ErrFormat) {
			t.Errorf("Decode(%d bytes) error = %v, want ErrFormat", n, err)
		}
	}
}

func TestUp(t *testing.T) {
	tests := []struct {
		s    Status
		want bool
	}{
		{Status{Pid: 5, Size: 18}, true},
		{Status{Pid: 0, Size: 18}, false},
		{Status{Pid: 5, State: Run, Size: 20}, true},
		{Status{Pid: 5, State: Finish, Size: 20}, false},
		{Status{Pid: 0, State: Down, Size: 20}, false},
	}
	for _, tt := range tests {
		if got := tt.s.Up(); got != tt.want {
			t.Errorf("%+v.Up() = %v, want %v", tt.s, got, tt.want)
		}
	}
}

func TestWriteReadStatus(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "supervise"), 0o700); err != nil {
		t.Fatal(err)
	}
	want := Status{Since: time.Unix(1700000000, 123456789), Pid: 4242, Paused: true, Want: 'u', Term: true, State: Run, Size: 20}
	if err := WriteStatus(dir, want); err != nil {
		t.Fatal(err)
	}
	got, err := ReadStatus(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Since.Equal(want.Since) {
		t.Errorf("Since = %v, want %v", got.Since, want.Since)
	}
	got.Since, want.Since = time.Time{}, time.Time{}
	if got != want {
		t.Errorf("ReadStatus = %+v, want %+v", got, want)
	}
	fi, err := os.Stat(Path(dir, "status"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() != RunitSize {
		t.Errorf("status size %d, want %d", fi.Size(), RunitSize)
	}
	if _, err := os.Stat(Path(dir, "status.new")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("status.new left behind: %v", err)
	}
}

func TestWriteStatusNoDir(t *testing.T) {
	if err := WriteStatus(t.TempDir(), Status{}); err == nil {
		t.Error("WriteStatus without supervise/ succeeded")
	}
}

func TestReady(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "supervise"), 0o700); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := ReadReady(dir); ok || err != nil {
		t.Fatalf("ReadReady without file = %v, %v", ok, err)
	}
	at := time.Unix(1700000000, 5000)
	if err := WriteReady(dir, at); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(Path(dir, ReadyFile))
	if want := "@400000006553f10a00001388\n"; string(b) != want {
		t.Errorf("ready file %q, want %q", b, want)
	}
	got, ok, err := ReadReady(dir)
	if !ok || err != nil || !got.Equal(at) {
		t.Errorf("ReadReady = %v, %v, %v; want %v", got, ok, err, at)
	}
	if err := RemoveReady(dir); err != nil {
		t.Fatal(err)
	}
	if err := RemoveReady(dir); err != nil {
		t.Errorf("second RemoveReady: %v", err)
	}
	if _, ok, _ := ReadReady(dir); ok {
		t.Error("ready file still there")
	}
	os.WriteFile(Path(dir, ReadyFile), []byte("garbage\n"), 0o644)
	if _, _, err := ReadReady(dir); err == nil {
		t.Error("ReadReady accepted garbage")
	}
}

func TestHistory(t *testing.T) {
	tests := []struct {
		h    History
		line string
	}{
		{History{}, "restarts=0\n"},
		{History{Restarts: 3, Exited: true, Code: 1}, "restarts=3 exit=1\n"},
		{History{Restarts: 12, Exited: true}, "restarts=12 exit=0\n"},
		{History{Restarts: 7, Exited: true, Signal: 9}, "restarts=7 signal=9\n"},
	}
	for _, tt := range tests {
		if got := string(tt.h.Encode()); got != tt.line {
			t.Errorf("Encode(%+v) = %q, want %q", tt.h, got, tt.line)
		}
		got, err := DecodeHistory([]byte(tt.line))
		if err != nil || got != tt.h {
			t.Errorf("DecodeHistory(%q) = %+v, %v; want %+v", tt.line, got, err, tt.h)
		}
	}
	if h, err := DecodeHistory([]byte("future=x restarts=2 exit=3 more=1")); err != nil || h != (History{Restarts: 2, Exited: true, Code: 3}) {
		t.Errorf("unknown words: %+v, %v", h, err)
	}
	for _, bad := range []string{"", "exit=1", "restarts=-1", "restarts=x", "restarts=1 junk", "restarts=1 signal=9z"} {
		if _, err := DecodeHistory([]byte(bad)); !errors.Is(err, ErrHistory) {
			t.Errorf("DecodeHistory(%q) error = %v, want ErrHistory", bad, err)
		}
	}
}

func TestHistoryOf(t *testing.T) {
	exited := syscall.WaitStatus(3 << 8) // exit(3)
	killed := syscall.WaitStatus(syscall.SIGKILL)
	if h := HistoryOf(2, exited); h != (History{Restarts: 2, Exited: true, Code: 3}) {
		t.Errorf("HistoryOf(exit 3) = %+v", h)
	}
	if h := HistoryOf(0, killed); h != (History{Exited: true, Signal: 9}) {
		t.Errorf("HistoryOf(SIGKILL) = %+v", h)
	}
}

func TestWriteReadHistory(t *testing.T) {
	dir := t.TempDir()
	if _, ok, err := ReadHistory(dir); ok || err != nil {
		t.Fatalf("ReadHistory without file = %v, %v", ok, err)
	}
	os.Mkdir(filepath.Join(dir, "supervise"), 0o700)
	want := History{Restarts: 4, Exited: true, Signal: 15}
	if err := WriteHistory(dir, want); err != nil {
		t.Fatal(err)
	}
	got, ok, err := ReadHistory(dir)
	if !ok || err != nil || got != want {
		t.Errorf("ReadHistory = %+v, %v, %v; want %+v", got, ok, err, want)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(make([]byte, 18))
	f.Add(make([]byte, 20))
	f.Add([]byte{0x40, 0, 0, 0, 0x6b, 0x07, 0xb5, 0xd8, 0x1b, 0x72, 0xdc, 0xf4, 0x20, 0x3e, 0, 0, 1, 'u', 0, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := Decode(b)
		if err != nil {
			if len(b) >= DaemontoolsSize {
				t.Fatalf("Decode(%d bytes): %v", len(b), err)
			}
			return
		}
		if len(b) >= RunitSize {
			// A 20-byte file survives a round trip, except that flags
			// become 0 or 1 and a nanosecond field out of range is
			// cleared.
			enc := s.Encode()
			same := bytes.Equal(enc[:8], b[:8]) && bytes.Equal(enc[12:16], b[12:16]) &&
				enc[17] == b[17] && enc[19] == b[19] &&
				(enc[16] != 0) == (b[16] != 0) && (enc[18] != 0) == (b[18] != 0)
			if !same {
				t.Fatalf("round trip %x -> %x", b[:RunitSize], enc)
			}
		}
	})
}

func FuzzDecodeHistory(f *testing.F) {
	f.Add([]byte("restarts=3 exit=1\n"))
	f.Add([]byte("restarts=0 signal=9"))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := DecodeHistory(b)
		if err != nil {
			return
		}
		again, err := DecodeHistory(h.Encode())
		if err != nil {
			t.Fatalf("re-decode of %q: %v", h.Encode(), err)
		}
		if h.Signal != 0 && h.Code != 0 {
			// Both words given: Encode keeps the signal only.
			h.Code = 0
		}
		if again != h {
			t.Fatalf("round trip %+v -> %+v", h, again)
		}
	})
}
