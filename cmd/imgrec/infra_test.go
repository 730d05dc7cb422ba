package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dynamotypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	awsec2 "github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/imgrec/imgrec"
	"github.com/imgrec/imgrec/ec2"
	"github.com/imgrec/imgrec/internal/moto"
	"github.com/imgrec/imgrec/sqsq"
)

// motoAMI is one of the images moto knows.
const motoAMI = "ami-12c6146b"

// infraAPI checks a cluster's resources through the AWS APIs themselves, not
// through the code under test.
type infraAPI struct {
	t      *testing.T
	ctx    context.Context
	s3     *s3.Client
	sqs    *sqs.Client
	ec2    *awsec2.Client
	dynamo *dynamodb.Client
}

// useMoto points the standard AWS chain of this process and its children at
// the shared moto server; withEndpoint false leaves AWS_ENDPOINT_URL unset,
// so that the commands need --endpoint-url.
func useMoto(t *testing.T, withEndpoint bool) (*moto.Server, *infraAPI) {
	srv := moto.Shared(t)
	for _, kv := range srv.Env() {
		k, v, _ := strings.Cut(kv, "=")
		if k == "AWS_ENDPOINT_URL" && !withEndpoint {
			continue
		}
		t.Setenv(k, v)
	}
	cfg := srv.Config()
	return srv, &infraAPI{
		t: t, ctx: moto.Context(t),
		s3:     s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true }),
		sqs:    sqs.NewFromConfig(cfg),
		ec2:    awsec2.NewFromConfig(cfg),
		dynamo: dynamodb.NewFromConfig(cfg),
	}
}

// tableTTL says whether the table exists and, if so, the attribute and
// status of its TTL.
func (a *infraAPI) tableTTL(name string) (exists bool, attribute string, status dynamotypes.TimeToLiveStatus) {
	a.t.Helper()
	_, err := a.dynamo.DescribeTable(a.ctx, &dynamodb.DescribeTableInput{TableName: &name})
	var missing *dynamotypes.ResourceNotFoundException
	if errors.As(err, &missing) {
		return false, "", ""
	}
	if err != nil {
		a.t.Fatalf("describe table %s: %v", name, err)
	}
	out, err := a.dynamo.DescribeTimeToLive(a.ctx, &dynamodb.DescribeTimeToLiveInput{TableName: &name})
	if err != nil {
		a.t.Fatalf("TTL of table %s: %v", name, err)
	}
	return true, aws.ToString(out.TimeToLiveDescription.AttributeName), out.TimeToLiveDescription.TimeToLiveStatus
}

func (a *infraAPI) bucketExists(name string) bool {
	a.t.Helper()
	_, err := a.s3.HeadBucket(a.ctx, &s3.HeadBucketInput{Bucket: &name})
	var missing *s3types.NotFound
	if errors.As(err, &missing) {
		return false
	}
	if err != nil {
		a.t.Fatalf("head bucket %s: %v", name, err)
	}
	return true
}

func (a *infraAPI) put(bucket, key string) {
	a.t.Helper()
	if _, err := a.s3.PutObject(a.ctx, &s3.PutObjectInput{Bucket: &bucket, Key: &key, Body: strings.NewReader("data")}); err != nil {
		a.t.Fatal(err)
	}
}

// queues lists the names of the queues whose names start with prefix.
func (a *infraAPI) queues(prefix string) []string {
	a.t.Helper()
	out, err := a.sqs.ListQueues(a.ctx, &sqs.ListQueuesInput{QueueNamePrefix: &prefix})
	if err != nil {
		a.t.Fatal(err)
	}
	var names []string
	for _, u := range out.QueueUrls {
		names = append(names, u[strings.LastIndexByte(u, '/')+1:])
	}
	slices.Sort(names)
	return names
}

func (a *infraAPI) queueURL(name string) string {
	a.t.Helper()
	out, err := a.sqs.GetQueueUrl(a.ctx, &sqs.GetQueueUrlInput{QueueName: &name})
	if err != nil {
		a.t.Fatalf("queue %s: %v", name, err)
	}
	return aws.ToString(out.QueueUrl)
}

