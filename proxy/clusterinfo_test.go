package proxy

import "testing"

func TestMergeInfo(t *testing.T) {
	a := "# Server\r\nredis_version:7.0.15\r\ntcp_port:7001\r\n\r\n# Clients\r\nconnected_clients:2\r\nmaxclients:10000\r\nblocked_clients:0\r\n\r\n" +
		"# Memory\r\nused_memory:1048576\r\nused_memory_human:1.00M\r\nused_memory_peak:2000\r\nnumber_of_cached_scripts:100\r\n\r\n" +
		"# Commandstats\r\ncmdstat_get:calls=2,usec=10,usec_per_call=5.00,rejected_calls=0,failed_calls=0\r\n\r\n" +
		"# Keyspace\r\n"
	b := "# Server\r\nredis_version:7.0.15\r\ntcp_port:7002\r\n\r\n# Clients\r\nconnected_clients:3\r\nmaxclients:10000\r\nblocked_clients:1\r\n\r\n" +
		"# Memory\r\nused_memory:1048576\r\nused_memory_human:1.00M\r\nused_memory_peak:3000\r\nnumber_of_cached_scripts:100\r\n\r\n" +
		"# Commandstats\r\ncmdstat_get:calls=2,usec=30,usec_per_call=15.00,rejected_calls=0,failed_calls=0\r\ncmdstat_set:calls=1,usec=1,usec_per_call=1.00,rejected_calls=0,failed_calls=0\r\n\r\n" +
		"# Keyspace\r\ndb0:keys=5,expires=1,avg_ttl=100\r\n"
	want := "# Server\r\nredis_version:7.0.15\r\ntcp_port:7001\r\n\r\n# Clients\r\nconnected_clients:5\r\nmaxclients:10000\r\nblocked_clients:1\r\n\r\n" +
		"# Memory\r\nused_memory:2097152\r\nused_memory_human:2.00M\r\nused_memory_peak:3000\r\nnumber_of_cached_scripts:100\r\n\r\n" +
		"# Commandstats\r\ncmdstat_get:calls=4,usec=40,usec_per_call=10.00,rejected_calls=0,failed_calls=0\r\ncmdstat_set:calls=1,usec=1,usec_per_call=1.00,rejected_calls=0,failed_calls=0\r\n\r\n" +
		"# Keyspace\r\ndb0:keys=5,expires=1,avg_ttl=100\r\n"
	if got := mergeInfo([]string{a, b}); got != want {
		t.Errorf("got\n%q\nwant\n%q", got, want)
	}
	for n, want := range map[int64]string{0: "0B", 1023: "1023B", 1024: "1.00K", 1536: "1.50K", 3 << 30: "3.00G"} {
		if got := bytesToHuman(n); got != want {
			t.Errorf("bytesToHuman(%d) = %q, want %q", n, got, want)
		}
	}
}
