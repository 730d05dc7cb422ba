// Package dynamojobs implements imgrec.JobStore on one Amazon DynamoDB
// table (or a DynamoDB-compatible endpoint): the job store of deployments on
// SQS and S3.
//
// The table has one string partition key, pk, and one item per record: a job
// ("job#<id>"), a cached result ("result#<image sha256>#<model digest>#<profile>")
// or the workers' model ("model"). Each item holds the record as JSON (rec),
// a job's state (st) and answer (ans, JSON, once it has one), and the end of
// its life in Unix seconds (expires), the table's TTL attribute: DynamoDB
// deletes expired items on its own, within days, so every read also treats
// an item whose expires has passed as gone, and a Create may replace one.
//
// Creates and answers are conditional writes (the id free or expired; the
// job still queued), so a retry with an Idempotency-Key finds the first
// attempt's job and the first answer wins. An answer is one UpdateItem that
// sets ans, st and expires, with no read before it. Reads of jobs are strongly
// consistent: a job recorded before its 202 is there for the client's next
// GET on any web tier. DynamoDB has no watch, so Await reads its jobs (one
// BatchGetItem of up to 100) every Config.Poll.
//
// CreateTable, DeleteTable and Describe manage the table for `imgrec infra`.
package dynamojobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"

	"github.com/imgrec/imgrec"
)

// Attribute names.
const (
	attrKey      = "pk"
	attrRecord   = "rec"
	attrState    = "st"
	attrAnswer   = "ans"     // a job's answer: JSON of answer
	attrExpires  = "expires" // the table's TTL attribute
	attrRequeued = "rq"      // when a job was last queued again: Unix milliseconds
)

// DefaultPoll is how often Await reads the jobs it follows.
const DefaultPoll = time.Second

// Config describes how a Store uses its table.
type Config struct {
	// TTL is how long a record lives after its last write (default
	// imgrec.DefaultJobTTL). Each process sets it on what it writes.
	TTL time.Duration
	// Poll is how often Await reads its jobs (default DefaultPoll): each
	// read costs a read request unit per job.
	Poll time.Duration
}

// Store is an imgrec.JobStore on one table, safe for concurrent use.
type Store struct {
	client *dynamodb.Client
	table  string
	cfg    Config
}

var _ imgrec.JobStore = (*Store)(nil)

// Open checks that the table exists and can be reached (see CreateTable).
func Open(ctx context.Context, client *dynamodb.Client, table string, cfg Config) (*Store, error) {
	if cfg.TTL == 0 {
		cfg.TTL = imgrec.DefaultJobTTL
	}
	if cfg.Poll == 0 {
		cfg.Poll = DefaultPoll
	}
	if cfg.TTL < time.Second || cfg.Poll < 0 {
		return nil, imgrec.Errorf(imgrec.EINVALID, "dynamojobs: TTL %v, poll %v: want a TTL of at least 1s and a positive poll", cfg.TTL, cfg.Poll)
	}
	_, err := client.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: &table})
	var missing *types.ResourceNotFoundException
	if errors.As(err, &missing) {
		return nil, imgrec.WrapError(imgrec.ENOTFOUND, err, "dynamojobs: table %q does not exist (run imgrec infra up)", table)
	}
	if err != nil {
		return nil, wrapErr(err, "dynamojobs: open table %q", table)
	}
	return &Store{client: client, table: table, cfg: cfg}, nil
}

// Table is the table's name.
func (s *Store) Table() string { return s.table }

func (s *Store) Close() error { return nil }

func jobKey(id string) string { return "job#" + id }

func resultKey(k imgrec.ResultKey) string {
	return "result#" + k.Image + "#" + k.Digest + "#" + k.Profile
}

const modelKey = "model"

func key(pk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrKey: &types.AttributeValueMemberS{Value: pk}}
}

// expiresAt is the first whole second at which a record written at now has
// lived its TTL.
func (s *Store) expiresAt(now time.Time) int64 {
	end := now.Add(s.cfg.TTL)
	sec := end.Unix()
	if end.Nanosecond() > 0 {
		sec++
	}
	return sec
}

func unixNow() string { return strconv.FormatInt(time.Now().Unix(), 10) }