// queueAttrs returns the request queue's visibility timeout and redrive policy.
func (a *infraAPI) queueAttrs(name string) (visibility, redrive string) {
	a.t.Helper()
	out, err := a.sqs.GetQueueAttributes(a.ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(a.queueURL(name)),
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameVisibilityTimeout, sqstypes.QueueAttributeNameRedrivePolicy}})
	if err != nil {
		a.t.Fatal(err)
	}
	return out.Attributes["VisibilityTimeout"], out.Attributes["RedrivePolicy"]
}

func (a *infraAPI) send(queue string, n int) {
	a.t.Helper()
	url := a.queueURL(queue)
	for i := range n {
		if _, err := a.sqs.SendMessage(a.ctx, &sqs.SendMessageInput{QueueUrl: &url, MessageBody: aws.String(fmt.Sprintf(`{"id":"m%d"}`, i))}); err != nil {
			a.t.Fatal(err)
		}
	}
}

// launch runs n instances with tags (none: untagged) and returns their ids.
func (a *infraAPI) launch(n int, tags map[string]string) []string {
	a.t.Helper()
	in := &awsec2.RunInstancesInput{ImageId: aws.String(motoAMI), MinCount: aws.Int32(int32(n)), MaxCount: aws.Int32(int32(n))}
	if len(tags) > 0 {
		spec := ec2types.TagSpecification{ResourceType: ec2types.ResourceTypeInstance}
		for k, v := range tags {
			spec.Tags = append(spec.Tags, ec2types.Tag{Key: aws.String(k), Value: aws.String(v)})
		}
		in.TagSpecifications = []ec2types.TagSpecification{spec}
	}
	out, err := a.ec2.RunInstances(a.ctx, in)
	if err != nil {
		a.t.Fatal(err)
	}
	var ids []string
	for _, inst := range out.Instances {
		ids = append(ids, aws.ToString(inst.InstanceId))
	}
	return ids
}

// states returns the state of every instance tagged with cluster (any role)
// or listed in ids, terminated ones included.
func (a *infraAPI) states(cluster string, ids ...string) map[string]ec2types.InstanceStateName {
	a.t.Helper()
	m := map[string]ec2types.InstanceStateName{}
	collect := func(in *awsec2.DescribeInstancesInput) {
		out, err := a.ec2.DescribeInstances(a.ctx, in)
		if err != nil {
			a.t.Fatal(err)
		}
		for _, r := range out.Reservations {
			for _, inst := range r.Instances {
				m[aws.ToString(inst.InstanceId)] = inst.State.Name
			}
		}
	}
	collect(&awsec2.DescribeInstancesInput{Filters: []ec2types.Filter{{Name: aws.String("tag:" + ec2.TagCluster), Values: []string{cluster}}}})
	if len(ids) > 0 {
		collect(&awsec2.DescribeInstancesInput{InstanceIds: ids})
	}
	return m
}

// exports reads the export lines of `infra up` into a map.
func exports(t *testing.T, stdout string) map[string]string {
	t.Helper()
	m := map[string]string{}
	for line := range strings.Lines(stdout) {
		kv, ok := strings.CutPrefix(strings.TrimSpace(line), "export ")
		if !ok {
			continue
		}
		k, v, _ := strings.Cut(kv, "=")
		m[k] = strings.TrimSuffix(strings.TrimPrefix(v, "'"), "'") // no value here holds a quote
	}
	return m
}

// executeWithStdin runs imgrec in this process with stdin.
func executeWithStdin(t *testing.T, stdin *os.File, args ...string) (code int, stdout, stderr string) {
	var out, errs bytes.Buffer
	code = run(t.Context(), &env{stdin, &out, &errs}, args)
	return code, out.String(), errs.String()
}

