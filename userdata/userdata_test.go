package userdata_test

import (
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/imgrec/imgrec"
	"github.com/imgrec/imgrec/userdata"
)

func TestScript(t *testing.T) {
	script, err := userdata.Script("nova", "demo", userdata.Worker{
		Args: []string{"--queue", "nats://10.0.0.5:4222", "--blobs", "s3://demo", "--model", userdata.Model,
			"--id-note", `50% of "$HOME"`},
		Env:          []string{"AWS_REGION=eu-west-3", "NOTE=a b"},
		DrainTimeout: 2 * time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"#!/bin/sh\n",
		"(provider nova)",
		"ExecStart=/usr/local/bin/imgrec worker --queue nats://10.0.0.5:4222 --blobs s3://demo" +
			" --model /var/lib/imgrec/resnet18-f37072fd.pth --id-note \"50%% of \\\"$$HOME\\\"\"\n",
		"Environment=AWS_REGION=eu-west-3\n",
		"Environment=\"NOTE=a b\"\n",
		"EnvironmentFile=-/etc/imgrec/worker.env\n",
		"Restart=on-failure\n",
		"KillSignal=SIGTERM\n",
		"TimeoutStopSec=120\n",
		"DynamicUser=yes\n",
		"WantedBy=multi-user.target\n",
		"Environment=IMGREC_INSTANCE_ID=%s",
		"/var/lib/cloud/data/instance-id",
		"systemctl enable --now imgrec-worker.service\n",
	} {
		if !strings.Contains(script, want) {
			t.Errorf("script lacks %q:\n%s", want, script)
		}
	}
	if out, err := exec.Command("sh", "-n", "-c", script).CombinedOutput(); err != nil {
		t.Errorf("sh -n: %v\n%s\n%s", err, out, script)
	}
}

func TestWebScript(t *testing.T) {
	script, err := userdata.WebScript("nova", "demo", userdata.Web{
		Args: []string{"--addr", "0.0.0.0:8080", "--queue", "sqs://imgrec-demo-requests", "--blobs", "s3://imgrec-demo"},
		Env:  []string{"AWS_REGION=eu-west-3"},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"# imgrec web tier of cluster demo, installed by imgrec infra up (provider nova).\n",
		"Description=imgrec web tier (cluster demo)\n",
		"ExecStart=/usr/local/bin/imgrec web --addr 0.0.0.0:8080 --queue sqs://imgrec-demo-requests --blobs s3://imgrec-demo\n",
		"Environment=AWS_REGION=eu-west-3\n",
		"EnvironmentFile=-/etc/imgrec/web.env\n",
		"systemctl enable --now imgrec-web.service\n",
	} {
		if !strings.Contains(script, want) {
			t.Errorf("script lacks %q:\n%s", want, script)
		}
	}
	if strings.Contains(script, "imgrec worker") || strings.Contains(script, "imgrec-worker") {
		t.Errorf("the web tier's script mentions a worker:\n%s", script)
	}
	if out, err := exec.Command("sh", "-n", "-c", script).CombinedOutput(); err != nil {
		t.Errorf("sh -n: %v\n%s", err, out)
	}
	if _, err := userdata.WebScript("nova", "demo", userdata.Web{}); imgrec.ErrorCode(err) != imgrec.EINVALID || !strings.Contains(err.Error(), "no web tier arguments") {
		t.Errorf("no arguments: %v", err)
	}
}

func TestScriptRefusesWhatAUnitCannotHold(t *testing.T) {
	for name, w := range map[string]userdata.Worker{
		"no arguments":         {},
		"line break":           {Args: []string{"--queue", "sqs://a\nExecStartPre=/bin/evil"}},
		"environment no value": {Args: []string{"--queue", "sqs://a"}, Env: []string{"AWS_REGION"}},
		"environment break":    {Args: []string{"--queue", "sqs://a"}, Env: []string{"A=b\nc"}},
	} {
		_, err := userdata.Script("ec2", "demo", w)
		if imgrec.ErrorCode(err) != imgrec.EINVALID {
			t.Errorf("%s: got %v, want %s", name, err, imgrec.EINVALID)
		}
	}
}
