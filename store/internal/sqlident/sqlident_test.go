package sqlident

import (
	"strings"
	"testing"
)

func TestCheckTable(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"httpstate_sessions", true},
		{"_private", true},
		{"sessions2", true},
		{"user", true},
		{strings.Repeat("s", MaxTableLen), true},
		{"", false},
		{strings.Repeat("s", MaxTableLen+1), false},
		{"Sessions", false},
		{"SESSIONS", false},
		{"2sessions", false},
		{"my-sessions", false},
		{"my sessions", false},
		{"db.sessions", false},
		{`"sessions"`, false},
		{"sessions`; DROP TABLE users; --", false},
		{"séssions", false},
		{"sessions\x00", false},
	} {
		if err := CheckTable(tc.name); (err == nil) != tc.ok {
			t.Errorf("CheckTable(%q) = %v; want ok=%v", tc.name, err, tc.ok)
		}
	}
}

func TestCheckSchemaAllowsTheServersWholeLimit(t *testing.T) {
	if err := CheckSchema(strings.Repeat("s", MaxSchemaLen)); err != nil {
		t.Errorf("a %d-byte schema name: %v", MaxSchemaLen, err)
	}
	for _, name := range []string{strings.Repeat("s", MaxSchemaLen+1), "Public", "my schema", ""} {
		if CheckSchema(name) == nil {
			t.Errorf("CheckSchema(%q) accepted it", name)
		}
	}
}

// Names are spliced into SQL text, quoted with backticks (MySQL, SQLite)
// or double quotes (PostgreSQL): whatever CheckTable accepts must read the
// same unquoted, so it can neither end a quoted identifier nor start a
// comment or a second statement, and must fit the index names derived
// from it.
func FuzzCheckTable(f *testing.F) {
	for _, s := range []string{"httpstate_sessions", "a`b", "x;--", "_9", "9_", "ǅ", "Ab"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if CheckTable(name) != nil {
			return
		}
		if name == "" || len(name) > MaxTableLen || name[0] >= '0' && name[0] <= '9' {
			t.Fatalf("CheckTable accepted %q", name)
		}
		for _, c := range []byte(name) {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
				t.Fatalf("CheckTable accepted %q, with byte %q", name, c)
			}
		}
	})
}