// item is a record's item: its key, JSON and expiry, and a job's state.
func (s *Store) item(pk string, v any, state string) (map[string]types.AttributeValue, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	it := map[string]types.AttributeValue{
		attrKey:     &types.AttributeValueMemberS{Value: pk},
		attrRecord:  &types.AttributeValueMemberS{Value: string(data)},
		attrExpires: &types.AttributeValueMemberN{Value: strconv.FormatInt(s.expiresAt(time.Now()), 10)},
	}
	if state != "" {
		it[attrState] = &types.AttributeValueMemberS{Value: state}
	}
	return it, nil
}

// decode reads an item's record into v; false if it has expired.
func decode(it map[string]types.AttributeValue, v any) (bool, error) {
	if n, ok := it[attrExpires].(*types.AttributeValueMemberN); ok {
		exp, err := strconv.ParseInt(n.Value, 10, 64)
		if err != nil {
			return false, fmt.Errorf("expires %q: %w", n.Value, err)
		}
		if time.Now().Unix() >= exp {
			return false, nil
		}
	}
	rec, ok := it[attrRecord].(*types.AttributeValueMemberS)
	if !ok {
		return false, errors.New("no record")
	}
	return true, json.Unmarshal([]byte(rec.Value), v)
}

func (s *Store) Create(ctx context.Context, j imgrec.Job) (imgrec.Job, error) {
	if err := imgrec.CheckJobID(j.ID); err != nil {
		return imgrec.Job{}, err
	}
	it, err := s.item(jobKey(j.ID), j, j.State)
	if err != nil {
		return imgrec.Job{}, fmt.Errorf("dynamojobs: create job %s: %w", j.ID, err)
	}
	for {
		_, err = s.client.PutItem(ctx, &dynamodb.PutItemInput{
			TableName: &s.table, Item: it,
			ConditionExpression:       aws.String("attribute_not_exists(#pk) OR #exp <= :now"),
			ExpressionAttributeNames:  map[string]string{"#pk": attrKey, "#exp": attrExpires},
			ExpressionAttributeValues: map[string]types.AttributeValue{":now": &types.AttributeValueMemberN{Value: unixNow()}},
		})
		if err == nil {
			return j, nil
		}
		if !isConditionFailed(err) {
			return imgrec.Job{}, wrapErr(err, "dynamojobs: create job %s", j.ID)
		}
		old, err := s.Get(ctx, j.ID)
		if imgrec.ErrorCode(err) == imgrec.ENOTFOUND {
			continue // expired or deleted since: try again
		}
		if err != nil {
			return imgrec.Job{}, err
		}
		return old, imgrec.Errorf(imgrec.ECONFLICT, "dynamojobs: create job %s: exists", j.ID)
	}
}

func (s *Store) Get(ctx context.Context, id string) (imgrec.Job, error) {
	if err := imgrec.CheckJobID(id); err != nil {
		return imgrec.Job{}, err
	}
	out, err := s.client.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.table, Key: key(jobKey(id)), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return imgrec.Job{}, wrapErr(err, "dynamojobs: get job %s", id)
	}
	j, live, err := decodeJob(out.Item)
	switch {
	case out.Item == nil || (err == nil && !live):
		return imgrec.Job{}, imgrec.Errorf(imgrec.ENOTFOUND, "dynamojobs: job %s: not found", id)
	case err != nil:
		return imgrec.Job{}, fmt.Errorf("dynamojobs: job %s: %w", id, err)
	}
	return j, nil
}

// answer is a job's answer as its item keeps it.
type answer struct {
	imgrec.Answer
	Finished time.Time `json:"finished"`
}

// decodeJob reads a job's item: the job as created, with its answer if it
// has one; false if it has expired.
func decodeJob(it map[string]types.AttributeValue) (imgrec.Job, bool, error) {
	var j imgrec.Job
	live, err := decode(it, &j)
	if err != nil || !live {
		return j, live, err
	}
	if ans, ok := it[attrAnswer].(*types.AttributeValueMemberS); ok {
		var a answer
		if err := json.Unmarshal([]byte(ans.Value), &a); err != nil {
			return j, false, fmt.Errorf("answer: %w", err)
		}
		j = j.Finish(a.Answer, a.Finished)
	}
	if rq, ok := it[attrRequeued].(*types.AttributeValueMemberN); ok {
		ms, err := strconv.ParseInt(rq.Value, 10, 64)
		if err != nil {
			return j, false, fmt.Errorf("requeued %q: %w", rq.Value, err)
		}
		at := time.UnixMilli(ms)
		j.Requeued = &at
	}
	return j, true, nil
}

