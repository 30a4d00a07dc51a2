"""The local AWS stack: moto's server, with fixes where it costs time in proportion to what it holds.

moto 5's TransactWriteItems snapshots tables with copy.deepcopy to roll back on failure:
- a concurrent write to the same table breaks that copy with a 500 ("dictionary changed size
  during iteration"), a race DynamoDB itself does not have: DynamoDB requests are taken one at a
  time here;
- it copies every table it touches, once per item of the transaction, so a transaction costs time
  in proportion to the records stored (a 100-item transaction over a table of a hundred thousand
  records takes seconds): here it copies only the items it touches, and puts those back.
S3 and SQS stay concurrent.

moto 5's Query of a table (not an index) goes through every item of the table, sorted, to find
one partition's: a query costs time in proportion to the whole table (a second per query over
fifty thousand records here, and a type's records are 16 partitions), and sizes each of them,
matching the sort key condition or not. Here it goes through the items of the partition that
match the sort key condition only, as DynamoDB does (an import's progress is a few items of a
partition that gains one ledger item per batch).

moto 5's DeleteMessage rebuilds the queue's list of messages without the lock SendMessage takes
to append to it: a message sent while another is deleted from the same queue was lost, sent
(SendMessageBatch answered it as sent) and never received. Ten messages of one SendMessageBatch
went at once, when a consumer deleted a batch meanwhile. Here a delete takes that lock.

moto 5's SendMessage and ReceiveMessage read the queue's attributes to learn one setting (per
message received, several times), and that counts every message in the queue three times over,
so a big import's backlog makes each send and receive slower: the queue's message counts are
counted only to answer GetQueueAttributes.

moto 5's ListParts answers with the root element ListPartsResponse, which the AWS SDKs refuse
(S3 answers ListPartsResult): here it is renamed.

moto 5 writes every answer through a serializer that walks the operation's botocore shape member
by member: for DynamoDB's item operations that was 42 % of the emulator's time in the integration
tests. Their results are already DynamoDB's JSON (moto's `dynamo_to_dict`), so they go out as
`json.dumps` of their output shape's members, binary values in base64 and timestamps in epoch
seconds, as the serializer writes them. MOTO_CHECK_ANSWERS=1 serializes both ways and logs any
answer that differs; MOTO_SHAPE_SERIALIZER=1 keeps moto's serializer (`make crash-test`: its
kills and lapsed hides are timed for that slower emulator).

Per request, moto's server finds the service by listing its own package folder and trying a few
hundred URL patterns, and logs a line: the answer for a host is kept, and the request log is off
(errors are still logged). Together they were a third of the emulator's time in `make test`.
"""

import argparse
import base64
import copy
import datetime
import decimal
import json
import logging
import os
import sys
import threading

import waitress

import moto.dynamodb.models as dynamodb_models
from moto import backends
from moto.dynamodb.models import DynamoDBBackend
from moto.core.responses import BaseResponse
from moto.core.utils import get_service_model
from moto.dynamodb.responses import DynamoHandler
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from moto.sqs.models import Queue
from moto.sqs.responses import SQSResponse

from moto.dynamodb.models.table import Table
from moto.s3.responses import S3Response

_lock = threading.Lock()
_table_query = Table.query
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


def _query_in_partition(self, hash_key, *args, **kwargs):
    # index_name is the eighth argument (seventh after hash_key), or a keyword.
    index_name = args[6] if len(args) > 6 else kwargs.get("index_name")
    if index_name is not None or self.range_key_attr is None or hash_key is None:
        return _table_query(self, hash_key, *args, **kwargs)
    # DynamoDB requests are taken one at a time (`_serialized`): the table is this call's alone.
    partition = list(self.items.get(hash_key, {}).values())
    range_comparison = args[0] if args else kwargs.get("range_comparison")
    if range_comparison:
        range_objs = args[1] if len(args) > 1 else kwargs.get("range_objs")
        partition = [item for item in partition if item.range_key.compare(range_comparison, range_objs)]
    self.all_items = lambda: partition
    try:
        return _table_query(self, hash_key, *args, **kwargs)
    finally:
        del self.all_items


_delete_message = Queue.delete_message


