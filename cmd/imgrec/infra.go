package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsec2 "github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"

	"github.com/imgrec/imgrec"
	"github.com/imgrec/imgrec/ec2"
	"github.com/imgrec/imgrec/s3blob"
	"github.com/imgrec/imgrec/sqsq"
)

func init() {
	register("infra", "create, inspect and delete a cluster's AWS queues, buckets and instances (up, status, down)", runInfra)
}

const infraUsage = `Usage: imgrec infra up|status|down --cluster NAME [flags]

The AWS resources of cluster NAME, in the region of the standard AWS chain
(or --region), reached at --endpoint-url if set:

  buckets    PREFIX-input and PREFIX-output; PREFIX is --bucket-prefix,
             default imgrec-NAME. S3 bucket names are global across all
             accounts, so in practice choose a prefix of your own.
  queues     imgrec-NAME-requests (the request queue), its dead-letter
             queue imgrec-NAME-requests-dlq, and the web tiers' response
             queues imgrec-NAME-requests-resp-<id>
  instances  those tagged ` + ec2.TagCluster + `=NAME, launched by
             'imgrec controller --provider ec2 --cluster NAME'

  up      create the buckets and queues (idempotent), print the tiers' settings
  status  list the buckets, queues and instances with their counts
  down    terminate the instances, delete the queues and the buckets (emptied
          first), after confirmation unless --yes

Run 'imgrec infra up -h' (status -h, down -h) for the flags of each.`

func runInfra(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprintln(e.stderr, infraUsage)
		if len(args) == 0 {
			return usagef("missing subcommand (up, status or down)")
		}
		return nil
	}
	switch args[0] {
	case "up":
		return inCommand("infra up", runInfraUp(ctx, e, args[1:]))
	case "status":
		return inCommand("infra status", runInfraStatus(ctx, e, args[1:]))
	case "down":
		return inCommand("infra down", runInfraDown(ctx, e, args[1:]))
	}
	return usagef("unknown subcommand %q (want up, status or down)", args[0])
}

// infraFlagSet holds the flags that name a cluster's resources.
type infraFlagSet struct {
	cluster      string
	bucketPrefix string
	aws          *awsFlagSet
}

func infraFlags(fs *flag.FlagSet) *infraFlagSet {
	f := &infraFlagSet{}
	fs.StringVar(&f.cluster, "cluster", "", "cluster name: 1 to 40 lowercase letters, digits and hyphens (required)")
	fs.StringVar(&f.bucketPrefix, "bucket-prefix", "", "the buckets are PREFIX-input and PREFIX-output (default imgrec-NAME); "+
		"S3 bucket names are global across all accounts, so choose your own, e.g. with your account id, and give the same to status and down")
	f.aws = awsFlags(fs)
	return f
}

// infraCluster names one cluster's resources.
type infraCluster struct {
	name          string // the instances' tag imgrec:cluster
	queue         string // the request queue; sqsq derives the others from it
	bucketPrefix  string
	input, output string
}

