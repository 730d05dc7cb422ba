# Runs moto's server (python3 -c "$(cat server.py)" -H HOST -p PORT) with each
# SQS queue's operations on its messages made atomic under the queue's own
# lock, which moto takes only to append and to wait.
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

from moto.server import main

main(sys.argv[1:])
