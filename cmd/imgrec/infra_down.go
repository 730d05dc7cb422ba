package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"

	awsec2 "github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/imgrec/imgrec"
	"github.com/imgrec/imgrec/dynamojobs"
	"github.com/imgrec/imgrec/ec2"
	"github.com/imgrec/imgrec/s3blob"
	"github.com/imgrec/imgrec/sqsq"
)

// terminatePoll is how often down looks whether the instances are gone.
const terminatePoll = 2 * time.Second

func runInfraDown(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "infra down", "infra down --cluster NAME [--yes] [--bucket-prefix PREFIX] [--wait D] [--endpoint-url URL] [--region R]\n\n"+
		"Terminates the cluster's instances and waits until they are, then deletes its queues (the\n"+
		"web tiers' response queues too), its buckets with everything in them and its job table.\nStop the controller\n"+
		"first: while it runs it may launch instances again. Without --yes it shows what it will\n"+
		"delete and asks you to type the cluster name. With --openstack it deletes the cluster's\n"+
		"servers first (web tier and workers), then the web tier's floating IP and security group.")
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
	st, cl, err := inf.readState(ctx, c)
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

	var servers int
	if cl.nova != nil { // first: the web tier uses the queue
		if servers, err = deleteServers(ctx, e.stdout, cl.nova, c.name, *wait); err != nil {
			return err
		}
	}
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
	what := fmt.Sprintf("%d queues and %d buckets", len(queues), len(buckets))
	deleted, err := dynamojobs.DeleteTable(ctx, cl.dynamo, c.jobs)
	if deleted {
		fmt.Fprintf(e.stdout, "deleted table %s\n", c.jobs)
		what = fmt.Sprintf("%d queues, %d buckets and the job table", len(queues), len(buckets))
	}
	if err != nil {
		return err
	}
	deletedServers := ""
	if cl.nova != nil {
		deletedServers = fmt.Sprintf("%d servers deleted, ", servers)
	}
	fmt.Fprintf(e.stdout, "cluster %s: down (%d instances terminated, %s%s deleted)\n", c.name, terminated, deletedServers, what)
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
