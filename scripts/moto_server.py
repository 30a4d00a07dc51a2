"""The local AWS stack: moto's server, with two fixes to its DynamoDB transactions.

moto 5's TransactWriteItems snapshots tables with copy.deepcopy to roll back on failure:
- a concurrent write to the same table breaks that copy with a 500 ("dictionary changed size
  during iteration"), a race DynamoDB itself does not have: DynamoDB requests are taken one at a
  time here;
- it copies the whole table again for every item of the transaction, so a 100-item transaction
  over a table of thousands of records takes seconds: each table is copied once per transaction.
S3 and SQS stay concurrent.
"""

import copy
import sys
import threading

import moto.dynamodb.models as dynamodb_models
from moto import server
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.responses import DynamoHandler

_lock = threading.Lock()
_call_action = DynamoHandler.call_action
_transact_write_items = DynamoDBBackend.transact_write_items


def _serialized(self):
    with _lock:
        return _call_action(self)


class _CopyOncePerObject:
    """Stands in for the `copy` module during one transaction."""

    def __init__(self):
        self._copies = {}

    def deepcopy(self, obj):
        if id(obj) not in self._copies:
            self._copies[id(obj)] = copy.deepcopy(obj)
        return self._copies[id(obj)]


def _transact_copying_once(self, transact_items):
    dynamodb_models.copy = _CopyOncePerObject()
    try:
        return _transact_write_items(self, transact_items)
    finally:
        dynamodb_models.copy = copy


DynamoHandler.call_action = _serialized
DynamoDBBackend.transact_write_items = _transact_copying_once

if __name__ == "__main__":
    server.main(sys.argv[1:])
