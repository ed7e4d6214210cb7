package commands

import "testing"

// Digests as Redis prints them, from published outputs: redis.io's DIGEST
// page, a Redis issue whose value hashes with leading zeros (printed since
// 8.4.0's fix), and XXH3's own empty-input value.
func TestDigestKnownVectors(t *testing.T) {
	for _, c := range []struct{ value, want string }{
		{"Hello world", "b6acb9d84a38ff74"},
		{"hello", "9555e8555c62dcfd"},
		{"test", "9ec9f7918d7dfc40"},
		{"", "2d06800538d394c2"},
		{"v8lf0c11xh8ymlqztfd3eeq16kfn4sspw7fqmnuuq3k3t75em5wdizgcdw7uc26nnf961u2jkfzkjytls2kwlj7626sd", "00006c38adf31777"},
	} {
		if got := digest([]byte(c.value)); got != c.want {
			t.Errorf("digest(%q) = %s, want %s", c.value, got, c.want)
		}
	}
}

func TestCheckDigestArg(t *testing.T) {
	for _, c := range []struct {
		arg string
		ok  bool
	}{
		{"00006c38adf31777", true},
		{"00006C38ADF31777", true},
		{"6c38adf31777", false}, // leading zeros are required
		{"00006c38adf317770", false},
		{"00006c38adf3177g", false},
		{"+0006c38adf31777", false},
		{"", false},
	} {
		if err := checkDigestArg([]byte(c.arg)); (err == nil) != c.ok {
			t.Errorf("checkDigestArg(%q) = %v, want ok=%v", c.arg, err, c.ok)
		}
	}
}
