package bench

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseVariants(t *testing.T) {
	vs, err := ParseVariants(";m=pc|append=no_timer_check;cpu=max|args=-smp 1|kernel=/k")
	if err != nil {
		t.Fatal(err)
	}
	want := []NamedVariant{
		{Name: "(unchanged)"},
		{Name: "m=pc|append=no_timer_check", Variant: Variant{Machine: "pc", Append: "no_timer_check"}},
		{Name: "cpu=max|args=-smp 1|kernel=/k", Variant: Variant{CPU: "max", Args: []string{"-smp", "1"}}, Kernel: "/k"},
	}
	if !reflect.DeepEqual(vs, want) {
		t.Errorf("got %+v\nwant %+v", vs, want)
	}
	for _, bad := range []string{"mm=pc", "m"} {
		if _, err := ParseVariants(bad); err == nil || !strings.Contains(err.Error(), "variant") {
			t.Errorf("ParseVariants(%q) = %v, want an error naming the variant", bad, err)
		}
	}
}