// TestInfraUpStatusDown creates a cluster's buckets and queues, fills them
// and gives the cluster instances, then deletes it all. Beside it live a
// cluster whose names start with this one's, instances tagged for this
// cluster without the worker role, and untagged instances: down leaves them
// alone.
func TestInfraUpStatusDown(t *testing.T) {
	_, api := useMoto(t, true)
	cluster := fmt.Sprintf("infra-%d", time.Now().UnixNano()%1e9)
	// A bucket prefix of its own, as on AWS, where bucket names are global.
	queue, prefix := "imgrec-"+cluster+"-requests", "test-"+cluster
	input, output := prefix+"-input", prefix+"-output"
	// Its request queue's name starts with this cluster's, and so do its buckets.
	neighbour := cluster + "-requests"
	t.Cleanup(func() { execute(context.Background(), "infra", "down", "--yes", "--cluster", neighbour) })

	code, stdout, stderr := runImgrec(t, "infra", "up", "--cluster", cluster, "--bucket-prefix", prefix)
	if code != 0 {
		t.Fatalf("up: exit %d: %s", code, stderr)
	}
	for _, b := range []string{input, output} {
		if !api.bucketExists(b) {
			t.Errorf("after up, bucket %s does not exist", b)
		}
	}
	if got, want := api.queues(queue), []string{queue, queue + "-dlq"}; !slices.Equal(got, want) {
		t.Errorf("after up, queues %v, want %v", got, want)
	}
	vis, redrive := api.queueAttrs(queue)
	if vis != "5" || !strings.Contains(redrive, ":"+queue+"-dlq") || !regexp.MustCompile(`"maxReceiveCount":\s*"?10\b`).MatchString(redrive) {
		t.Errorf("after up, visibility %s, redrive policy %s; want 5 (the lease) and 10 receives to %s-dlq", vis, redrive, queue)
	}
	table := "imgrec-" + cluster + "-jobs"
	if exists, attr, status := api.tableTTL(table); !exists || attr != "expires" || status != dynamotypes.TimeToLiveStatusEnabled {
		t.Errorf("after up, table %s: exists %v, TTL on %q %s; want it, with its TTL on expires", table, exists, attr, status)
	}
	ex := exports(t, stdout)
	if ex["IMGREC_QUEUE"] != "sqs://"+queue || ex["IMGREC_BLOBS"] != "s3://"+prefix || ex["IMGREC_JOBS"] != "dynamodb://"+table ||
		ex["IMGREC_CLUSTER"] != cluster || ex["IMGREC_BUCKET_PREFIX"] != prefix {
		t.Errorf("up printed %v; want the queue, buckets, job table, cluster and bucket prefix:\n%s", ex, stdout)
	}

	code, _, stderr = runImgrec(t, "infra", "up", "--cluster", cluster, "--bucket-prefix", prefix)
	if code != 0 || !strings.Contains(stderr, "nothing changed") || strings.Contains(stderr, "created") {
		t.Errorf("up again: exit %d, %q; want 0 and nothing changed", code, stderr)
	}
	code, _, stderr = runImgrec(t, "infra", "up", "--cluster", cluster, "--bucket-prefix", prefix, "--visibility", "30s", "--max-receive-count", "5")
	if code != 0 || !strings.Contains(stderr, "updated (visibility 5s → 30s, max receive count 10 → 5)") {
		t.Errorf("up with new settings: exit %d, %q; want the queue updated", code, stderr)
	}
	if vis, redrive := api.queueAttrs(queue); vis != "30" || !regexp.MustCompile(`"maxReceiveCount":\s*"?5\b`).MatchString(redrive) {
		t.Errorf("after up with new settings: visibility %s, redrive policy %s; want 30 and 5", vis, redrive)
	}
	if code, _, stderr := runImgrec(t, "infra", "up", "--cluster", neighbour); code != 0 {
		t.Fatalf("up %s: exit %d: %s", neighbour, code, stderr)
	}

	// Contents: 2 objects, 3 requests of which one is in flight, 2 dead
	// letters, a web tier's response queue; instances of every kind.
	api.put(input, "test_0.JPEG")
	api.put(input, "test_1.JPEG")
	api.put("imgrec-"+neighbour+"-input", "test_0.JPEG")
	api.send(queue, 3)
	if _, err := api.sqs.ReceiveMessage(api.ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(api.queueURL(queue)), MaxNumberOfMessages: 1}); err != nil {
		t.Fatal(err)
	}
	api.send(queue+"-dlq", 2)
	q, err := sqsq.Open(api.ctx, api.sqs, queue, sqsq.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	inbox, err := q.Listen(api.ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer inbox.Close()
	workers := api.launch(2, map[string]string{ec2.TagCluster: cluster, ec2.TagRole: ec2.RoleWorker})
	if _, err := api.ec2.StopInstances(api.ctx, &awsec2.StopInstancesInput{InstanceIds: workers[:1]}); err != nil {
		t.Fatal(err)
	}
	running := workers[1] // workers is sorted below
	spared := slices.Concat(
		api.launch(1, map[string]string{ec2.TagCluster: neighbour, ec2.TagRole: ec2.RoleWorker}),
		api.launch(1, map[string]string{ec2.TagCluster: cluster}), // not a worker: not the provider's
		api.launch(1, nil),
	)
	t.Cleanup(func() {
		api.ec2.TerminateInstances(context.Background(), &awsec2.TerminateInstancesInput{InstanceIds: spared})
	})

	code, stdout, stderr = runImgrec(t, "infra", "status", "--cluster", cluster, "--bucket-prefix", prefix)
	if code != 0 {
		t.Fatalf("status: exit %d: %s", code, stderr)
	}
	for _, want := range []string{
		input + `\s+2\s+8\n`, output + `\s+0\s+0\n`,
		queue + `\s+requests\s+2\s+1\n`, queue + `-dlq\s+dead letters\s+2\s+0\n`, queue + `-resp-[0-9a-f]+\s+responses\s+0\s+0\n`,
		`INSTANCES\s+pending 0\s+running 1\s+stopping 0\s+stopped 1\n`, workers[0] + `\s+stopped`, running + `\s+running`,
		table + `\s+0\s+on\n`,
	} {
		if !regexp.MustCompile(want).MatchString(stdout) {
			t.Errorf("status lacks %q:\n%s", want, stdout)
		}
	}
	code, stdout, stderr = runImgrec(t, "infra", "status", "--cluster", cluster, "--bucket-prefix", prefix, "--json")
	var st infraState
	if err := json.Unmarshal([]byte(stdout), &st); code != 0 || err != nil {
		t.Fatalf("status --json: exit %d, %v: %s%s", code, err, stdout, stderr)
	}
	var roles []string
	for _, qi := range st.Queues {
		roles = append(roles, qi.Role)
	}
	var ids []string
	for _, in := range st.Instances {
		ids = append(ids, in.ID)
	}
	slices.Sort(workers)
	if st.Buckets[0].Objects != 2 || !slices.Equal(roles, []string{sqsq.RoleRequests, sqsq.RoleDeadLetters, sqsq.RoleResponses}) ||
		st.Queues[0].Visible != 2 || st.Queues[0].InFlight != 1 || st.Queues[1].Visible != 2 ||
		!slices.Equal(ids, workers) || st.Counts[imgrec.StateRunning] != 1 || st.Counts[imgrec.StateStopped] != 1 {
		t.Errorf("status --json: %s", stdout)
	}

	// Not a terminal, no --yes: refused before anything is touched.
	code, _, stderr = runImgrec(t, "infra", "down", "--cluster", cluster, "--bucket-prefix", prefix)
	if code != 2 || !strings.Contains(stderr, "stdin is not a terminal, and --yes is not set") {
		t.Errorf("down without --yes: exit %d, %q; want 2 and a refusal", code, stderr)
	}
	// On a terminal, a wrong answer deletes nothing either.
	tty, keyboard := openTerminal(t)
	keyboard.WriteString("demo\n")
	code, _, stderr = executeWithStdin(t, tty, "infra", "down", "--cluster", cluster, "--bucket-prefix", prefix)
	if code != 1 || !strings.Contains(stderr, "Type the cluster name ("+cluster+")") || !strings.Contains(stderr, "not confirmed; nothing deleted") {
		t.Errorf("down answered with another name: exit %d, %q; want 1, the question and no deletion", code, stderr)
	}
	if !api.bucketExists(input) || len(api.queues(queue)) != 5 /* its 3, the neighbour's 2 */ || api.states(cluster)[running] != ec2types.InstanceStateNameRunning {
		t.Fatalf("down deleted something without a confirmation: queues %v, instances %v", api.queues(queue), api.states(cluster))
	}

	// Confirmed by typing the name.
	keyboard.WriteString(cluster + "\n")
	code, stdout, stderr = executeWithStdin(t, tty, "infra", "down", "--cluster", cluster, "--bucket-prefix", prefix)
	if code != 0 {
		t.Fatalf("down: exit %d: %s%s", code, stdout, stderr)
	}
	for _, want := range []string{"terminating 2 instances", "deleted queue " + queue + "-resp-", "deleted bucket " + input,
		"deleted table imgrec-" + cluster + "-jobs",
		"cluster " + cluster + ": down (2 instances terminated, 3 queues, 2 buckets and the job table deleted)"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("down's report lacks %q:\n%s", want, stdout)
		}
	}
	for _, b := range []string{input, output} {
		if api.bucketExists(b) {
			t.Errorf("after down, bucket %s exists", b)
		}
	}
	if exists, _, _ := api.tableTTL(table); exists {
		t.Errorf("after down, table %s exists", table)
	}
	if exists, _, _ := api.tableTTL("imgrec-" + neighbour + "-jobs"); !exists {
		t.Errorf("down deleted the table of %s", neighbour)
	}
	// Only the neighbour's queues are left under this cluster's prefix.
	if got, want := api.queues(queue), []string{"imgrec-" + neighbour + "-requests", "imgrec-" + neighbour + "-requests-dlq"}; !slices.Equal(got, want) {
		t.Errorf("after down, queues %v; want only %v", got, want)
	}
	states := api.states(cluster, spared...)
	for _, id := range workers {
		if states[id] != ec2types.InstanceStateNameTerminated {
			t.Errorf("after down, worker %s is %s", id, states[id])
		}
	}
	for _, id := range spared {
		if states[id] != ec2types.InstanceStateNameRunning {
			t.Errorf("after down, %s, not the cluster's, is %s; want running", id, states[id])
		}
	}
	if !api.bucketExists("imgrec-" + neighbour + "-input") {
		t.Errorf("down deleted the buckets of %s", neighbour)
	}

	code, stdout, _ = runImgrec(t, "infra", "down", "--cluster", cluster, "--bucket-prefix", prefix, "--yes")
	if code != 0 || !strings.Contains(stdout, "nothing to delete") {
		t.Errorf("down again: exit %d, %q; want 0 and nothing to delete", code, stdout)
	}
}

