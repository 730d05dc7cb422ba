# Runs moto's server (python3 -c "$(cat server.py)" -H HOST -p PORT) with each
# SQS queue's operations on its messages made atomic under the queue's own
# lock, which moto takes only to append and to wait, and DynamoDB's item
# operations under one lock (below).
#
# Without it, moto (5.x) races under concurrent requests, which a loaded
# machine makes likely: delete_message rebuilds the message list unlocked, so
# a message sent meanwhile vanishes or one deleted meanwhile comes back, and
# receive_message checks a message visible and marks it received in two
# steps, so two receivers can get the same one. Real SQS loses no message; the
# tests that send, receive and delete at once need the same.
import sys

try:
    import moto.sqs.models as models

    def _locked(method):
        def call(self, queue_name, *args, **kwargs):
            try:
                lock = self.get_queue(queue_name)._messages_lock
            except Exception:  # no such queue: moto answers with its own error
                return method(self, queue_name, *args, **kwargs)
            with lock:  # an RLock: a receive waiting for messages releases it
                return method(self, queue_name, *args, **kwargs)
        return call

    for name in ("receive_message", "delete_message", "delete_message_batch",
                 "change_message_visibility", "change_message_visibility_batch", "purge_queue"):
        setattr(models.SQSBackend, name, _locked(getattr(models.SQSBackend, name)))
    print("imgrec: SQS operations locked", file=sys.stderr)
except Exception as e:  # another moto: run it as it is, and say so
    print(f"imgrec: SQS operations left unlocked ({e!r}); concurrent tests may flake", file=sys.stderr)

# DynamoDB likewise checks a write's condition and applies the write in two
# steps, unlocked, so of two conditional writes at once both may pass (two
# "first" answers of one job). DynamoDB applies each item write atomically;
# one lock over moto's item operations does the same.
try:
    import threading
    import moto.dynamodb.models as dynamodb

    _dynamodb_lock = threading.RLock()

    def _serialised(method):
        def call(*args, **kwargs):
            with _dynamodb_lock:
                return method(*args, **kwargs)
        return call

    for name in ("get_item", "batch_get_item", "put_item", "update_item", "delete_item", "batch_write_item",
                 "query", "scan", "transact_get_items", "transact_write_items"):
        setattr(dynamodb.DynamoDBBackend, name, _serialised(getattr(dynamodb.DynamoDBBackend, name)))
    print("imgrec: DynamoDB item operations locked", file=sys.stderr)
except Exception as e:
    print(f"imgrec: DynamoDB item operations left unlocked ({e!r}); concurrent tests may flake", file=sys.stderr)

from moto.server import main

main(sys.argv[1:])
