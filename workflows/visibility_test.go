package workflows

import "testing"

func TestThousands(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 120000: "120,000", 1234567: "1,234,567", -45000: "-45,000"} {
		if got := Thousands(n); got != want {
			t.Errorf("Thousands(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestParseWorkflowID(t *testing.T) {
	kind, ns, name, ok := ParseWorkflowID(WorkflowID("KafkaBackup", "shop", "orders"))
	if !ok || kind != "kafkabackup" || ns != "shop" || name != "orders" {
		t.Fatalf("got %q %q %q %v", kind, ns, name, ok)
	}
	if _, _, _, ok := ParseWorkflowID("arkive/check-storage/t1/files/g1"); ok {
		t.Fatal("a connection check's id is not a resource's")
	}
}