// Finish sets the answer, the state and a new expiry in one UpdateItem, on
// the condition that the job is still queued (and not expired); if that
// fails, another answer came first, or there is no job.
func (s *Store) Finish(ctx context.Context, id string, a imgrec.Answer) (imgrec.Job, error) {
	if err := imgrec.CheckJobID(id); err != nil {
		return imgrec.Job{}, err
	}
	now := time.Now()
	state := imgrec.JobDone
	if a.Error != "" {
		state = imgrec.JobFailed
	}
	ans, err := json.Marshal(answer{Answer: a, Finished: now})
	if err != nil {
		return imgrec.Job{}, fmt.Errorf("dynamojobs: finish job %s: %w", id, err)
	}
	j, ok, err := s.updateQueued(ctx, "finish", id, "#st = :state, #ans = :ans", "",
		map[string]string{"#ans": attrAnswer},
		map[string]types.AttributeValue{
			":state": &types.AttributeValueMemberS{Value: state},
			":ans":   &types.AttributeValueMemberS{Value: string(ans)},
		}, now)
	if err == nil && !ok {
		return s.Get(ctx, id) // answered before, or gone
	}
	return j, err
}

// Requeue reads the job, and if a requeue is due, records the claim in one
// UpdateItem on the condition that the job is still queued (and not
// expired) and nobody claimed it since the read's due time.
func (s *Store) Requeue(ctx context.Context, id string, after time.Duration) (imgrec.Job, bool, error) {
	j, err := s.Get(ctx, id)
	now := time.Now()
	if err != nil || !j.RequeueDue(now, after) {
		return j, false, err
	}
	ms := func(t time.Time) *types.AttributeValueMemberN {
		return &types.AttributeValueMemberN{Value: strconv.FormatInt(t.UnixMilli(), 10)}
	}
	j, ok, err := s.updateQueued(ctx, "requeue", id, "#rq = :now_ms", "attribute_not_exists(#rq) OR #rq <= :due_ms",
		map[string]string{"#rq": attrRequeued},
		map[string]types.AttributeValue{":now_ms": ms(now), ":due_ms": ms(now.Add(-after))}, now)
	if err == nil && !ok {
		j, err = s.Get(ctx, id) // answered or claimed since, or gone
	}
	return j, ok, err
}

// updateQueued SETs set (and a new expiry) on job id in one UpdateItem, on
// the condition that the job is still queued, not expired, and cond (if
// any) holds; it returns the job as updated, or false if the condition
// failed. names and values are set's and cond's, besides #st, #exp, :exp,
// :queued and :now.
func (s *Store) updateQueued(ctx context.Context, op, id, set, cond string, names map[string]string, values map[string]types.AttributeValue, now time.Time) (imgrec.Job, bool, error) {
	condition := "#st = :queued AND #exp > :now"
	if cond != "" {
		condition += " AND (" + cond + ")"
	}
	names["#st"], names["#exp"] = attrState, attrExpires
	values[":exp"] = &types.AttributeValueMemberN{Value: strconv.FormatInt(s.expiresAt(now), 10)}
	values[":queued"] = &types.AttributeValueMemberS{Value: imgrec.JobQueued}
	values[":now"] = &types.AttributeValueMemberN{Value: strconv.FormatInt(now.Unix(), 10)}
	out, err := s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &s.table, Key: key(jobKey(id)),
		UpdateExpression:          aws.String("SET " + set + ", #exp = :exp"),
		ConditionExpression:       aws.String(condition),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
		ReturnValues:              types.ReturnValueAllNew,
	})
	if isConditionFailed(err) {
		return imgrec.Job{}, false, nil
	}
	if err != nil {
		return imgrec.Job{}, false, wrapErr(err, "dynamojobs: %s job %s", op, id)
	}
	j, _, err := decodeJob(out.Attributes)
	if err != nil {
		return imgrec.Job{}, false, fmt.Errorf("dynamojobs: %s job %s: %w", op, id, err)
	}
	return j, true, nil
}