func TestInfraUsage(t *testing.T) {
	t.Setenv("AWS_REGION", "")
	t.Setenv("AWS_DEFAULT_REGION", "")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "missing subcommand (up, status or down)"},
		{[]string{"sideways"}, `unknown subcommand "sideways"`},
		{[]string{"up"}, "--cluster is required"},
		{[]string{"status", "--cluster", "Demo"}, `--cluster: cluster name "Demo"`},
		{[]string{"up", "--cluster", "demo", "extra"}, `unexpected argument "extra"`},
		{[]string{"up", "--cluster", "demo", "--bucket-prefix", "my.buckets"}, `--bucket-prefix "my.buckets"`},
		{[]string{"up", "--cluster", "demo", "--visibility", "1500ms"}, "--visibility 1.5s: want whole seconds from 1s to 12h"},
		{[]string{"up", "--cluster", "demo", "--max-receive-count", "0"}, "--max-receive-count 0: want 1 to 1000"},
		{[]string{"down", "--cluster", "demo", "--wait", "0s"}, "--wait 0s: want a positive duration"},
		{[]string{"down", "--cluster", "demo"}, "stdin is not a terminal"},
		{[]string{"status", "--cluster", "demo"}, "no AWS region"},
		{[]string{"up", "--cluster", "demo", "--openstack"}, "--openstack needs --nova-image and --nova-flavor"},
		{[]string{"up", "--cluster", "demo", "--openstack", "--nova-image", "i", "--nova-flavor", "f", "--web-allow", "everyone"}, `--web-allow "everyone": want an IPv4 CIDR`},
		{[]string{"up", "--cluster", "demo", "--openstack", "--nova-image", "i", "--nova-flavor", "f", "--nova-network", "private"}, `--nova-network: network "private"`},
	} {
		code, _, stderr := runImgrec(t, append([]string{"infra"}, c.args...)...)
		if code != 2 || !strings.Contains(stderr, c.want) {
			t.Errorf("infra %v: exit %d, %q; want 2 and %q", c.args, code, stderr, c.want)
		}
		// The hint names the help that explains the mistake.
		help := "Run 'imgrec infra -h'"
		if len(c.args) > 0 && slices.Contains([]string{"up", "status", "down"}, c.args[0]) {
			help = "Run 'imgrec infra " + c.args[0] + " -h'"
		}
		if c.want != "no AWS region" && !strings.Contains(stderr, help) { // a missing region is no misuse of flags
			t.Errorf("infra %v: %q lacks %q", c.args, stderr, help)
		}
	}
}

