package lines

import "testing"

func TestLines(t *testing.T) {
	const out = "\n  make: *** [Makefile:1] Error 2  \nsecond\n\nlast one \n\n"
	for _, tc := range []struct{ name, got, want string }{
		{"First", First(out), "make: *** [Makefile:1] Error 2"},
		{"Last", Last(out), "last one"},
		{"Tail 2", Tail("a\nb\nc\n", 2), "b\nc"},
		{"Tail more than there is", Tail("a\nb", 5), "a\nb"},
		{"One", One(" a\n\tb  c\n"), "a b c"},
		{"First empty", First(""), ""},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %q, want %q", tc.name, tc.got, tc.want)
		}
	}
}