func (s *Store) Delete(ctx context.Context, id string) error {
	if err := imgrec.CheckJobID(id); err != nil {
		return err
	}
	if _, err := s.client.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: &s.table, Key: key(jobKey(id))}); err != nil {
		return wrapErr(err, "dynamojobs: delete job %s", id)
	}
	return nil
}

// Await reads the jobs every Poll until one is over or missing.
func (s *Store) Await(ctx context.Context, ids []string, wait time.Duration) ([]imgrec.Job, []string, error) {
	if len(ids) == 0 || len(ids) > imgrec.MaxAwaitIDs {
		return nil, nil, imgrec.Errorf(imgrec.EINVALID, "dynamojobs: await %d jobs: want 1 to %d", len(ids), imgrec.MaxAwaitIDs)
	}
	for _, id := range ids {
		if err := imgrec.CheckJobID(id); err != nil {
			return nil, nil, err
		}
	}
	ids = slices.Compact(slices.Sorted(slices.Values(ids)))
	deadline := time.Now().Add(wait)
	for {
		over, missing, err := s.look(ctx, ids)
		if err != nil || len(over)+len(missing) > 0 {
			return over, missing, err
		}
		left := time.Until(deadline)
		if left <= 0 {
			return nil, nil, nil
		}
		select {
		case <-time.After(min(left, s.cfg.Poll)):
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		}
	}
}

// look reads the jobs in one BatchGetItem (and more for keys DynamoDB
// leaves unprocessed under load).
func (s *Store) look(ctx context.Context, ids []string) (over []imgrec.Job, missing []string, err error) {
	keys := make([]map[string]types.AttributeValue, len(ids))
	for i, id := range ids {
		keys[i] = key(jobKey(id))
	}
	found := map[string]imgrec.Job{}
	request := map[string]types.KeysAndAttributes{s.table: {Keys: keys, ConsistentRead: aws.Bool(true)}}
	err = untilProcessed(ctx, request, func(request map[string]types.KeysAndAttributes) (map[string]types.KeysAndAttributes, error) {
		out, err := s.client.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: request})
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, wrapErr(err, "dynamojobs: await jobs")
		}
		for _, it := range out.Responses[s.table] {
			j, live, err := decodeJob(it)
			if err != nil {
				return nil, fmt.Errorf("dynamojobs: await jobs: %w", err)
			}
			if live {
				found[j.ID] = j
			}
		}
		return out.UnprocessedKeys, nil
	})
	if err != nil {
		return nil, nil, err
	}
	for _, id := range ids {
		j, ok := found[id]
		switch {
		case !ok:
			missing = append(missing, id)
		case j.Over():
			over = append(over, j)
		}
	}
	return over, missing, nil
}

// untilProcessed sends a batch request with call, and what DynamoDB leaves
// unprocessed under load again, backing off from 50 ms to 1 s between
// tries, until nothing is left.
func untilProcessed[T any](ctx context.Context, request map[string]T, call func(map[string]T) (map[string]T, error)) error {
	for backoff := 50 * time.Millisecond; len(request) > 0; backoff = min(2*backoff, time.Second) {
		var err error
		if request, err = call(request); err != nil {
			return err
		}
		if len(request) > 0 {
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	return nil
}

// Clear scans the table and deletes every item, 25 to a request.
func (s *Store) Clear(ctx context.Context) (int, error) {
	jobs := 0
	var batch []types.WriteRequest
	flush := func() error {
		err := untilProcessed(ctx, map[string][]types.WriteRequest{s.table: batch}, func(request map[string][]types.WriteRequest) (map[string][]types.WriteRequest, error) {
			out, err := s.client.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: request})
			if err != nil {
				return nil, err
			}
			return out.UnprocessedItems, nil
		})
		batch = batch[:0]
		return err
	}
	pages := dynamodb.NewScanPaginator(s.client, &dynamodb.ScanInput{
		TableName: &s.table, ProjectionExpression: aws.String("#pk, #exp"),
		ExpressionAttributeNames: map[string]string{"#pk": attrKey, "#exp": attrExpires},
	})
	now := time.Now().Unix()
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return jobs, wrapErr(err, "dynamojobs: clear %s", s.table)
		}
		for _, it := range page.Items {
			pk, _ := it[attrKey].(*types.AttributeValueMemberS)
			if pk == nil {
				continue
			}
			if n, ok := it[attrExpires].(*types.AttributeValueMemberN); ok && strings.HasPrefix(pk.Value, jobKey("")) {
				if exp, err := strconv.ParseInt(n.Value, 10, 64); err == nil && now < exp {
					jobs++
				}
			}
			batch = append(batch, types.WriteRequest{DeleteRequest: &types.DeleteRequest{Key: key(pk.Value)}})
			if len(batch) == 25 {
				if err := flush(); err != nil {
					return jobs, wrapErr(err, "dynamojobs: clear %s", s.table)
				}
			}
		}
	}
	if len(batch) > 0 {
		if err := flush(); err != nil {
			return jobs, wrapErr(err, "dynamojobs: clear %s", s.table)
		}
	}
	return jobs, nil
}

