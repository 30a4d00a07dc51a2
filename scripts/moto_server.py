"""The local AWS stack: moto's server, with fixes where it costs time in proportion to what it holds.

moto 5's TransactWriteItems snapshots tables with copy.deepcopy to roll back on failure:
- a concurrent write to the same table breaks that copy with a 500 ("dictionary changed size
  during iteration"), a race DynamoDB itself does not have: DynamoDB requests are taken one at a
  time here;
- it copies every table it touches, once per item of the transaction, so a transaction costs time
  in proportion to the records stored (a 100-item transaction over a table of a hundred thousand
  records takes seconds): here it copies only the items it touches, and puts those back.
S3 and SQS stay concurrent.

moto 5's SendMessage and ReceiveMessage read the queue's attributes to learn one setting (per
message received, several times), and that counts every message in the queue three times over,
so a big import's backlog makes each send and receive slower: the queue's message counts are
counted only to answer GetQueueAttributes.
"""

import copy
import sys
import threading

import moto.dynamodb.models as dynamodb_models
from moto import server
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.responses import DynamoHandler
from moto.sqs.models import Queue
from moto.sqs.responses import SQSResponse

_lock = threading.Lock()
_call_action = DynamoHandler.call_action
_transact_write_items = DynamoDBBackend.transact_write_items


def _serialized(self):
    with _lock:
        return _call_action(self)


class _NoTableCopies:
    """Stands in for the `copy` module during a transaction: moto's table "backup" is the table
    itself, so its rollback changes nothing and the touched items are put back instead."""

    @staticmethod
    def deepcopy(obj):
        return obj


def _transact_restoring_items(self, transact_items):
    # moto reads every item of the transaction through get_item before it writes it.
    before = {}

    def get_item(table_name, keys, *args, **kwargs):
        table = self.get_table(table_name)
        hash_key, range_key = self.get_keys_value(table, keys)
        current = table.get_item(hash_key, range_key)
        before.setdefault((table_name, hash_key, range_key), copy.deepcopy(current))
        return DynamoDBBackend.get_item(self, table_name, keys, *args, **kwargs)

    self.get_item = get_item
    dynamodb_models.copy = _NoTableCopies
    try:
        return _transact_write_items(self, transact_items)
    except Exception:
        for (table_name, hash_key, range_key), item in before.items():
            table = self.tables[table_name]
            table.delete_item(hash_key, range_key)
            if item is None:
                continue
            if range_key is not None:
                table.items[hash_key][range_key] = item
            else:
                table.items[hash_key] = item
        raise
    finally:
        del self.get_item
        dynamodb_models.copy = copy


_answering = threading.local()
_get_queue_attributes = SQSResponse.get_queue_attributes


def _get_queue_attributes_counted(self):
    _answering.active = True
    try:
        return _get_queue_attributes(self)
    finally:
        _answering.active = False


def _counted_when_asked(count):
    return property(lambda queue: count.fget(queue) if getattr(_answering, "active", False) else 0)


for _name in [
    "approximate_number_of_messages",
    "approximate_number_of_messages_delayed",
    "approximate_number_of_messages_not_visible",
]:
    setattr(Queue, _name, _counted_when_asked(getattr(Queue, _name)))
SQSResponse.get_queue_attributes = _get_queue_attributes_counted
DynamoHandler.call_action = _serialized
DynamoDBBackend.transact_write_items = _transact_restoring_items

if __name__ == "__main__":
    server.main(sys.argv[1:])