def _delete_message_locked(self, receipt_handle):
    # The queue's Condition is made over an RLock: add_message takes it too.
    with self._messages_lock:
        return _delete_message(self, receipt_handle)


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
Queue.delete_message = _delete_message_locked

_modules = frozenset(backends.list_of_moto_modules())
backends.list_of_moto_modules = lambda: _modules
_backend_for_host = DomainDispatcherApplication.get_backend_for_host
_backends_by_host = {}


def _backend_for_host_kept(self, host):
    if host not in _backends_by_host:
        _backends_by_host[host] = _backend_for_host(self, host)
    return _backends_by_host[host]


DomainDispatcherApplication.get_backend_for_host = _backend_for_host_kept
logging.getLogger("werkzeug").setLevel(logging.WARNING)
_list_parts = S3Response.list_parts


def _list_parts_result(self):
    status, headers, body = _list_parts(self)
    if isinstance(body, str):
        body = body.replace("<ListPartsResponse", "<ListPartsResult").replace("</ListPartsResponse>", "</ListPartsResult>")
    elif isinstance(body, bytes):
        body = body.replace(b"<ListPartsResponse", b"<ListPartsResult").replace(b"</ListPartsResponse>", b"</ListPartsResult>")
    return status, headers, body


S3Response.list_parts = _list_parts_result

# The item operations; the table operations' answers (with their nested descriptions) still go
# through moto's serializer.
_ITEM_OPERATIONS = frozenset(
    ["GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan", "BatchGetItem", "BatchWriteItem",
     "TransactWriteItems", "TransactGetItems"]
)
_check_answers = os.environ.get("MOTO_CHECK_ANSWERS") == "1"
_output_members = {}


def _members_of(action):
    # moto's results hold a few members the output shape has not (DeleteItem's legacy
    # ConsumedCapacityUnits): the serializer leaves them out, and so does this.
    if action not in _output_members:
        shape = get_service_model("dynamodb").operation_model(action).output_shape
        _output_members[action] = frozenset(shape.members) if shape is not None else frozenset()
    return _output_members[action]


def _json_value(value):
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode()
    if isinstance(value, datetime.datetime):
        return value.timestamp()
    if isinstance(value, decimal.Decimal):
        return float(value)
    raise TypeError(f"{type(value).__name__} in a DynamoDB answer")


def _dynamo_serialized(self, action_result):
    result, action = action_result.result, self._get_action()
    if isinstance(result, Exception) or action not in _ITEM_OPERATIONS:
        return BaseResponse.serialized(self, action_result)
    headers = {"Content-Type": "application/x-amz-json-1.0"}
    headers.update(self.response_headers)
    members = _members_of(action)
    answer = {k: v for k, v in result.items() if k in members and v is not None}
    body = json.dumps(answer, default=_json_value, separators=(",", ":"))
    if _check_answers:
        expected = BaseResponse.serialized(self, action_result)
        if expected[0] != 200 or expected[1] != headers or json.loads(expected[2]) != json.loads(body):
            logging.getLogger("moto_server").error(
                "%s answer differs: moto %r, here %r", action, expected, (200, headers, body))
    return 200, headers, body


DynamoHandler.call_action = _serialized
if os.environ.get("MOTO_SHAPE_SERIALIZER") != "1":
    DynamoHandler.serialized = _dynamo_serialized
DynamoDBBackend.transact_write_items = _transact_restoring_items
Table.query = _query_in_partition


def _serve(argv):
    parser = argparse.ArgumentParser()
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, required=True)
    args = parser.parse_args(argv)
    os.environ.setdefault("MOTO_PORT", str(args.port))
    app = DomainDispatcherApplication(create_backend_app)
    # Each long poll (ReceiveMessage waits up to 20 s) holds a thread while it waits, even after
    # its client left: the local hosts of a test run keep a few hundred waiting at once.
    waitress.serve(
        app,
        host=args.host,
        port=args.port,
        threads=512,
        connection_limit=4096,
        channel_timeout=600,
        max_request_body_size=64 * 1024**3,
        ident="moto",
        _quiet=True,
    )


if __name__ == "__main__":
    _serve(sys.argv[1:])
