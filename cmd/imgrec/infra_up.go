package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/imgrec/imgrec"
	"github.com/imgrec/imgrec/dynamojobs"
	"github.com/imgrec/imgrec/s3blob"
	"github.com/imgrec/imgrec/sqsq"
)

func runInfraUp(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "infra up", "infra up --cluster NAME [--bucket-prefix PREFIX] [--visibility D] [--max-receive-count N] [--endpoint-url URL] [--region R]\n"+
		"          [--openstack --nova-image IMAGE --nova-flavor FLAVOR [--nova-network ID] [--web-security-group] [--web-floating-ip NETWORK]]\n\n"+
		"Creates the cluster's buckets, queues and job table, or brings existing queues to --visibility and\n"+
		"--max-receive-count; says what it changed. Prints the tiers' settings on stdout as shell\n"+
		"exports: eval \"$(imgrec infra up ...)\" sets them for the web tier, the controller and the workers.\n"+
		"With --openstack it also launches the web tier as a Nova server running 'imgrec web' against them.")
	inf := infraFlags(fs)
	web := webTierFlags(fs, inf)
	visibility := fs.Duration("visibility", imgrec.DefaultVisibility, "the request queue's visibility timeout, 1s to 12h, whole seconds; also exported for the tiers, whose receives ask for it")
	maxReceive := fs.Int("max-receive-count", sqsq.DefaultMaxReceiveCount, "the redrive policy: a request received this often goes to the dead-letter queue; keep it above the workers' --max-attempts + 1, so that they give up first, with a reason")
	c, err := inf.parse(fs, args)
	if err != nil {
		return err
	}
	if *visibility < time.Second || *visibility > 12*time.Hour || *visibility%time.Second != 0 {
		return usagef("--visibility %v: want whole seconds from 1s to 12h", *visibility)
	}
	if *maxReceive < 1 || *maxReceive > 1000 {
		return usagef("--max-receive-count %d: want 1 to 1000", *maxReceive)
	}
	if err := web.check(inf); err != nil {
		return err
	}
	cl, err := inf.clients(ctx)
	if err != nil {
		return err
	}

	// What exists already, so that the report says what changed. A bucket
	// of another account fails here, as access denied.
	bucketExisted := map[string]bool{}
	for _, b := range []string{c.input, c.output} {
		_, err := s3blob.Open(ctx, cl.s3, b)
		switch imgrec.ErrorCode(err) {
		case "":
			bucketExisted[b] = true
		case imgrec.ENOTFOUND:
		default:
			return err
		}
	}
	reqBefore, err := sqsq.ReadSettings(ctx, cl.sqs, c.queue)
	if err != nil {
		return err
	}
	dlqName := sqsq.DeadLetterQueueName(c.queue)
	dlqExisted, err := sqsq.Exists(ctx, cl.sqs, dlqName)
	if err != nil {
		return err
	}

	if err := s3blob.CreateBuckets(ctx, cl.s3, c.input, c.output); err != nil {
		return err
	}
	opt := sqsq.CreateOptions{Visibility: *visibility, MaxReceiveCount: *maxReceive}
	if err := sqsq.CreateQueues(ctx, cl.sqs, c.queue, opt); err != nil {
		return err
	}
	tableCreated, err := dynamojobs.CreateTable(ctx, cl.dynamo, c.jobs)
	if err != nil {
		return err
	}

	changed := 0
	report := func(kind, name, what string) {
		if what != "exists" {
			changed++
		}
		fmt.Fprintf(e.stderr, "%s %s: %s\n", kind, name, what)
	}
	for _, b := range []string{c.input, c.output} {
		report("bucket", b, existsOrCreated(bucketExisted[b]))
	}
	want := sqsq.Settings{Visibility: *visibility, MaxReceiveCount: *maxReceive, DeadLetterQueue: dlqName}
	switch {
	case reqBefore == nil:
		report("queue", c.queue, "created ("+describeSettings(want)+")")
	case *reqBefore == want:
		report("queue", c.queue, "exists")
	default:
		report("queue", c.queue, "updated ("+settingsChanges(*reqBefore, want)+")")
	}
	report("queue", dlqName, existsOrCreated(dlqExisted))
	report("table", c.jobs, existsOrCreated(!tableCreated))
	if changed == 0 {
		fmt.Fprintf(e.stderr, "cluster %s: nothing changed; every bucket and queue exists as asked\n", c.name)
	} else {
		fmt.Fprintf(e.stderr, "cluster %s: ready\n", c.name)
	}

	var osExports [][2]string
	if inf.openstack {
		if osExports, err = upWebTier(ctx, e.stderr, inf, web, c, cl, *visibility); err != nil {
			return err
		}
	}

	queue, blobs, jobs := "sqs://"+c.queue, "s3://"+c.bucketPrefix, "dynamodb://"+c.jobs
	tiers := "#   imgrec web\n#   imgrec controller --provider ec2 --ec2-image-id AMI --ec2-instance-profile PROFILE\n"
	if inf.openstack {
		tiers = "#   imgrec controller --provider nova,ec2 --max-instances nova=4,ec2=16 --ec2-image-id AMI --ec2-instance-profile PROFILE\n" +
			"# (the web tier runs on its server);\n"
	}
	fmt.Fprintf(e.stdout, "# cluster %s: the tiers' settings. Paste these lines (or eval \"$(imgrec infra up ...)\"), then run\n"+
		tiers+"# or give them as flags: --queue %s --blobs %s --jobs %s, and the controller --cluster %s.\n", c.name, queue, blobs, jobs, c.name)
	// BUCKET_PREFIX is for infra status and down; the tiers have no such flag.
	exports := [][2]string{{"QUEUE", queue}, {"BLOBS", blobs}, {"JOBS", jobs}, {"CLUSTER", c.name}, {"BUCKET_PREFIX", c.bucketPrefix},
		{"VISIBILITY", visibility.String()}, {"REGION", cl.region}}
	if cl.endpoint != "" {
		exports = append(exports, [2]string{"ENDPOINT_URL", cl.endpoint})
	}
	exports = append(exports, osExports...)
	for _, kv := range exports {
		fmt.Fprintf(e.stdout, "export IMGREC_%s=%s\n", kv[0], shellQuote(kv[1]))
	}
	return nil
}

func existsOrCreated(existed bool) string {
	if existed {
		return "exists"
	}
	return "created"
}

// describeSettings says what a request queue's settings mean.
func describeSettings(s sqsq.Settings) string {
	if s.MaxReceiveCount == 0 {
		return fmt.Sprintf("visibility %v, no dead-letter queue", s.Visibility)
	}
	return fmt.Sprintf("visibility %v, to %s after %d receives", s.Visibility, s.DeadLetterQueue, s.MaxReceiveCount)
}

// settingsChanges says which settings differ, e.g. "visibility 1m0s → 30s".
func settingsChanges(from, to sqsq.Settings) string {
	var diffs []string
	if from.Visibility != to.Visibility {
		diffs = append(diffs, fmt.Sprintf("visibility %v → %v", from.Visibility, to.Visibility))
	}
	if from.MaxReceiveCount != to.MaxReceiveCount {
		diffs = append(diffs, fmt.Sprintf("max receive count %d → %d", from.MaxReceiveCount, to.MaxReceiveCount))
	}
	if from.DeadLetterQueue != to.DeadLetterQueue {
		diffs = append(diffs, fmt.Sprintf("dead-letter queue %q → %q", from.DeadLetterQueue, to.DeadLetterQueue))
	}
	return strings.Join(diffs, ", ")
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