func (s *Store) Result(ctx context.Context, k imgrec.ResultKey) (imgrec.Result, error) {
	if err := k.Check(); err != nil {
		return imgrec.Result{}, err
	}
	var r imgrec.Result
	err := s.getJSON(ctx, resultKey(k), &r)
	return r, err
}

func (s *Store) PutResult(ctx context.Context, k imgrec.ResultKey, r imgrec.Result) error {
	if err := k.Check(); err != nil {
		return err
	}
	return s.putJSON(ctx, resultKey(k), r)
}

func (s *Store) SetModel(ctx context.Context, m imgrec.Model) error {
	if err := m.Check(); err != nil {
		return err
	}
	return s.putJSON(ctx, modelKey, m)
}

func (s *Store) Model(ctx context.Context) (imgrec.Model, error) {
	var m imgrec.Model
	err := s.getJSON(ctx, modelKey, &m)
	return m, err
}

// getJSON reads a cache item, eventually consistent (half the price): a
// result a moment too new to be seen costs a miss, no wrong answer.
func (s *Store) getJSON(ctx context.Context, pk string, v any) error {
	out, err := s.client.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.table, Key: key(pk)})
	if err != nil {
		return wrapErr(err, "dynamojobs: get %s", pk)
	}
	live, err := decode(out.Item, v)
	switch {
	case out.Item == nil || (err == nil && !live):
		return imgrec.Errorf(imgrec.ENOTFOUND, "dynamojobs: %s: not cached", pk)
	case err != nil:
		return fmt.Errorf("dynamojobs: %s: %w", pk, err)
	}
	return nil
}

func (s *Store) putJSON(ctx context.Context, pk string, v any) error {
	it, err := s.item(pk, v, "")
	if err != nil {
		return fmt.Errorf("dynamojobs: put %s: %w", pk, err)
	}
	if _, err := s.client.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.table, Item: it}); err != nil {
		return wrapErr(err, "dynamojobs: put %s", pk)
	}
	return nil
}

func isConditionFailed(err error) bool {
	var failed *types.ConditionalCheckFailedException
	return errors.As(err, &failed)
}

// wrapErr codes an error EUNAVAILABLE when DynamoDB is unreachable,
// throttling or failing, or the table is gone.
func wrapErr(err error, format string, args ...any) error {
	var apiErr smithy.APIError
	var netErr net.Error
	var missing *types.ResourceNotFoundException
	switch {
	case errors.As(err, &apiErr) && (apiErr.ErrorFault() == smithy.FaultServer ||
		apiErr.ErrorCode() == "ThrottlingException" || apiErr.ErrorCode() == "ProvisionedThroughputExceededException" ||
		apiErr.ErrorCode() == "RequestLimitExceeded"),
		errors.As(err, &missing),
		errors.As(err, &netErr),
		errors.Is(err, context.DeadlineExceeded):
		return imgrec.WrapError(imgrec.EUNAVAILABLE, err, format, args...)
	}
	return fmt.Errorf(format+": %w", append(args, err)...)
}
