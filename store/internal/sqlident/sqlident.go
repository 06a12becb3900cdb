// Package sqlident is the one rule for the names that store/postgres,
// store/mysql and store/sqlite put into their SQL: table names, and
// PostgreSQL schema names.
//
// A name is 1 to MaxTableLen (for a schema, MaxSchemaLen) lower-case ASCII
// letters, digits and underscores, not starting with a digit. Why this
// rule, for all three databases:
//
//   - Names are spliced into SQL text, because placeholders cannot stand
//     for identifiers. Nothing in the rule can end a quoted identifier,
//     start a comment or a second statement.
//   - Lower case only, because only then does a name mean the same table
//     quoted and unquoted, and on every server. PostgreSQL folds unquoted
//     identifiers to lower case, so the store's quoted "Sessions" and an
//     operator's unquoted Sessions (in a migration copied from the package
//     documentation, or a psql session) would be two tables. MySQL and
//     MariaDB store a table as files whose names are case-sensitive or not
//     depending on the operating system and lower_case_table_names, so a
//     mixed-case name may find its table on one server and miss it after
//     a dump is restored on another. SQLite compares ASCII identifiers
//     without regard to case, so upper-case letters there only invite a
//     second spelling of the same table.
//   - At most 48 bytes, because the stores name their indexes after the
//     table with suffixes of up to 15 bytes ("_expires_at_idx"), and
//     PostgreSQL silently truncates identifiers past 63 bytes (MySQL
//     refuses them past 64): two long table names truncated to one index
//     name would make CREATE INDEX IF NOT EXISTS skip the second table's
//     index without a word.
//
// Reserved words (user, order) are allowed: the stores quote every name
// they use. Quote them too in SQL you write yourself.
package sqlident

import "fmt"

const (
	// MaxTableLen is the longest table name, in bytes.
	MaxTableLen = 48

	// MaxSchemaLen is the longest PostgreSQL schema name, in bytes: the
	// server's identifier limit, as no index name is derived from it.
	MaxSchemaLen = 63
)

// CheckTable returns an error, naming the rule, unless name is a valid
// table name.
func CheckTable(name string) error { return check("table", name, MaxTableLen) }

// CheckSchema returns an error, naming the rule, unless name is a valid
// schema name.
func CheckSchema(name string) error { return check("schema", name, MaxSchemaLen) }

func check(what, name string, max int) error {
	if name == "" || len(name) > max {
		return fmt.Errorf("invalid %s name %q: want 1 to %d characters, has %d", what, name, max, len(name))
	}
	for i := 0; i < len(name); i++ {
		switch c := name[i]; {
		case c >= 'a' && c <= 'z', c == '_':
		case c >= '0' && c <= '9' && i > 0:
		default:
			return fmt.Errorf("invalid %s name %q: want lower-case ASCII letters, digits and underscores, not starting with a digit", what, name)
		}
	}
	return nil
}