// TestInfraDemo is the issue's demonstration: `imgrec infra up --cluster
// demo --endpoint-url …`, then the web tier, the controller with the ec2
// provider and two workers, all separate processes, configured by nothing
// but the lines up printed; loadgen's 100 requests are all answered right;
// `imgrec infra down --yes` leaves nothing behind. Moto's instances run no
// code, so the controller's instances do no work: two workers, started
// once it has launched instances, stand in for the workers they would run.
func TestInfraDemo(t *testing.T) {
	srv, api := useMoto(t, false)
	const cluster = "demo"
	code, stdout, stderr := runImgrec(t, "infra", "up", "--cluster", cluster, "--endpoint-url", srv.Endpoint)
	if code != 0 {
		t.Fatalf("infra up: exit %d: %s", code, stderr)
	}
	settings := exports(t, stdout)
	for k, v := range settings {
		t.Setenv(k, v)
	}
	if settings["IMGREC_ENDPOINT_URL"] != srv.Endpoint {
		t.Fatalf("infra up printed %v; want IMGREC_ENDPOINT_URL=%s among them", settings, srv.Endpoint)
	}
	t.Cleanup(func() { execute(context.Background(), "infra", "down", "--yes", "--cluster", cluster) })

	web := startProcess(t, servingLine, "web", "--addr", "127.0.0.1:0")
	ctl := startProcess(t, regexp.MustCompile(`controller started`), "controller", "--provider", "ec2",
		"--ec2-image-id", motoAMI, "--max-instances", "4", "--metrics-addr", "", "--log-level", "info")
	loaded := startLoadgen(t, web.url)

	// The requests wait until the controller has launched instances; then
	// the workers come, as the instances' workers would.
	launched := func() (ids []string) {
		for id, st := range api.states(cluster) {
			if st != ec2types.InstanceStateNameTerminated {
				ids = append(ids, id)
			}
		}
		return ids
	}
	waitFor(t, "instances launched by the controller", func() bool { return len(launched()) > 0 })
	workers := standinWorkers(t)
	(<-loaded).wantAllAnswered(t, ctl)

	// The tiers stop before down, the controller too, so that it launches
	// nothing more; each may wait out a long poll, so all at once.
	stopAll(t, append(workers, web, ctl)...)
	left := launched()

	code, stdout, stderr = runImgrec(t, "infra", "down", "--yes", "--cluster", cluster)
	if code != 0 {
		t.Fatalf("infra down: exit %d: %s%s", code, stdout, stderr)
	}
	for _, b := range []string{"imgrec-demo-input", "imgrec-demo-output"} {
		if api.bucketExists(b) {
			t.Errorf("after down, bucket %s exists", b)
		}
	}
	if exists, _, _ := api.tableTTL("imgrec-demo-jobs"); exists {
		t.Error("after down, table imgrec-demo-jobs exists")
	}
	if left := api.queues("imgrec-demo"); len(left) > 0 {
		t.Errorf("after down, queues %v exist", left)
	}
	for id, st := range api.states(cluster) {
		if st != ec2types.InstanceStateNameTerminated {
			t.Errorf("after down, instance %s is %s", id, st)
		}
	}
	if !strings.Contains(stdout, fmt.Sprintf("terminating %d instances", len(left))) {
		t.Errorf("down's report does not say it terminated the %d instances %v:\n%s", len(left), left, stdout)
	}
}
