package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imgrec/imgrec"
	"github.com/imgrec/imgrec/fsblob"
)

func TestOpenBuckets(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		spec   string
		noSync bool
	}{
		{dir, false}, {"file://" + dir, false},
		{"file://" + dir + "?sync=0", true}, {"file://" + dir + "?sync=false", true},
		{"file://" + dir + "?sync=1", false}, {"file://" + dir + "?sync=true", false},
	} {
		b, err := openBuckets(t.Context(), tc.spec, nil)
		if err != nil {
			t.Fatalf("%s: %v", tc.spec, err)
		}
		for name, bs := range map[string]imgrec.BlobStore{"input": b.input, "output": b.output} {
			s, ok := bs.(*fsblob.Store)
			if !ok {
				t.Fatalf("%s: %s bucket is a %T, want an *fsblob.Store", tc.spec, name, bs)
			}
			t.Cleanup(func() { s.Close() })
			if got := s.Options().NoSync; got != tc.noSync {
				t.Errorf("%s: %s bucket NoSync = %v, want %v", tc.spec, name, got, tc.noSync)
			}
		}
		if err := b.output.Put(context.Background(), "k", []byte("v")); err != nil {
			t.Fatalf("%s: %v", tc.spec, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "output", "k")); err != nil {
		t.Errorf("the output bucket is not DIR/output: %v", err)
	}
	var ue *usageError
	for _, spec := range []string{"file://" + dir + "?sync=maybe", "file://" + dir + "?sync=2", "file://", "s3://", "s3://prefix/path", "s3://prefix?x=1", "gs://bucket"} {
		if _, err := openBuckets(t.Context(), spec, nil); !errors.As(err, &ue) {
			t.Errorf("%s: err = %v, want a usage error", spec, err)
		}
	}
}

func TestOpenQueueUsage(t *testing.T) {
	qf := &queueFlagSet{}
	var ue *usageError
	for _, spec := range []string{"embedded", "", "nats://", "sqs://", "sqs://name/extra", "kafka://host:9092", "127.0.0.1:4222"} {
		_, err := qf.open(t.Context(), spec, &awsFlagSet{}, nil)
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), "sqs://NAME") {
			t.Errorf("--queue %q: err = %v, want a usage error listing the accepted forms", spec, err)
		}
	}
}

// TestNoRegion: an AWS backend without a region says how to give one.
func TestNoRegion(t *testing.T) {
	isolateAWSConfig(t)
	af := &awsFlagSet{}
	_, err := (&queueFlagSet{}).open(t.Context(), "sqs://requests", af, nil)
	if imgrec.ErrorCode(err) != imgrec.EINVALID || !strings.Contains(err.Error(), "no AWS region: set AWS_REGION, --region or a profile") {
		t.Errorf("sqs:// without a region: %v", err)
	}
	if _, err := openBuckets(t.Context(), "s3://prefix", &awsFlagSet{}); imgrec.ErrorCode(err) != imgrec.EINVALID || !strings.Contains(err.Error(), "no AWS region") {
		t.Errorf("s3:// without a region: %v", err)
	}
	if _, err := (&awsFlagSet{region: "us-east-1", endpointURL: "127.0.0.1:5000"}).config(t.Context()); err == nil || !strings.Contains(err.Error(), "--endpoint-url") {
		t.Errorf("an endpoint URL without a scheme: %v", err)
	}
}

// isolateAWSConfig hides this machine's AWS configuration from the test.
func isolateAWSConfig(t *testing.T) {
	empty := filepath.Join(t.TempDir(), "none")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_ENDPOINT_URL"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	t.Setenv("AWS_CONFIG_FILE", empty)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", empty)
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
}
