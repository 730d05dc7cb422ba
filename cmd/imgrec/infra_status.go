package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/imgrec/imgrec"
	"github.com/imgrec/imgrec/dynamojobs"
	"github.com/imgrec/imgrec/ec2"
	"github.com/imgrec/imgrec/nova"
	"github.com/imgrec/imgrec/s3blob"
	"github.com/imgrec/imgrec/sqsq"
)

// infraState is what exists of a cluster: status shows it, down deletes it.
type infraState struct {
	Cluster   string               `json:"cluster"`
	Region    string               `json:"region"`
	Queue     string               `json:"queue"` // the tiers' --queue
	Blobs     string               `json:"blobs"` // --blobs
	Jobs      string               `json:"jobs"`  // and --jobs
	Buckets   []s3blob.BucketInfo  `json:"buckets"`
	Queues    []sqsq.QueueInfo     `json:"queues"` // those that exist: requests, dead letters, then responses
	Table     dynamojobs.TableInfo `json:"jobs_table"`
	Instances []imgrec.Instance    `json:"instances"`
	// Counts has every state that ListCluster reports, zeros included.
	Counts map[imgrec.InstanceState]int `json:"instance_counts"`
	// With --openstack: the cluster's Nova servers (web tier and workers)
	// and what opens the web tier (nil without a network service).
	Servers   []nova.Server   `json:"servers,omitempty"`
	WebAccess *nova.WebAccess `json:"web_access,omitempty"`
	openstack bool
}

// listedStates are the states of the instances ListCluster returns.
var listedStates = []imgrec.InstanceState{imgrec.StatePending, imgrec.StateRunning, imgrec.StateStopping, imgrec.StateStopped}

// readState connects to the cluster's services and reads what exists.
func (f *infraFlagSet) readState(ctx context.Context, c infraCluster) (*infraState, infraClients, error) {
	cl, err := f.clients(ctx)
	if err != nil {
		return nil, cl, err
	}
	st, err := readInfraState(ctx, c, cl)
	return st, cl, err
}

func readInfraState(ctx context.Context, c infraCluster, cl infraClients) (*infraState, error) {
	st := &infraState{Cluster: c.name, Region: cl.region, Queue: "sqs://" + c.queue, Blobs: "s3://" + c.bucketPrefix,
		Jobs: "dynamodb://" + c.jobs, Counts: map[imgrec.InstanceState]int{}}
	var err error
	if st.Buckets, err = s3blob.Describe(ctx, cl.s3, c.input, c.output); err != nil {
		return nil, err
	}
	if st.Queues, err = sqsq.Describe(ctx, cl.sqs, c.queue); err != nil {
		return nil, err
	}
	if st.Table, err = dynamojobs.Describe(ctx, cl.dynamo, c.jobs); err != nil {
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
	return st, readServers(ctx, st, cl, c.name)
}

// empty reports whether nothing of the cluster exists.
func (st *infraState) empty() bool {
	for _, b := range st.Buckets {
		if b.Exists {
			return false
		}
	}
	access := st.WebAccess != nil && (st.WebAccess.SecurityGroup != "" || len(st.WebAccess.FloatingIPs) > 0)
	return len(st.Queues) == 0 && len(st.Instances) == 0 && len(st.Servers) == 0 && !access && !st.Table.Exists
}

// print writes st as tables for people.
func (st *infraState) print(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintf(tw, "cluster %s in %s: --queue %s --blobs %s --jobs %s\n\n", st.Cluster, st.Region, st.Queue, st.Blobs, st.Jobs)
	fmt.Fprintln(tw, "BUCKET\tOBJECTS\tBYTES")
	for _, b := range st.Buckets {
		if b.Exists {
			fmt.Fprintf(tw, "%s\t%d\t%d\n", b.Name, b.Objects, b.Bytes)
		} else {
			fmt.Fprintf(tw, "%s\t(missing)\n", b.Name)
		}
	}
	fmt.Fprintln(tw, "\nQUEUE\tROLE\tWAITING\tIN FLIGHT")
	request := strings.TrimPrefix(st.Queue, "sqs://")
	deadLetters := sqsq.DeadLetterQueueName(request)
	for _, name := range []string{request, deadLetters} {
		if !slices.ContainsFunc(st.Queues, func(q sqsq.QueueInfo) bool { return q.Name == name }) {
			fmt.Fprintf(tw, "%s\t(missing)\n", name)
		}
	}
	for _, q := range st.Queues {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\n", q.Name, q.Role, q.Visible+q.Delayed, q.InFlight)
	}
	fmt.Fprintln(tw, "\nTABLE\tITEMS (UPDATED EVERY 6 H)\tTTL")
	switch t := st.Table; {
	case !t.Exists:
		fmt.Fprintf(tw, "%s\t(missing)\n", t.Name)
	case t.TTL:
		fmt.Fprintf(tw, "%s\t%d\ton\n", t.Name, t.Items)
	default:
		fmt.Fprintf(tw, "%s\t%d\toff\n", t.Name, t.Items)
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
	st.printServers(tw)
	return tw.Flush()
}

func runInfraStatus(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "infra status", "infra status --cluster NAME [--bucket-prefix PREFIX] [--json] [--endpoint-url URL] [--region R]\n\n"+
		"Lists the cluster's buckets (object counts), queues (requests waiting and in flight, dead\n"+
		"letters, response queues), job table and instances by state; exits 0 whatever exists.")
	inf := infraFlags(fs)
	asJSON := fs.Bool("json", false, "print one JSON object")
	c, err := inf.parse(fs, args)
	if err != nil {
		return err
	}
	st, _, err := inf.readState(ctx, c)
	if err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(e.stdout).Encode(st)
	}
	return st.print(e.stdout)
}
