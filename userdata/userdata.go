// Package userdata writes the boot script that makes a cloud instance an
// imgrec worker: cloud-init runs it on the first boot, and it installs a
// systemd unit that runs `imgrec worker`. Every cloud provider (ec2, nova)
// sends the same script, so a worker image built for one works on the
// other; each provider checks its cloud's size limit. WebScript does the
// same for a web-tier server (`imgrec web`), from the same image.
package userdata

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/imgrec/imgrec"
)

// The worker image's layout: the script runs Binary and the controller
// points the worker at Model. Build the image from a stock Linux image with
// systemd and cloud-init by copying the imgrec binary to Binary and running
// `XDG_CACHE_HOME=/var/lib imgrec model pull`, which stores the weights at
// Model (both readable by every user: the worker runs as a dynamic user).
// EnvFile, if the image has it, adds KEY=VALUE lines to the worker's
// environment (read by systemd as root, so it may be private to root): the
// place for settings that must not travel in the user data, which anyone
// on the instance can read from the metadata service — for example the
// keys of an S3-compatible store on a cloud without instance roles.
const (
	Binary  = "/usr/local/bin/imgrec"
	Model   = "/var/lib/imgrec/resnet18-f37072fd.pth"
	EnvFile = "/etc/imgrec/worker.env"
)

// DefaultDrainTimeout is how long systemd lets the worker drain after
// SIGTERM before it kills it: long enough for a request in hand on a slow
// CPU, as local.DefaultDrainTimeout.
const DefaultDrainTimeout = 90 * time.Second

// Worker is what every instance runs.
type Worker struct {
	// Args are the arguments of `imgrec worker` on the instance, e.g.
	// --queue sqs://NAME --blobs s3://PREFIX --model userdata.Model.
	Args []string
	// Env holds KEY=VALUE settings for the worker, e.g. AWS_REGION (the AWS
	// SDK does not take the region from the instance metadata by itself).
	Env []string
	// DrainTimeout bounds the drain on stop (default DefaultDrainTimeout).
	DrainTimeout time.Duration
}

// UnitName is the systemd unit the script installs.
const UnitName = "imgrec-worker.service"

// Script returns the shell script cloud-init runs on an instance's first
// boot; provider names the imgrec provider that launched it ("ec2",
// "nova") in the script's comments and messages. It installs and starts a
// systemd unit that runs `imgrec worker` with w's arguments and
// environment (and EnvFile's, if present), as IMGREC_INSTANCE_ID=<instance
// id> so answers and logs name the instance (cloud-init's instance id: the
// EC2 instance id, the Nova server's UUID).
//
// The unit is enabled, so it starts again on every boot: a stopped
// instance that Start brings back from the warm pool works again without
// cloud-init. A clean shutdown of the OS stops the unit with SIGTERM
// (KillSignal), which is the worker's drain: it stops pulling, finishes and
// acknowledges what it holds, and exits 0 within TimeoutStopSec. That is
// why a stop that shuts the OS down never loses work in progress, though
// the cloud cannot tell which instances are busy. Restart=on-failure
// (without a start limit) brings a crashed worker back, or one that started
// before the network or the instance's credentials were ready; a drained
// one exits 0 and stays down.
func Script(provider, cluster string, w Worker) (string, error) {
	return script(workerTier, provider, cluster, w)
}

// The web tier's server (`imgrec infra up --openstack`) runs WebUnitName,
// which reads WebEnvFile if the image has it: the place for the keys of the
// queue and the buckets on a cloud without instance roles, as EnvFile is
// for the workers. The same image serves both tiers (the web tier needs no
// weights).
const (
	WebUnitName = "imgrec-web.service"
	WebEnvFile  = "/etc/imgrec/web.env"
)

// Web is what a web-tier server runs: Args of `imgrec web` (e.g. --addr
// 0.0.0.0:8080 --queue sqs://NAME --blobs s3://PREFIX) and Env, as Worker's.
// DrainTimeout bounds its shutdown (default DefaultDrainTimeout).
type Web = Worker

// WebScript returns the boot script of cluster's web-tier server: as
// Script's, with a unit that runs `imgrec web` instead (its SIGTERM stops
// taking uploads and lets those in progress finish).
func WebScript(provider, cluster string, w Web) (string, error) {
	return script(webTier, provider, cluster, w)
}

// tier is what tells the two units apart.
type tier struct {
	command, what, launched, unit, envFile, installedBy string
}

var (
	workerTier = tier{command: "worker", what: "worker", launched: "workers", unit: UnitName, envFile: EnvFile, installedBy: "the imgrec controller"}
	webTier    = tier{command: "web", what: "web tier", launched: "the web tier", unit: WebUnitName, envFile: WebEnvFile, installedBy: "imgrec infra up"}
)

func script(t tier, provider, cluster string, w Worker) (string, error) {
	if len(w.Args) == 0 {
		return "", imgrec.Errorf(imgrec.EINVALID, "user data for cluster %s: no %s arguments (want at least --queue and --blobs)", cluster, t.what)
	}
	drain := w.DrainTimeout
	if drain <= 0 {
		drain = DefaultDrainTimeout
	}
	exec := []string{unitQuote(Binary, true), t.command}
	for _, a := range w.Args {
		if strings.ContainsAny(a, "\n\r\x00") {
			return "", imgrec.Errorf(imgrec.EINVALID, "user data for cluster %s: %s argument %q has a line break or NUL", cluster, t.what, a)
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
# imgrec %[9]s of cluster %[1]s, installed by %[10]s (provider %[7]s).
set -eu
if [ ! -x %[2]s ]; then
	echo "imgrec: %[2]s is missing: launch %[11]s from an image built for imgrec (see the worker image for provider %[7]s: docs/aws.md, The worker AMI; docs/openstack.md, The worker image)" >&2
	exit 1
fi
mkdir -p /etc/systemd/system/%[3]s.d
cat > /etc/systemd/system/%[3]s <<'IMGREC_UNIT'
[Unit]
Description=imgrec %[9]s (cluster %[1]s)
Wants=network-online.target
After=network-online.target
StartLimitIntervalSec=0

[Service]
ExecStart=%[4]s
%[5]sEnvironmentFile=-%[8]s
Restart=on-failure
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
`, cluster, Binary, t.unit, strings.Join(exec, " "), env.String(), int(drain.Round(time.Second)/time.Second), provider, t.envFile, t.what, t.installedBy, t.launched)
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
