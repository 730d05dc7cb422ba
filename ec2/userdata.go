package ec2

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/imgrec/imgrec"
)

// The worker AMI's layout: the user-data runs Binary and the controller
// points the worker at Model. Build the AMI from a stock Linux image with
// systemd and cloud-init by copying the imgrec binary to Binary and running
// `XDG_CACHE_HOME=/var/lib imgrec model pull`, which stores the weights at
// Model (both readable by every user: the worker runs as a dynamic user).
const (
	Binary = "/usr/local/bin/imgrec"
	Model  = "/var/lib/imgrec/resnet18-f37072fd.pth"
)

// DefaultDrainTimeout is how long systemd lets the worker drain after
// SIGTERM before it kills it: long enough for a request in hand on a slow
// CPU, as local.DefaultDrainTimeout.
const DefaultDrainTimeout = 90 * time.Second

// maxUserData is EC2's limit on user data before base64 encoding.
const maxUserData = 16 << 10

// Worker is what every instance runs.
type Worker struct {
	// Args are the arguments of `imgrec worker` on the instance, e.g.
	// --queue sqs://NAME --blobs s3://PREFIX --model ec2.Model.
	Args []string
	// Env holds KEY=VALUE settings for the worker, e.g. AWS_REGION (the AWS
	// SDK does not take the region from the instance metadata by itself).
	Env []string
	// DrainTimeout bounds the drain on stop (default DefaultDrainTimeout).
	DrainTimeout time.Duration
}

// unitName is the systemd unit the user-data installs.
const unitName = "imgrec-worker.service"

// UserData returns the shell script cloud-init runs on an instance's first
// boot. It installs and starts a systemd unit that runs `imgrec worker`
// with w's arguments and environment, as IMGREC_INSTANCE_ID=<instance id>
// so answers and logs name the instance.
//
// The unit is enabled, so it starts again on every boot: a stopped
// instance that Start brings back from the warm pool works again without
// cloud-init. EC2 stops and terminates an instance by shutting its OS down
// (StopInstances without Force or SkipOsShutdown), and the shutdown stops
// the unit with SIGTERM (KillSignal), which is the worker's drain: it stops
// pulling, finishes and acknowledges what it holds, and exits 0 within
// TimeoutStopSec. That is why Stop never loses work in progress, though EC2
// cannot tell which instances are busy. Restart=on-failure (without a start
// limit) brings a crashed worker back, or one that started before the
// network or the instance role's credentials were ready; a drained one
// exits 0 and stays down.
func UserData(cluster string, w Worker) (string, error) {
	if len(w.Args) == 0 {
		return "", imgrec.Errorf(imgrec.EINVALID, "user data for cluster %s: no worker arguments (want at least --queue and --blobs)", cluster)
	}
	drain := w.DrainTimeout
	if drain <= 0 {
		drain = DefaultDrainTimeout
	}
	exec := []string{unitQuote(Binary, true), "worker"}
	for _, a := range w.Args {
		if strings.ContainsAny(a, "\n\r\x00") {
			return "", imgrec.Errorf(imgrec.EINVALID, "user data for cluster %s: worker argument %q has a line break or NUL", cluster, a)
		}
		exec = append(exec, unitQuote(a, true))
	}
	var env strings.Builder
	for _, kv := range w.Env {
		if !envAssignment.MatchString(kv) {
			return "", imgrec.Errorf(imgrec.EINVALID, "user data for cluster %s: environment %q: want KEY=VALUE on one line", cluster, kv)
		}
		fmt.Fprintf(&env, "Environment=%s\n", unitQuote(kv, false))
	}

	var s strings.Builder
	fmt.Fprintf(&s, `#!/bin/sh
# imgrec worker of cluster %[1]s, installed by the imgrec controller (package ec2).
set -eu
if [ ! -x %[2]s ]; then
	echo "imgrec: %[2]s is missing: launch workers from an AMI built with imgrec (see the README, On AWS)" >&2
	exit 1
fi
mkdir -p /etc/systemd/system/%[3]s.d
cat > /etc/systemd/system/%[3]s <<'IMGREC_UNIT'
[Unit]
Description=imgrec worker (cluster %[1]s)
Wants=network-online.target
After=network-online.target
StartLimitIntervalSec=0

[Service]
ExecStart=%[4]s
%[5]sRestart=on-failure
RestartSec=5
KillSignal=SIGTERM
TimeoutStopSec=%[6]d
DynamicUser=yes
NoNewPrivileges=yes

[Install]
WantedBy=multi-user.target
IMGREC_UNIT
printf '[Service]\nEnvironment=IMGREC_INSTANCE_ID=%%s\n' "$(cat /var/lib/cloud/data/instance-id)" \
	> /etc/systemd/system/%[3]s.d/instance.conf
systemctl daemon-reload
systemctl enable --now %[3]s
`, cluster, Binary, unitName, strings.Join(exec, " "), env.String(), int(drain.Round(time.Second)/time.Second))
	if s.Len() > maxUserData {
		return "", imgrec.Errorf(imgrec.ETOOLARGE, "user data for cluster %s: %d bytes, EC2 takes at most %d", cluster, s.Len(), maxUserData)
	}
	return s.String(), nil
}

var envAssignment = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*=[^\n\r\x00]*$`)

// unitQuote quotes s as one word of a systemd unit setting: double quotes
// unless s is plain, with backslashes and quotes escaped and systemd's
// specifiers (%) disarmed; in a command line also its variables ($).
func unitQuote(s string, command bool) string {
	r := strings.NewReplacer(`%`, `%%`)
	if command {
		r = strings.NewReplacer(`%`, `%%`, `$`, `$$`)
	}
	s = r.Replace(s)
	if s != "" && plainWord.MatchString(s) {
		return s
	}
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

var plainWord = regexp.MustCompile(`^[A-Za-z0-9_@%+=:,./-]+$`)