// bucketPrefixRule leaves room for "-output" in S3's 63 characters; no dots,
// which break virtual-hosted bucket addresses over HTTPS.
var bucketPrefixRule = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,55}$`)

// parse parses args into fs, checks the flags and names the cluster's
// resources. The request queue ends in "-requests" so that no cluster's
// queue can be another's dead-letter or response queue: a cluster "x-dlq"
// would otherwise own the dead-letter queue of "x".
func (f *infraFlagSet) parse(fs *flag.FlagSet, args []string) (infraCluster, error) {
	args, err := parseFlags(fs, args)
	if err != nil {
		return infraCluster{}, err
	}
	if len(args) > 0 {
		return infraCluster{}, usagef("unexpected argument %q", args[0])
	}
	if f.cluster == "" {
		return infraCluster{}, usagef("--cluster is required")
	}
	if err := ec2.CheckCluster(f.cluster); err != nil {
		return infraCluster{}, usagef("--cluster: %v", err)
	}
	c := infraCluster{name: f.cluster, queue: "imgrec-" + f.cluster + "-requests", bucketPrefix: f.bucketPrefix}
	if c.bucketPrefix == "" {
		c.bucketPrefix = "imgrec-" + f.cluster
	}
	if !bucketPrefixRule.MatchString(c.bucketPrefix) {
		return infraCluster{}, usagef("--bucket-prefix %q: want 1 to 56 lowercase letters, digits and hyphens, starting with a letter or digit", c.bucketPrefix)
	}
	c.input, c.output = s3BucketNames(c.bucketPrefix)
	return c, nil
}

// infraClients reach the cluster's services.
type infraClients struct {
	region   string
	endpoint string // empty: AWS itself
	s3       *s3.Client
	sqs      *sqs.Client
	ec2      *awsec2.Client
}

func (f *infraFlagSet) clients(ctx context.Context) (infraClients, error) {
	cfg, err := f.aws.config(ctx)
	if err != nil {
		return infraClients{}, err
	}
	return infraClients{
		region:   cfg.Region,
		endpoint: aws.ToString(cfg.BaseEndpoint),
		s3:       newS3Client(cfg),
		sqs:      sqs.NewFromConfig(cfg),
		ec2:      awsec2.NewFromConfig(cfg),
	}, nil
}

func runInfraUp(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "infra up", "infra up --cluster NAME [--bucket-prefix PREFIX] [--visibility D] [--max-receive-count N] [--endpoint-url URL] [--region R]\n\n"+
		"Creates the cluster's buckets and queues, or brings existing queues to --visibility and\n"+
		"--max-receive-count; says what it changed. Prints the tiers' settings on stdout as shell\n"+
		"exports: eval \"$(imgrec infra up ...)\" sets them for the web tier, the controller and the workers.")
	inf := infraFlags(fs)
	visibility := fs.Duration("visibility", sqsq.DefaultVisibility, "the request queue's visibility timeout, 1s to 12h, whole seconds; also exported for the tiers, whose receives ask for it")
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
	reqBefore, err := readQueueSettings(ctx, cl.sqs, c.queue)
	if err != nil {
		return err
	}
	dlqName := c.queue + "-dlq" // as sqsq.CreateQueues names it
	dlqURL, err := lookUpQueue(ctx, cl.sqs, dlqName)
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
	want := queueSettings{visibility: *visibility, maxReceive: *maxReceive, deadLetters: dlqName}
	switch {
	case reqBefore == nil:
		report("queue", c.queue, "created ("+want.String()+")")
	case *reqBefore == want:
		report("queue", c.queue, "exists")
	default:
		report("queue", c.queue, "updated ("+reqBefore.changes(want)+")")
	}
	report("queue", dlqName, existsOrCreated(dlqURL != ""))
	if changed == 0 {
		fmt.Fprintf(e.stderr, "cluster %s: nothing changed; every bucket and queue exists as asked\n", c.name)
	} else {
		fmt.Fprintf(e.stderr, "cluster %s: ready\n", c.name)
	}

	queue, blobs := "sqs://"+c.queue, "s3://"+c.bucketPrefix
	fmt.Fprintf(e.stdout, "# cluster %s: the tiers' settings. Paste these lines (or eval \"$(imgrec infra up ...)\"), then run\n"+
		"#   imgrec web\n#   imgrec controller --provider ec2 --ec2-image-id AMI --ec2-instance-profile PROFILE\n"+
		"# or give them as flags: --queue %s --blobs %s, and the controller --cluster %s.\n", c.name, queue, blobs, c.name)
	// BUCKET_PREFIX is for infra status and down; the tiers have no such flag.
	exports := [][2]string{{"QUEUE", queue}, {"BLOBS", blobs}, {"CLUSTER", c.name}, {"BUCKET_PREFIX", c.bucketPrefix},
		{"VISIBILITY", visibility.String()}, {"REGION", cl.region}}
	if cl.endpoint != "" {
		exports = append(exports, [2]string{"ENDPOINT_URL", cl.endpoint})
	}
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

// queueSettings are the request queue attributes up sets.
type queueSettings struct {
	visibility  time.Duration
	maxReceive  int    // 0: no redrive policy
	deadLetters string // the redrive policy's target queue
}

func (s queueSettings) String() string {
	if s.maxReceive == 0 {
		return fmt.Sprintf("visibility %v, no dead-letter queue", s.visibility)
	}
	return fmt.Sprintf("visibility %v, to %s after %d receives", s.visibility, s.deadLetters, s.maxReceive)
}

// changes says which settings differ in to, e.g. "visibility 1m0s → 30s".
func (s queueSettings) changes(to queueSettings) string {
	var diffs []string
	if s.visibility != to.visibility {
		diffs = append(diffs, fmt.Sprintf("visibility %v → %v", s.visibility, to.visibility))
	}
	if s.maxReceive != to.maxReceive {
		diffs = append(diffs, fmt.Sprintf("max receive count %d → %d", s.maxReceive, to.maxReceive))
	}
	if s.deadLetters != to.deadLetters {
		diffs = append(diffs, fmt.Sprintf("dead-letter queue %q → %q", s.deadLetters, to.deadLetters))
	}
	return strings.Join(diffs, ", ")
}

// readQueueSettings returns the settings of the queue name, or nil if it
// does not exist.
func readQueueSettings(ctx context.Context, client *sqs.Client, name string) (*queueSettings, error) {
	url, err := lookUpQueue(ctx, client, name)
	if err != nil || url == "" {
		return nil, err
	}
	out, err := client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: &url, AttributeNames: []sqstypes.QueueAttributeName{
		sqstypes.QueueAttributeNameVisibilityTimeout, sqstypes.QueueAttributeNameRedrivePolicy}})
	if err != nil {
		return nil, fmt.Errorf("infra: attributes of queue %s: %w", name, err)
	}
	var s queueSettings
	vis, err := strconv.Atoi(out.Attributes[string(sqstypes.QueueAttributeNameVisibilityTimeout)])
	if err != nil {
		return nil, fmt.Errorf("infra: queue %s: visibility timeout: %w", name, err)
	}
	s.visibility = time.Duration(vis) * time.Second
	if rp := out.Attributes[string(sqstypes.QueueAttributeNameRedrivePolicy)]; rp != "" {
		var p struct {
			Target string      `json:"deadLetterTargetArn"`
			Max    json.Number `json:"maxReceiveCount"` // a number or a string, depending on who set it
		}
		if err := json.Unmarshal([]byte(rp), &p); err != nil {
			return nil, fmt.Errorf("infra: queue %s: redrive policy %s: %w", name, rp, err)
		}
		n, err := p.Max.Int64()
		if err != nil {
			return nil, fmt.Errorf("infra: queue %s: redrive policy %s: %w", name, rp, err)
		}
		s.maxReceive = int(n)
		s.deadLetters = p.Target[strings.LastIndexByte(p.Target, ':')+1:] // arn:aws:sqs:REGION:ACCOUNT:NAME
	}
	return &s, nil
}

// lookUpQueue returns the URL of the queue name, or "" if it does not
// exist. GetQueueUrl knows a queue as soon as it is created, unlike
// ListQueues, which AWS updates with a delay.
func lookUpQueue(ctx context.Context, client *sqs.Client, name string) (string, error) {
	out, err := client.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: &name})
	var missing *sqstypes.QueueDoesNotExist
	var apiErr smithy.APIError
	switch {
	case errors.As(err, &missing), errors.As(err, &apiErr) && apiErr.ErrorCode() == "AWS.SimpleQueueService.NonExistentQueue":
		return "", nil
	case err != nil:
		return "", imgrec.WrapError(imgrec.EUNAVAILABLE, err, "infra: look up queue %s", name)
	}
	return aws.ToString(out.QueueUrl), nil
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// infraState is what exists of a cluster: status shows it, down deletes it.
type infraState struct {
	Cluster   string              `json:"cluster"`
	Region    string              `json:"region"`
	Queue     string              `json:"queue"` // the tiers' --queue
	Blobs     string              `json:"blobs"` // and --blobs
	Buckets   []s3blob.BucketInfo `json:"buckets"`
	Queues    []sqsq.QueueInfo    `json:"queues"` // those that exist: requests, dead letters, then responses
	Instances []imgrec.Instance   `json:"instances"`
	// Counts has every state that ListCluster reports, zeros included.
	Counts map[imgrec.InstanceState]int `json:"instance_counts"`
}

// listedStates are the states of the instances ListCluster returns.
var listedStates = []imgrec.InstanceState{imgrec.StatePending, imgrec.StateRunning, imgrec.StateStopping, imgrec.StateStopped}

func readInfraState(ctx context.Context, c infraCluster, cl infraClients) (*infraState, error) {
	st := &infraState{Cluster: c.name, Region: cl.region, Queue: "sqs://" + c.queue, Blobs: "s3://" + c.bucketPrefix,
		Counts: map[imgrec.InstanceState]int{}}
	var err error
	if st.Buckets, err = s3blob.Describe(ctx, cl.s3, c.input, c.output); err != nil {
		return nil, err
	}
	if st.Queues, err = sqsq.Describe(ctx, cl.sqs, c.queue); err != nil {
		return nil, err
	}
	if st.Instances, err = ec2.ListCluster(ctx, cl.ec2, c.name); err != nil {
		return nil, err
	}
	if st.Instances == nil {
		st.Instances = []imgrec.Instance{} // [] in JSON, as the other lists
	}
	for _, s := range listedStates {
		st.Counts[s] = 0
	}
	for _, in := range st.Instances {
		st.Counts[in.State]++
	}
	return st, nil
}

// empty reports whether nothing of the cluster exists.
func (st *infraState) empty() bool {
	for _, b := range st.Buckets {
		if b.Exists {
			return false
		}
	}
	return len(st.Queues) == 0 && len(st.Instances) == 0
}

// print writes st as tables for people.
func (st *infraState) print(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintf(tw, "cluster %s in %s: --queue %s --blobs %s\n\n", st.Cluster, st.Region, st.Queue, st.Blobs)
	fmt.Fprintln(tw, "BUCKET\tOBJECTS\tBYTES")
	for _, b := range st.Buckets {
		if b.Exists {
			fmt.Fprintf(tw, "%s\t%d\t%d\n", b.Name, b.Objects, b.Bytes)
		} else {
			fmt.Fprintf(tw, "%s\t(missing)\n", b.Name)
		}
	}
	fmt.Fprintln(tw, "\nQUEUE\tROLE\tWAITING\tIN FLIGHT")
	request, deadLetters := strings.TrimPrefix(st.Queue, "sqs://"), strings.TrimPrefix(st.Queue, "sqs://")+"-dlq"
	for _, name := range []string{request, deadLetters} {
		if !slices.ContainsFunc(st.Queues, func(q sqsq.QueueInfo) bool { return q.Name == name }) {
			fmt.Fprintf(tw, "%s\t(missing)\n", name)
		}
	}
	for _, q := range st.Queues {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\n", q.Name, q.Role, q.Visible+q.Delayed, q.InFlight)
	}
	fmt.Fprint(tw, "\nINSTANCES")
	for _, s := range listedStates {
		fmt.Fprintf(tw, "  %s %d", s, st.Counts[s])
	}
	fmt.Fprintln(tw)
	if len(st.Instances) > 0 {
		fmt.Fprintln(tw, "ID\tSTATE\tSINCE\tDETAIL")
	}
	for _, in := range st.Instances {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", in.ID, in.State, in.Since.UTC().Format(time.DateTime), in.Detail)
	}
	return tw.Flush()
}

func runInfraStatus(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "infra status", "infra status --cluster NAME [--bucket-prefix PREFIX] [--json] [--endpoint-url URL] [--region R]\n\n"+
		"Lists the cluster's buckets (object counts), queues (requests waiting and in flight, dead\n"+
		"letters, response queues) and instances by state; exits 0 whatever exists.")
	inf := infraFlags(fs)
	asJSON := fs.Bool("json", false, "print one JSON object")
	c, err := inf.parse(fs, args)
	if err != nil {
		return err
	}
	cl, err := inf.clients(ctx)
	if err != nil {
		return err
	}
	st, err := readInfraState(ctx, c, cl)
	if err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(e.stdout).Encode(st)
	}
	return st.print(e.stdout)
}

// terminatePoll is how often down looks whether the instances are gone.
const terminatePoll = 2 * time.Second

func runInfraDown(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "infra down", "infra down --cluster NAME [--yes] [--bucket-prefix PREFIX] [--wait D] [--endpoint-url URL] [--region R]\n\n"+
		"Terminates the cluster's instances and waits until they are, then deletes its queues (the\n"+
		"web tiers' response queues too) and its buckets with everything in them. Stop the controller\n"+
		"first: while it runs it may launch instances again. Without --yes it shows what it will\n"+
		"delete and asks you to type the cluster name.")
	inf := infraFlags(fs)
	yes := fs.Bool("yes", false, "delete without asking (required when stdin is not a terminal)")
	wait := fs.Duration("wait", 5*time.Minute, "how long to wait for the instances to be terminated; after that the queues and buckets are kept and down fails")
	c, err := inf.parse(fs, args)
	if err != nil {
		return err
	}
	if *wait <= 0 {
		return usagef("--wait %v: want a positive duration", *wait)
	}
	if !*yes && !isTerminal(e.stdin) {
		return usagef("refusing to delete cluster %s unasked: stdin is not a terminal, and --yes is not set "+
			"('imgrec infra status --cluster %s' shows what down would delete)", c.name, c.name)
	}
	cl, err := inf.clients(ctx)
	if err != nil {
		return err
	}
	st, err := readInfraState(ctx, c, cl)
	if err != nil {
		return err
	}
	if st.empty() {
		fmt.Fprintf(e.stdout, "cluster %s: nothing to delete\n", c.name)
		return nil
	}
	fmt.Fprintln(e.stdout, "To delete:")
	if err := st.print(e.stdout); err != nil {
		return err
	}
	if !*yes {
		fmt.Fprintf(e.stderr, "\nType the cluster name (%s) to delete all of the above: ", c.name)
		line, _ := bufio.NewReader(e.stdin).ReadString('\n')
		if strings.TrimSpace(line) != c.name {
			return fmt.Errorf("not confirmed; nothing deleted")
		}
	}
	fmt.Fprintln(e.stdout)

	terminated, err := terminateCluster(ctx, e.stdout, cl.ec2, c.name, *wait)
	if err != nil {
		return err
	}
	queues, err := sqsq.DeleteQueues(ctx, cl.sqs, c.queue)
	for _, q := range queues {
		fmt.Fprintf(e.stdout, "deleted queue %s\n", q)
	}
	if err != nil {
		return err
	}
	buckets, err := s3blob.DeleteBuckets(ctx, cl.s3, c.input, c.output)
	for _, b := range buckets {
		fmt.Fprintf(e.stdout, "deleted bucket %s\n", b)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "cluster %s: down (%d instances terminated, %d queues and %d buckets deleted)\n",
		c.name, terminated, len(queues), len(buckets))
	return nil
}

// terminateCluster terminates the cluster's instances and waits, up to wait,
// until EC2 lists none that is not terminated. Instances that appear
// meanwhile (a controller still running) are terminated as well. It returns
// how many instances it terminated.
func terminateCluster(ctx context.Context, w io.Writer, api *awsec2.Client, cluster string, wait time.Duration) (int, error) {
	deadline := time.Now().Add(wait)
	asked := map[string]bool{} // ids terminated by this call
	// down reports every termination itself.
	quiet := slog.New(slog.DiscardHandler)
	for {
		insts, err := ec2.ListCluster(ctx, api, cluster)
		if err != nil {
			return len(asked), err
		}
		if len(insts) == 0 {
			if len(asked) > 0 {
				fmt.Fprintf(w, "instances terminated\n")
			}
			return len(asked), nil
		}
		if slices.ContainsFunc(insts, func(in imgrec.Instance) bool { return !asked[in.ID] }) {
			if len(asked) > 0 {
				fmt.Fprintf(w, "new instances appeared: is a controller of cluster %s still running?\n", cluster)
			}
			ids, err := ec2.TerminateCluster(ctx, api, cluster, quiet)
			var fresh []string
			for _, id := range ids {
				if !asked[id] {
					fresh = append(fresh, id)
					asked[id] = true
				}
			}
			if len(fresh) > 0 {
				fmt.Fprintf(w, "terminating %d instances: %s\n", len(fresh), strings.Join(fresh, " "))
			}
			if err != nil {
				return len(asked), err
			}
			if len(fresh) > 0 {
				continue // EC2 may have terminated them at once
			}
		}
		if time.Now().After(deadline) {
			var left []string
			for _, in := range insts {
				left = append(left, in.ID+" ("+string(in.State)+")")
			}
			return len(asked), imgrec.Errorf(imgrec.ETIMEOUT, "cluster %s: %d instances not terminated after %v: %s; "+
				"queues and buckets kept for now, run 'imgrec infra down' again", cluster, len(left), wait, strings.Join(left, ", "))
		}
		select {
		case <-ctx.Done():
			return len(asked), ctx.Err()
		case <-time.After(terminatePoll):
		}
	}
}
