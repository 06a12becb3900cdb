package sqlstore

import (
	"strings"
	"testing"
)

func TestValidateTable(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"httpstate_sessions", true},
		{"_private", true},
		{"Sessions2", true},
		{strings.Repeat("s", MaxTableLen), true},
		{"", false},
		{strings.Repeat("s", MaxTableLen+1), false},
		{"2sessions", false},
		{"my-sessions", false},
		{"db.sessions", false},
		{"sessions`; DROP TABLE users; --", false},
		{"séssions", false},
		{"sessions\x00", false},
	} {
		if err := ValidateTable(tc.name); (err == nil) != tc.ok {
			t.Errorf("ValidateTable(%q) = %v; want ok=%v", tc.name, err, tc.ok)
		}
	}
}

// The table name is spliced into SQL text between backticks, so whatever
// ValidateTable accepts must be unable to end the quoted identifier or
// start a comment or a second statement.
func FuzzValidateTable(f *testing.F) {
	for _, s := range []string{"httpstate_sessions", "a`b", "x;--", "_9", "9_", "ǅ"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if ValidateTable(name) != nil {
			return
		}
		if len(name) > MaxTableLen || strings.ContainsAny(name, "`\"'; -/*.\\\x00") {
			t.Fatalf("ValidateTable accepted %q", name)
		}
		for _, r := range name {
			if r >= 0x80 {
				t.Fatalf("ValidateTable accepted non-ASCII %q", name)
			}
		}
	})
}
